"""Failover and least-cost routing in the dispatcher, against scripted operator links whose
state a test switches: up, down (no link: not sent), refusing (finally or for now), silent
(in doubt), or taking the first part of a long message only. Each test checks the stored
effect: the connector that took each message, its history lines (connector and route), its
status and error, and which links saw it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from tests.dispatch.support import reach, submit
from tests.support import until
from textgate.config import DispatchSettings, FailoverSettings, Settings
from textgate.connectors.base import (
    HandoffGate,
    InboundSink,
    Outcome,
    OutcomeSink,
    ReportSink,
    Submission,
)
from textgate.core.accounts import Account
from textgate.core.message import Message, Status
from textgate.core.routing import Routes
from textgate.core.routing_spec import table_from_spec
from textgate.dispatch.links import Usability
from textgate.dispatch.worker import Dispatcher, LinkPolicy
from textgate.errors import ConnectorError
from textgate.runtime import Gateway

FR = [f"+3361234{i:04d}" for i in range(50)]
DE = [f"+491511234{i:04d}" for i in range(50)]


class Link:
    """A scripted operator link (``mode``: up, down, refuse, throttle, silent, part)."""

    def __init__(self, name: str, mode: str = "up", *, cost: int | None = None) -> None:
        self.name = name
        self.mode = mode
        self.cost = cost
        self.seen: list[Submission] = []

    @property
    def bound_links(self) -> int:
        return 0 if self.mode == "down" else 1

    def ids(self) -> list[str]:
        return [s.message_id for s in self.seen]

    async def start(self, sink: ReportSink, inbound: InboundSink | None = None) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def submit(
        self,
        batch: Sequence[Submission],
        done: OutcomeSink | None = None,
        gate: HandoffGate | None = None,
    ) -> list[Outcome]:
        if self.mode == "down":
            raise ConnectorError.not_sent(f"{self.name}: not bound", code="not_bound")
        self.seen += batch
        return [self._outcome(s) for s in batch]

    def _outcome(self, s: Submission) -> Outcome:
        mode = self.mode
        if mode == "refuse":
            error = ConnectorError(f"{self.name} refuses", retryable=False, code=f"{self.name}_no")
            return Outcome(s.message_id, error=error)
        if mode == "throttle":
            error = ConnectorError(f"{self.name} is busy", retryable=True, code="busy")
            return Outcome(s.message_id, error=error)
        if mode == "silent":
            return Outcome(s.message_id, error=ConnectorError.in_doubt(f"{self.name}: no answer"))
        if mode == "part" and s.resume is None:
            error = ConnectorError.not_sent(f"{self.name}: link lost after part 1")
            return Outcome(s.message_id, error=error, progress="part 1 taken")
        return Outcome(s.message_id, external_id=f"{self.name}-{s.message_id}", cost=self.cost)


@pytest.fixture
async def gateway(settings: Settings) -> AsyncIterator[Gateway]:
    gw = Gateway(settings)
    await gw.start(dispatch=False, migrate=True)
    yield gw
    await gw.stop()


@pytest.fixture
async def account(gateway: Gateway) -> Account:
    return await gateway.services.accounts.create("failover")


@pytest.fixture
async def dispatchers() -> AsyncIterator[list[Dispatcher]]:
    running: list[Dispatcher] = []
    yield running
    for d in running:
        await d.stop()


async def _dispatch(
    gw: Gateway,
    running: list[Dispatcher],
    links: Sequence[Link],
    spec: dict[str, Any],
    *,
    failover: FailoverSettings | None = None,
    policies: dict[str, LinkPolicy] | None = None,
) -> Dispatcher:
    table = table_from_spec(spec, Routes(links[0].name))
    dispatcher = Dispatcher(
        gw.queue,
        {link.name: link for link in links},
        default_connector=links[0].name,
        settings=DispatchSettings(
            poll_seconds=0.05,
            retry_base_seconds=0.02,
            retry_max_seconds=0.05,
            wait_min_seconds=0.05,
            wait_max_seconds=0.1,
        ),
        routing=table,
        failover=failover,
        policies=policies,
    )
    await dispatcher.start()
    running.append(dispatcher)
    return dispatcher


def _lines(m: Message) -> list[tuple[str, str | None, str | None]]:
    return [(e.status.value, e.connector, e.route) for e in m.events]


ORDERED = {"rules": [{"name": "primary-first", "connectors": ["a", "b"]}]}


async def test_a_link_down_sends_its_messages_to_the_next_connector(
    gateway: Gateway, account: Account, dispatchers: list[Dispatcher]
) -> None:
    a, b = Link("a", "down"), Link("b")
    await _dispatch(gateway, dispatchers, [a, b], ORDERED)
    ids = await submit(gateway, account, FR[:5])
    msgs = await reach(gateway, account, ids, {Status.SENT})
    assert {m.connector for m in msgs} == {"b"}
    assert {m.route for m in msgs} == {"primary-first"}
    assert sorted(b.ids()) == sorted(ids) and a.seen == []
    # Down before the first claim: routing put the usable link first, no hand-off to "a".
    assert _lines(msgs[0]) == [
        ("queued", None, None),
        ("sending", "b", "primary-first"),
        ("sent", "b", "primary-first"),
    ]


async def test_not_sent_moves_the_message_at_once_to_the_next_connector(
    gateway: Gateway, account: Account, dispatchers: list[Dispatcher]
) -> None:
    # Throttled before sending while its link looks up: no attempt used, no pause.
    a, b = Link("a"), Link("b")
    original = a.submit

    async def not_now(batch: Sequence[Submission], *args: Any) -> list[Outcome]:
        if batch[0].message_id in ids:
            raise ConnectorError.not_sent("a: throttled before sending", code="throttled")
        return await original(batch, *args)

    a.submit = not_now  # type: ignore[method-assign]
    ids: list[str] = []
    dispatcher = await _dispatch(gateway, dispatchers, [a, b], ORDERED)
    ids += await submit(gateway, account, FR[:3])
    msgs = await reach(gateway, account, ids, {Status.SENT})
    assert {m.connector for m in msgs} == {"b"}
    assert all(m.attempts == 1 for m in msgs)  # not sent: no attempt used
    assert dispatcher.stats.failovers == 3  # each went on at once, not after a pause
    assert _lines(msgs[0]) == [
        ("queued", None, None),
        ("sending", "a", "primary-first"),
        ("queued", "a", "primary-first"),
        ("sending", "b", "primary-first"),
        ("sent", "b", "primary-first"),
    ]
    assert "waiting for a link: a: throttled" in (msgs[0].events[2].detail or "")
    assert msgs[0].events[3].detail == "failover from a"


async def test_a_refusal_moves_the_message_to_the_next_connector(
    gateway: Gateway, account: Account, dispatchers: list[Dispatcher]
) -> None:
    a, b = Link("a", "refuse"), Link("b")
    dispatcher = await _dispatch(gateway, dispatchers, [a, b], ORDERED)
    ids = await submit(gateway, account, FR[:4])
    msgs = await reach(gateway, account, ids, {Status.SENT})
    assert {m.connector for m in msgs} == {"b"}
    assert sorted(a.ids()) == sorted(ids) == sorted(b.ids())
    assert all(m.attempts == 2 for m in msgs)
    assert dispatcher.stats.failovers == 4
    assert [(s, c) for s, c, _ in _lines(msgs[0])] == [
        ("queued", None),
        ("sending", "a"),
        ("queued", "a"),
        ("sending", "b"),
        ("sent", "b"),
    ]
    assert "a refuses" in (msgs[0].events[2].detail or "")


async def test_refused_by_every_connector_fails_with_the_last_error(
    gateway: Gateway, account: Account, dispatchers: list[Dispatcher]
) -> None:
    a, b = Link("a", "refuse"), Link("b", "refuse")
    await _dispatch(gateway, dispatchers, [a, b], ORDERED)
    ids = await submit(gateway, account, FR[:3])
    msgs = await reach(gateway, account, ids, {Status.FAILED})
    assert {m.error_code for m in msgs} == {"b_no"}
    assert {m.connector for m in msgs} == {"b"}
    assert all(m.attempts == 2 for m in msgs)
    assert all("refused by every connector of its route (a, b)" in (m.reason or "") for m in msgs)
    assert all("b refuses" in (m.reason or "") for m in msgs)
    assert _lines(msgs[0])[-1] == ("failed", "b", "primary-first")


async def test_in_doubt_the_message_is_resent_on_the_same_connector(
    gateway: Gateway, account: Account, dispatchers: list[Dispatcher]
) -> None:
    a, b = Link("a", "silent"), Link("b")
    # One unanswered hand-off is enough to call "a" failing: the message stays anyway.
    failover = FailoverSettings(min_handoffs=1, window=5)
    policies = {"a": LinkPolicy(in_doubt="resend", in_doubt_grace_ms=100)}
    dispatcher = await _dispatch(
        gateway, dispatchers, [a, b], ORDERED, failover=failover, policies=policies
    )
    [mid] = await submit(gateway, account, FR[:1])

    async def in_doubt() -> bool:
        m = await gateway.services.messages.get(account.id, mid)
        return m.error_code == "in_doubt"

    await until(in_doubt, "the message in doubt")
    assert dispatcher.link_status()["a"].usability is Usability.FAILING
    a.mode = "up"
    [msg] = await reach(gateway, account, [mid], {Status.SENT})
    assert msg.connector == "a" and b.seen == []
    assert a.ids() == [mid, mid]
    assert [(s, c) for s, c, _ in _lines(msg)][-2:] == [("sending", "a"), ("sent", "a")]


async def test_in_doubt_with_the_fail_policy_it_fails_and_never_moves(
    gateway: Gateway, account: Account, dispatchers: list[Dispatcher]
) -> None:
    a, b = Link("a", "silent"), Link("b")
    policies = {"a": LinkPolicy(in_doubt="fail", in_doubt_grace_ms=50)}
    await _dispatch(gateway, dispatchers, [a, b], ORDERED, policies=policies)
    ids = await submit(gateway, account, FR[:2])
    msgs = await reach(gateway, account, ids, {Status.FAILED})
    assert {m.error_code for m in msgs} == {"in_doubt"}
    assert {m.connector for m in msgs} == {"a"}
    assert b.seen == [] and sorted(a.ids()) == sorted(ids)


async def test_a_long_message_partly_taken_stays_with_its_connector(
    gateway: Gateway, account: Account, dispatchers: list[Dispatcher]
) -> None:
    a, b = Link("a", "part"), Link("b")
    dispatcher = await _dispatch(gateway, dispatchers, [a, b], ORDERED)
    [mid] = await submit(gateway, account, FR[:1], text="long " * 70)

    async def parted() -> bool:
        m = await gateway.services.messages.get(account.id, mid)
        return m.error_code == "waiting"

    await until(parted, "part 1 taken, the rest waiting")
    # Its link goes down: the rest waits for it rather than going to "b".
    a.mode = "down"
    await until(
        lambda: dispatcher.link_status()["a"].usability is Usability.DOWN, "link a seen down"
    )
    later = await submit(gateway, account, FR[1:2])
    await reach(gateway, account, later, {Status.SENT})
    # Still waiting for "a": queued, or "sending" while a pass claims it and puts it back.
    assert (await gateway.services.messages.get(account.id, mid)).status in {
        Status.QUEUED,
        Status.SENDING,
    }
    assert mid not in b.ids()
    a.mode = "up"
    [msg] = await reach(gateway, account, [mid], {Status.SENT})
    assert msg.connector == "a"
    assert mid not in b.ids()
    assert [s.resume for s in a.seen if s.message_id == mid] == [None, "part 1 taken"]


LEAST_COST = {
    "rules": [{"name": "cheapest", "connectors": ["a", "b"], "strategy": "least_cost"}],
    "costs": {
        "a": {"countries": {"FR": "0.02"}, "default": "0.09"},
        "b": {"default": "0.05"},
    },
}


async def test_least_cost_and_its_change_when_the_cheapest_link_goes_down_and_back(
    gateway: Gateway, account: Account, dispatchers: list[Dispatcher]
) -> None:
    a, b = Link("a"), Link("b")
    dispatcher = await _dispatch(gateway, dispatchers, [a, b], LEAST_COST)
    fr, de = await submit(gateway, account, FR[:3]), await submit(gateway, account, DE[:3])
    msgs = await reach(gateway, account, fr + de, {Status.SENT})
    by_id = {m.id: m for m in msgs}
    assert {by_id[i].connector for i in fr} == {"a"}  # FR: a costs 0.02, b 0.05
    assert {by_id[i].connector for i in de} == {"b"}  # elsewhere: a 0.09, b 0.05
    assert {by_id[i].upstream_cost for i in fr} == {20_000}
    assert {by_id[i].upstream_cost for i in de} == {50_000}
    a.mode = "down"
    await until(lambda: dispatcher.link_status()["a"].usability is Usability.DOWN, "a down")
    during = await submit(gateway, account, FR[3:6])
    msgs = await reach(gateway, account, during, {Status.SENT})
    assert {m.connector for m in msgs} == {"b"}
    assert {m.upstream_cost for m in msgs} == {50_000}
    a.mode = "up"
    await until(lambda: dispatcher.link_status()["a"].usability is Usability.UP, "a back up")
    after = await submit(gateway, account, FR[6:9])
    msgs = await reach(gateway, account, after, {Status.SENT})
    assert {m.connector for m in msgs} == {"a"}


async def test_a_connector_refusing_too_much_is_used_last_until_it_recovers(
    gateway: Gateway, account: Account, dispatchers: list[Dispatcher]
) -> None:
    a, b = Link("a", "throttle"), Link("b")
    failover = FailoverSettings(window=10, min_handoffs=4, max_failed_share=0.5, memory_seconds=1)
    dispatcher = await _dispatch(gateway, dispatchers, [a, b], ORDERED, failover=failover)
    first = await submit(gateway, account, FR[:6])
    msgs = await reach(gateway, account, first, {Status.SENT})
    assert {m.connector for m in msgs} == {"b"}
    assert dispatcher.link_status()["a"].usability is Usability.FAILING
    seen = len(a.seen)
    second = await submit(gateway, account, FR[6:12])
    msgs = await reach(gateway, account, second, {Status.SENT})
    assert {m.connector for m in msgs} == {"b"}
    assert len(a.seen) == seen  # while failing, nothing new was offered to "a"
    a.mode = "up"
    await until(
        lambda: dispatcher.link_status()["a"].usability is Usability.UP,
        "a's failures forgotten",
    )
    third = await submit(gateway, account, FR[12:15])
    msgs = await reach(gateway, account, third, {Status.SENT})
    assert {m.connector for m in msgs} == {"a"}


async def test_the_connector_s_price_wins_over_its_cost_table(
    gateway: Gateway, account: Account, dispatchers: list[Dispatcher]
) -> None:
    a = Link("a", cost=12_345)
    spec = {"costs": {"a": {"default": "0.05"}}}
    await _dispatch(gateway, dispatchers, [a], spec)
    ids = await submit(gateway, account, FR[:2], text="two parts " * 20)
    msgs = await reach(gateway, account, ids, {Status.SENT})
    assert {m.segments for m in msgs} == {2}
    assert {m.upstream_cost for m in msgs} == {12_345}
    a.cost = None
    ids = await submit(gateway, account, FR[2:3], text="two parts " * 20)
    [msg] = await reach(gateway, account, ids, {Status.SENT})
    assert msg.upstream_cost == 2 * 50_000


async def test_a_table_put_in_force_routes_the_next_claims(
    gateway: Gateway, account: Account, dispatchers: list[Dispatcher]
) -> None:
    a, b = Link("a"), Link("b")
    dispatcher = await _dispatch(gateway, dispatchers, [a, b], ORDERED)
    ids = await submit(gateway, account, FR[:2])
    assert {m.connector for m in await reach(gateway, account, ids, {Status.SENT})} == {"a"}
    only_b = table_from_spec({"rules": [{"name": "b-only", "connectors": ["b"]}]}, Routes("a"))
    dispatcher.use_table(only_b)
    ids = await submit(gateway, account, FR[2:4])
    msgs = await reach(gateway, account, ids, {Status.SENT})
    assert {(m.connector, m.route) for m in msgs} == {("b", "b-only")}
