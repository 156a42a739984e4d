"""The phones' sent log (seed 003, /log/sent/frommobile/): filters, global search, sorting and
the limit, as pure functions; and a client's device choice when messages are placed."""

from __future__ import annotations

from datetime import UTC, datetime

from textgate.core.devices import PlacementRules
from textgate.core.phone_sms import (
    PhoneSent,
    PhoneSentQuery,
    SortField,
    device_of_external_id,
    select_phone_sent,
)
from textgate.errors import ConnectorError
from textgate.storage.device_choice import Candidate, choose

T0 = 1_774_040_000_000
ROWS = [
    PhoneSent(
        "dev-a",
        "+15551234567",
        "Hello, confirmed.",
        T0 + 3000,
        datetime.fromtimestamp(T0 / 1000 + 9, UTC),
    ),
    PhoneSent(
        "dev-b",
        "+447700900123",
        "Code 482915",
        T0 + 2000,
        datetime.fromtimestamp(T0 / 1000 + 5, UTC),
    ),
    PhoneSent(
        "dev-b", "+33198765432", "Thank you", T0 + 1000, datetime.fromtimestamp(T0 / 1000 + 7, UTC)
    ),
]


def shown(row: PhoneSent) -> tuple[str, str]:
    return f"day-{row.sent_at_ms}", row.synced_at.strftime("%H:%M:%S")


def numbers(rows: list[PhoneSent]) -> list[str]:
    return [r.number for r in rows]


def test_newest_first_by_default_and_limited() -> None:
    got = select_phone_sent(ROWS, PhoneSentQuery(since_ms=0, limit=2), shown)
    assert numbers(got) == ["+15551234567", "+447700900123"]


def test_window_is_half_open() -> None:
    got = select_phone_sent(ROWS, PhoneSentQuery(since_ms=T0 + 1000, until_ms=T0 + 3000), shown)
    assert numbers(got) == ["+447700900123", "+33198765432"]


def test_filters() -> None:
    assert numbers(
        select_phone_sent(ROWS, PhoneSentQuery(since_ms=0, number="15551234567"), shown)
    ) == ["+15551234567"]
    assert numbers(
        select_phone_sent(ROWS, PhoneSentQuery(since_ms=0, device_id="dev-b"), shown)
    ) == [
        "+447700900123",
        "+33198765432",
    ]
    assert numbers(select_phone_sent(ROWS, PhoneSentQuery(since_ms=0, message="THANK"), shown)) == [
        "+33198765432"
    ]


def test_global_search_looks_in_the_shown_dates_too() -> None:
    by_date = select_phone_sent(ROWS, PhoneSentQuery(since_ms=0, search=f"day-{T0 + 2000}"), shown)
    assert numbers(by_date) == ["+447700900123"]
    by_sid = select_phone_sent(ROWS, PhoneSentQuery(since_ms=0, search="DEV-A"), shown)
    assert numbers(by_sid) == ["+15551234567"]


def test_sorting() -> None:
    synced = select_phone_sent(
        ROWS, PhoneSentQuery(since_ms=0, sort_by=SortField.SYNCHRO_TIME, descending=False), shown
    )
    assert numbers(synced) == ["+447700900123", "+33198765432", "+15551234567"]
    by_number = select_phone_sent(ROWS, PhoneSentQuery(since_ms=0, sort_by=SortField.NUMBER), shown)
    assert numbers(by_number) == ["+447700900123", "+33198765432", "+15551234567"]


def test_device_of_an_inbound_message() -> None:
    assert device_of_external_id("android", "abc_-1:hash") == "abc_-1"
    assert device_of_external_id("smpp", "abc:hash") is None
    assert device_of_external_id("android", None) is None


def _candidate(device_id: str, *, online: bool = True, pending: int = 0) -> Candidate:
    return Candidate(device_id, frozenset({device_id}), {}, 0, online, pending)


def test_a_chosen_device_comes_before_sender_and_load() -> None:
    busy, idle = _candidate("busy", pending=5), _candidate("idle")
    chosen = choose([busy, idle], "idle", PlacementRules(), "busy")
    assert not isinstance(chosen, ConnectorError) and chosen[0].id == "busy"
    offline = choose([_candidate("off", online=False), idle], None, PlacementRules(), "off")
    assert isinstance(offline, ConnectorError) and offline.retryable
    gone = choose([idle], None, PlacementRules(), "deleted")
    assert isinstance(gone, ConnectorError) and not gone.retryable
