"""query_sm and cancel_sm (SMPP 3.4 4.8, 4.9), answered from the stored messages.

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
"""

from __future__ import annotations

from textgate.connectors.smpp.constants import CommandStatus, MessageState
from textgate.connectors.smpp.pdus import CancelSm, CancelSmResp, QuerySm, QuerySmResp
from textgate.connectors.smpp.receipts import STATUS_RECEIPT
from textgate.connectors.smpp.times import format_time
from textgate.core.accounts import Account
from textgate.errors import Conflict, NotFound
from textgate.services.registry import Services

__all__ = ["cancel", "query"]

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
