"""Settings problems as one line each: the key, the value, what is allowed.

Pydantic reports a bad setting as a multi-line block written for programmers; an operator
who typed ``prot`` for ``port`` wants one line that names the key as they wrote it (the TOML
path, or the ``TEXTGATE_*`` variable that set it), the value they gave and what would have
been accepted. This module is the one place that translation happens; ``config`` raises the
result as :class:`textgate.errors.ConfigError` and the CLI prints it.
"""

from __future__ import annotations

import difflib
import json
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Literal, Union

import annotated_types
from pydantic import BaseModel, SecretStr, ValidationError
from pydantic.fields import FieldInfo

__all__ = ["ENV_PREFIX", "describe", "origin", "shown", "unknown_variables"]

ENV_PREFIX: Final = "TEXTGATE_"
# ``TEXTGATE_*`` names that are not settings: the config file's path, the ``phone``
# command's credentials, and the test suite's own (``TEXTGATE_TEST_*``).
_NOT_SETTINGS: Final = frozenset({"CONFIG", "PHONE_TOKEN", "PHONE_PASSWORD"})
_TEST_PREFIX: Final = "TEST_"
# Values of these keys never reach an error line (it may end up in a log).
_SECRET_KEYS: Final = frozenset(
    {
        "password",
        "secret_key",
        "admin_token",
        "dashboard_secret",
        "smtp_password",
        "token",
        # Credentials of HTTP upstream connectors (connectors.upstream).
        "api_key",
        "access_token",
        "callback_token",
    }
)
_URL_PASSWORD: Final = re.compile(r"(://[^:/@]*:)[^@]*@")
_MAX_SHOWN: Final = 80
_MAX_LISTED: Final = 16


def unknown_variables(environ: Mapping[str, str], model: type[BaseModel]) -> list[str]:
    """A line per ``TEXTGATE_*`` variable that names no setting of ``model`` (nested keys
    below a known section are checked by the section's own model)."""
    problems: list[str] = []
    known = {name.upper() for name in model.model_fields}
    candidates, sections = _env_names(model)
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX):
            continue
        rest = upper.removeprefix(ENV_PREFIX)
        if rest in _NOT_SETTINGS or rest.startswith(_TEST_PREFIX):
            continue
        top, nested, _ = rest.partition("__")
        if top in known and (not nested or top in sections):
            continue
        # A single underscore where the nesting wants two is the usual slip.
        guess = difflib.get_close_matches(rest, candidates, n=1)
        hint = f"; did you mean {ENV_PREFIX}{guess[0]}?" if guess else ""
        problems.append(f"{name} is not a setting{hint}")
    return problems


def _env_names(model: type[BaseModel]) -> tuple[list[str], set[str]]:
    """Every variable name (without the prefix) down to one level of nesting, and the names
    of the sections (the settings that take nested variables)."""
    names = ["CONFIG"]
    sections: set[str] = set()
    for name, info in model.model_fields.items():
        names.append(name.upper())
        section = _model_of(info.annotation)
        if section is not None:
            sections.add(name.upper())
            names += [f"{name}__{sub}".upper() for sub in section.model_fields]
    return names, sections


def describe(
    exc: ValidationError,
    model: type[BaseModel] | None,
    environ: Mapping[str, str],
    source: str | None,
    *,
    prefix: tuple[str | int, ...] = (),
) -> list[str]:
    """One line per wrong key of ``exc``, raised validating ``model`` (None: not a settings
    model, pydantic's own words say what is allowed) at ``prefix`` of the settings;
    ``source`` names where values not from the environment came from (the TOML file)."""
    lines: list[str] = []
    seen: set[tuple[Any, ...]] = set()
    for error in exc.errors(include_url=False):
        loc = prefix + tuple(p for p in error["loc"] if p != "[key]")
        if loc in seen:
            continue  # one line per key, however many ways its value was wrong
        seen.add(loc)
        if "[key]" in error["loc"]:
            error = {**error, "type": "bad_key"}
        lines.append(_line(error, loc, model, environ, source))
    return lines


def _line(
    error: Mapping[str, Any],
    loc: tuple[Any, ...],
    model: type[BaseModel] | None,
    environ: Mapping[str, str],
    source: str | None,
) -> str:
    key = _dotted(loc)
    found = origin(loc, environ) or source
    where = f" ({found})" if found else ""
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{key} is not a setting{where}{_siblings(loc, model)}"
    if kind == "missing":
        return f"{key} is required{where}"
    msg = str(error["msg"]).removeprefix("Value error, ").replace("Input should be", "should be")
    if kind == "bad_key":
        return f"{key} is not an allowed key{where}: {msg}"
    if not loc or msg.startswith(f"{key}."):
        # A rule over a whole table (two keys that go together): its message names them.
        return f"{msg}{where}"
    value = shown(loc, error.get("input"))
    field = _field_at(loc, model) if loc and model is not None else None
    allowed = _allowed(field) if field is not None and kind != "value_error" else None
    what = f"allowed: {allowed}" if allowed is not None else msg
    return f"{key} = {value}{where}: {what}"


def _dotted(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "settings"


def origin(loc: Sequence[Any], environ: Mapping[str, str]) -> str | None:
    """The environment variable that set ``loc`` (or a section holding it), if any."""
    names = {k.upper() for k in environ}
    parts = [str(p).upper() for p in loc]
    for end in range(len(parts), 0, -1):
        name = ENV_PREFIX + "__".join(parts[:end])
        if name in names:
            return f"from {name}"
    return None


def shown(loc: Sequence[Any], value: Any) -> str:
    """The value as the operator wrote it, short, without any secret in it."""
    value = _redacted(str(loc[-1]) if loc else "", value)
    if isinstance(value, str):
        text = repr(value)
    else:
        try:
            text = json.dumps(value, default=str)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _redacted(key: str, value: Any) -> Any:
    if key.lower() in _SECRET_KEYS or isinstance(value, SecretStr):
        return "***"
    if isinstance(value, str):
        return _URL_PASSWORD.sub(r"\1***@", value)
    if isinstance(value, Mapping):
        return {k: _redacted(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(key, v) for v in value]
    return value


def _siblings(loc: Sequence[Any], model: type[BaseModel] | None) -> str:
    if model is None:
        return ""
    parent = _type_at(loc[:-1], model)
    section = _model_of(parent)
    if section is None:
        return ""
    names = sorted(section.model_fields)
    guess = difflib.get_close_matches(str(loc[-1]), names, n=1)
    hint = f"; did you mean {guess[0]}?" if guess else ""
    if len(names) > _MAX_LISTED:
        return hint
    listed = f"[{_dotted(loc[:-1])}] has: {', '.join(names)}"
    return f"{hint} ({listed})" if hint else f"; {listed}"


def _type_at(loc: Sequence[Any], model: type[BaseModel]) -> Any:
    current: Any = model
    for part in loc:
        current = _strip_optional(current)
        section = _model_of(current)
        if section is not None and isinstance(part, str):
            info = section.model_fields.get(part)
            if info is None:
                return None
            current = info.annotation
            continue
        args = typing.get_args(current)
        origin = typing.get_origin(current)
        if origin in (list, tuple, set, frozenset) and args:
            current = args[0]
        elif origin is dict and len(args) == 2:
            current = args[1]
        else:
            return None
    return current


def _field_at(loc: Sequence[Any], model: type[BaseModel]) -> FieldInfo | None:
    section = _model_of(_strip_optional(_type_at(loc[:-1], model)))
    if section is None or not isinstance(loc[-1], str):
        return None
    return section.model_fields.get(loc[-1])


def _strip_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _model_of(tp: Any) -> type[BaseModel] | None:
    tp = _strip_optional(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _allowed(field: FieldInfo) -> str | None:
    tp = _strip_optional(field.annotation)
    optional = tp is not field.annotation
    if typing.get_origin(tp) is Literal:
        text = "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    elif tp is bool:
        text = "true or false"
    elif tp is int or tp is float:
        text = _bounds("an integer" if tp is int else "a number", field.metadata)
    elif tp is str or tp is SecretStr or tp is Path:
        text = _length("a path" if tp is Path else "a string", field.metadata)
    elif _model_of(tp) is not None:
        text = "a table of settings"
    elif typing.get_origin(tp) in (list, tuple):
        text = "a list"
    elif typing.get_origin(tp) is dict:
        text = "a table"
    else:
        return None
    return f"{text}, or unset" if optional and field.default is None else text


def _bounds(kind: str, metadata: Sequence[Any]) -> str:
    low = high = None
    for m in metadata:
        if isinstance(m, annotated_types.Ge):
            low = f"{m.ge}"
        elif isinstance(m, annotated_types.Gt):
            low = f"greater than {m.gt}"
        elif isinstance(m, annotated_types.Le):
            high = f"{m.le}"
        elif isinstance(m, annotated_types.Lt):
            high = f"less than {m.lt}"
    if low is not None and high is not None:
        if low.startswith("greater") or high.startswith("less"):
            return f"{kind}, {low} and {high}"
        return f"{kind} from {low} to {high}"
    if low is not None:
        return f"{kind} {low}" if low.startswith("greater") else f"{kind} of at least {low}"
    if high is not None:
        return f"{kind} {high}" if high.startswith("less") else f"{kind} of at most {high}"
    return kind


def _length(kind: str, metadata: Sequence[Any]) -> str:
    low = high = pattern = None
    for m in metadata:
        if isinstance(m, annotated_types.MinLen):
            low = m.min_length
        elif isinstance(m, annotated_types.MaxLen):
            high = m.max_length
        elif getattr(m, "pattern", None):
            pattern = m.pattern
    if low is not None and high is not None:
        kind = f"{kind} of {low} to {high} characters"
    elif low is not None:
        kind = f"{kind} of at least {low} characters"
    elif high is not None:
        kind = f"{kind} of at most {high} characters"
    return f"{kind} matching {pattern}" if pattern else kind
