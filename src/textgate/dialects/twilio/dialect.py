"""Twilio's Messages API: its declaration for the registry."""

from __future__ import annotations

from textgate.dialects.base import Dialect
from textgate.dialects.twilio import callbacks, routes

__all__ = ["DIALECT"]

DIALECT = Dialect(
    name="twilio",
    openapi_tag="twilio",
    description="Twilio Messages API (``/2010-04-01/Accounts/{AccountSid}/Messages``).",
    routers=(routes.router,),
    webhook_formats={callbacks.FORMAT: callbacks.render},
    webhook_signers={callbacks.FORMAT: callbacks.sign},
)
