"""Registering SMSmobileAPI endpoints: every path answers GET and POST, with and without a
trailing slash and after a doubled slash, without redirects (clients do not follow them for
POST; shared/specs/dialects.md, "General")."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Response

__all__ = ["Endpoint", "at"]

Endpoint = Callable[..., Coroutine[Any, Any, Response]]


def at(
    router: APIRouter, name: str, methods: tuple[str, ...] = ("GET", "POST"), **options: Any
) -> Callable[[Endpoint], Endpoint]:
    def register(endpoint: Endpoint) -> Endpoint:
        for i, path in enumerate((f"/{name}/", f"/{name}", f"//{name}", f"//{name}/")):
            # One route per method: OpenAPI operation ids are made of name, path and method.
            for method in methods:
                router.add_api_route(
                    path, endpoint, methods=[method], include_in_schema=i == 0, **options
                )
        return endpoint

    return register
