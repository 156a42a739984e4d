"""The smsend / Skebby / Esendex-IT REST API: its declaration for the registry."""

from __future__ import annotations

from textgate.dialects.base import Dialect
from textgate.dialects.smsend import routes

__all__ = ["DIALECT"]

DIALECT = Dialect(
    name="smsend",
    openapi_tag="smsend",
    description='smsend / Skebby / Esendex-IT "SMS REST API v1.0" (``/API/v1.0/REST/``).',
    routers=(routes.router,),
)
