"""From a :class:`Submission` to the submit_sm PDUs that carry it (SMPP 3.4 4.4.1).

``"udh"`` / ``"udh16"`` split a long text with a concatenation UDH (8-bit resp. 16-bit
reference, a fresh reference per message, esm_class 0x40 = UDHI, 5.2.12), one submit_sm per
part; only the **last** part asks for a delivery receipt (``registered_delivery``), so the
receipt that comes back carries the id the dispatcher stored (the last part's).
``"payload"`` sends one submit_sm with the whole text in the message_payload TLV (5.3.2.32).

The source address's TON/NPI (5.2.5 / 5.2.6) follow the kind of sender: alphanumeric,
international, national or short code (see ``sender``), each overridable per connector.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final

from textgate.connectors.base import Submission
from textgate.connectors.smpp.constants import Tag
from textgate.connectors.smpp.options import SmppOptions
from textgate.connectors.smpp.pdus import NO_TLVS, SubmitSm
from textgate.connectors.smpp.sender import classify_sender
from textgate.connectors.smpp.shortmessage import ESM_UDHI, encode_short_message
from textgate.connectors.smpp.times import format_time
from textgate.connectors.smpp.tlv import Tlvs
from textgate.core.clock import from_ms
from textgate.core.encoding import (
    Encoding,
    choose_encoding,
    encode_gsm7,
    encode_ucs2,
    segment,
    split_for_udh,
)
from textgate.core.frozen import quick_init

__all__ = ["Source", "SubmitBuilder"]

# 5.2.19 data_coding: 0 = SMSC default alphabet (GSM-7 here), 8 = UCS-2.
_DATA_CODING: Final = {Encoding.GSM7: 0, Encoding.UCS2: 8}


@quick_init
@dataclass(frozen=True, slots=True)
class Source:
    """A submit_sm's source address (5.2.8-5.2.10); query_sm must repeat it (4.8.1)."""

    ton: int
    npi: int
    addr: str


class SubmitBuilder:
    def __init__(self, options: SmppOptions) -> None:
        self._options = options
        self._ton_npi = options.source_ton_npi()
        # Concatenation references: one per long message, from a random start.
        self._ref_space = 0x10000 if options.long_messages == "udh16" else 0x100
        self._next_ref = random.randrange(self._ref_space)
        self.last_ref: int | None = None
        """The concatenation reference of the last long message built."""

    def source(self, sender: str | None) -> Source:
        """The source address of a sender ID; none (TON 0, NPI 0, empty: the SMSC fills in
        the account's default) without one."""
        sender = (sender or "").strip()
        if not sender:
            return Source(0, 0, "")
        kind, addr = classify_sender(sender)
        ton, npi = self._ton_npi[kind]
        return Source(ton, npi, addr)

    def build(self, sub: Submission, *, ref: int | None = None) -> tuple[Source, list[SubmitSm]]:
        """The source address and the submit_sm PDUs of one message, in order. Raises
        GatewayError / ValueError for text the encoding cannot carry.

        ``ref``: the concatenation reference of an earlier try of this message, so parts
        sent again match the parts the handset already has; see :attr:`last_ref`."""
        opts = self._options
        try:
            encoding = Encoding(sub.encoding)
            measured = True  # the submit path chose the encoding and counted the parts
        except ValueError:
            encoding, measured = choose_encoding(sub.text), False
        data_coding = _DATA_CODING[encoding]
        src = self.source(sub.sender)
        # 5.2.16: the client's validity, as an absolute time; empty: the SMSC's default.
        validity = ""
        if sub.valid_until is not None and opts.validity_period:
            validity = format_time(from_ms(sub.valid_until))

        def pdu(
            short_message: bytes, esm_class: int, registered: int, tlvs: Tlvs = NO_TLVS
        ) -> SubmitSm:
            return SubmitSm(
                sequence_number=0,
                source_addr_ton=src.ton,
                source_addr_npi=src.npi,
                source_addr=src.addr,
                dest_addr_ton=opts.dest_ton,
                dest_addr_npi=opts.dest_npi,
                destination_addr=sub.recipient.lstrip("+"),
                esm_class=esm_class,
                registered_delivery=registered,
                data_coding=data_coding,
                validity_period=validity,
                short_message=short_message,
                tlvs=tlvs,
            )

        if opts.long_messages == "payload":
            encoded = encode_short_message(sub.text, data_coding)
            if segment(sub.text, encoding).count == 1:
                return src, [pdu(encoded, 0, opts.registered_delivery)]
            tlvs = NO_TLVS.with_bytes(Tag.MESSAGE_PAYLOAD, encoded)
            return src, [pdu(b"", 0, opts.registered_delivery, tlvs)]
        if measured and sub.segments == 1:
            # The common case, already measured by the submit path: one part, no UDH.
            data = encode_gsm7(sub.text) if encoding is Encoding.GSM7 else encode_ucs2(sub.text)
            return src, [pdu(data, 0, opts.registered_delivery)]
        if ref is None:
            ref, self._next_ref = self._next_ref, (self._next_ref + 1) % self._ref_space
        self.last_ref = ref
        parts = split_for_udh(
            sub.text, ref=ref, encoding=encoding, ref16=opts.long_messages == "udh16"
        )
        if len(parts) == 1:
            return src, [pdu(parts[0], 0, opts.registered_delivery)]
        last = len(parts) - 1
        return src, [
            pdu(part, ESM_UDHI, opts.registered_delivery if i == last else 0)
            for i, part in enumerate(parts)
        ]
