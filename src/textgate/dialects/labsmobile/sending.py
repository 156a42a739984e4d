"""A LabsMobile send request, whichever of its interfaces carries it (the JSON API's body,
the http/GET interface's query string), and what carrying it out comes to.

The fields, as LabsMobile's JSON API documents them (apidocs.labsmobile.com, "Endpoints",
``/json/send``):

- ``recipient``: the numbers, international without ``+`` (``34609033161``); a ``+`` or
  ``00`` in front is taken too;
- ``message``: the text; ``tpoa``: the sender (else the account's default, else
  ``LABSMOBILE``, "Configuration and filters");
- ``subid``: the client's own id of the sending, answered back; without one, textgate's
  order id is the subid. A subid is also the request's idempotency key: the same request
  again answers the same subid and sends nothing twice; another request under a subid
  already used is refused;
- ``test``: 1 checks the request and answers as for a sending, and stores nothing;
- ``scheduled``: ``YYYY-MM-DD HH:MM:SS`` in UTC (GMT+00:00), when to send;
- ``ucs2``: 1 sends the text in UCS-2; without it textgate chooses the encoding (GSM 03.38
  when the text allows it, as LabsMobile's own platform sends it);
- ``long``: 1 allows a text of several parts; without it a text over one part is refused;
- ``label``, ``nofilter``, ``shortlink``, ``clickurl``, ``ackurl``, ``crt``...: taken and
  without effect (see the README).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from textgate.core.accounts import Account
from textgate.core.encoding import Encoding
from textgate.core.ids import new_id
from textgate.dialects.labsmobile.errors import (
    BAD_SCHEDULE,
    EMPTY_MESSAGE,
    MESSAGES,
    MISSING_MESSAGE,
    NO_RECIPIENTS,
    OK,
    SUBID_TOO_LONG,
    TEST_SCHEDULED,
    TOO_MANY_RECIPIENTS,
    LabsRefusal,
    Outcome,
)
from textgate.dialects.labsmobile.mailsms import DEFAULT_SENDER
from textgate.dialects.mail import sms_sender
from textgate.services.registry import Services
from textgate.services.submit_request import SubmitRequest

__all__ = ["INTERFACE", "MAX_RECIPIENTS", "MAX_SUBID", "SendOrder", "carry_out", "flag"]

INTERFACE: Final = "labsmobile"
"""How stored messages and metrics name the JSON and http/GET APIs (the mail one is
``labsmobile-mail``)."""
MAX_RECIPIENTS: Final = 10_000
"""LabsMobile's "Message limit per batch, default 10,000 sms/request" ("Configuration and
filters"); the account's own batch limit applies too."""
MAX_SUBID: Final = 20
"""The longest subid, in characters (code 28 past it)."""
SCHEDULED_FORMAT: Final = "%Y-%m-%d %H:%M:%S"
_KEY_PREFIX: Final = f"{INTERFACE}:"
_TRUE: Final = frozenset({"1", "true", "yes"})


def flag(value: object) -> bool:
    """A LabsMobile switch: 1 (number or string) or true turns it on."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in _TRUE if isinstance(value, int | str) else False


@dataclass(frozen=True, slots=True)
class SendOrder:
    """A send request as read from the wire, not yet checked."""

    recipients: Sequence[str]
    message: str | None
    """None: absent (or not text)."""
    sender: str | None = None
    subid: str | None = None
    test: bool = False
    scheduled: str | None = None
    ucs2: bool = False
    long: bool = False


def _number(msisdn: str) -> str:
    msisdn = msisdn.strip()
    if msisdn.startswith("+"):
        return msisdn
    return "+" + (msisdn[2:] if msisdn.startswith("00") else msisdn)


def _when(scheduled: str | None) -> datetime | None:
    if not scheduled:
        return None
    try:
        return datetime.strptime(scheduled.strip(), SCHEDULED_FORMAT).replace(tzinfo=UTC)
    except ValueError as exc:
        raise LabsRefusal(BAD_SCHEDULE, f"{MESSAGES[BAD_SCHEDULE]} (YYYY-MM-DD HH:MM:SS)") from exc


def _check(order: SendOrder) -> tuple[str, datetime | None]:
    """The text and the schedule of a request the dialect can read; refuses what it cannot,
    in LabsMobile's order of checks (the message, then its recipients)."""
    if order.message is None:
        raise LabsRefusal(MISSING_MESSAGE)
    if not order.message:
        raise LabsRefusal(EMPTY_MESSAGE)
    if not order.recipients:
        raise LabsRefusal(NO_RECIPIENTS)
    if len(order.recipients) > MAX_RECIPIENTS:
        raise LabsRefusal(TOO_MANY_RECIPIENTS, f"at most {MAX_RECIPIENTS} recipients")
    if order.subid is not None and len(order.subid) > MAX_SUBID:
        raise LabsRefusal(SUBID_TOO_LONG, f"a subid has at most {MAX_SUBID} characters")
    when = _when(order.scheduled)
    if order.test and when is not None:
        raise LabsRefusal(TEST_SCHEDULED)
    return order.message, when


async def carry_out(
    services: Services, account: Account, order: SendOrder, client_ip: str | None
) -> Outcome:
    """Send (or, in test mode, only check) the request; raises what refuses it."""
    text, when = _check(order)
    if order.test:
        return Outcome(OK, MESSAGES[OK], subid=order.subid or new_id())
    # A subid used before for another request is refused (KeyReused, answered 30).
    result = await services.submit.submit(
        SubmitRequest(
            account=account,
            recipients=[_number(n) for n in order.recipients],
            text=text,
            sender=sms_sender(account, order.sender, DEFAULT_SENDER),
            schedule_at=when,
            client_ref=order.subid,
            idempotency_key=None if order.subid is None else _KEY_PREFIX + order.subid,
            interface=INTERFACE,
            encoding=Encoding.UCS2 if order.ucs2 else None,
            client_ip=client_ip,
            max_parts=None if order.long else 1,
        )
    )
    return Outcome(OK, MESSAGES[OK], subid=order.subid or result.order_id)
