"""textgate's SMSC simulator against an SMPP client textgate did not write: smpplib.

smpplib is synchronous, so each test runs its ESME in a worker thread (asyncio.to_thread)
while the simulator serves on the event loop. The ESME binds as a transceiver, sends long
messages split by smpplib itself (smpplib.gsm.make_parts: concatenation UDH, esm_class 0x40;
or plain parts with sar_* TLVs; or one message_payload TLV), answers the delivery receipts the
simulator sends back, and unbinds. The simulator records what it accepted
(``SmscOptions(record=True)``): each part's text and position must match an independent
decoding of the bytes smpplib sent, and the receipts must name the ids it answered.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.gsm

from tests.connectors.smpp.interop_support import (
    ESM_UDHI,
    Concat,
    decode_text,
    reassemble,
    split_udh,
    wait_until,
)
from tests.support import WAIT
from textgate.connectors.smpp.smsc import Received, Smsc, SmscOptions

SYSTEM_ID = "interop"
PASSWORD = "secret1"
SENDER = "Interop"
RECIPIENT = "4915112345678"
ESM_DELIVERY_RECEIPT = 0x04
MESSAGE_STATE_DELIVERED = 2
EXCERPT_CHARS = 20
DEADLINE = WAIT
REGISTERED_DELIVERY_ALWAYS = 0x01  # 5.2.17: receipt on success or failure

# Chosen so that smpplib's byte-wise split (153 septets / 134 octets per part) falls between
# characters; the tests check that it does, since smpplib would otherwise cut an escape
# sequence or a surrogate pair in two (see its FIXME in make_parts).
GSM_TEXT = (
    "Interop check with extension characters: € [square] {curly} ^caret ~tilde |pipe "
    "\\backslash. " * 4
)
UCS2_TEXT = "Grüße aus Köln 😀 emoji 🎉 and more ✓ " * 5


@dataclass
class EsmeRun:
    """What the smpplib ESME saw: one submit_sm_resp per submit_sm, the receipts it answered."""

    submit_resps: list[Any] = field(default_factory=list)
    receipts: list[Any] = field(default_factory=list)


def run_esme(port: int, submits: list[dict[str, Any]]) -> EsmeRun:
    """Bind a transceiver with smpplib, send one submit_sm per entry of ``submits`` (fields
    on top of the common addressing), wait for a submit_sm_resp and a receipt for each
    (answering each receipt), unbind. Runs in a worker thread."""
    run = EsmeRun()
    client = smpplib.client.Client("127.0.0.1", port, timeout=WAIT, allow_unknown_opt_params=True)
    client.set_message_sent_handler(lambda pdu, **_: run.submit_resps.append(pdu))

    def on_deliver(pdu: Any, **_: Any) -> int:
        run.receipts.append(pdu)
        return int(smpplib.consts.SMPP_ESME_ROK)

    client.set_message_received_handler(on_deliver)
    client.connect()
    try:
        client.bind_transceiver(system_id=SYSTEM_ID, password=PASSWORD)
        for fields in submits:
            client.send_message(
                source_addr_ton=smpplib.consts.SMPP_TON_ALNUM,
                source_addr_npi=smpplib.consts.SMPP_NPI_UNK,
                source_addr=SENDER,
                dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
                dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
                destination_addr=RECIPIENT,
                registered_delivery=REGISTERED_DELIVERY_ALWAYS,
                **fields,
            )
        deadline = time.monotonic() + DEADLINE
        while len(run.submit_resps) < len(submits) or len(run.receipts) < len(submits):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"got {len(run.submit_resps)} submit_sm_resp and {len(run.receipts)} "
                    f"receipts for {len(submits)} submit_sm"
                )
            client.read_once()
        client.unbind()
    finally:
        client.disconnect()
    return run


@dataclass(frozen=True)
class Split:
    """A text as smpplib.gsm.make_parts split it."""

    parts: list[bytes]
    data_coding: int
    esm_class: int

    @classmethod
    def of(cls, text: str, *, use_udhi: bool = True) -> Split:
        parts, data_coding, esm_class = smpplib.gsm.make_parts(text, use_udhi=use_udhi)
        return cls(list(parts), int(data_coding), int(esm_class))

    def submits(self) -> list[dict[str, Any]]:
        return [
            {"short_message": p, "data_coding": self.data_coding, "esm_class": self.esm_class}
            for p in self.parts
        ]

    def payloads(self) -> list[bytes]:
        return [split_udh(p, self.esm_class)[1] for p in self.parts]

    def texts(self) -> list[str]:
        return [decode_text(p, self.data_coding) for p in self.payloads()]

    def joined(self) -> str:
        """The parts decoded one by one and joined by their concatenation IE."""
        parts: list[tuple[Concat, str]] = []
        for part, text in zip(self.parts, self.texts(), strict=True):
            concat = split_udh(part, self.esm_class)[0]
            assert concat is not None
            parts.append((concat, text))
        return reassemble(parts)


@pytest.fixture
async def smsc() -> AsyncIterator[Smsc]:
    options = SmscOptions(
        host="127.0.0.1",
        port=0,
        accounts={SYSTEM_ID: PASSWORD},
        receipt_delay_ms=0,
        enquire_link_interval=0,
        record=True,
    )
    async with Smsc(options) as server:
        yield server


def receipt_fields(text: str) -> dict[str, str]:
    """Appendix B ``key:value`` fields; ``text`` runs to the end."""
    head, _, excerpt = text.partition(" text:")
    fields = dict(
        item.split(":", 1)
        for item in head.replace("submit date", "submit_date")
        .replace("done date", "done_date")
        .split()
    )
    fields["text"] = excerpt
    return fields


def excerpt(text: str) -> str:
    """What an Appendix B ``text:`` excerpt of this part should read: its first characters,
    printable ASCII kept, anything else as '?'."""
    return "".join(c if " " <= c <= "~" else "?" for c in text[:EXCERPT_CHARS])


def check_receipts(smsc: Smsc, run: EsmeRun, part_texts: list[str] | None) -> list[str]:
    """Every submit_sm was accepted with a distinct id and got one delivery receipt naming
    it; with ``part_texts``, each receipt quotes the beginning of its part as sent. Returns
    the message ids in submission order."""
    assert all(int(r.status) == smpplib.consts.SMPP_ESME_ROK for r in run.submit_resps)
    ids = [r.message_id.decode() for r in run.submit_resps]
    assert len(set(ids)) == len(ids)

    by_id: dict[str, dict[str, str]] = {}
    for receipt in run.receipts:
        assert receipt.esm_class & 0x3C == ESM_DELIVERY_RECEIPT
        assert receipt.source_addr.decode() == RECIPIENT
        assert receipt.destination_addr.decode() == SENDER
        assert int(receipt.message_state) == MESSAGE_STATE_DELIVERED
        fields = receipt_fields(receipt.short_message.decode("ascii"))
        assert fields["id"] == receipt.receipted_message_id.decode()
        assert (fields["stat"], fields["err"], fields["dlvrd"]) == ("DELIVRD", "000", "001")
        by_id[fields["id"]] = fields
    assert sorted(by_id) == sorted(ids)
    if part_texts is not None:
        # submit_sm_resp come back in the order the parts were sent (one at a time on a
        # synchronous client); the simulator decoded each part to the text that was sent.
        for message_id, part_text in zip(ids, part_texts, strict=True):
            assert by_id[message_id]["text"] == excerpt(part_text)
    return ids


def check_records(
    smsc: Smsc, ids: list[str], data_coding: int, esm_class: int, texts: list[str]
) -> list[Received]:
    """The simulator recorded one submission per submit_sm, in order, with the addressing,
    coding and (per part) the text the client sent."""
    records = list(smsc.received)
    assert [r.message_id for r in records] == ids
    for record, text in zip(records, texts, strict=True):
        assert (record.source_addr, record.destination_addr) == (SENDER, RECIPIENT)
        assert (record.data_coding, record.esm_class) == (data_coding, esm_class)
        assert record.registered_delivery == REGISTERED_DELIVERY_ALWAYS
        assert record.text == text
    return records


def check_concatenation(records: list[Received], split: Split) -> None:
    """The simulator read each part's position from the UDH the client built."""
    for record, part in zip(records, split.parts, strict=True):
        concat = split_udh(part, split.esm_class)[0]
        assert concat is not None
        assert (record.reference, record.total, record.sequence) == (
            concat.reference,
            concat.total,
            concat.sequence,
        )


async def check_counters(smsc: Smsc, count: int) -> None:
    assert smsc.submitted == count
    await wait_until(lambda: smsc.receipts_sent == count)


async def test_long_gsm_message_with_extension_characters(smsc: Smsc) -> None:
    split = Split.of(GSM_TEXT)
    assert split.data_coding == smpplib.consts.SMPP_ENCODING_DEFAULT
    assert split.esm_class == ESM_UDHI
    assert len(split.parts) == 3
    assert all(p[-1] != 0x1B for p in split.payloads()), "escape cut in two; change GSM_TEXT"
    assert split.joined() == GSM_TEXT

    run = await asyncio.to_thread(run_esme, smsc.port, split.submits())

    ids = check_receipts(smsc, run, split.texts())
    records = check_records(smsc, ids, 0, ESM_UDHI, split.texts())
    check_concatenation(records, split)
    assert smsc.reassembled() == {(RECIPIENT, records[0].reference): (GSM_TEXT,)}
    await check_counters(smsc, len(split.parts))


async def test_long_ucs2_message_with_emoji(smsc: Smsc) -> None:
    split = Split.of(UCS2_TEXT)
    assert split.data_coding == smpplib.consts.SMPP_ENCODING_ISO10646
    assert split.esm_class == ESM_UDHI
    assert len(split.parts) == 3
    # split.texts() decodes strictly, so a surrogate pair cut in two would fail here.
    assert split.joined() == UCS2_TEXT

    run = await asyncio.to_thread(run_esme, smsc.port, split.submits())

    ids = check_receipts(smsc, run, split.texts())
    records = check_records(smsc, ids, 8, ESM_UDHI, split.texts())
    check_concatenation(records, split)
    assert smsc.reassembled() == {(RECIPIENT, records[0].reference): (UCS2_TEXT,)}
    await check_counters(smsc, len(split.parts))


async def test_parts_with_sar_tlvs_instead_of_udh(smsc: Smsc) -> None:
    """smpplib without UDHI: plain parts tied together by sar_* TLVs (5.3.2.22-24)."""
    text = "Segmented with SAR TLVs: € [x] {y} ~ | " * 8
    split = Split.of(text, use_udhi=False)
    assert split.esm_class == 0
    assert len(split.parts) >= 2
    submits = [
        {
            **fields,
            "sar_msg_ref_num": 0x1234,
            "sar_total_segments": len(split.parts),
            "sar_segment_seqnum": i,
        }
        for i, fields in enumerate(split.submits(), start=1)
    ]

    run = await asyncio.to_thread(run_esme, smsc.port, submits)

    ids = check_receipts(smsc, run, split.texts())
    records = check_records(smsc, ids, split.data_coding, 0, split.texts())
    total = len(split.parts)
    assert [(r.reference, r.total, r.sequence) for r in records] == [
        (0x1234, total, i) for i in range(1, total + 1)
    ]
    assert smsc.reassembled() == {(RECIPIENT, 0x1234): (text,)}
    await check_counters(smsc, len(split.parts))


async def test_message_payload_tlv(smsc: Smsc) -> None:
    """One submit_sm with an empty short_message and the text in message_payload."""
    text = "Payload TLV ✓ 😀 " * 7
    payload = text.encode("utf-16-be")
    assert 140 < len(payload) <= 260  # longer than one SMS, within smpplib's TLV limit

    run = await asyncio.to_thread(
        run_esme,
        smsc.port,
        [{"message_payload": payload, "data_coding": smpplib.consts.SMPP_ENCODING_ISO10646}],
    )

    ids = check_receipts(smsc, run, [text])
    (record,) = check_records(smsc, ids, 8, 0, [text])
    assert (record.reference, record.total, record.sequence) == (None, 1, 1)
    assert smsc.reassembled() == {(RECIPIENT, None): (text,)}
    await check_counters(smsc, 1)


async def test_parts_cut_inside_a_character_are_accepted_and_joined(smsc: Smsc) -> None:
    """What smpplib really sends when its byte-wise split falls inside an escape sequence
    or a surrogate pair: the SMSC must still accept every part, send every receipt, and
    put the cut character back together."""
    gsm_text, ucs2_text = "a" * 152 + "€" + "t" * 20, "é" * 66 + "😀" + "t" * 20
    gsm, ucs2 = Split.of(gsm_text), Split.of(ucs2_text)
    assert gsm.payloads()[0][-1] == 0x1B  # the escape ends part 1, its code starts part 2
    assert 0xD8 <= ucs2.payloads()[0][-2] <= 0xDB  # a high surrogate ends part 1

    run = await asyncio.to_thread(run_esme, smsc.port, gsm.submits() + ucs2.submits())

    ids = check_receipts(smsc, run, None)
    assert [r.message_id for r in smsc.received] == ids
    assert [(r.total, r.sequence) for r in smsc.received] == [(2, 1), (2, 2)] * 2
    texts = sorted(t for texts in smsc.reassembled().values() for t in texts)
    assert texts == sorted([gsm_text, ucs2_text])
    await check_counters(smsc, 4)


def bind_with(port: int, password: str) -> None:
    client = smpplib.client.Client("127.0.0.1", port, timeout=WAIT, allow_unknown_opt_params=True)
    client.connect()
    try:
        client.bind_transceiver(system_id=SYSTEM_ID, password=password)
        client.unbind()
    finally:
        client.disconnect()


async def test_wrong_password_is_refused(smsc: Smsc) -> None:
    with pytest.raises(smpplib.exceptions.PDUError) as refused:
        await asyncio.to_thread(bind_with, smsc.port, "wrong")
    assert refused.value.args[1] == smpplib.consts.SMPP_ESME_RINVPASWD
    await asyncio.to_thread(bind_with, smsc.port, PASSWORD)
