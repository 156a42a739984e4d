"""Helpers for crash tests through SMPP: an SMSC that records what it accepted and which
receipts were acknowledged, connector settings, unique destinations, phased submitters, and
an accounting of duplicates per crash.

The SMSC runs in the test process (a real socket on 127.0.0.1), independent of the gateway
subprocesses that are killed: it sees every part accepted, whichever process sent it.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support import HTTP_TIMEOUT, WAIT
from textgate.connectors.smpp.constants import CommandStatus
from textgate.connectors.smpp.smsc import Smsc, SmscOptions
from textgate.connectors.smpp.smsc_receipts import ReceiptPdu

__all__ = [
    "WINDOW",
    "Accounting",
    "BeyondWindow",
    "Duplicates",
    "Phase",
    "RecordingSmsc",
    "StoredMessage",
    "check_outcomes",
    "check_window",
    "chunked",
    "smpp_connectors",
    "stored_messages",
    "submit_phase",
    "unique_numbers",
    "until",
]

WINDOW = 50
"""submit_sm outstanding at once per bind: the most a crash may leave in doubt."""

_RECEIPT_ID = re.compile(rb"id:(\S+)")


class RecordingSmsc(Smsc):
    """An :class:`Smsc` that also counts, per operator id, the receipts the ESME
    acknowledged with ESME_ROK (the gateway answers a receipt only once it is stored)."""

    def __init__(self, options: SmscOptions) -> None:
        super().__init__(options)
        self.acknowledged: Counter[str] = Counter()

    def _receipt_answered(self, receipt: ReceiptPdu, status: int) -> None:
        super()._receipt_answered(receipt, status)
        found = _RECEIPT_ID.match(getattr(receipt, "short_message", b"") or b"")
        if status == CommandStatus.ESME_ROK and found is not None:
            self.acknowledged[found.group(1).decode()] += 1


def smpp_connectors(
    port: int,
    *,
    receipt_window_seconds: float,
    in_doubt_grace_seconds: float,
    **options: Any,
) -> str:
    """``TEXTGATE_CONNECTORS``: one SMPP connector named ``carrier`` (one bind, window 50)."""
    smpp = {
        "host": "127.0.0.1",
        "port": port,
        "system_id": "textgate",
        "password": "textgate",
        "binds": 1,
        "window": WINDOW,
        "reconnect_initial": 0.05,
        "reconnect_max": 0.5,
        **options,
    }
    return json.dumps(
        [
            {
                "name": "carrier",
                "type": "smpp",
                "options": smpp,
                "in_doubt": "resend",
                "in_doubt_grace_seconds": in_doubt_grace_seconds,
                "receipt_window_seconds": receipt_window_seconds,
            }
        ]
    )


async def until(check: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    """Poll ``check`` until it holds, failing after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def unique_numbers(count: int) -> list[str]:
    """``count`` distinct valid French mobile numbers (+33 61 followed by 7 digits): one
    destination per message, so that the SMSC's record tells each message apart."""
    if count > 10_000_000:
        raise ValueError("at most 10,000,000 numbers in this range")
    return [f"+3361{n:07d}" for n in range(count)]


# --- submitting ----------------------------------------------------------------------------


@dataclass
class Phase:
    """What one run of the submitters got: ids acknowledged with a 2xx, requests cut off."""

    accepted: list[str] = field(default_factory=list)
    unanswered: int = 0


async def submit_phase(
    base_url: str,
    api_key: str,
    chunks: Iterator[list[str]],
    *,
    submitters: int,
    stop_after: int | None = None,
    on_stop: Callable[[], None] | None = None,
    phase: Phase | None = None,
) -> Phase:
    """Post ``chunks`` of recipients (one request each) from concurrent clients until the
    chunks run out or, with ``stop_after``, until that many messages were acknowledged:
    then ``on_stop`` runs (a SIGKILL) and each client ends with its request in flight,
    which may be cut off (counted unanswered: never acknowledged). ``phase`` lets the caller
    watch the acknowledged ids as they come."""
    phase = phase if phase is not None else Phase()
    stopping = False

    async def submitter(client: httpx.AsyncClient) -> None:
        nonlocal stopping
        while not stopping:
            chunk = next(chunks, None)
            if chunk is None:
                return
            try:
                r = await client.post(
                    "/v1/messages", json={"to": chunk, "text": "crash acceptance"}
                )
            except httpx.TransportError:
                if not stopping:
                    raise
                phase.unanswered += 1
                return
            assert r.status_code == 202, f"unexpected answer {r.status_code}: {r.text[:300]}"
            body = r.json()
            assert body["accepted"] == len(chunk) and body["rejected"] == 0, body
            phase.accepted += [m["id"] for m in body["messages"]]
            if stop_after is not None and len(phase.accepted) >= stop_after and not stopping:
                stopping = True
                if on_stop is not None:
                    on_stop()

    limits = httpx.Limits(max_connections=submitters, max_keepalive_connections=submitters)
    async with httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=HTTP_TIMEOUT,
        limits=limits,
    ) as client:
        await asyncio.gather(*(submitter(client) for _ in range(submitters)))
    return phase


def chunked(numbers: Sequence[str], size: int) -> Iterator[list[str]]:
    return (list(numbers[i : i + size]) for i in range(0, len(numbers), size))


# --- the database ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredMessage:
    id: str
    status: str
    error_code: str | None
    external_id: str | None
    recipient: str


async def stored_messages(db_url: str) -> dict[str, StoredMessage]:
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text("SELECT id, status, error_code, external_id, recipient FROM messages")
                )
            ).all()
    finally:
        await engine.dispose()
    return {
        r.id: StoredMessage(r.id, r.status, r.error_code, r.external_id, r.recipient) for r in rows
    }


# --- what the SMSC saw ----------------------------------------------------------------------


@dataclass
class Accounting:
    """The SMSC's record cut into epochs: each crash ends one (``mark`` right after the
    killed process is reaped, when nothing can reach the SMSC on its behalf any more)."""

    smsc: RecordingSmsc
    marks: list[int] = field(default_factory=list)
    """``len(smsc.received)`` at each crash."""

    def mark(self) -> None:
        self.marks.append(len(self.smsc.received))

    def epoch_of(self, index: int) -> int:
        """The epoch of the ``index``-th accepted part (0 = before the first crash)."""
        return sum(1 for m in self.marks if index >= m)

    def accepted_before_a_crash(self) -> set[str]:
        """Operator ids accepted in an epoch that a crash ended."""
        last = self.marks[-1] if self.marks else 0
        return {r.message_id for r in self.smsc.received[:last]}

    def duplicates(self) -> Duplicates:
        """Parts accepted again for a destination (one message per destination), counted
        against the epoch of the destination's first acceptance."""
        first: dict[str, int] = {}
        dups = Duplicates([0] * (len(self.marks) + 1), [0] * len(self.marks), {}, {})
        counts: Counter[str] = Counter()
        epochs: dict[str, list[int]] = {}
        for index, part in enumerate(self.smsc.received):
            destination = part.destination_addr
            counts[destination] += 1
            epochs.setdefault(destination, []).append(self.epoch_of(index))
            if destination not in first:
                first[destination] = index
                continue
            epoch = self.epoch_of(first[destination])
            dups.per_epoch[epoch] += 1
            if epoch < len(self.marks):
                age = self.marks[epoch] - first[destination]
                dups.oldest[epoch] = max(dups.oldest[epoch], age)
        dups.twice = {d: n for d, n in counts.items() if n > 1}
        dups.without_a_crash = {d: e for d, e in epochs.items() if len(set(e)) < len(e)}
        return dups


@dataclass
class Duplicates:
    per_epoch: list[int]
    """Parts accepted again, by the epoch of their first acceptance (the last epoch was
    ended by no crash)."""
    oldest: list[int]
    """Per crash: how many parts the SMSC accepted between the first acceptance of the
    oldest duplicated message and the crash. Up to the window, its answer may have been on
    the wire; beyond, the gateway had it and had not recorded it yet."""
    twice: dict[str, int]
    """Destinations accepted more than once, with their counts."""
    without_a_crash: dict[str, list[int]]
    """Destinations accepted twice within one epoch (sent again with no crash in between),
    with the epochs of their acceptances."""


class BeyondWindow(AssertionError):
    """A crash caused more duplicates than the window: README "Delivery guarantees" bounds
    them by the messages outstanding on the link. Known today: the answers the process had
    received and its recorder had not committed yet are sent again too (see Duplicates)."""


def check_window(per_crash: Sequence[int]) -> None:
    for crash, count in enumerate(per_crash):
        if count > WINDOW:
            raise BeyondWindow(f"{count} duplicates after crash {crash + 1} (window {WINDOW})")


def check_outcomes(
    stored: dict[str, StoredMessage], accounting: Accounting
) -> Counter[tuple[str, str | None]]:
    """Check every stored message's end against what the SMSC did; return the counts of
    (status, error_code).

    A message ends ``delivered`` by its receipt, or ``expired``/``no_report`` when its
    receipt never reached a live process: only one accepted before a crash (the simulator
    drops the receipts due on a link that died; it re-sends none by itself).
    """
    smsc = accounting.smsc
    assert all(n == 1 for n in smsc.acknowledged.values()), smsc.acknowledged.most_common(3)
    before_crash = accounting.accepted_before_a_crash()
    outcomes: Counter[tuple[str, str | None]] = Counter()
    for m in stored.values():
        outcomes[(m.status, m.error_code)] += 1
        assert m.external_id is not None, m
        acked = smsc.acknowledged[m.external_id] > 0
        if m.status == "expired":
            assert m.error_code == "no_report", m
            assert not acked, m
            assert m.external_id in before_crash, m
        else:
            # A receipt stored but not yet answered when its process died counts as
            # delivered without the SMSC's acknowledgement.
            assert m.status == "delivered", m
            assert acked or m.external_id in before_crash, m
    # A stored receipt moved its message on (one naming the first send of a message sent
    # again names no stored message: the message carries the newer id).
    by_external_id = {m.external_id: m for m in stored.values()}
    not_applied = [
        by_external_id[x]
        for x in smsc.acknowledged
        if x in by_external_id and by_external_id[x].status != "delivered"
    ]
    assert not not_applied, f"acknowledged receipts not applied: {not_applied[:5]}"
    return outcomes
