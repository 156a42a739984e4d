"""The admin API's routing table and margins (``/v1/admin/routing``, ``/v1/admin/margins``).

``PUT /v1/admin/routing`` stores a table that replaces the config file's rules and costs in
every process sharing the database; ``DELETE`` forgets it, putting the config file's table
back in force. ``GET /v1/admin/margins`` sums, over a period, what the messages cost upstream
beside what accounts were charged, by connector and by country, for all accounts or one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from textgate.core.clock import from_ms, to_ms
from textgate.core.pricing import format_amount
from textgate.dialects.admin.routes import ServicesDep
from textgate.dialects.admin.routes import router as accounts_router
from textgate.dialects.admin.routing_schemas import (
    ConnectorHealthOut,
    CostTableOut,
    MarginOut,
    MarginsOut,
    RoutingIn,
    RoutingOut,
    RuleOut,
)
from textgate.services.margins import MarginRow
from textgate.services.registry import Services
from textgate.services.routing import RoutingView

__all__ = ["router"]

# Same prefix, token check and error format as the rest of the admin API.
router = APIRouter(
    prefix=accounts_router.prefix,
    tags=list(accounts_router.tags),
    route_class=accounts_router.route_class,
    responses=dict(accounts_router.responses),
    dependencies=list(accounts_router.dependencies),
)


def _out(services: Services, view: RoutingView) -> RoutingOut:
    spec: dict[str, Any] = view.spec
    routing = services.routing
    return RoutingOut(
        source="stored" if view.source == "stored" else "config",
        updated_at=None if view.updated_at is None else from_ms(view.updated_at),
        problem=view.problem,
        rules=[RuleOut.model_validate(r) for r in spec.get("rules", [])],
        costs={k: CostTableOut.model_validate(v) for k, v in spec.get("costs", {}).items()},
        default_connector=routing.fallback.default,
        quality=dict(routing.fallback.by_quality),
        connectors=[
            ConnectorHealthOut(name=h.name, state=h.state, handoffs=h.handoffs, failed=h.failed)
            for h in routing.health().values()
        ],
    )


@router.get("/routing", response_model=RoutingOut)
async def get_routing(services: ServicesDep) -> RoutingOut:
    return _out(services, await services.routing.view())


@router.put("/routing", response_model=RoutingOut)
async def put_routing(body: RoutingIn, services: ServicesDep) -> RoutingOut:
    spec = body.model_dump(exclude_none=True)
    return _out(services, await services.routing.replace(spec))


@router.delete("/routing", response_model=RoutingOut)
async def delete_routing(services: ServicesDep) -> RoutingOut:
    return _out(services, await services.routing.reset())


def _margin(row: MarginRow) -> MarginOut:
    return MarginOut(
        key=row.key,
        messages=row.messages,
        parts=row.parts,
        charged=format_amount(row.charged),
        cost=format_amount(row.cost),
        margin=format_amount(row.charged - row.cost),
        priced=row.priced,
    )


@router.get("/margins", response_model=MarginsOut)
async def get_margins(
    services: ServicesDep,
    since: Annotated[datetime | None, Query(description="ISO 8601; default: until - 24 h")] = None,
    until: Annotated[datetime | None, Query(description="ISO 8601; default: now")] = None,
    account: Annotated[
        str | None, Query(min_length=1, max_length=100, description="One account's, by name")
    ] = None,
) -> MarginsOut:
    account_id = None if account is None else (await services.accounts.by_name(account)).id
    report = await services.margins.report(
        account_id,
        since_ms=None if since is None else to_ms(since),
        until_ms=None if until is None else to_ms(until),
    )
    return MarginsOut(
        since=from_ms(report.since_ms),
        until=from_ms(report.until_ms),
        account=account,
        total=_margin(report.total),
        by_connector=[_margin(r) for r in report.by_connector],
        by_country=[_margin(r) for r in report.by_country],
    )
