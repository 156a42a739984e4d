"""Two gateways on one PostgreSQL database share an SMPP connector's binds and rate, and an
HTTP connector's rate.

Each gateway here is a full in-process gateway (its own HTTP server, dispatcher, connectors
and database pools) under its own worker id: the only thing they share is the database, as
two ``textgate worker`` processes do. The SMSC simulator counts binds and times every
submit_sm.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from typing import Any

import pytest

from tests.support import (
    PG_ENV,
    Running,
    postgres_url,
    running_gateway,
    serving,
    until,
)
from tests.system.procs import message_statuses, mobile_numbers
from textgate.config import ConnectorSettings, Settings
from textgate.connectors.base import Connector, HandoffGate, Outcome, OutcomeSink, Submission
from textgate.connectors.smpp.connector import SmppConnector
from textgate.connectors.smpp.pdus import SubmitSm, SubmitSmResp
from textgate.connectors.smpp.smsc import Smsc, SmscOptions

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        postgres_url() is None, reason=f"links are shared only on PostgreSQL: set {PG_ENV}"
    ),
]

MAX_RATE = 20
BURST = 2  # the default: a tenth of a second's worth


class TimedSmsc(Smsc):
    """The simulator, noting when each submit_sm arrived."""

    def __init__(self, options: SmscOptions) -> None:
        super().__init__(options)
        self.arrivals: list[float] = []

    async def _submit(self, link: Any, pdu: SubmitSm) -> SubmitSmResp | None:
        self.arrivals.append(asyncio.get_running_loop().time())
        return await super()._submit(link, pdu)


def _settings(base: Settings, worker: str, port: int, **options: Any) -> Settings:
    carrier = ConnectorSettings(
        name="carrier",
        type="smpp",
        options={
            "host": "127.0.0.1",
            "port": port,
            "system_id": "textgate",
            "password": "textgate",
            "lease_seconds": 3,
            **options,
        },
    )
    # Small batches: one gateway must not claim every message in one go (a claim is kept
    # by its claimer, however slowly its rate lets it send).
    dispatch = base.dispatch.model_copy(
        update={"worker_id": worker, "batch_size": 10, "concurrency": 2}
    )
    return base.model_copy(update={"connectors": [carrier], "dispatch": dispatch})


def _carrier(running: Running) -> SmppConnector:
    connector = running.gateway.connectors["carrier"]
    assert isinstance(connector, SmppConnector)
    return connector


def _count_sent(connector: Connector) -> list[str]:
    """Wrap the connector's submit to collect the ids it got accepted."""
    accepted: list[str] = []
    submit = connector.submit

    async def counting(
        batch: Sequence[Submission],
        done: OutcomeSink | None = None,
        gate: HandoffGate | None = None,
    ) -> Any:
        def heard(outcome: Outcome) -> None:
            if outcome.error is None:
                accepted.append(outcome.message_id)
            if done is not None:
                done(outcome)

        return await submit(batch, heard, gate)

    connector.submit = counting  # type: ignore[method-assign]
    return accepted


async def _api_key(running: Running) -> dict[str, str]:
    accounts = running.gateway.services.accounts
    account = await accounts.create("cluster")
    return {"Authorization": f"Bearer {(await accounts.issue_key(account.id)).token}"}


async def _submit(running: Running, auth: dict[str, str], numbers: list[str]) -> list[str]:
    r = await running.client.post(
        "/v1/messages", json={"to": numbers, "text": "shared link"}, headers=auth
    )
    assert r.status_code == 202, r.text
    return [m["id"] for m in r.json()["messages"]]


async def _all_sent(db_url: str, ids: list[str]) -> bool:
    statuses = await message_statuses(db_url)
    return all(statuses.get(i) in {"sent", "delivered"} for i in ids)


def _busiest_second(times: list[float]) -> int:
    """The most submit_sm in any one-second window (sliding, starting at each arrival)."""
    times = sorted(times)
    best, j = 0, 0
    for i, start in enumerate(times):
        while j < len(times) and times[j] < start + 1.0:
            j += 1
        best = max(best, j - i)
    return best


async def test_two_gateways_share_max_rate_and_the_binds(settings: Settings, db_url: str) -> None:
    async with TimedSmsc(SmscOptions(port=0, receipt_delay_ms=50)) as smsc:
        opts = {"binds": 2, "max_rate": MAX_RATE}
        async with (
            running_gateway(_settings(settings, "worker-a", smsc.port, **opts)) as a,
            running_gateway(_settings(settings, "worker-b", smsc.port, **opts)) as b,
        ):
            carriers = [_carrier(a), _carrier(b)]
            # The first one took both binds; it gives one back once it sees the second.
            await until(
                lambda: all(c.bound_links == 1 for c in carriers),
                "each gateway holds and binds one of the two binds",
            )
            assert smsc.bound_sessions == 2
            sent = [_count_sent(c) for c in carriers]
            auth = await _api_key(a)
            ids = await _submit(a, auth, mobile_numbers(120))
            await until(lambda: _all_sent(db_url, ids), "every message sent")
            assert smsc.bound_sessions == 2, "a gateway opened a bind beyond the two"

    busiest = _busiest_second(smsc.arrivals)
    assert len(smsc.arrivals) == len(ids)
    # Slots of a tenth of a second allow MAX_RATE + BURST in any one second; one more for a
    # submit_sm written at the very end of its slot and read just after. Two gateways each
    # at max_rate (what they did before sharing) send about twice as fast.
    assert busiest <= MAX_RATE + BURST + 1, f"{busiest} submit_sm in one second"
    assert sorted(sent[0] + sent[1]) == sorted(ids)
    assert sent[0] and sent[1], f"one gateway sent nothing: {[len(s) for s in sent]}"


async def test_one_bind_moves_to_the_other_gateway_when_its_holder_stops(
    settings: Settings, db_url: str
) -> None:
    async with (
        Smsc(SmscOptions(port=0, receipt_delay_ms=50)) as smsc,
        contextlib.AsyncExitStack() as first,
    ):
        a = await first.enter_async_context(
            running_gateway(_settings(settings, "worker-a", smsc.port, binds=1))
        )
        async with running_gateway(_settings(settings, "worker-b", smsc.port, binds=1)) as b:
            ca, cb = _carrier(a), _carrier(b)
            assert ca.bound_links == 1
            await until(lambda: cb.keeper is not None and cb.keeper.members == 2, "b joined")
            assert cb.standby and smsc.bound_sessions == 1
            sent_a, sent_b = _count_sent(ca), _count_sent(cb)
            auth = await _api_key(b)
            ids = await _submit(b, auth, mobile_numbers(10))
            await until(lambda: _all_sent(db_url, ids), "sent by the bind's holder")
            assert sorted(sent_a) == sorted(ids) and sent_b == []

            await first.aclose()  # the holder stops and gives its bind back
            await until(lambda: cb.bound_links == 1, "b took the bind over")
            assert smsc.bound_sessions == 1
            later = await _submit(b, auth, mobile_numbers(10, start=10))
            await until(lambda: _all_sent(db_url, later), "sent by the new holder")
            assert sorted(sent_b) == sorted(later)


class TimedProvider:
    """An HTTP provider that notes when each request arrived and accepts it with an id."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        self.arrivals.append(asyncio.get_running_loop().time())
        body = json.dumps({"id": f"p{len(self.arrivals)}"}).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _http_settings(base: Settings, worker: str, url: str) -> Settings:
    provider = ConnectorSettings(
        name="provider",
        type="generic_http",
        options={
            "url": url,
            "body": {"to": "{recipient}", "text": "{text}"},
            "id_path": "$.id",
            "max_rate": MAX_RATE,
        },
    )
    dispatch = base.dispatch.model_copy(
        update={"worker_id": worker, "batch_size": 10, "concurrency": 2}
    )
    return base.model_copy(update={"connectors": [provider], "dispatch": dispatch})


async def test_two_gateways_share_an_http_connectors_max_rate(
    settings: Settings, db_url: str
) -> None:
    """A provider's rate limit is the account's: two processes running one HTTP connector
    send at its ``max_rate`` together, as SMPP connectors do (before, each process had its
    own bucket and the provider saw twice the rate)."""
    provider = TimedProvider()
    async with (
        serving(provider) as base,
        running_gateway(_http_settings(settings, "worker-a", f"{base}/send")) as a,
        running_gateway(_http_settings(settings, "worker-b", f"{base}/send")) as b,
    ):
        sent = [_count_sent(g.gateway.connectors["provider"]) for g in (a, b)]
        auth = await _api_key(a)
        ids = await _submit(a, auth, mobile_numbers(80))
        await until(lambda: _all_sent(db_url, ids), "every message sent")

    assert len(provider.arrivals) == len(ids)
    busiest = _busiest_second(provider.arrivals)
    # As for SMPP above: slots of a tenth of a second, MAX_RATE + BURST in any one second.
    assert busiest <= MAX_RATE + BURST + 1, f"{busiest} requests in one second"
    assert sorted(sent[0] + sent[1]) == sorted(ids)
    assert sent[0] and sent[1], f"one gateway sent nothing: {[len(s) for s in sent]}"
