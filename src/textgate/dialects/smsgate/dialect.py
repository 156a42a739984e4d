"""SMSGate's client API: its declaration for the registry."""

from __future__ import annotations

from textgate.dialects.base import Dialect
from textgate.dialects.smsgate import routes, webhook_format

__all__ = ["DIALECT"]

DIALECT = Dialect(
    name="smsgate",
    openapi_tag="smsgate",
    description="SMSGate's API for its clients (``/3rdparty/v1``).",
    routers=(routes.router,),
    webhook_formats={webhook_format.FORMAT: webhook_format.render},
    webhook_signers={webhook_format.FORMAT: webhook_format.sign},
)
