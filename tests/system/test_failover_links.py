"""Failover and least-cost routing through real SMPP links: native API -> dispatcher -> two
SMPP connectors -> two SMSC simulators, one of which is down, refuses, or goes silent (its
fault rules). What each SMSC received and what the gateway stored must agree with the
delivery contract: a message moves only when the link never took it or refused it; a
message in doubt stays with its link."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from tests.support import Running, running_gateway, until
from textgate.config import (
    ConnectorSettings,
    DispatchSettings,
    FailoverSettings,
    RoutingSettings,
    Settings,
)
from textgate.connectors.smpp.smsc import Smsc, SmscOptions
from textgate.connectors.smpp.smsc_rules import SmscRule
from textgate.core.message import FINAL, Message
from textgate.services.query import MessageFilter

LEAST_COST = {
    "rules": [{"name": "cheapest", "connectors": ["backup", "primary"], "strategy": "least_cost"}],
    "costs": {"primary": {"default": "0.02"}, "backup": {"default": "0.05"}},
}


def _link(name: str, smsc: Smsc, **fields: Any) -> ConnectorSettings:
    return ConnectorSettings(
        name=name,
        type="smpp",
        options={
            "host": "127.0.0.1",
            "port": smsc.port,
            "system_id": "textgate",
            "password": "textgate",
            "window": 20,
            "reconnect_initial": 0.05,
            "reconnect_max": 0.2,
            "response_timeout": 0.5,
        },
        required=False,
        **fields,
    )


@asynccontextmanager
async def _gateway(
    settings: Settings, primary: Smsc, backup: Smsc, **primary_fields: Any
) -> AsyncIterator[tuple[Running, dict[str, str], str]]:
    update = {
        "connectors": [_link("primary", primary, **primary_fields), _link("backup", backup)],
        "routing": RoutingSettings.model_validate(
            {**LEAST_COST, "failover": FailoverSettings(min_handoffs=50).model_dump()}
        ),
        "dispatch": DispatchSettings(
            poll_seconds=0.05,
            retry_base_seconds=0.05,
            retry_max_seconds=0.2,
            wait_min_seconds=0.05,
            wait_max_seconds=0.2,
        ),
    }
    async with running_gateway(settings.model_copy(update=update)) as gw:
        accounts = gw.gateway.services.accounts
        account = await accounts.create("failover")
        token = (await accounts.issue_key(account.id)).token
        yield gw, {"Authorization": f"Bearer {token}"}, account.id


@asynccontextmanager
async def _smscs(*rules: SmscRule) -> AsyncIterator[tuple[Smsc, Smsc]]:
    primary = Smsc(SmscOptions(port=0, record=True, receipt_delay_ms=20, rules=rules))
    backup = Smsc(SmscOptions(port=0, record=True, receipt_delay_ms=20))
    async with primary, backup:
        yield primary, backup


async def _send(gw: Running, headers: dict[str, str], to: Sequence[str]) -> list[str]:
    r = await gw.client.post("/v1/messages", json={"to": list(to), "text": "x"}, headers=headers)
    assert r.status_code == 202, r.text
    return [m["id"] for m in r.json()["messages"]]


async def _final(gw: Running, account_id: str, ids: Sequence[str]) -> list[Message]:
    messages = gw.gateway.services.messages
    found: list[Message] = []

    async def done() -> bool:
        nonlocal found
        found = [await messages.get(account_id, i) for i in ids]
        return all(m.status in FINAL for m in found)

    await until(done, "every message final")
    return found


def _digits(numbers: Sequence[str]) -> set[str]:
    return {n.lstrip("+") for n in numbers}


async def _bound(gw: Running, name: str) -> None:
    conn = gw.gateway.connectors[name]
    await until(lambda: getattr(conn, "bound_links", 0) == 1, f"{name} bound")


async def test_the_cheapest_link_down_then_back(settings: Settings) -> None:
    numbers = [f"+3361234{i:04d}" for i in range(30)]
    async with _smscs() as (primary, backup):
        await primary.stop(graceful=False)  # down before the gateway starts
        async with _gateway(settings, primary, backup) as (gw, headers, account):
            await _bound(gw, "backup")
            first = await _send(gw, headers, numbers[:10])
            msgs = await _final(gw, account, first)
            assert {(m.status.value, m.connector) for m in msgs} == {("delivered", "backup")}
            assert {m.upstream_cost for m in msgs} == {50_000}
            assert set(backup.submit_counts) == _digits(numbers[:10])
            await primary.start()
            await _bound(gw, "primary")
            then = await _send(gw, headers, numbers[10:20])
            msgs = await _final(gw, account, then)
            assert {(m.status.value, m.connector) for m in msgs} == {("delivered", "primary")}
            assert {m.upstream_cost for m in msgs} == {20_000}
            assert set(primary.submit_counts) == _digits(numbers[10:20])
            # Nothing was sent twice, by either.
            assert all(n == 1 for n in (primary.submit_counts | backup.submit_counts).values())


async def test_a_refusal_goes_to_the_next_link_and_others_stay(settings: Settings) -> None:
    refused = [f"+3361299{i:04d}" for i in range(5)]
    taken = [f"+3361234{i:04d}" for i in range(5)]
    rule = SmscRule(prefix="3361299", submit_status="ESME_RINVDSTADR")
    async with _smscs(rule) as (primary, backup), _gateway(settings, primary, backup) as run:
        gw, headers, account = run
        await _bound(gw, "primary")
        await _bound(gw, "backup")
        msgs = await _final(gw, account, await _send(gw, headers, refused + taken))
        by_number = {m.recipient: m for m in msgs}
        assert {by_number[n].connector for n in refused} == {"backup"}
        assert {by_number[n].connector for n in taken} == {"primary"}
        assert {m.status.value for m in msgs} == {"delivered"}
        assert set(primary.submit_counts) == _digits(refused + taken)
        assert set(backup.submit_counts) == _digits(refused)
        history = [(e.status.value, e.connector) for e in by_number[refused[0]].events]
        assert history == [
            ("queued", None),
            ("sending", "primary"),
            ("queued", "primary"),
            ("sending", "backup"),
            ("sent", "backup"),
            ("delivered", None),
        ]
        assert "invalid destination address" in (by_number[refused[0]].events[2].detail or "")


async def test_unanswered_messages_are_resent_on_their_link_only(settings: Settings) -> None:
    silent = [f"+3361277{i:04d}" for i in range(4)]
    # The first submit_sm of each such message gets no answer; the resend is answered.
    rule = SmscRule(prefix="3361277", action="ignore", times=len(silent))
    async with (
        _smscs(rule) as (primary, backup),
        _gateway(settings, primary, backup, in_doubt="resend", in_doubt_grace_seconds=0.2) as (
            gw,
            headers,
            account,
        ),
    ):
        await _bound(gw, "primary")
        await _bound(gw, "backup")
        msgs = await _final(gw, account, await _send(gw, headers, silent))
        assert {(m.status.value, m.connector) for m in msgs} == {("delivered", "primary")}
        assert backup.submit_counts == {}
        assert all(primary.submit_counts[d] == 2 for d in _digits(silent))
        details = [e.detail or "" for e in msgs[0].events]
        assert any(d.startswith("in doubt") for d in details), details


async def test_unanswered_messages_fail_under_the_fail_policy_and_never_move(
    settings: Settings,
) -> None:
    silent = [f"+3361277{i:04d}" for i in range(4)]
    rule = SmscRule(prefix="3361277", action="ignore")
    async with (
        _smscs(rule) as (primary, backup),
        _gateway(settings, primary, backup, in_doubt="fail", in_doubt_grace_seconds=0.2) as (
            gw,
            headers,
            account,
        ),
    ):
        await _bound(gw, "primary")
        await _bound(gw, "backup")
        msgs = await _final(gw, account, await _send(gw, headers, silent))
        assert {(m.status.value, m.error_code) for m in msgs} == {("failed", "in_doubt")}
        assert backup.submit_counts == {}
        assert all(primary.submit_counts[d] == 1 for d in _digits(silent))
        search = await gw.gateway.services.messages.search(account, MessageFilter(), limit=10)
        assert {m.route for m in search} == {"cheapest"}
