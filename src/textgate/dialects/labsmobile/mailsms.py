"""LabsMobile MailSMS (seed 000): an email becomes one SMS per ``<msisdn>@<domain>``.

- ``From``: the account's username ("Email or username to identify the account"); its
  display name, when it is a valid sender ("numeric (maximum length 16 digits) or
  alphanumeric (maximum capacity 11 characters)"), is the SMS sender. Any other display
  name (a person's name a mail program adds) gives the default sender: the account's, else
  the seed's "Default sender (default ``LABSMOBILE``)".
- Body: the plain text; text and HTML alternatives (what mail programs send: the seed's
  MailSMS is for sending "from any email client") give the plain part, HTML alone is
  converted to text.
- ``Subject``: the account's API token.
- ``To``: each ``<msisdn>@<domain>`` is a recipient, numbers in international format
  without ``+`` (``12015550123@api.labsmobile.com``); several To addresses, several SMS.
- "No response or confirmation of sending": success is only a 250, and the
  result is in the account's history.

The account's rules (seed 000 "Configuration and filters") apply through the submit path,
the IP allowlist against the SMTP client's address.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from textgate.core.numbers import normalize_number
from textgate.dialects.mail import Delivery, Recipient, Refused, display_sender, sms_sender
from textgate.errors import InvalidNumber
from textgate.services.registry import Services
from textgate.services.submit_request import SubmitRequest

__all__ = ["DEFAULT_SENDER", "INTERFACE", "MailSms", "recipient_number"]

INTERFACE = "labsmobile-mail"
# Seed 000, "Configuration and filters": "Default sender (default LABSMOBILE)".
DEFAULT_SENDER = "LABSMOBILE"
# Digits, optionally after "+" or "00": the local part of a recipient address.
_LOCAL = re.compile(r"(\+|00)?[0-9]{4,17}")


def recipient_number(local: str) -> str:
    """The E.164 number of a ``<msisdn>@`` local part; refused (550) if it is not one."""
    if not _LOCAL.fullmatch(local):
        raise Refused(
            550,
            "5.1.3",
            f"{local!r} is not a phone number: write the recipient as <number>@domain in "
            "international format, e.g. 12015550123@",
        )
    raw = local if local.startswith(("+", "00")) else f"+{local}"
    try:
        return normalize_number(raw)
    except InvalidNumber as exc:
        raise Refused(550, "5.1.3", f"{local}: {exc.message}") from exc


@dataclass(frozen=True, slots=True)
class MailSms:
    """The ``<msisdn>@<domain>`` addresses of ``domains``."""

    domains: Sequence[str]

    def recipient(self, local: str) -> Recipient:
        return Recipient("number", recipient_number(local))

    async def admit(
        self, services: Services, recipient: Recipient, sender: str, client_ip: str | None
    ) -> None:
        # The account is named in the content (From and Subject), not in the envelope.
        return None

    async def deliver(self, services: Services, delivery: Delivery) -> None:
        mail = delivery.mail
        account = await services.email_logins.by_token(mail.from_address, mail.subject)
        await services.submit.submit(
            SubmitRequest(
                account=account,
                recipients=delivery.numbers,
                text=mail.text,
                sender=sms_sender(account, display_sender(mail.from_name), DEFAULT_SENDER),
                interface=INTERFACE,
                client_ip=delivery.client_ip,
            )
        )
