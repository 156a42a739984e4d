"""MailUp transactional SMS and SMTP+ email: the declaration for the registry."""

from __future__ import annotations

from textgate.dialects.base import Dialect
from textgate.dialects.mailup import email_routes, routes

__all__ = ["DIALECT"]

DIALECT = Dialect(
    name="mailup",
    openapi_tag="mailup",
    description="MailUp transactional SMS (``/api/v2.0/``) and SMTP+ transactional email"
    " (``/API/v2.0/messages/``).",
    # Email first: the SMS router answers anything else under /api/v2.0 in its own format.
    routers=(email_routes.router, routes.router),
    # MailUp's servers answer paths in any case and with doubled or trailing slashes;
    # clients written against them rely on it (``/API/v2.0/...``, ``sendmessage/``).
    tolerant_prefixes=(routes.PREFIX,),
)
