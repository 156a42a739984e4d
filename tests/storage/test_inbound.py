"""The inbound store: whole messages, durable reassembly of parts, ownership, timeouts."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

import pytest

from textgate.core.inbound import Concatenation, InboundMessage, Keywords
from textgate.errors import NotFound
from textgate.services.inbound import InboundReceiver, InboundRouter
from textgate.storage.accounts import AccountRepo
from textgate.storage.credits import CreditRepo
from textgate.storage.db import Database
from textgate.storage.inbound import REPEAT_WINDOW_MS, InboundFilter, InboundRepo

NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


def mo(
    text: str,
    *,
    part: Concatenation | None = None,
    sender: str = "+33612345678",
    to: str = "+33700000001",
) -> InboundMessage:
    return InboundMessage(
        connector="smsc", sender=sender, recipient=to, text=text, received_at=NOW, part=part
    )


async def _setup(db: Database, timeout: float = 3600.0) -> tuple[str, InboundRepo, InboundReceiver]:
    accounts = AccountRepo(db)
    acme = await accounts.create("acme")
    repo = InboundRepo(db)
    router = InboundRouter({"+337000": "acme", "+44": "nobody-yet"}, accounts)
    return acme.id, repo, InboundReceiver(repo, router, reassembly_timeout_seconds=timeout)


async def test_whole_message_is_stored_for_the_owner_of_the_number(db: Database) -> None:
    acme, repo, receive = await _setup(db)
    await receive([mo("Hello"), mo("Unowned", to="+4479460000")])
    [stored] = await repo.search(acme, InboundFilter(), limit=10)
    assert (stored.sender, stored.recipient, stored.text) == (
        "+33612345678",
        "+33700000001",
        "Hello",
    )
    assert stored.received_at == NOW and stored.complete and stored.read_at is None
    # Nobody owns +44...: kept without an account, not dropped.
    [unowned] = await repo.unowned()
    assert unowned.text == "Unowned" and unowned.account_id is None
    assert await repo.get(acme, stored.id) == stored
    with pytest.raises(NotFound):
        await repo.get(acme, unowned.id)


@pytest.mark.parametrize("reference", [7, 0xBEEF])
async def test_parts_in_any_order_and_repeated_make_one_message(
    db: Database, reference: int
) -> None:
    acme, repo, receive = await _setup(db)
    texts = ["Part one, ", "part two, ", "part three."]
    order = [2, 0, 2, 0, 1]  # the SMSC resends parts whose answer it lost
    for n, i in enumerate(order):
        assert await repo.search(acme, InboundFilter(), limit=10) == [], n
        await receive([mo(texts[i], part=Concatenation(reference, 3, i + 1))])
    [stored] = await repo.search(acme, InboundFilter(), limit=10)
    assert stored.text == "".join(texts)
    assert (stored.parts, stored.total_parts, stored.complete) == (3, 3, True)


async def test_parts_of_different_messages_do_not_mix(db: Database) -> None:
    acme, repo, receive = await _setup(db)
    a = [mo(f"a{i}", part=Concatenation(1, 2, i + 1)) for i in range(2)]
    b = [mo(f"b{i}", part=Concatenation(2, 2, i + 1)) for i in range(2)]
    c = [mo(f"c{i}", sender="+33698765432", part=Concatenation(1, 2, i + 1)) for i in range(2)]
    parts = a + b + c
    random.Random(4).shuffle(parts)
    await receive(parts)
    stored = await repo.search(acme, InboundFilter(), limit=10)
    assert sorted(m.text for m in stored) == ["a0a1", "b0b1", "c0c1"]


async def test_concurrent_parts_complete_exactly_once(db: Database) -> None:
    acme, repo, receive = await _setup(db)
    parts = [mo(str(i), part=Concatenation(9, 5, i + 1)) for i in range(5)]
    await asyncio.gather(*(receive([p]) for p in parts))
    [stored] = await repo.search(acme, InboundFilter(), limit=10)
    assert stored.text == "01234"


async def test_stale_parts_are_stored_incomplete_after_the_timeout(db: Database) -> None:
    acme, repo, receive = await _setup(db, timeout=0.001)
    await receive([mo("first half ", part=Concatenation(3, 2, 1))])
    await asyncio.sleep(0.01)
    assert len(await receive.flush_stale()) == 1
    [stored] = await repo.search(acme, InboundFilter(), limit=10)
    assert stored.text == "first half " and not stored.complete
    assert (stored.parts, stored.total_parts) == (1, 2)
    assert await receive.flush_stale() == []


async def test_filters_and_cursor(db: Database) -> None:
    acme, repo, receive = await _setup(db)
    for i in range(5):
        await receive([mo(f"m{i}", sender="+33611111111" if i % 2 else "+33622222222")])
    newest_first = [m.text for m in await repo.search(acme, InboundFilter(), limit=10)]
    assert newest_first == ["m4", "m3", "m2", "m1", "m0"]
    odd = await repo.search(acme, InboundFilter(sender="+33611111111"), limit=10)
    assert [m.text for m in odd] == ["m3", "m1"]
    page = await repo.search(acme, InboundFilter(), limit=2)
    rest = await repo.search(acme, InboundFilter(before_id=page[-1].id), limit=10)
    assert [m.text for m in page + rest] == newest_first


async def test_a_number_assigned_later_routes_after_refresh(db: Database) -> None:
    accounts = AccountRepo(db)
    repo = InboundRepo(db)
    router = InboundRouter({"+4479": "later"}, accounts, refresh_seconds=0)
    receive = InboundReceiver(repo, router)
    await receive([mo("before", to="+447900000000")])
    later = await accounts.create("later")
    await receive([mo("after", to="+447900000000")])
    assert [m.text for m in await repo.search(later.id, InboundFilter(), limit=10)] == ["after"]
    assert [m.text for m in await repo.unowned()] == ["before"]


@pytest.mark.parametrize(
    ("parts", "whole"),
    [
        # smpplib-style octet splits: an escape pair and a surrogate pair cut in two.
        (["price 5\x1b", "e only"], "price 5€ only"),
        (["a\x1b", "(b\x1b", ")"], "a{b}"),
        (["smile \ud83d", "\ude00!"], "smile 😀!"),
        (["plain ", "text"], "plain text"),
    ],
)
async def test_characters_cut_at_part_boundaries_are_joined(
    db: Database, parts: list[str], whole: str
) -> None:
    acme, repo, receive = await _setup(db)
    total = len(parts)
    await receive([mo(t, part=Concatenation(1, total, i + 1)) for i, t in enumerate(parts)])
    [stored] = await repo.search(acme, InboundFilter(), limit=10)
    assert stored.text == whole


async def test_stop_and_start_keywords_change_the_owners_opt_out_list(db: Database) -> None:
    accounts = AccountRepo(db)
    acme = await accounts.create("acme")
    repo = InboundRepo(db)
    keywords = Keywords.of(["STOP", "STOPALL", "UNSUBSCRIBE"], ["START"])
    receive = InboundReceiver(repo, InboundRouter({"+337000": "acme"}, accounts), keywords=keywords)
    credits = CreditRepo(db)

    async def listed() -> list[str]:
        return [number for number, _, _ in await credits.opt_outs(acme.id)]

    await receive([mo("please stop sending", sender="+33611111111")])  # a sentence: no
    await receive([mo(" Stop. ", sender="+33622222222")])
    # A keyword sent in two parts counts once reassembled.
    await receive([mo("UNSUB", sender="+33633333333", part=Concatenation(4, 2, 1))])
    await receive([mo("SCRIBE", sender="+33633333333", part=Concatenation(4, 2, 2))])
    await receive([mo("STOP", sender="+33644444444", to="+4479460000")])  # nobody's number
    assert await listed() == ["+33622222222", "+33633333333"]
    await receive([mo("start", sender="+33622222222")])
    assert await listed() == ["+33633333333"]
    # Every message is still stored, keywords included.
    assert len(await repo.search(acme.id, InboundFilter(), limit=10)) == 4


def _named(text: str, external_id: str | None, connector: str = "smsc") -> InboundMessage:
    """A whole message under the operator's (or provider's) id."""
    return InboundMessage(
        connector=connector,
        sender="+33612345678",
        recipient="+33700000001",
        text=text,
        received_at=NOW,
        external_id=external_id,
    )


async def test_a_message_sent_again_under_its_id_is_stored_once(db: Database) -> None:
    """An operator or provider that sends a message again (its answer was lost, a webhook
    retried) under the same id: stored once, and completed once (so told once)."""
    acme, repo, _ = await _setup(db)

    def route(number: str) -> str | None:
        return acme

    first = await repo.store([_named("Hi", "m-1"), _named("Hi", "m-1")], route)
    assert len(first) == 1  # the same message twice in one batch
    again = await repo.store([_named("Hi", "m-1"), _named("Other", "m-2")], route)
    assert len(again) == 1  # only m-2 is new
    # Another connector's m-1 is another message; messages without an id are never merged.
    other = await repo.store(
        [_named("Hi", "m-1", connector="upstream"), _named("x", None), _named("x", None)], route
    )
    assert len(other) == 3
    stored = await repo.search(acme, InboundFilter(), limit=20)
    assert sorted((m.connector, m.external_id or "", m.text) for m in stored) == [
        ("smsc", "", "x"),
        ("smsc", "", "x"),
        ("smsc", "m-1", "Hi"),
        ("smsc", "m-2", "Other"),
        ("upstream", "m-1", "Hi"),
    ]


async def test_processes_storing_one_message_at_once_store_it_once(db: Database) -> None:
    acme, _, _ = await _setup(db)
    repos = [InboundRepo(db) for _ in range(4)]
    message = _named("Hi", "m-9")
    done = await asyncio.gather(*(r.store([message], lambda _: acme) for r in repos))
    assert sorted(len(ids) for ids in done) == [0, 0, 0, 1]
    assert len(await repos[0].search(acme, InboundFilter(), limit=20)) == 1


async def test_an_id_seen_again_after_the_repeat_window_is_a_new_message(db: Database) -> None:
    """Short ids (a phone's 32-bit hash) repeat over months: only recent ones are repeats."""
    acme, _, _ = await _setup(db)
    now = [1_800_000_000_000]
    repo = InboundRepo(db, clock=lambda: now[0])
    message = _named("Oui", "dev:1a2b3c4d", connector="phone")
    assert len(await repo.store([message], lambda _: acme)) == 1
    now[0] += REPEAT_WINDOW_MS - 1
    assert await repo.store([message], lambda _: acme) == []
    now[0] += 2
    assert len(await repo.store([message], lambda _: acme)) == 1
    assert len(await repo.search(acme, InboundFilter(), limit=20)) == 2
