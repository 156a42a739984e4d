"""``create_app(settings)``: the HTTP application and the lifespan that runs the gateway."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from starlette.types import Receive, Scope, Send

from textgate import __version__
from textgate.body_limit import BodyLimit, route_error_response
from textgate.callbacks import callbacks_router
from textgate.config import Settings
from textgate.dashboard.mount import mount_dashboard
from textgate.dialects.base import FastPath
from textgate.dialects.registry import enabled
from textgate.observability.health_routes import operations_router
from textgate.observability.metrics import Metrics
from textgate.runtime import Gateway

__all__ = ["TextgateApp", "add_routes", "create_app"]


class TextgateApp(FastAPI):
    """FastAPI, except that the enabled dialects' fast paths (message submission) go
    straight to their handlers (see ``dialects.base.FastPath``: the layers they skip cost
    more than the submit itself)."""

    metrics: Metrics | None = None
    fast_paths: tuple[FastPath, ...] = ()
    path_rewriters: tuple[Callable[[Scope], None], ...] = ()
    body_limit: BodyLimit | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.body_limit is None:
            await self._serve(scope, receive, send)
        else:
            await self.body_limit(scope, receive, send, self._serve)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        for fast in self.fast_paths:
            if fast.matches(scope):
                scope["app"] = self
                started = time.perf_counter()
                try:
                    await fast.handle(scope, receive, send)
                finally:
                    # Timed also when the body limit cuts the request off, as the routed
                    # handler's requests are.
                    if self.metrics is not None:
                        self.metrics.observe_submit(fast.interface, time.perf_counter() - started)
                return
        if scope["type"] == "http":
            for rewrite in self.path_rewriters:
                rewrite(scope)
        if scope["type"] != "http" or self.metrics is None:
            await super().__call__(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.metrics.observe_request(scope, started)


def add_routes(app: FastAPI, router: APIRouter) -> None:
    """Adds ``router``'s routes to ``app`` as they are. ``include_router`` would have the
    framework build its own copy of every route for this application on its first request
    (about 0.15 s for the gateway's 280 routes, paid again by every application a process
    builds); the routes carry their whole path and their router's tags and dependencies
    already, so the copy would add nothing."""
    app.router.routes.extend(router.routes)


def create_app(
    settings: Settings,
    *,
    gateway: Gateway | None = None,
    on_ready: Callable[[Gateway], Awaitable[None]] | None = None,
) -> FastAPI:
    # A dialect whose settings turn all its routers off (android.enabled) is not shown.
    mounted = [(d, m) for d in enabled(settings.dialects) if (m := d.mounts(settings))]
    gw = gateway or Gateway(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await gw.start(dispatch=settings.run_dispatcher, smtp=True, smpp=True)
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
        openapi_tags=[{"name": d.openapi_tag, "description": d.description} for d, _ in mounted],
    )
    metrics = Metrics(gw.services.stats, gw.loops, gw.dispatch_counters, gw.counts)
    app.metrics = metrics
    app.state.gateway = gw
    app.state.services = gw.services
    app.state.admin_token = settings.admin_token
    for _, routers in mounted:
        for router in routers:
            add_routes(app, router)
    app.fast_paths = tuple(fast for d, _ in mounted for fast in d.fast_paths)
    app.path_rewriters = tuple(
        rewrite for d, mounts in mounted if (rewrite := d.path_rewriter(mounts)) is not None
    )
    # Every route's body is capped, fast paths included; a dialect's routes answer in its
    # format.
    owners = [route for _, routers in mounted for router in routers for route in router.routes]
    app.body_limit = BodyLimit(settings.http.max_body_bytes, route_error_response(owners))

    mount_dashboard(
        app,
        gw.services,
        admin_token=settings.admin_token,
        secret=None
        if settings.dashboard_secret is None
        else settings.dashboard_secret.get_secret_value(),
    )

    add_routes(app, operations_router(gw, metrics))
    add_routes(app, callbacks_router(gw))

    return app
