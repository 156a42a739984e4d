"""Reading SMSmobileAPI requests: parameters and credentials.

Parameters come as a query string (GET) or a form body (POST), and the seed's axios example
posts a JSON object; all three are read, by content rather than by Content-Type (shared/
specs/dialects.md, "SMSmobileAPI"). Unknown parameters (``from=python``) are ignored. The
credential is the ``apikey`` parameter or an ``Authorization: Bearer`` token, either an
OAuth2 access token or the API key itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import parse_qsl

from fastapi import Request

from textgate.core.accounts import Account
from textgate.dialects.base import bearer_token, decode_json, lookup_services, read_body
from textgate.errors import AuthenticationFailed, InvalidRequest

__all__ = ["Params", "authenticate", "read_params"]

MAX_BODY_BYTES = 1024 * 1024
# Beyond any count or Unix time in seconds a client means; keeps times in milliseconds
# within the database's 64-bit integers.
MAX_INTEGER = 10**11
# What textgate's own API keys look like (core.accounts: "tg_<id>_<secret>").
_API_KEY_PREFIX = "tg_"


class Params:
    """The request's parameters; body values win over query values of the same name."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)

    def get(self, name: str) -> str | None:
        value = self._values.get(name)
        return None if value is None else value.strip()

    def has(self, name: str) -> bool:
        return name in self._values

    def text(self, name: str) -> str | None:
        """A value as sent (message texts keep their spaces); None when absent."""
        return self._values.get(name)

    def require(self, name: str) -> str:
        value = self.get(name)
        if not value:
            raise InvalidRequest(f"Missing required parameter: {name}")
        return value

    def flag(self, name: str, *, default: bool = False) -> bool:
        value = (self.get(name) or "").lower()
        if not value:
            return default
        return value in ("1", "yes", "true", "on")

    def integer(self, name: str) -> int | None:
        value = self.get(name)
        if not value:
            return None
        try:
            number = int(value)
        except ValueError as exc:
            raise InvalidRequest(f"{name} must be a whole number") from exc
        if abs(number) > MAX_INTEGER:
            raise InvalidRequest(f"{name} is out of range")
        return number


def _body_values(raw: bytes) -> dict[str, str]:
    text = raw.decode("utf-8", errors="replace").strip()
    if not text:
        return {}
    if text.startswith("{"):
        parsed = decode_json(raw)
        if not isinstance(parsed, dict):
            raise InvalidRequest("the body is not a JSON object")
        return {
            str(k): v if isinstance(v, str) else json.dumps(v)
            for k, v in parsed.items()
            if v is not None
        }
    return dict(parse_qsl(text, keep_blank_values=True))


async def read_params(request: Request) -> Params:
    values = dict(request.query_params)
    if request.method == "POST":
        values.update(_body_values(await read_body(request, MAX_BODY_BYTES)))
    return Params(values)


async def authenticate(request: Request, params: Params) -> Account:
    registry = lookup_services(request)
    key = params.get("apikey")
    if key:
        return await registry.accounts.authenticate(key)
    token = bearer_token(request.headers.get("authorization"))
    if token:
        if token.startswith(_API_KEY_PREFIX):
            return await registry.accounts.authenticate(token)
        return await registry.oauth.authenticate(token)
    raise AuthenticationFailed("Missing required parameter: apikey")
