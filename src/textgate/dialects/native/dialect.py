"""textgate's own REST API (``/v1``): its declaration for the registry."""

from __future__ import annotations

from textgate.dialects.base import Dialect, FastPath
from textgate.dialects.native import (
    campaigns,
    devices,
    emails,
    inbound,
    links,
    lists,
    routes,
    smpp_logins,
    webhooks,
)
from textgate.dialects.native.fastpath import handle_submit, is_submit

__all__ = ["DIALECT"]

DIALECT = Dialect(
    name="native",
    openapi_tag="native",
    description="textgate's own API: messages, webhooks, phones, lists, campaigns, inbox, SMPP"
    " logins (Bearer API key).",
    routers=(
        routes.router,
        webhooks.router,
        devices.router,
        emails.router,
        campaigns.router,
        lists.router,
        inbound.router,
        links.router,
        smpp_logins.router,
    ),
    fast_paths=(FastPath(routes.INTERFACE, is_submit, handle_submit),),
)
