"""The operator's routing page: the rules and cost tables in force, where they come from,
and how the dispatcher of this process sees each connector."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from textgate.dashboard.operator_pages import operator_of
from textgate.dashboard.routing import new_router

__all__ = ["router"]

router = new_router()


@router.get("/routing")
async def routing(request: Request) -> Response:
    dash, viewer = await operator_of(request)
    view = await dash.services.routing.view()
    health = dash.services.routing.health()
    links = {c.name: c for c in dash.services.stats.links()}
    names = sorted(set(dash.services.routing.connectors) | set(health) | set(links))
    return dash.page(
        request,
        "routing.html",
        viewer,
        view=view,
        fallback=dash.services.routing.fallback,
        connectors=[(n, health.get(n), links.get(n)) for n in names],
    )
