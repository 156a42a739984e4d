"""Registering SMSmobileAPI endpoints: every path answers GET and POST, with and without a
trailing slash and after a doubled slash, without redirects (clients do not follow them for
POST; shared/specs/dialects.md, "General")."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Response

from textgate.dialects.base import add_routes

__all__ = ["Endpoint", "at"]

Endpoint = Callable[..., Coroutine[Any, Any, Response]]


def at(
    router: APIRouter, name: str, methods: tuple[str, ...] = ("GET", "POST"), **options: Any
) -> Callable[[Endpoint], Endpoint]:
    def register(endpoint: Endpoint) -> Endpoint:
        paths = (f"/{name}/", f"/{name}", f"//{name}", f"//{name}/")
        add_routes(router, endpoint, paths, methods, **options)
        return endpoint

    return register
