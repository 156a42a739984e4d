"""What the operator sees of the customers bound to the SMPP server, on ``/metrics`` and the
dashboard's connectors page: binds by kind, each bind's windows, the submit rate, and the
receipts waiting in the database. Real smpplib clients bind, submit and (do not) answer."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from tests.dashboard.conftest import csrf_of
from tests.smpp_server.harness import PASSWORD, SYSTEM_ID, Esme
from tests.support import HTTP_TIMEOUT, Running, ShiftedClock, running_gateway, until
from textgate.config import Settings, SmppServerSettings, WebhookSettings
from textgate.connectors.smpp.constants import CommandStatus
from textgate.services.smpp_binds import RATE_SPAN_SECONDS, OpenBind

ADMIN_TOKEN = "operator-token-for-smpp-figures"
WINDOW = 2
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass
class World:
    running: Running
    clock: ShiftedClock
    account_id: str
    port: int
    clients: list[Esme] = field(default_factory=list)

    async def bound(self, kind: str) -> Esme:
        esme = Esme(self.port)
        self.clients.append(esme)
        await esme.call("connect")
        assert (await esme.call("bind", kind)).status == CommandStatus.ESME_ROK
        return esme

    def binds(self) -> tuple[OpenBind, ...]:
        server = self.running.gateway.smpp
        assert server is not None
        return server.bind_snapshot().binds

    async def queued(self) -> dict[tuple[str, str], int]:
        deliveries = self.running.gateway.services.smpp_deliveries
        return await deliveries.pending_by_account([self.account_id])

    async def metrics(self) -> Samples:
        r = await self.running.client.get("/metrics")
        assert r.status_code == 200
        out: Samples = {}
        for family in text_string_to_metric_families(r.text):
            for s in family.samples:
                if s.name.startswith("textgate_smpp_server_"):
                    out[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return out


@pytest.fixture
async def world(settings: Settings) -> AsyncIterator[World]:
    smpp = SmppServerSettings(
        enabled=True,
        port=0,
        window=WINDOW,
        # A receiver that does not answer keeps its deliver_sm outstanding for the test.
        response_timeout_seconds=300,
        enquire_link_seconds=3600,
        deliver={"poll_seconds": 0.05},
    )
    update = {
        "smpp_server": smpp,
        "admin_token": SecretStr(ADMIN_TOKEN),
        # Receipts are queued from the events the webhook feed reads: soon.
        "webhooks": WebhookSettings(poll_seconds=0.05, settle_seconds=0.05),
    }
    clock = ShiftedClock()
    async with running_gateway(settings.model_copy(update=update), clock=clock) as running:
        services = running.gateway.services
        account = await services.accounts.create("acme")
        await services.smpp_logins.set_login(account.id, SYSTEM_ID, PASSWORD)
        assert running.gateway.smpp is not None
        world = World(running, clock, account.id, running.gateway.smpp.port)
        try:
            yield world
        finally:
            for esme in world.clients:
                await esme.call("close")


def _acme(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted({"account": "acme", **labels}.items()))


async def _connectors_row(world: World) -> str:
    """The account's row of the connectors page, as the operator sees it."""
    async with httpx.AsyncClient(base_url=world.running.base_url, timeout=HTTP_TIMEOUT) as c:
        page = await c.get("/dashboard/login")
        r = await c.post(
            "/dashboard/login", data={"csrf_token": csrf_of(page.text), "admin_token": ADMIN_TOKEN}
        )
        assert r.status_code == 303
        html = (await c.get("/dashboard/connectors")).text
    start = html.index('<tr data-account="acme">')
    return html[start : html.index("</tr>", start)]


def _cell(row: str, attribute: str) -> str:
    found = re.search(rf"<td {attribute}>([^<]*)</td>", row)
    assert found is not None, (attribute, row)
    return found.group(1)


async def test_binds_windows_rate_and_queued_receipts(world: World) -> None:
    first, second = await world.bound("transmitter"), await world.bound("transmitter")
    for _ in range(3):
        answer = await first.call("submit", registered_delivery=1)
        assert answer.status == CommandStatus.ESME_ROK
    assert (await second.call("submit")).status == CommandStatus.ESME_ROK

    # The three receipts wait in the database: no bind of the account receives.
    async def three_receipts() -> bool:
        return await world.queued() == {(world.account_id, "receipt"): 3}

    await until(three_receipts, "three receipts to be queued")
    # The rate is over the last minute: the submits above were well within it.
    rate = 4 / RATE_SPAN_SECONDS
    samples = await world.metrics()
    assert samples == {
        ("textgate_smpp_server_binds", _acme(kind="transmitter")): 2.0,
        ("textgate_smpp_server_binds", _acme(kind="receiver")): 0.0,
        ("textgate_smpp_server_binds", _acme(kind="transceiver")): 0.0,
        ("textgate_smpp_server_window_in_use", _acme(direction="in")): 0.0,
        ("textgate_smpp_server_window_in_use", _acme(direction="out")): 0.0,
        ("textgate_smpp_server_window_size", _acme(direction="in")): 2.0 * WINDOW,
        ("textgate_smpp_server_window_size", _acme(direction="out")): 0.0,
        ("textgate_smpp_server_submit_rate", _acme()): rate,
        ("textgate_smpp_server_submits_total", _acme()): 4.0,
        ("textgate_smpp_server_deliveries_queued", _acme(kind="receipt")): 3.0,
        ("textgate_smpp_server_deliveries_queued", _acme(kind="inbound")): 0.0,
    }
    row = await _connectors_row(world)
    assert _cell(row, 'data-kind="transmitter"') == "2"
    assert _cell(row, 'data-kind="receiver"') == "0"
    assert _cell(row, "data-rate") == f"{rate:.2f}/s"
    assert _cell(row, 'data-queued="receipt"') == "3"
    assert _cell(row, 'data-queued="inbound"') == "0"
    assert sorted(re.findall(r"<span data-submits>(\d+)</span>", row)) == ["1", "3"]
    assert row.count(f"<span data-window-in>0 / {WINDOW}</span>") == 2
    assert "data-window-out" not in row  # transmitters get no deliver_sm

    # A receiver that reads nothing: the server sends as many receipts as its window
    # holds, and they stay outstanding (and queued) while it does not answer.
    receiver = await world.bound("receiver")

    def window_full() -> bool:
        return [b.requests_out for b in world.binds() if b.kind == "receiver"] == [WINDOW]

    await until(window_full, "the receiver's window to fill")
    samples = await world.metrics()
    assert samples[("textgate_smpp_server_binds", _acme(kind="receiver"))] == 1.0
    assert samples[("textgate_smpp_server_window_in_use", _acme(direction="out"))] == WINDOW
    assert samples[("textgate_smpp_server_window_size", _acme(direction="out"))] == WINDOW
    assert samples[("textgate_smpp_server_window_size", _acme(direction="in"))] == 3 * WINDOW
    assert samples[("textgate_smpp_server_deliveries_queued", _acme(kind="receipt"))] == 3.0
    row = await _connectors_row(world)
    assert _cell(row, 'data-kind="receiver"') == "1"
    assert f"<span data-window-out>{WINDOW} / {WINDOW}</span>" in row

    # It answers: every receipt is delivered, nothing is queued any more.
    for _ in range(3):
        assert (await receiver.call("receive")).esm_class == 0x04

    async def none_queued() -> bool:
        return await world.queued() == {}

    await until(none_queued, "the receipts to be delivered")
    samples = await world.metrics()
    assert samples[("textgate_smpp_server_deliveries_queued", _acme(kind="receipt"))] == 0.0
    assert samples[("textgate_smpp_server_window_in_use", _acme(direction="out"))] == 0.0

    # A minute on, the rate has nothing left to count; the counter keeps what it counted,
    # also for binds that closed.
    await first.call("close")
    world.clock.advance(RATE_SPAN_SECONDS + 1)
    await until(lambda: len(world.binds()) == 2, "the closed bind to go")
    samples = await world.metrics()
    assert samples[("textgate_smpp_server_submit_rate", _acme())] == 0.0
    assert samples[("textgate_smpp_server_submits_total", _acme())] == 4.0
    assert samples[("textgate_smpp_server_binds", _acme(kind="transmitter"))] == 1.0


async def test_no_bound_customer(world: World) -> None:
    samples = await world.metrics()
    assert samples == {}
    async with httpx.AsyncClient(base_url=world.running.base_url, timeout=HTTP_TIMEOUT) as c:
        page = await c.get("/dashboard/login")
        await c.post(
            "/dashboard/login", data={"csrf_token": csrf_of(page.text), "admin_token": ADMIN_TOKEN}
        )
        html = (await c.get("/dashboard/connectors")).text
    assert 'id="smpp-binds"' in html and "No customer is bound." in html
