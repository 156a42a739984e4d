"""Delivery receipt text (SMPP 3.4 Appendix B) and status mapping (5.2.28)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from textgate.connectors.smpp import receipts
from textgate.connectors.smpp.constants import MessageState
from textgate.connectors.smpp.receipts import (
    Receipt,
    message_state_to_status,
    parse_receipt,
    stat_to_status,
)
from textgate.core.message import Status

SPEC = (
    "id:0123456789 sub:001 dlvrd:001 submit date:2601021530 done date:2601021531 "
    "stat:DELIVRD err:000 Text:Hello world"
)

PARSED: list[tuple[str, str, Receipt]] = [
    (
        "appendix_b_example",
        SPEC,
        Receipt(
            message_id="0123456789",
            stat="DELIVRD",
            submitted=1,
            delivered=1,
            submit_date=datetime(2026, 1, 2, 15, 30, tzinfo=UTC),
            done_date=datetime(2026, 1, 2, 15, 31, tzinfo=UTC),
            err="000",
            text="Hello world",
        ),
    ),
    (
        "twelve_digit_dates_and_hex_id",
        "id:7E3A9F01 sub:001 dlvrd:000 submit date:260102153045 done date:260102153159 "
        "stat:UNDELIV err:0A1 text:",
        Receipt(
            message_id="7E3A9F01",
            stat="UNDELIV",
            submitted=1,
            delivered=0,
            submit_date=datetime(2026, 1, 2, 15, 30, 45, tzinfo=UTC),
            done_date=datetime(2026, 1, 2, 15, 31, 59, tzinfo=UTC),
            err="0A1",
        ),
    ),
    (
        "upper_case_keys_any_order",
        "STAT:expired ERR:27 ID:abc-1 DONE DATE:2512312359 SUB:1 DLVRD:0",
        Receipt(
            message_id="abc-1",
            stat="EXPIRED",
            submitted=1,
            delivered=0,
            done_date=datetime(2025, 12, 31, 23, 59, tzinfo=UTC),
            err="27",
        ),
    ),
    ("only_id_and_stat", "id:42 stat:ACCEPTD", Receipt(message_id="42", stat="ACCEPTD")),
    (
        "underscored_date_keys_and_text_with_colons",
        "id:1 submit_date:2601021530 done_date:2601021531 stat:DELIVRD Text:id:2 stat:REJECTD",
        Receipt(
            message_id="1",
            stat="DELIVRD",
            submit_date=datetime(2026, 1, 2, 15, 30, tzinfo=UTC),
            done_date=datetime(2026, 1, 2, 15, 31, tzinfo=UTC),
            text="id:2 stat:REJECTD",
        ),
    ),
    (
        "bad_dates_and_counts_become_none",
        "id:9 sub:abc dlvrd: submit date:2613011200 done date:26010 stat:deleted err:",
        Receipt(message_id="9", stat="DELETED"),
    ),
    (
        "date_key_wrapped_over_lines",
        "id:3 done\ndate:2601021531 stat:DELIVRD",
        Receipt(message_id="3", stat="DELIVRD", done_date=datetime(2026, 1, 2, 15, 31, tzinfo=UTC)),
    ),
    (
        "extra_spaces",
        "  id: 5  stat: DELIVRD  err: 0 ",
        Receipt(message_id="5", stat="DELIVRD", err="0"),
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [(t, r) for _, t, r in PARSED], ids=[i for i, _, _ in PARSED]
)
def test_parse_receipt(text: str, expected: Receipt) -> None:
    assert parse_receipt(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello, this is a reply",
        "id:123",  # no stat
        "stat:DELIVRD err:0",  # no id
        "id: stat:DELIVRD",  # empty id
        "valid:1 stat:DELIVRD",  # "id" only as part of another word
        "id:" + "1" * 66 + " stat:DELIVRD",  # longer than a message_id can be
    ],
    ids=["empty", "prose", "no_stat", "no_id", "empty_id", "id_inside_word", "id_too_long"],
)
def test_garbage_is_none(text: str) -> None:
    assert parse_receipt(text) is None


CANDIDATES: list[tuple[str, tuple[str, ...]]] = [
    ("0123456789", ("0123456789", "123456789", "75bcd15", "4886718345")),
    ("7E3A9F01", ("7E3A9F01", "7e3a9f01", "2117771009")),
    ("0x00ff", ("0x00ff", "ff", "255")),
    ("10", ("10", "a", "16")),
    ("0", ("0",)),
    ("abc-1", ("abc-1",)),
]


@pytest.mark.parametrize(("raw", "expected"), CANDIDATES, ids=[r for r, _ in CANDIDATES])
def test_id_candidates(raw: str, expected: tuple[str, ...]) -> None:
    assert Receipt(message_id=raw, stat="DELIVRD").id_candidates() == expected


STATS: list[tuple[str, Status | None]] = [
    ("DELIVRD", Status.DELIVERED),
    ("delivrd", Status.DELIVERED),
    ("UNDELIV", Status.UNDELIVERED),
    ("REJECTD", Status.UNDELIVERED),
    ("EXPIRED", Status.EXPIRED),
    ("ACCEPTD", Status.BUFFERED),
    ("ENROUTE", Status.BUFFERED),
    ("DELETED", Status.UNDELIVERED),
    ("UNKNOWN", None),
    ("WHATEVER", None),
]


@pytest.mark.parametrize(("stat", "status"), STATS, ids=[s for s, _ in STATS])
def test_stat_to_status(stat: str, status: Status | None) -> None:
    assert stat_to_status(stat) == status


STATES: list[tuple[int, Status | None]] = [
    (MessageState.ENROUTE, Status.BUFFERED),
    (MessageState.DELIVERED, Status.DELIVERED),
    (MessageState.EXPIRED, Status.EXPIRED),
    (MessageState.DELETED, Status.UNDELIVERED),
    (MessageState.UNDELIVERABLE, Status.UNDELIVERED),
    (MessageState.ACCEPTED, Status.BUFFERED),
    (MessageState.UNKNOWN, None),
    (MessageState.REJECTED, Status.UNDELIVERED),
    (0, None),
    (99, None),
]


@pytest.mark.parametrize(("state", "status"), STATES, ids=[str(s) for s, _ in STATES])
def test_message_state_to_status(state: int, status: Status | None) -> None:
    assert message_state_to_status(state) == status


@given(st.text(max_size=300))
def test_parse_receipt_never_raises(text: str) -> None:
    receipt = parse_receipt(text)
    if receipt is not None:
        assert receipt.message_id
        receipt.id_candidates()


_KEYS = ["id", "sub", "dlvrd", "submit date", "done date", "stat", "err"]
_SPACES = st.sampled_from([" ", "  ", "\n", " \t", "\x1c "])
_VALUES = st.sampled_from(
    ["", "abc", "0A1B", "001", "2611220226", "DELIVRD", "sub:5", "x:y", "text:", " ", " stat:Z"]
)


@given(st.data())
def test_appendix_b_layout_reads_as_the_general_scan(data: st.DataObject) -> None:
    """The fast path for the appendix's own layout must give the general scan's values."""
    text = data.draw(st.sampled_from(["", " ", "\n"]))
    for key in _KEYS:
        spelled = data.draw(st.sampled_from([key, key.upper(), key.replace(" ", "_")]))
        colon = data.draw(st.sampled_from([":", " :"]))
        text += spelled + colon + data.draw(_VALUES) + data.draw(_SPACES)
    text += data.draw(st.sampled_from(["", "text:hi: there ", "Text: x stat:Q", "tex:t"]))
    match = receipts._CANONICAL.fullmatch(text)
    if match is not None:
        fast = {k: v for k, v in match.groupdict().items() if v is not None}
        if "text" in fast:
            fast["text"] = fast["text"].strip()
        assert fast == receipts._scan(text)


def test_format_receipt_reads_back() -> None:
    written = Receipt(
        message_id="01KQ3ZJ0000000000000000000",
        stat="UNDELIV",
        submitted=1,
        delivered=0,
        submit_date=datetime(2026, 1, 2, 15, 30, tzinfo=UTC),
        done_date=datetime(2026, 1, 2, 15, 31, tzinfo=UTC),
        err="001",
        text="Привет, a text longer than twenty characters",
    )
    text = receipts.format_receipt(written)
    assert text == (
        "id:01KQ3ZJ0000000000000000000 sub:001 dlvrd:000 submit date:2601021530 "
        "done date:2601021531 stat:UNDELIV err:001 text:??????, a text longe"
    )
    assert parse_receipt(text) == Receipt(
        message_id=written.message_id,
        stat="UNDELIV",
        submitted=1,
        delivered=0,
        submit_date=written.submit_date,
        done_date=written.done_date,
        err="001",
        text="??????, a text longe",
    )


@pytest.mark.parametrize("status", sorted(receipts.STATUS_RECEIPT))
def test_every_final_status_reads_back_as_itself(status: Status) -> None:
    stat, state = receipts.STATUS_RECEIPT[status]
    # A receipt's reader learns the same status from the stat and the TLV; failures that
    # 3.4 has no word of their own for read back as undelivered.
    expected = Status.UNDELIVERED if status in (Status.FAILED, Status.REJECTED) else status
    if status is Status.CANCELLED:
        expected = Status.UNDELIVERED  # DELETED (5.2.28)
    assert stat_to_status(stat) == expected
    assert message_state_to_status(state) == expected
