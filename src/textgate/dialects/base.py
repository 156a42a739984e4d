"""What every dialect shares: its declaration (``Dialect``), error translation at the route
boundary, service lookup, credentials and body reading (email dialects: ``dialects.mail``).

Each dialect renders errors in its provider's format, so exception handling is attached to
its routes (a route class per dialect), not to the application.

Every JSON body a dialect route reads, by ``read_json`` or as a FastAPI body parameter, is
decoded by ``decode_json``: what it cannot decode is a ``MalformedInput``, answered in the
dialect's format like any bad request, never a 500.
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
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from textgate.core.webhook_formats import Renderer, Signer
from textgate.dialects.mail import AddressHandler
from textgate.dialects.paths import PathCanon
from textgate.dialects.text_input import (
    has_unusable_text,
    refuse_unusable_body,
    refuse_unusable_text,
)
from textgate.errors import (
    AuthenticationFailed,
    GatewayError,
    InvalidRequest,
    MalformedInput,
    RequestTooLarge,
)
from textgate.services.registry import Services

__all__ = [
    "Dialect",
    "ErrorRenderer",
    "FastPath",
    "add_routes",
    "basic_credentials",
    "bearer_token",
    "client_ip",
    "decode_json",
    "error_route_class",
    "guarded",
    "input_error",
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
    configured_routers: Callable[[Any], Sequence[APIRouter]] | None = None
    """Routers that depend on the settings (given the application's settings), included
    after ``routers``."""
    fast_paths: tuple[FastPath, ...] = ()
    webhook_formats: Mapping[str, Renderer] = field(default_factory=dict)
    """Webhook payload formats by name, for the subscriptions this dialect's clients make."""
    webhook_signers: Mapping[str, Signer] = field(default_factory=dict)
    """Of those formats, the ones sent with the provider's headers and signature."""
    smtp_handlers: Callable[[Any], Sequence[AddressHandler]] | None = None
    """The email addresses it serves on the SMTP server (given the application's settings)."""
    tolerant_prefixes: tuple[str, ...] = ()
    """Path prefixes under which paths match its routes in any case and with doubled or
    trailing slashes, as the provider's own server does (``dialects.paths``)."""

    def mounts(self, settings: Any) -> tuple[APIRouter, ...]:
        """Its routers under these settings. Each route carries its whole path (a router
        declares its prefix), so the application adds the routes themselves."""
        built = () if self.configured_routers is None else self.configured_routers(settings)
        return (*self.routers, *built)

    def path_rewriter(self, mounts: Sequence[APIRouter]) -> Callable[[Scope], None] | None:
        """What puts a request path into the spelling of its route, for a dialect with
        ``tolerant_prefixes`` (``dialects.paths``); None for the others."""
        if not self.tolerant_prefixes:
            return None
        return PathCanon(self.tolerant_prefixes, mounts).rewrite

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


# pydantic's error types for a body its JSON parser could not read.
_UNREADABLE = frozenset({"json_invalid"})


def input_error(exc: RequestValidationError | ValidationError) -> InvalidRequest:
    """The gateway error for a body that failed validation: ``MalformedInput`` when it was
    not JSON at all, else the fields' problems."""
    message = validation_message(exc)
    if any(err.get("type") in _UNREADABLE for err in exc.errors()):
        return MalformedInput(message)
    return InvalidRequest(message)


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
        refuse_unusable_text(request)
        return await handler(request)
    except Exception as exc:
        return _translated(render, request, exc)


def _translated(render: ErrorRenderer, request: Request, exc: Exception) -> Response:
    cause = exc.__cause__
    if isinstance(exc, HTTPException) and isinstance(cause, GatewayError | ClientDisconnect):
        # FastAPI answers whatever reading a body parameter raised (a MalformedInput from
        # decode_json, the client leaving) with a 400 HTTPException, the error as its cause.
        exc = cause
    if isinstance(exc, GatewayError):
        return render(exc)
    if isinstance(exc, RequestValidationError):
        return render(input_error(exc))
    if isinstance(exc, ClientDisconnect):
        # Nobody reads the answer. A client can do this at will: one line, no traceback.
        log.info("client left before the body ended: %s %s", request.method, request.url.path)
        return render(MalformedInput("the request body ended early"))
    if isinstance(exc, HTTPException) and 400 <= exc.status_code < 500:
        # The framework's own refusal of a body it could not read.
        return render(MalformedInput(str(exc.detail)))
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return render(None)


class _DialectRequest(Request):
    """A request whose JSON body (a FastAPI body parameter) is read by ``decode_json``."""

    async def json(self) -> Any:
        body = await self.body()
        refuse_unusable_body(body, self.headers.get("content-type", ""))
        return decode_json(body)


def error_route_class(render: ErrorRenderer) -> type[APIRoute]:
    """A route class that turns every exception of its handlers into ``render``'s answer."""

    class DialectRoute(APIRoute):
        # Also how errors raised before any route runs (textgate.body_limit) are rendered.
        error_renderer = staticmethod(render)

        def get_route_handler(self) -> Handler:
            handler = super().get_route_handler()

            async def guarded_route(request: Request) -> Response:
                # FastAPI's way of a custom body decoding: the handler gets a request of a
                # class of the route's own ("Custom Request and APIRoute class").
                decoding = _DialectRequest(request.scope, request.receive)
                return await guarded(render, handler, decoding)

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
    body = b"".join(chunks)
    refuse_unusable_body(body, request.headers.get("content-type", ""))
    return body


async def read_json(request: Request, limit: int) -> Any:
    """The request body parsed as JSON, whatever the Content-Type says (clients of several
    providers send none, or a wrong one)."""
    return decode_json(await read_body(request, limit))


MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects in a JSON body; no request of any dialect nests
more than a few levels."""
MAX_JSON_NUMBER = 100
"""Longest number literal in a JSON body, in characters: far beyond any 64-bit id or
amount, far below where converting it costs (Python refuses integers over 4300 digits)."""


def _number(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def bounded(literal: str) -> Any:
        if len(literal) > MAX_JSON_NUMBER:
            raise MalformedInput(f"a number in the body is over {MAX_JSON_NUMBER} characters")
        return parse(literal)

    return bounded


def _constant(name: str) -> Any:
    raise MalformedInput(f"{name} is not JSON")


_PARSE_INT, _PARSE_FLOAT = _number(int), _number(float)


def decode_json(data: bytes) -> Any:
    """``data`` as JSON (RFC 8259), or ``MalformedInput``: bytes that are not UTF-8 (section
    8.1; a leading UTF-8 byte order mark is ignored, as it allows), anything that is not JSON
    (NaN and Infinity included), nesting deeper than ``MAX_JSON_DEPTH``, a number longer than
    ``MAX_JSON_NUMBER``."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedInput("the body is not UTF-8 text") from exc
    try:
        value = json.loads(
            text, parse_int=_PARSE_INT, parse_float=_PARSE_FLOAT, parse_constant=_constant
        )
    except RecursionError as exc:
        raise MalformedInput(f"the body nests deeper than {MAX_JSON_DEPTH} levels") from exc
    except ValueError as exc:
        raise MalformedInput("the body is not JSON") from exc
    # Counting brackets costs nothing next to walking the value, and settles almost every
    # body: it cannot nest deeper than it has brackets.
    if data.count(b"[") + data.count(b"{") > MAX_JSON_DEPTH and _too_deep(value):
        raise MalformedInput(f"the body nests deeper than {MAX_JSON_DEPTH} levels")
    return value


def _too_deep(value: Any) -> bool:
    """Whether arrays and objects nest deeper than ``MAX_JSON_DEPTH`` in ``value`` (walked
    without recursion: the value may nest almost as deep as the parser's own limit)."""
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if level > MAX_JSON_DEPTH:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, level + 1) for c in children if isinstance(c, dict | list))
    return False
