"""query_sm, cancel_sm and replace_sm (SMPP 3.4 4.8-4.10), answered from the stored
messages.

- query_sm names a message by the id its submit_sm_resp gave. The answer is its
  message_state (5.2.28: ENROUTE until it has a final status, then the state its receipt
  carries), final_date (7.1.1, UTC; empty until final) and error_code (5.2.31: the
  network's code where textgate has a numeric one of at most 255, else 0). An id the
  account has no message of (one of another account, a provisional id of a part) is
  ESME_RINVMSGID.
- cancel_sm cancels one message through the cancel service, as the API's cancel does:
  only while it has not been handed to an operator (else ESME_RCANCELFAIL). cancel_sm
  without a message_id (every message from source_addr to destination_addr, 4.9.1) is not
  served: ESME_RCANCELFAIL.
- replace_sm gives a message not handed off yet a new short_message (read in the message's
  own data coding: replace_sm has none, 4.10.1), schedule_delivery_time and validity_period
  (empty: kept, 5.2.15-5.2.16) and registered_delivery, through the message service. The
  new text must take as many parts as the message did (its price is kept); otherwise, or
  once it has left, ESME_RREPLACEFAIL. An empty short_message keeps the text. Canned
  messages (sm_default_msg_id, 5.2.18) are not served: ESME_RINVDFTMSGID. As for query_sm,
  the message is named by its id; source_addr is not compared.
"""

from __future__ import annotations

from textgate.connectors.smpp.constants import CommandStatus, MessageState
from textgate.connectors.smpp.pdus import (
    CancelSm,
    CancelSmResp,
    QuerySm,
    QuerySmResp,
    ReplaceSm,
    ReplaceSmResp,
)
from textgate.connectors.smpp.receipts import STATUS_RECEIPT
from textgate.connectors.smpp.shortmessage import decode_short_message
from textgate.connectors.smpp.times import format_time, parse_time
from textgate.core.accounts import Account
from textgate.core.clock import from_ms
from textgate.errors import Conflict, InvalidRequest, NotFound, PolicyDenied
from textgate.services.registry import Services
from textgate.services.submit_request import INVALID_VALIDITY
from textgate.smpp_server.messages import DATA_CODING_UCS2, RECEIPT_MASK, RECEIPTS

__all__ = ["cancel", "query", "replace"]

_S = CommandStatus
_MAX_ERROR_CODE = 0xFF  # 5.2.31: one octet


async def query(services: Services, account: Account, pdu: QuerySm) -> QuerySmResp:
    seq = pdu.sequence_number
    try:
        message = await services.messages.get(account.id, pdu.message_id)
    except NotFound:
        return QuerySmResp(sequence_number=seq, command_status=_S.ESME_RINVMSGID)
    final = STATUS_RECEIPT.get(message.status)
    code = message.error_code or ""
    return QuerySmResp(
        sequence_number=seq,
        message_id=message.id,
        final_date="" if final is None else format_time(message.updated_at),
        message_state=MessageState.ENROUTE if final is None else final[1],
        error_code=int(code) if code.isdigit() and int(code) <= _MAX_ERROR_CODE else 0,
    )


async def cancel(services: Services, account: Account, pdu: CancelSm) -> CancelSmResp:
    seq = pdu.sequence_number
    if not pdu.message_id:
        return CancelSmResp(sequence_number=seq, command_status=_S.ESME_RCANCELFAIL)
    try:
        await services.messages.cancel_message(account.id, pdu.message_id)
    except NotFound:
        return CancelSmResp(sequence_number=seq, command_status=_S.ESME_RINVMSGID)
    except Conflict:
        return CancelSmResp(sequence_number=seq, command_status=_S.ESME_RCANCELFAIL)
    return CancelSmResp(sequence_number=seq)


async def replace(
    services: Services, account: Account, pdu: ReplaceSm, now_ms: int
) -> ReplaceSmResp:
    seq = pdu.sequence_number

    def refused(status: int) -> ReplaceSmResp:
        return ReplaceSmResp(sequence_number=seq, command_status=status)

    if pdu.sm_default_msg_id:
        return refused(_S.ESME_RINVDFTMSGID)
    now = from_ms(now_ms)
    try:
        schedule_at = parse_time(pdu.schedule_delivery_time, now)
    except ValueError:
        return refused(_S.ESME_RINVSCHED)
    try:
        valid_until = parse_time(pdu.validity_period, now)
    except ValueError:
        return refused(_S.ESME_RINVEXPIRY)
    try:
        message = await services.messages.get(account.id, pdu.message_id)
    except NotFound:
        return refused(_S.ESME_RINVMSGID)
    text = None
    if pdu.short_message:
        coding = DATA_CODING_UCS2 if message.encoding == "ucs2" else 0
        text = decode_short_message(pdu.short_message, coding).text
    try:
        await services.messages.replace_message(
            account,
            pdu.message_id,
            text=text,
            schedule_at=schedule_at,
            valid_until=valid_until,
            receipt=RECEIPTS[pdu.registered_delivery & RECEIPT_MASK],
        )
    except NotFound:
        return refused(_S.ESME_RINVMSGID)
    except (Conflict, PolicyDenied):
        # Left already, another number of parts, or a text the duplicate filter refuses.
        return refused(_S.ESME_RREPLACEFAIL)
    except InvalidRequest as exc:
        # A validity past or before the schedule; else a text the message's alphabet
        # cannot carry (Latin-1 octets under data coding 0, for a GSM-7 message).
        if exc.code == INVALID_VALIDITY:
            return refused(_S.ESME_RINVEXPIRY)
        return refused(_S.ESME_RREPLACEFAIL)
    return ReplaceSmResp(sequence_number=seq)
