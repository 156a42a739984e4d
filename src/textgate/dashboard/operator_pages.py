"""The operator's pages: connectors with their live state, and the accounts."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from textgate.dashboard.routing import dashboard_of, new_router
from textgate.dashboard.web import Dashboard, Viewer
from textgate.errors import InvalidRequest

__all__ = ["operator_of", "router"]

router = new_router()


async def operator_of(request: Request) -> tuple[Dashboard, Viewer]:
    """The dashboard and its viewer, who must be the operator."""
    dash = dashboard_of(request)
    viewer = await dash.viewer(request)
    if not viewer.operator:
        raise InvalidRequest("this page is the operator's; sign in with the admin token")
    return dash, viewer


@router.get("/connectors")
async def connectors(request: Request) -> Response:
    dash, viewer = await operator_of(request)
    snapshot = await dash.services.stats.snapshot()
    template = "_connector_rows.html" if request.query_params.get("fragment") else "connectors.html"
    return dash.page(request, template, viewer, snapshot=snapshot)


@router.get("/accounts")
async def accounts(request: Request) -> Response:
    dash, viewer = await operator_of(request)
    rows = await dash.services.stats.accounts()
    return dash.page(request, "accounts.html", viewer, accounts=rows)


@router.get("/accounts/{name}")
async def account(request: Request, name: str) -> Response:
    dash, viewer = await operator_of(request)
    found = await dash.services.accounts.by_name(name)
    summary = await dash.services.accounts.summary(found)
    keys = await dash.services.stats.keys(found.id)
    return dash.page(
        request,
        "account.html",
        viewer,
        account=found,
        summary=summary,
        rules=found.rules.to_public(),
        keys=keys,
    )
