"""Adds the dashboard to the application."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import SecretStr

from textgate.dashboard import (
    account_pages,
    device_pages,
    operator_pages,
    routing_pages,
    session_pages,
    traffic_pages,
)
from textgate.dashboard.web import PREFIX, Dashboard
from textgate.services.registry import Services

__all__ = ["mount_dashboard"]


def mount_dashboard(
    app: FastAPI, services: Services, *, admin_token: SecretStr | None, secret: str | None
) -> None:
    """``secret`` signs session cookies; without one a key is drawn per process (sessions
    then end at restart and are not shared between processes)."""
    app.state.dashboard = Dashboard(services, admin_token, secret)
    pages = (session_pages, traffic_pages, account_pages, device_pages, operator_pages)
    for module in (*pages, routing_pages):
        # The routes themselves, as ``app.add_routes`` adds the dialects' (include_router
        # would rebuild each for every application).
        app.router.routes.extend(module.router.routes)
    app.mount(
        f"{PREFIX}/static",
        StaticFiles(directory=Path(__file__).parent / "static"),
        name="dashboard-static",
    )

    @app.get(PREFIX, include_in_schema=False)
    async def dashboard_root() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", status_code=307)
