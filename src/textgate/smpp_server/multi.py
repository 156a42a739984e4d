"""submit_multi (SMPP 3.4 4.5): one message to several destinations, submitted as one request
(one order, one message per recipient) as the HTTP interfaces submit a list of recipients.

- The message is read as a submit_sm's (``messages``). A long text goes in message_payload
  (5.3.2.32); UDH parts of a longer message (3GPP TS 23.040 9.2.3.24.1) are not collected
  across submit_multi: refused ESME_RSUBMITFAIL, nothing stored.
- Each SME address (dest_flag 1) is a recipient. A recipient the account's rules refuse on
  its own (not a number, a blocked country, opted out, past the daily limit or the
  balance) is stored as a rejected message, as for every interface, and named in
  unsuccess_sme (4.5.2.1) with the command_status ``errors`` gives that refusal.
- A distribution list name (dest_flag 2) is refused in unsuccess_sme, ESME_RINVDLNAME.
  textgate's lists (``services.lists``) are MailUp mailing lists: an id, a secret, opt-outs
  and a default sender, but no members (MailUp keeps the recipients and names each one in
  its request), so a name has no numbers to send to. Reading a list name as one of them
  would guess at what the customer meant.
- A request refused whole (no destination taken, a rule about the request itself such as
  the sender or the batch limit) is answered with its command_status and no body, as a
  refused submit_sm is (4.4.2), and stores nothing.

The answer comes once the order is committed. Its message_id names the submission, not one
of its messages: a fresh id stored as every message's ``client_ref``, which each receipt
then carries (``deliveries``), so that the client can match the receipts of all its
recipients to the one id it was given (SMPP 3.4 Appendix B: ``id`` is the id given at
submission). query_sm and cancel_sm name one message, so they do not take it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from textgate.connectors.smpp.constants import CommandStatus
from textgate.connectors.smpp.multi import DestAddress, SubmitMulti, SubmitMultiResp, UnsuccessSme
from textgate.core.accounts import Account
from textgate.core.clock import Clock, from_ms
from textgate.core.ids import new_id
from textgate.core.message import Message, Status
from textgate.core.numbers import normalize_with_country
from textgate.core.policy import Reason, refusal
from textgate.errors import GatewayError, InvalidNumber
from textgate.services.registry import Services
from textgate.services.submit_request import RECIPIENT_WIDTH, SubmitRequest
from textgate.smpp_server.errors import Refused, submit_status
from textgate.smpp_server.messages import destination_of, read_submit

__all__ = ["submit_multi"]

log = logging.getLogger(__name__)

_S = CommandStatus


@dataclass(frozen=True, slots=True)
class _Recipient:
    dest: DestAddress
    number: str
    """As given to the submit service."""


async def submit_multi(
    services: Services,
    account: Account,
    pdu: SubmitMulti,
    *,
    interface: str,
    client_ip: str | None,
    clock: Clock,
) -> SubmitMultiResp:
    seq = pdu.sequence_number
    refused: list[UnsuccessSme] = []
    recipients: list[_Recipient] = []
    try:
        if not pdu.dest_addresses:
            raise Refused(_S.ESME_RINVNUMDESTS, "submit_multi without a destination")
        found = read_submit(pdu, from_ms(clock()))
        if found.concat is not None and found.concat.total > 1:
            raise Refused(
                _S.ESME_RSUBMITFAIL, "a part of a long message; use message_payload instead"
            )
        for dest in pdu.dest_addresses:
            if dest.is_list:
                refused.append(UnsuccessSme(0, 0, dest.dl_name, _S.ESME_RINVDLNAME))
                continue
            try:
                recipients.append(
                    _Recipient(dest, destination_of(dest.destination_addr, dest.dest_addr_ton))
                )
            except Refused as exc:
                refused.append(_unsuccess(dest, exc.status))
        if not recipients:
            raise Refused(
                CommandStatus(refused[0].error_status_code), "no destination could be taken"
            )
        reference = new_id(clock())
        result = await services.submit.submit(
            SubmitRequest(
                account=account,
                recipients=[r.number for r in recipients],
                text=found.text,
                sender=found.sender,
                interface=interface,
                encoding=found.encoding,
                schedule_at=found.schedule_at,
                valid_until=found.valid_until,
                client_ref=reference,
                client_ip=client_ip,
                receipt=found.receipt,
            )
        )
    except Refused as exc:
        log.info("smpp server: submit_multi refused: %s", exc.message)
        return SubmitMultiResp(sequence_number=seq, command_status=exc.status)
    except GatewayError as exc:
        log.info("smpp server: submit_multi refused: %s", exc.message)
        return SubmitMultiResp(sequence_number=seq, command_status=submit_status(exc))
    stored = {m.recipient: m for m in result.messages}
    for r in recipients:
        message = stored.get(_stored_as(r.number, account))
        if message is not None and message.status == Status.REJECTED:
            refused.append(_unsuccess(r.dest, _rejected_status(message)))
    return SubmitMultiResp(sequence_number=seq, message_id=reference, unsuccess_smes=tuple(refused))


def _unsuccess(dest: DestAddress, status: int) -> UnsuccessSme:
    return UnsuccessSme(dest.dest_addr_ton, dest.dest_addr_npi, dest.destination_addr, status)


def _stored_as(number: str, account: Account) -> str:
    """The recipient the submit service stores for ``number``: the E.164 number, or the
    input as given (cut to the column's width) when it is not a number."""
    try:
        return normalize_with_country(number, account.default_country)[0]
    except InvalidNumber:
        return number[:RECIPIENT_WIDTH]


def _rejected_status(message: Message) -> int:
    """The command_status of a recipient the submit service refused (its Reason)."""
    try:
        reason = Reason(message.error_code or "")
    except ValueError:
        return _S.ESME_RSUBMITFAIL
    return submit_status(refusal(reason))
