"""The operator's admin API (``/v1/admin``): its declaration for the registry."""

from __future__ import annotations

from textgate.dialects.admin import routes, routing
from textgate.dialects.base import Dialect

__all__ = ["DIALECT"]

DIALECT = Dialect(
    name="admin",
    openapi_tag="admin",
    description="The operator's API: accounts, settings, credit, keys, opt-outs, the routing"
    " table and margins (Bearer admin token; absent without one configured).",
    routers=(routes.router, routing.router),
)
