"""LabsMobile: the declaration for the registry. Its MailSMS addresses are served on the
SMTP server, under the domains the ``smtp.labsmobile_domains`` setting lists; its JSON API
(dialects.labsmobile.json_api) and http/GET interface (dialects.labsmobile.get_api) on the
HTTP server."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from textgate.dialects.base import Dialect
from textgate.dialects.labsmobile import get_api, json_api
from textgate.dialects.labsmobile.mailsms import MailSms
from textgate.dialects.mail import AddressHandler

__all__ = ["DIALECT"]


class _Smtp(Protocol):
    @property
    def labsmobile_domains(self) -> Sequence[str]: ...


class _Settings(Protocol):
    @property
    def smtp(self) -> _Smtp: ...


def _handlers(settings: _Settings) -> tuple[AddressHandler, ...]:
    return (MailSms(tuple(settings.smtp.labsmobile_domains)),)


DIALECT = Dialect(
    name="labsmobile",
    description="LabsMobile MailSMS: an email to ``<number>@api.labsmobile.com`` is an SMS;"
    " and its JSON API (``/json/send``, ``/json/balance``, ``/json/scheduled``) and http/GET"
    " interface (``/get/send.php``).",
    openapi_tag="labsmobile",
    routers=(json_api.send_router, json_api.account_router, get_api.router),
    smtp_handlers=_handlers,
)
