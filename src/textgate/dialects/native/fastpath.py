"""``POST /v1/messages`` without the framework's layers: the gateway's hottest request.

Profiles of the end-to-end benchmark put about a third of the gateway's CPU time in the
layers between the server and this one handler (the application's own per-request checks,
exception and exit-stack middlewares, matching against every route, dependency solving for
a handler that has none). The application hands exactly this request to the same handler,
with the same error translation, and leaves everything else, OpenAPI included, to
FastAPI, which still declares the route.
"""

from __future__ import annotations

from fastapi import Request
from starlette.types import Receive, Scope, Send

from textgate.dialects.base import guarded
from textgate.dialects.native.errors import render_error
from textgate.dialects.native.routes import send_messages

__all__ = ["handle_submit", "is_submit"]

_PATH = "/v1/messages"


def is_submit(scope: Scope) -> bool:
    return bool(scope["type"] == "http" and scope["path"] == _PATH and scope["method"] == "POST")


async def handle_submit(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer a request for which :func:`is_submit` holds (``scope["app"]`` set)."""
    response = await guarded(render_error, send_messages, Request(scope, receive))
    await response(scope, receive, send)
