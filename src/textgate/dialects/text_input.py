"""Text that no part of the gateway can keep: refused at the edge, once, for every dialect.

Two kinds of character decode without complaint and fail later, deep inside a request:
- a lone surrogate (U+D800..U+DFFF outside a pair), which only a JSON escape such as
  ``"\\ud800"`` can produce (RFC 8259, section 8.2, leaves such strings to the receiver). It
  has no UTF-8 form, so hashing it, binding it to a query or writing it anywhere fails;
- NUL (U+0000), from ``\\u0000`` in JSON or ``%00`` in a query string, path or form body.
  PostgreSQL's text types cannot hold it (SQLite can), so the same request would succeed or
  fail depending on the database.

Neither belongs in an SMS, an id, a name or a credential, so a request carrying one anywhere
in its path, query string or body is refused as bad input, in the dialect's own format
(``dialects.base.guarded`` calls :func:`refuse_unusable_text` before every handler, and the
shared body readers call :func:`refuse_unusable_body`). Refusing
is the honest answer: dropping the characters would store and send something other than
what the client sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl

from starlette.requests import Request

from textgate.errors import InvalidRequest

__all__ = ["has_unusable_text", "refuse_unusable_body", "refuse_unusable_text"]

_UNUSABLE = re.compile("[\x00\ud800-\udfff]")
# What a body must contain to decode into such text: a NUL byte, a percent-encoded NUL, or
# a JSON escape of NUL or of a surrogate (pairs of them decode to one valid character, and
# are let through by the full check below).
_SUSPECT_BODY = re.compile(rb"\x00|%00|\\u(?:0000|[dD][89a-fA-F])")
# Bodies that are neither JSON nor forms: their own parsers refuse these characters
# (XML 1.0 allows neither, even as a character reference).
_NOT_FORMS = ("xml", "multipart/")

_REFUSAL = "text with a NUL character or an unpaired surrogate is not accepted"


def has_unusable_text(value: object) -> bool:
    """Whether ``value`` (a string, or JSON-like data: lists, dicts and scalars) contains a
    NUL or a lone surrogate anywhere, keys included."""
    todo: list[object] = [value]
    while todo:
        item = todo.pop()
        if isinstance(item, str):
            if _UNUSABLE.search(item):
                return True
        elif isinstance(item, dict):
            todo.extend(item.keys())
            todo.extend(item.values())
        elif isinstance(item, list | tuple):
            todo.extend(item)
    return False


def refuse_unusable_text(request: Request) -> None:
    """Raise InvalidRequest when the request's path or query string carries a NUL or a
    lone surrogate (its body is checked where it is read: :func:`refuse_unusable_body`)."""
    scope = request.scope
    if not scope.get("query_string") and not scope.get("path_params"):
        # Nothing to look at (every submit of the native API): parsing an empty query
        # string into a mapping cost 4 % of the event loop's time on that path.
        return
    if has_unusable_text(list(request.path_params.values())) or has_unusable_text(
        list(request.query_params.multi_items())
    ):
        raise InvalidRequest(_REFUSAL)


def refuse_unusable_body(body: bytes, content_type: str) -> None:
    """Raise InvalidRequest when ``body``, as the dialects will read it, carries a NUL or a
    lone surrogate. Called where a body is read (``dialects.base.read_body`` and FastAPI's
    JSON body parameters), never ahead of the route: a route reads its body only once it
    has checked what it must first (a signature), and no further than its own cap."""
    if not _SUSPECT_BODY.search(body):
        return
    if has_unusable_text(_decoded(body, content_type)):
        raise InvalidRequest(_REFUSAL)


def _decoded(body: bytes, content_type: str) -> object:
    """The body as the dialects will read it: JSON when it parses as JSON (whatever the
    Content-Type says, as several providers' clients send none or a wrong one), else the
    values of a form. A body that is neither is left to the handler, which refuses it."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        pass
    if any(kind in content_type.lower() for kind in _NOT_FORMS):
        return None
    pairs: Iterable[tuple[str, str]] = parse_qsl(
        body.decode("utf-8", errors="replace"), keep_blank_values=True
    )
    return list(pairs)
