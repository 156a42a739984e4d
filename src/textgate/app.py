"""``create_app(settings)``: the HTTP application and the lifespan that runs the gateway."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from textgate import __version__
from textgate.config import Settings
from textgate.connectors.health import LinkHealth
from textgate.dashboard.mount import mount_dashboard
from textgate.dialects.admin.routes import router as admin_router
from textgate.dialects.android.routes import build_router as build_android_router
from textgate.dialects.mailup.email_routes import router as mailup_email_router
from textgate.dialects.mailup.routes import router as mailup_router
from textgate.dialects.native.campaigns import router as campaigns_router
from textgate.dialects.native.devices import router as devices_router
from textgate.dialects.native.emails import router as emails_router
from textgate.dialects.native.fastpath import handle_submit, is_submit
from textgate.dialects.native.inbound import router as inbound_router
from textgate.dialects.native.lists import router as lists_router
from textgate.dialects.native.routes import router as native_router
from textgate.dialects.native.webhooks import router as webhooks_router
from textgate.dialects.smsend.routes import router as smsend_router
from textgate.dialects.smsmobileapi.mount import ROUTERS as SMSMOBILEAPI_ROUTERS
from textgate.observability.metrics import CONTENT_TYPE, Metrics
from textgate.runtime import Gateway

__all__ = ["TextgateApp", "create_app"]


class TextgateApp(FastAPI):
    """FastAPI, except that message submission goes straight to its handler (see
    ``dialects.native.fastpath``: the layers it skips cost more than the submit itself)."""

    metrics: Metrics | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if is_submit(scope):
            scope["app"] = self
            started = time.perf_counter()
            await handle_submit(scope, receive, send)
            if self.metrics is not None:
                self.metrics.observe_native_submit(started)
            return
        if scope["type"] != "http" or self.metrics is None:
            await super().__call__(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.metrics.observe_request(scope, started)


def create_app(
    settings: Settings,
    *,
    gateway: Gateway | None = None,
    on_ready: Callable[[Gateway], Awaitable[None]] | None = None,
) -> FastAPI:
    gw = gateway or Gateway(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await gw.start(dispatch=settings.run_dispatcher, smtp=True)
        if on_ready is not None:
            await on_ready(gw)
        try:
            yield
        finally:
            await gw.stop()

    app = TextgateApp(
        title="textgate",
        version=__version__,
        summary="Self-hosted SMS gateway",
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    metrics = Metrics(gw.services.stats, gw.loops, gw.dispatch_counters)
    app.metrics = metrics
    app.state.gateway = gw
    app.state.services = gw.services
    app.state.admin_token = settings.admin_token
    app.include_router(native_router)
    app.include_router(webhooks_router)
    app.include_router(devices_router)
    if settings.android.enabled:
        app.include_router(build_android_router(settings.android), prefix=settings.android.prefix)
    app.include_router(emails_router)
    app.include_router(campaigns_router)
    app.include_router(lists_router)
    app.include_router(inbound_router)
    app.include_router(admin_router)
    app.include_router(smsend_router)
    for smsmobileapi_router in SMSMOBILEAPI_ROUTERS:
        app.include_router(smsmobileapi_router)
    # Email first: the SMS router answers anything else under /api/v2.0 in its own format.
    app.include_router(mailup_email_router)
    app.include_router(mailup_router)

    mount_dashboard(
        app,
        gw.services,
        admin_token=settings.admin_token,
        secret=None
        if settings.dashboard_secret is None
        else settings.dashboard_secret.get_secret_value(),
    )

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> JSONResponse:
        ok = await gw.db.ping()
        return JSONResponse(
            {"status": "ok" if ok else "degraded", "database": ok}, status_code=200 if ok else 503
        )

    @app.get("/readyz", tags=["operations"])
    async def readyz() -> JSONResponse:
        """Ready to take traffic: the database answers, no background loop keeps failing
        and, where this process dispatches, at least one connector can carry messages."""
        ok = await gw.db.ping()
        links = gw.services.stats.links()
        carrying = not settings.run_dispatcher or any(c.bound is not False for c in links)
        failing = gw.loops.report()
        ready = ok and carrying and not failing
        body: dict[str, object] = {
            "status": "ready" if ready else "not ready",
            "database": ok,
            "connectors": {c.name: "n/a" if c.bound is None else c.bound for c in links},
            "links": {c.name: [_link_view(h) for h in c.link_health] for c in links},
        }
        if failing:
            body["failing_loops"] = failing
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["operations"], response_class=Response)
    async def prometheus() -> Response:
        body = await metrics.render(database_up=await gw.db.ping())
        return Response(body, media_type=CONTENT_TYPE)

    return app


def _link_view(link: LinkHealth) -> dict[str, str | None]:
    return {
        "link": link.name,
        "state": link.state.value,
        "since": link.since.isoformat(),
        "last_error": link.last_error,
        "retry_at": None if link.retry_at is None else link.retry_at.isoformat(),
    }
