"""The ASPSMS addresses on the SMTP server: ``textsms@``, ``xml@`` and ``<00number>@`` the
configured domains (seed 004), each form carried out by its module."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from textgate.dialects.aspsms import xml_request
from textgate.dialects.aspsms.addresses import (
    UNAUTHORISED_ORIGINATOR,
    Form,
    address_form,
    send_textsms,
    send_to_numbers,
)
from textgate.dialects.mail import PLAIN_TEXT, Delivery, Recipient, Refused
from textgate.errors import AuthenticationFailed
from textgate.services.registry import Services

__all__ = ["AspsmsAddresses"]

# An XML request may also come labelled as XML.
_XML_TYPES = PLAIN_TEXT | {"text/xml", "application/xml"}


@dataclass(frozen=True, slots=True)
class AspsmsAddresses:
    domains: Sequence[str]

    def recipient(self, local: str) -> Recipient:
        form, number = address_form(local)
        return Recipient(form.value, number, _XML_TYPES if form == Form.XML else PLAIN_TEXT)

    async def admit(
        self, services: Services, recipient: Recipient, sender: str, client_ip: str | None
    ) -> None:
        if recipient.kind != Form.NUMBER:
            return
        # Seed 004: "the used e-mail sender address must be authorized". The address is a
        # secret: refused guesses count against the client's login budgets, and past them
        # its recipients are deferred (4xx) unchecked.
        try:
            await services.originators.admit(sender, client_ip)
        except AuthenticationFailed as exc:
            raise Refused.with_reply(UNAUTHORISED_ORIGINATOR) from exc

    async def deliver(self, services: Services, delivery: Delivery) -> None:
        form = delivery.recipients[0].kind
        if form == Form.TEXTSMS:
            await send_textsms(services, delivery)
        elif form == Form.XML:
            await xml_request.answer(
                services, delivery.mail.text, delivery.sender, delivery.client_ip
            )
        else:
            await send_to_numbers(services, delivery)
