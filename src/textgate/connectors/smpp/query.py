"""query_sm (SMPP 3.4 4.8): asking the SMSC what became of a message whose receipt is late.

query_sm names the message by the id submit_sm_resp gave it and must repeat the source
address of the original submit_sm (4.8.1), so the connector remembers the source of each
id it hands out. query_sm_resp's message_state (5.2.28) is read with
``receipts.message_state_to_status``; only final states make a report: a message still
en route or accepted, or one the SMSC does not know, is left out so the dispatcher asks
again later.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final

from textgate.connectors.smpp.constants import CommandStatus
from textgate.connectors.smpp.outbound import Source
from textgate.connectors.smpp.pdus import Pdu, QuerySm, QuerySmResp
from textgate.connectors.smpp.receipts import message_state_to_status
from textgate.core.message import FINAL, DeliveryReport

__all__ = ["parse_absolute_time", "query_pdu", "report_from_query"]

# 7.1.1 absolute time format: YYMMDDhhmmss, tenths of a second, quarter hours from UTC,
# and '+' / '-' (the offset's sign); 'R' (relative time) never appears in final_date.
_ABSOLUTE: Final = re.compile(r"(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d)(\d{2})([+-])")


def parse_absolute_time(value: str) -> datetime | None:
    """A 7.1.1 absolute time as an aware datetime (years 2000-2099); None if malformed."""
    match = _ABSOLUTE.fullmatch(value)
    if match is None:
        return None
    yy, mo, dd, hh, mi, ss, tenths, quarters = (int(g) for g in match.groups()[:8])
    offset = timedelta(minutes=15 * quarters) * (1 if match.group(9) == "+" else -1)
    try:
        local = datetime(2000 + yy, mo, dd, hh, mi, ss, tenths * 100_000)
    except ValueError:
        return None
    return (local - offset).replace(tzinfo=UTC)


def query_pdu(external_id: str, source: Source) -> QuerySm:
    return QuerySm(
        sequence_number=0,
        message_id=external_id,
        source_addr_ton=source.ton,
        source_addr_npi=source.npi,
        source_addr=source.addr,
    )


def report_from_query(connector: str, external_id: str, resp: Pdu) -> DeliveryReport | None:
    """The report for a final state; None for a refusal or a non-final or unknown state."""
    if not isinstance(resp, QuerySmResp) or resp.command_status != CommandStatus.ESME_ROK:
        return None
    status = message_state_to_status(resp.message_state)
    if status is None or status not in FINAL:
        return None
    return DeliveryReport(
        connector=connector,
        external_id=external_id,
        status=status,
        at=parse_absolute_time(resp.final_date) or datetime.now(UTC),
        # 5.2.31 error_code: the network error code, 0 when there is none.
        error_code=f"{resp.error_code:03d}" if resp.error_code else None,
    )
