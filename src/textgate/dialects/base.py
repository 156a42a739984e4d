"""What every dialect shares: its declaration (``Dialect``), error translation at the route
boundary, service lookup, credentials and body reading (email dialects: ``dialects.mail``).

Each dialect renders errors in its provider's format, so exception handling is attached to
its routes (a route class per dialect), not to the application.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.types import Receive, Scope, Send

from textgate.core.webhook_formats import Renderer
from textgate.dialects.mail import AddressHandler
from textgate.dialects.text_input import has_unusable_text, refuse_unusable_text
from textgate.errors import AuthenticationFailed, GatewayError, InvalidRequest, RequestTooLarge
from textgate.services.registry import Services

__all__ = [
    "Dialect",
    "ErrorRenderer",
    "FastPath",
    "Mount",
    "add_routes",
    "basic_credentials",
    "bearer_token",
    "client_ip",
    "error_route_class",
    "guarded",
    "lookup",
    "lookup_services",
    "read_body",
    "read_json",
    "services_of",
    "validation_message",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

ErrorRenderer = Callable[[GatewayError | None], Response]
"""Renders a gateway error in the dialect's format; None means an unexpected failure."""


@dataclass(frozen=True, slots=True)
class Mount:
    """A router and the path prefix it is included under."""

    router: APIRouter
    prefix: str = ""


@dataclass(frozen=True, slots=True)
class FastPath:
    """A request a dialect answers below the framework's routing and middleware, because
    those layers cost more than the request itself (dialects.native.fastpath). The handler
    must translate errors exactly as the routed one does."""

    interface: str
    """Names the interface in the submit metrics."""
    matches: Callable[[Scope], bool]
    handle: Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Dialect:
    """Everything the application needs to know about one interface, declared by its package
    (``<package>/dialect.py``) and listed in ``dialects.registry``."""

    name: str
    """What the ``dialects`` setting calls it."""
    description: str
    """What it is (the description of its OpenAPI tag)."""
    openapi_tag: str = ""
    """The OpenAPI tag of its routes (dialects without routes need none)."""
    routers: tuple[APIRouter, ...] = ()
    """Included in this order: where paths overlap the earlier router answers."""
    configured_routers: Callable[[Any], Sequence[Mount]] | None = None
    """Routers that depend on the settings (given the application's settings), included
    after ``routers``."""
    fast_paths: tuple[FastPath, ...] = ()
    webhook_formats: Mapping[str, Renderer] = field(default_factory=dict)
    """Webhook payload formats by name, for the subscriptions this dialect's clients make."""
    smtp_handlers: Callable[[Any], Sequence[AddressHandler]] | None = None
    """The email addresses it serves on the SMTP server (given the application's settings)."""
    tolerant_prefixes: tuple[str, ...] = ()
    """Path prefixes under which paths match its routes in any case and with doubled or
    trailing slashes, as the provider's own server does (``dialects.paths``)."""

    def mounts(self, settings: Any) -> tuple[Mount, ...]:
        built = () if self.configured_routers is None else self.configured_routers(settings)
        return (*(Mount(r) for r in self.routers), *built)

    def address_handlers(self, settings: Any) -> tuple[AddressHandler, ...]:
        return () if self.smtp_handlers is None else tuple(self.smtp_handlers(settings))


def lookup_services(request: Request) -> Services:
    """The gateway's services, as the application stored them."""
    found: Services = request.app.state.services
    return found


def client_ip(request: Request) -> str:
    """The caller's address, for account IP allowlists ("" when the server has none)."""
    return request.client.host if request.client else ""


async def services_of(request: Request) -> Services:
    # async on purpose: FastAPI runs plain-def dependencies in a thread pool, a thread hop
    # on every request for a dictionary lookup.
    return lookup_services(request)


def lookup(table: Iterable[tuple[type[GatewayError], T]], exc: GatewayError, default: T) -> T:
    """The value of the first row whose error class ``exc`` belongs to (tables list the most
    specific classes first), else ``default``."""
    for cls, value in table:
        if isinstance(exc, cls):
            return value
    return default


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
        await refuse_unusable_text(request)
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
        # Also how errors raised before any route runs (textgate.body_limit) are rendered.
        error_renderer = staticmethod(render)

        def get_route_handler(self) -> Handler:
            handler = super().get_route_handler()

            async def guarded_route(request: Request) -> Response:
                return await guarded(render, handler, request)

            return guarded_route

    return DialectRoute


def add_routes(
    router: APIRouter,
    endpoint: Callable[..., Coroutine[Any, Any, Response]],
    paths: Sequence[str],
    methods: Iterable[str],
    **options: Any,
) -> None:
    """One route per path and method (OpenAPI operation ids are made of name, path and
    method), for providers whose clients write one path several ways; only the first path
    is documented."""
    methods = tuple(methods)
    for i, path in enumerate(paths):
        for method in methods:
            router.add_api_route(
                path, endpoint, methods=[method], include_in_schema=i == 0, **options
            )


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """User id and password from an ``Authorization: Basic`` header (RFC 7617); None when
    the header is absent or of another scheme. Undecodable credentials are refused."""
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise AuthenticationFailed("malformed Basic credentials") from exc
    if has_unusable_text(decoded):
        raise AuthenticationFailed("malformed Basic credentials")
    user, _, password = decoded.partition(":")
    return user, password


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


async def read_json(request: Request, limit: int) -> Any:
    """The request body parsed as JSON, whatever the Content-Type says (clients of several
    providers send none, or a wrong one)."""
    data = await read_body(request, limit)
    try:
        return json.loads(data)
    except ValueError as exc:  # UnicodeDecodeError included
        raise InvalidRequest("the body is not JSON") from exc
