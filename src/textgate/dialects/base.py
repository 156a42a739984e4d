"""What every dialect shares: error translation at the route boundary and service lookup.

Each dialect renders errors in its provider's format, so exception handling is attached to
its routes (a route class per dialect), not to the application.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import ValidationError

from textgate.errors import GatewayError, InvalidRequest, RequestTooLarge
from textgate.services.registry import Services

__all__ = [
    "ErrorRenderer",
    "error_route_class",
    "guarded",
    "read_body",
    "services_of",
    "validation_message",
]

log = logging.getLogger(__name__)

ErrorRenderer = Callable[[GatewayError | None], Response]
"""Renders a gateway error in the dialect's format; None means an unexpected failure."""


async def services_of(request: Request) -> Services:
    # async on purpose: FastAPI runs plain-def dependencies in a thread pool, a thread hop
    # on every request for a dictionary lookup.
    services: Services = request.app.state.services
    return services


def validation_message(exc: RequestValidationError | ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err.get("loc", ()) if x not in ("body", "query"))
        msg = err.get("msg", "invalid")
        parts.append(f"{loc}: {msg}" if loc else str(msg))
    return "; ".join(parts) or "invalid request"


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


async def guarded(render: ErrorRenderer, handler: Handler, request: Request) -> Response:
    """``handler``'s answer, or ``render``'s for whatever it raised: foreign exceptions are
    translated here, once, at the boundary."""
    try:
        return await handler(request)
    except GatewayError as exc:
        return render(exc)
    except RequestValidationError as exc:
        return render(InvalidRequest(validation_message(exc)))
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return render(None)


def error_route_class(render: ErrorRenderer) -> type[APIRoute]:
    """A route class that turns every exception of its handlers into ``render``'s answer."""

    class DialectRoute(APIRoute):
        def get_route_handler(self) -> Handler:
            handler = super().get_route_handler()

            async def guarded_route(request: Request) -> Response:
                return await guarded(render, handler, request)

            return guarded_route

    return DialectRoute


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (RequestTooLarge) past ``limit`` bytes: by the declared
    length before reading anything, else as soon as the streamed body passes it, so an
    oversized upload never sits whole in memory."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(f"request body over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge(f"request body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
