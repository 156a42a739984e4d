"""``POST /v1/messages`` without the framework's routing: the gateway's hottest request.

Profiles of the end-to-end benchmark put about a third of the gateway's CPU time in the
layers between the server and this one handler (exception and exit-stack middlewares,
matching against every route, dependency solving for a handler that has none). This ASGI
middleware hands exactly that request to the same handler, with the same error
translation, and leaves everything else, OpenAPI included, to FastAPI, which still
declares the route.
"""

from __future__ import annotations

from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from textgate.dialects.base import guarded
from textgate.dialects.native.errors import render_error
from textgate.dialects.native.routes import send_messages

__all__ = ["SubmitFastPath"]

_PATH = "/v1/messages"


class SubmitFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == _PATH and scope["method"] == "POST":
            response = await guarded(render_error, send_messages, Request(scope, receive))
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
