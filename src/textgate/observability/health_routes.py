"""``/healthz``, ``/readyz`` and ``/metrics``: what an orchestrator and Prometheus ask.

``/healthz`` is liveness: the process answers and reaches its database. ``/readyz`` says
whether this process should get traffic, and if not, why: the database does not answer, its
schema is behind the code (submits would fail), a required connector has no link up, or a
background loop keeps failing. The body names each cause in ``reasons``.

A connector is required unless configured ``required = false``; it counts as down only if
it has links and none is up (an SMPP connector with no bind). Connectors without links (the
simulator, phones) and those another process carries (standby) never make a process unready.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from textgate.config import Settings
from textgate.connectors.health import LinkHealth
from textgate.loops import LoopRegistry
from textgate.observability.metrics import CONTENT_TYPE, Metrics
from textgate.services.registry import Services
from textgate.services.stats import ConnectorState
from textgate.storage.db import Database
from textgate.storage.migrate import SchemaState, ShippedMigrations, shipped_migrations

__all__ = ["Operated", "operations_router", "readiness"]

MIGRATE_HINT = "run `textgate migrate`"


class Operated(Protocol):
    """The parts of a running gateway the operations endpoints look at."""

    settings: Settings
    db: Database
    loops: LoopRegistry
    services: Services


def operations_router(gateway: Operated, metrics: Metrics) -> APIRouter:
    router = APIRouter(tags=["operations"])
    shipped = shipped_migrations()

    @router.get("/healthz")
    async def healthz() -> JSONResponse:
        ok = await gateway.db.ping()
        return JSONResponse(
            {"status": "ok" if ok else "degraded", "database": ok}, status_code=200 if ok else 503
        )

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        """Ready to take traffic: the database answers with the schema this code needs, no
        background loop keeps failing and, where this process dispatches, every required
        connector has a link up. ``reasons`` says what is wrong."""
        ok = await gateway.db.ping()
        schema = await _schema(gateway.db, shipped) if ok else None
        settings = gateway.settings
        ready, body = readiness(
            database=ok,
            schema=schema,
            connectors=gateway.services.stats.links(),
            required={c.name: c.required for c in settings.connectors},
            dispatching=settings.run_dispatcher,
            failing_loops=gateway.loops.report(),
        )
        return JSONResponse(body, status_code=200 if ready else 503)

    @router.get("/metrics", response_class=Response)
    async def prometheus() -> Response:
        body = await metrics.render(database_up=await gateway.db.ping())
        return Response(body, media_type=CONTENT_TYPE)

    return router


async def _schema(db: Database, shipped: ShippedMigrations) -> SchemaState | None:
    try:
        return await shipped.state(db)
    except Exception:  # the database went away between the ping and this read
        return None


def readiness(
    *,
    database: bool,
    schema: SchemaState | None,
    connectors: Sequence[ConnectorState],
    required: dict[str, bool],
    dispatching: bool,
    failing_loops: dict[str, dict[str, object]],
) -> tuple[bool, dict[str, object]]:
    """Whether the process is ready, and the body of ``/readyz`` that says why."""
    reasons: list[str] = []
    if not database:
        reasons.append("database: not answering")
    elif schema is None:
        reasons.append("database: its schema revision could not be read")
    elif schema.behind:
        at = "has no schema" if schema.applied is None else f"is at {schema.applied}"
        reasons.append(
            f"migrations: the database {at}, this code needs {schema.newest}; {MIGRATE_HINT}"
        )
    if dispatching:
        for c in connectors:
            if c.bound is False and required.get(c.name, True):
                reasons.append(f"connector {c.name}: no link up")
    if failing_loops:
        reasons.append(f"background loops failing: {', '.join(sorted(failing_loops))}")
    body: dict[str, object] = {
        "status": "not ready" if reasons else "ready",
        "reasons": reasons,
        "database": database,
        "migrations": None
        if schema is None
        else {"applied": schema.applied, "newest": schema.newest, "behind": schema.behind},
        "connectors": {c.name: "n/a" if c.bound is None else c.bound for c in connectors},
        "required": sorted(c.name for c in connectors if required.get(c.name, True)),
        "links": {c.name: [_link_view(h) for h in c.link_health] for c in connectors},
    }
    if failing_loops:
        body["failing_loops"] = failing_loops
    return not reasons, body


def _link_view(link: LinkHealth) -> dict[str, str | None]:
    return {
        "link": link.name,
        "state": link.state.value,
        "since": link.since.isoformat(),
        "last_error": link.last_error,
        "retry_at": None if link.retry_at is None else link.retry_at.isoformat(),
    }
