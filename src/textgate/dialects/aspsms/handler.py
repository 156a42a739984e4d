"""The ASPSMS addresses on the SMTP server: ``textsms@``, ``xml@`` and ``<00number>@`` the
configured domains (seed 004), each form carried out by its module."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from textgate.dialects.aspsms import xml_request
from textgate.dialects.aspsms.addresses import (
    MAX_TEXTSMS_SUBJECT,
    Form,
    address_form,
    send_textsms,
    send_to_numbers,
)
from textgate.dialects.mail import PLAIN_TEXT, Delivery, Recipient, Refused
from textgate.services.registry import Services

__all__ = ["AspsmsAddresses"]

# An XML request may also come labelled as XML.
_XML_TYPES = PLAIN_TEXT | {"text/xml", "application/xml"}


@dataclass(frozen=True, slots=True)
class AspsmsAddresses:
    domains: Sequence[str]

    def recipient(self, local: str) -> Recipient:
        form, number = address_form(local)
        if form == Form.TEXTSMS:
            return Recipient(form.value, None, PLAIN_TEXT, MAX_TEXTSMS_SUBJECT)
        return Recipient(form.value, number, _XML_TYPES if form == Form.XML else PLAIN_TEXT)

    async def admit(
        self, services: Services, recipient: Recipient, sender: str, client_ip: str | None
    ) -> None:
        # <Recipient>@ is authorised by the sender address, the envelope's or the From
        # header's (addresses.originator_account): the header is only known at DATA, where
        # it is checked. Refused guesses count against the client's login budgets there.
        return None

    async def deliver(self, services: Services, delivery: Delivery) -> None:
        if delivery.mail.html:
            # Seed 004: "HTML or any other encoding will be rejected" (all three addresses).
            raise Refused(
                554,
                "5.6.1",
                "HTML is not accepted; send the message as plain text "
                "(switch your mail client to plain text)",
            )
        form = delivery.recipients[0].kind
        if form == Form.TEXTSMS:
            await send_textsms(services, delivery)
        elif form == Form.XML:
            await xml_request.answer(
                services, delivery.mail.text, delivery.sender, delivery.client_ip
            )
        else:
            await send_to_numbers(services, delivery)
