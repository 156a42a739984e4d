"""SMPP 3.4 connector: PDU codec (``pdus``, ``tlv``, ``constants``, ``framing``,
``shortmessage``), delivery receipt parsing (``receipts``), and the asyncio session engine
(``session``: framing, windowed requests, keep-alive, generic_nack) with an ESME ``bind``
(``client``). The dispatcher-facing connector comes next."""

from textgate.connectors.smpp.constants import (
    CommandId,
    CommandStatus,
    MessageState,
    PduError,
    Tag,
)
from textgate.connectors.smpp.framing import Framer
from textgate.connectors.smpp.pdus import Pdu, decode, encode
from textgate.connectors.smpp.receipts import Receipt, parse_receipt, stat_to_status
from textgate.connectors.smpp.session import Session
from textgate.connectors.smpp.tlv import Tlvs

__all__ = [
    "CommandId",
    "CommandStatus",
    "Framer",
    "MessageState",
    "Pdu",
    "PduError",
    "Receipt",
    "Session",
    "Tag",
    "Tlvs",
    "decode",
    "encode",
    "parse_receipt",
    "stat_to_status",
]
