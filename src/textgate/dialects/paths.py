"""Request paths matched as a provider's own server matches them.

Some providers' servers ignore the case of a path and doubled or trailing slashes (MailUp's
API answers ``/API/v2.0/...`` and ``/api/v2.0/...`` alike, and ``sendmessage/`` as
``sendmessage``); client code written against them relies on it. A dialect that names such
prefixes (``Dialect.tolerant_prefixes``) gets its request paths rewritten, before routing, to
the route path it declares: literal segments take the route's own spelling, parameters keep
the client's. Nothing else changes, so a path that matches no route still reaches the
dialect's own "unknown path" answer rather than a redirect or the framework's 404.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from fastapi import APIRouter
from starlette.routing import BaseRoute, Route
from starlette.types import Scope

__all__ = ["PathCanon"]


def _segments(path: str) -> tuple[str, ...]:
    return tuple(s for s in path.split("/") if s)


def _is_param(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}")


class PathCanon:
    """Rewrites paths under ``prefixes`` (any case) to the routes of ``routers``."""

    def __init__(self, prefixes: Sequence[str], routers: Iterable[APIRouter]) -> None:
        self._prefixes = tuple(_segments(p.lower()) for p in prefixes)
        self._templates: dict[int, list[tuple[str, ...]]] = {}
        for path in _route_paths(routers):
            template = _segments(path)
            # A catch-all parameter ({path:path}) is the dialect's "unknown path" answer.
            if any(":path}" in s for s in template):
                continue
            self._templates.setdefault(len(template), []).append(template)

    def rewrite(self, scope: Scope) -> None:
        """Put the canonical path in ``scope`` when it has one (a new ``scope`` is not
        needed: the server builds one per request)."""
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if not (root and path.startswith(root)):
            root = ""
        local = path[len(root) :]
        canonical = self.canonical(local)
        if canonical is not None and canonical != local:
            scope["path"] = root + canonical
            scope["raw_path"] = (root + canonical).encode()

    def canonical(self, path: str) -> str | None:
        segments = _segments(path)
        lowered = tuple(s.lower() for s in segments)
        if not any(lowered[: len(p)] == p for p in self._prefixes):
            return None
        for template in self._templates.get(len(segments), ()):
            if all(_is_param(t) or t.lower() == s for t, s in zip(template, lowered, strict=True)):
                parts = (s if _is_param(t) else t for t, s in zip(template, segments, strict=True))
                return "/" + "/".join(parts)
        # No route: only the slashes are made regular (the unknown-path answer follows).
        return "/" + "/".join(segments)


def _route_paths(routers: Iterable[APIRouter]) -> list[str]:
    found: list[str] = []
    for router in routers:
        route: BaseRoute
        for route in router.routes:
            if isinstance(route, Route):
                found.append(route.path)
    return found
