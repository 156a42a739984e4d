"""Inbound (mobile-originated) messages as stored: what a handset sent to one of our numbers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["Concatenation", "Inbound", "InboundMessage"]


@dataclass(frozen=True, slots=True)
class Inbound:
    id: str
    account_id: str | None
    """None while no account owns the recipient number (the message is kept anyway)."""
    connector: str
    sender: str
    recipient: str
    text: str
    received_at: datetime
    parts: int = 1
    total_parts: int = 1
    """Greater than ``parts`` when parts never came and the rest was stored after the
    reassembly timeout."""
    external_id: str | None = None
    read_at: datetime | None = None
    alias: str | None = None

    @property
    def complete(self) -> bool:
        return self.parts >= self.total_parts


@dataclass(frozen=True, slots=True)
class Concatenation:
    """Where one part of a concatenated inbound message belongs: the concatenation UDH
    (IE 0x00 8-bit or 0x08 16-bit reference, 3GPP TS 23.040 9.2.3.24.1/.8) or the SMPP
    sar_msg_ref_num / sar_total_segments / sar_segment_seqnum TLVs (SMPP 3.4 5.3.2.22-24)."""

    reference: int
    total: int
    sequence: int
    """1-based position of this part."""


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A message from a handset to one of our numbers, as one connector received it.

    ``part`` is set when this is one part of a concatenated message; the inbound store
    reassembles the parts (durably, so an acknowledged part is never lost).
    """

    connector: str
    sender: str
    """The handset: E.164 with '+' when numeric, else as received (alphanumeric)."""
    recipient: str
    """Our number the message was sent to, E.164 with '+' when numeric."""
    text: str
    received_at: datetime
    external_id: str | None = None
    part: Concatenation | None = None
