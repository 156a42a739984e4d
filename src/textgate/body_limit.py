"""One request-body limit for every HTTP route, applied below routing (fast paths included).

A declared ``Content-Length`` over the limit is refused before anything reads the body. A
body without one (chunked) is counted as the application reads it and cut off at the
limit. Either way the answer is 413 in the format of whoever owns the path: a dialect's
route renders the error its own way (the renderer its route class carries, see
``dialects.base.error_route_class``), anything else gets a plain JSON body.

The connection is not closed: closing it with the upload unread would reset it, and the
client would see a broken connection instead of the 413. The HTTP server drops what still
arrives of that body without keeping it.

Routes keep their own, smaller limits where they have them (``dialects.base.read_body``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from textgate.errors import GatewayError, RequestTooLarge

__all__ = ["BodyLimit", "route_error_response"]

ErrorResponder = Callable[[Scope, RequestTooLarge], Response]


class _Overflow(BaseException):
    """Raised from ``receive`` once the body passes the limit. A BaseException on purpose:
    it must travel through the handlers' catch-alls (which would answer 400 or 500) back
    to :class:`BodyLimit`, which answers 413."""


def route_error_response(routes: Sequence[BaseRoute]) -> ErrorResponder:
    """The error answer for a request, rendered by the route that would serve it: among
    ``routes``, the matching route's ``error_renderer`` (dialect routes have one), else
    plain JSON. The status is 413 whatever a dialect's table says about bad input, so that
    clients and proxies see what happened."""

    def respond(scope: Scope, error: RequestTooLarge) -> Response:
        owner = _route_for(routes, scope)
        renderer: Callable[[GatewayError | None], Response] | None = getattr(
            type(owner), "error_renderer", None
        )
        if renderer is None:
            response: Response = JSONResponse({"detail": str(error)}, status_code=413)
        else:
            response = renderer(error)
            response.status_code = 413
        return response

    return respond


def _route_for(routes: Sequence[BaseRoute], scope: Scope) -> BaseRoute | None:
    """The route that matches path and method, else the first that matches the path."""
    path: str = scope["path"]
    # Behind a proxy that mounts the gateway under a prefix (ASGI root_path), the path
    # still carries that prefix; routes match without it, as Starlette's router does.
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :] or "/"
    partial = None
    inner = {**scope, "path": path, "root_path": ""}
    for route in routes:
        match, _ = route.matches(inner)
        if match is Match.FULL:
            return route
        if match is Match.PARTIAL and partial is None:
            partial = route
    return partial


@dataclass(frozen=True, slots=True)
class BodyLimit:
    limit: int
    """Bytes of request body allowed on any route."""
    respond: ErrorResponder

    async def __call__(self, scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None:
            if declared > self.limit:
                await self._refuse(scope, receive, send)
            else:
                # The server frames a body of declared length (RFC 9112 section 6.3): it
                # cannot grow past it, so there is nothing to count. Most requests go this
                # way, the submit's among them, without the two wrappers below.
                await app(scope, receive, send)
            return
        limit, received, started = self.limit, 0, False
        # Routing writes into the scope (path parameters, its own root path): the route
        # that owns the request is looked up in the scope as it came.
        pristine = dict(scope)

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _Overflow
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await app(scope, counted, watched)
        except BaseException as exc:
            if not _overflowed(exc):
                raise
            if not started:
                await self._refuse(pristine, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = RequestTooLarge(f"request body over {self.limit} bytes")
        await self.respond(scope, error)(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    """The declared body length; None when there is none, when it is not a number, or when
    a Transfer-Encoding header makes the framing the server's to decide (then the body is
    counted as it is read)."""
    length = None
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            if not value.isdigit():
                return None
            length = int(value)
        elif name == b"transfer-encoding":
            return None
    return length


def _overflowed(exc: BaseException) -> bool:
    """``exc`` is the overflow, or a group (task groups wrap what their tasks raise) made
    of nothing else."""
    if isinstance(exc, _Overflow):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return all(_overflowed(e) for e in exc.exceptions)
    return False
