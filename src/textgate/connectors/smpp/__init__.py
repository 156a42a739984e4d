"""SMPP 3.4, textgate's own engine, shared by the client and the server side.

- codec: ``pdutypes``/``pdus`` (``layout`` for the field tables, ``fastcodec`` for the
  hot PDUs, ``multi`` for submit_multi), ``tlv``, ``constants``, ``framing``,
  ``shortmessage``;
- delivery receipts: ``receipts``;
- the asyncio session (windowed requests, keep-alive, generic_nack, back-pressure):
  ``session`` with ``requester`` (this side's requests) and ``responder`` (the peer's),
  ``window``, with an ESME ``bind`` in ``client``;
- the dispatcher-facing connector: ``connector`` (``submitter`` for sending one message,
  ``options``, ``links`` for several binds, ``outbound`` submit_sm building, ``inbound``
  receipts and MO, ``pacing``, ``query``, ``status`` for the command_status table);
- the SMSC simulator (``textgate smsc``): ``smsc`` with ``smsc_options``, ``smsc_rules``,
  ``smsc_policy``, ``smsc_links``, ``smsc_receipts``, ``smsc_messages``.
"""

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
