"""SMSmobileAPI: the declaration for the registry (routers in the order they are included,
and the provider's received-SMS webhook payload)."""

from __future__ import annotations

from textgate.dialects.base import Dialect
from textgate.dialects.smsmobileapi import gateway, inbox, public, routes, soap, webhook_format

__all__ = ["DIALECT"]

DIALECT = Dialect(
    name="smsmobileapi",
    openapi_tag="smsmobileapi",
    description="SMSmobileAPI: sending and receiving through the account's own phones.",
    routers=(
        routes.router,
        inbox.router,
        inbox.conversation_router,
        gateway.router,
        gateway.oauth_router,
        public.router,
        soap.router,
    ),
    webhook_formats={webhook_format.FORMAT: webhook_format.render},
)
