"""ASPSMS: the declaration for the registry. Its addresses are served on the SMTP server,
under the domains the ``smtp.aspsms_domains`` setting lists, and its JSON API on the HTTP
server (dialects.aspsms.json_api)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from textgate.dialects.aspsms import json_api
from textgate.dialects.aspsms.handler import AspsmsAddresses
from textgate.dialects.base import Dialect
from textgate.dialects.mail import AddressHandler

__all__ = ["DIALECT"]


class _Smtp(Protocol):
    @property
    def aspsms_domains(self) -> Sequence[str]: ...


class _Settings(Protocol):
    @property
    def smtp(self) -> _Smtp: ...


def _handlers(settings: _Settings) -> tuple[AddressHandler, ...]:
    return (AspsmsAddresses(tuple(settings.smtp.aspsms_domains)),)


DIALECT = Dialect(
    name="aspsms",
    description="ASPSMS SMTP: email to ``textsms@``, ``xml@`` or ``<00number>@smtp.aspsms.com``"
    " is an SMS; and its JSON API (``/SendSimpleTextSMS``, ``/SendTextSMS``, ``/CheckCredits``).",
    openapi_tag="aspsms",
    routers=(json_api.router,),
    smtp_handlers=_handlers,
)
