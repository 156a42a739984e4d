"""Inbound (mobile-originated) messages as stored: what a handset sent to one of our numbers."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from textgate.core.gsm7 import BASIC_TABLE, ESC, EXTENSION_TABLE

__all__ = ["Concatenation", "Inbound", "InboundMessage", "Keywords", "join_parts"]


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


# GSM 03.38 / 23.038 6.2.1.1: ESC followed by a septet selects the extension table; the
# septet after a cut ESC was decoded as the basic-table character at the same position.
_BASIC_POSITION = {char: pos for pos, char in enumerate(BASIC_TABLE)}
_CUT_ESCAPE = re.compile(f"{chr(ESC)}(.?)", re.DOTALL)
_SURROGATE = re.compile("[\ud800-\udfff]")


def _escaped(match: re.Match[str]) -> str:
    position = _BASIC_POSITION.get(match[1])
    # 23.038 6.2.1.1 note 3: a code with no extension character is shown as the basic one.
    return EXTENSION_TABLE.get(position, match[1]) if position is not None else match[1]


def join_parts(texts: Sequence[str]) -> str:
    """The text of a concatenated message from its parts' texts, in order.

    Senders split by octets, so a character may be cut at a part boundary (smpplib does
    it): a GSM-7 escape pair (the part ends with ESC, kept as U+001B by the decoder) or a
    UTF-16 surrogate pair (each half kept as a lone surrogate). Joining the texts and then
    pairing the halves gives back the character that was cut.
    """
    joined = "".join(texts)
    if chr(ESC) in joined:
        joined = _CUT_ESCAPE.sub(_escaped, joined)
    if _SURROGATE.search(joined):
        joined = joined.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return joined


_NOT_WORD = re.compile(r"[\W_]+")


@dataclass(frozen=True, slots=True)
class Keywords:
    """Opt-out and opt-in keywords (upper case). A message *is* a keyword when, ignoring
    case, spaces and punctuation, it is nothing else: "Stop." and " stop " are, "please stop
    sending" is not (carriers' and the CTIA's reading, which avoids opting people out on a
    sentence that merely contains the word)."""

    opt_out: frozenset[str] = frozenset()
    opt_in: frozenset[str] = frozenset()

    @classmethod
    def of(cls, opt_out: Sequence[str], opt_in: Sequence[str]) -> Keywords:
        return cls(
            frozenset(_NOT_WORD.sub("", k).upper() for k in opt_out if k.strip()),
            frozenset(_NOT_WORD.sub("", k).upper() for k in opt_in if k.strip()),
        )

    def action(self, text: str) -> str | None:
        """ "out", "in" or None for a message's text."""
        if len(text) > 40:  # no keyword is that long; skip the work for ordinary messages
            return None
        word = _NOT_WORD.sub("", text).upper()
        if word in self.opt_out:
            return "out"
        if word in self.opt_in:
            return "in"
        return None
