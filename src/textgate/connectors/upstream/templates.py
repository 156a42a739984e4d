"""The templates of the generic HTTP connector: placeholders, and paths into answers.

A template is text with ``{name}`` placeholders (``{{`` and ``}}`` for literal braces), as
Python's ``str.format`` writes them but with names only: no attribute, index, conversion or
format spec, and only the names of :data:`PLACEHOLDERS`. Each place a value goes escapes it
for that place: percent-encoding in a URL, JSON string rules in a JSON body (the body is
built as data and serialised), form encoding in a form body (by the HTTP client); a header
cannot carry a line break at all.

A path picks a value out of an answer or a callback: dotted keys and list indexes
(``messages.0.id``; ``$.messages[0].id`` is read the same), or, for a form or query-string
callback, the field's name.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from typing import Any, Final
from urllib.parse import quote

__all__ = [
    "PLACEHOLDERS",
    "check_template",
    "json_at",
    "parse_path",
    "render",
    "render_json",
    "render_url",
]

PLACEHOLDERS: Final = {
    "recipient": "the recipient, E.164 with '+'",
    "recipient_digits": "the recipient without the '+'",
    "sender": "the sender (empty, or null in JSON, when the message has none)",
    "text": "the message text",
    "message_id": "textgate's id of the message",
    "encoding": "gsm7 or ucs2",
    "segments": "the number of SMS parts",
    "valid_until": "when the client's validity ends, RFC 3339 UTC (empty, or null in JSON,"
    " when it asked for none)",
    "validity_seconds": "the whole seconds left of the client's validity, at least 1 (empty,"
    " or null in JSON, when it asked for none)",
    "callback_url": "this connector's status callback URL (needs callback_base_url)",
    "api_key": "the api_key option",
    "username": "the username option",
    "password": "the password option",
}
_FORMATTER: Final = string.Formatter()
_BRACKET: Final = re.compile(r"\[(\d+)\]")


def placeholders(template: str) -> list[str]:
    """The names a template uses; ValueError if it is not a template of this kind."""
    names = []
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise ValueError(f"not a template: {exc} (write {{{{ for a literal brace)") from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if spec or conversion or not name:
            raise ValueError("write placeholders as {name}, without index, conversion or format")
        if name not in PLACEHOLDERS:
            allowed = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
            raise ValueError(f"unknown placeholder {{{name}}}; allowed: {allowed}")
        names.append(name)
    return names


def check_template(value: Any) -> list[str]:
    """Every placeholder in a template or a JSON structure of templates (raises
    ValueError for a bad one)."""
    if isinstance(value, str):
        return placeholders(value)
    if isinstance(value, Mapping):
        return [n for v in value.values() for n in check_template(v)]
    if isinstance(value, list):
        return [n for v in value for n in check_template(v)]
    return []


def render(template: str, values: Mapping[str, str | None]) -> str:
    return template.format_map({k: "" if v is None else v for k, v in values.items()})


def render_url(template: str, values: Mapping[str, str | None]) -> str:
    """The URL with every value percent-encoded: a text with ``&``, ``/`` or ``#`` stays one
    value of the place it was put in."""
    return render(template, {k: quote(v or "", safe="") for k, v in values.items()})


def render_json(template: Any, values: Mapping[str, str | None]) -> Any:
    """A JSON structure with its string leaves rendered; a leaf that is one placeholder and
    nothing else takes the value itself (null for a missing sender)."""
    if isinstance(template, str):
        parsed = list(_FORMATTER.parse(template))
        if len(parsed) == 1 and parsed[0][0] == "" and parsed[0][1]:
            return values.get(parsed[0][1])
        return render(template, values)
    if isinstance(template, Mapping):
        return {k: render_json(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [render_json(v, values) for v in template]
    return template


def parse_path(path: str) -> tuple[str, ...]:
    """``$.messages[0].id`` or ``messages.0.id`` as its steps; ValueError if empty."""
    text = path.strip().removeprefix("$").removeprefix(".")
    text = _BRACKET.sub(r".\1", text)
    steps = tuple(text.split(".")) if text else ()
    if not steps or any(s == "" for s in steps):
        raise ValueError(f"{path!r} is not a path: write keys and indexes, e.g. messages.0.id")
    return steps


def json_at(data: Any, steps: Iterable[str]) -> Any:
    """The value at ``steps`` in parsed JSON, or None when any step is missing."""
    current = data
    for step in steps:
        if isinstance(current, Mapping):
            current = current.get(step)
        elif isinstance(current, list) and step.isdigit() and int(step) < len(current):
            current = current[int(step)]
        else:
            return None
    return current
