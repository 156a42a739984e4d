"""Links fail alone: a bind the SMSC refuses never stops the gateway, is shown down, and is
retried with backoff until it binds (real sockets on 127.0.0.1, textgate's SMSC simulator)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import WAIT, running_gateway
from tests.system.test_smpp_e2e import send, wait_status
from textgate.config import ConnectorSettings, Settings
from textgate.connectors.health import LinkState
from textgate.connectors.smpp.connector import SmppConnector, SmppOptions
from textgate.connectors.smpp.constants import CommandStatus
from textgate.connectors.smpp.smsc import Smsc, SmscOptions
from textgate.connectors.smpp.smsc_rules import BindRefusal
from textgate.core.message import DeliveryReport

LINKS_LOG = "textgate.connectors.smpp.links"


def _smpp(name: str, port: int, **options: Any) -> ConnectorSettings:
    return ConnectorSettings(
        name=name,
        type="smpp",
        options={
            "host": "127.0.0.1",
            "port": port,
            "system_id": "textgate",
            "password": "textgate",
            "reconnect_initial": 0.05,
            "reconnect_max": 0.2,
            **options,
        },
    )


async def _no_reports(reports: Sequence[DeliveryReport]) -> None:
    pass


def _link_up(body: str) -> dict[tuple[str, str], float]:
    return {
        (s.labels["connector"], s.labels["link"]): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
        if s.name == "textgate_link_up"
    }


async def test_a_refused_connector_does_not_stop_the_gateway(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    options = SmscOptions(port=0, record=True, receipt_delay_ms=20)
    async with Smsc(options) as locked, Smsc(options) as healthy:
        update = {
            # Listed first, so a start that raised would stop the gateway before the other.
            "connectors": [
                # A backup route: its outage leaves the process ready.
                _smpp("locked", locked.port, password="wrong").model_copy(
                    update={"required": False}
                ),
                _smpp("carrier", healthy.port),
            ],
            "default_connector": "carrier",
        }
        with caplog.at_level(logging.INFO, logger=LINKS_LOG):
            async with running_gateway(settings.model_copy(update=update)) as gw:
                accounts = gw.gateway.services.accounts
                account = await accounts.create("acme")
                token = (await accounts.issue_key(account.id)).token
                headers = {"Authorization": f"Bearer {token}"}
                [mid] = await send(gw, headers, "+33612345678", "still going")
                await wait_status(gw, headers, mid, "delivered")
                assert [r.destination_addr for r in healthy.received] == ["33612345678"]
                assert locked.submitted == 0 and locked.bound_sessions == 0

                r = await gw.client.get("/readyz")
                assert r.status_code == 200, r.text
                body = r.json()
                assert body["connectors"] == {"carrier": True, "locked": False}
                [down] = body["links"]["locked"]
                assert down["link"] == "locked" and down["state"] == "auth_refused"
                assert down["last_error"] == "bind refused: ESME_RINVPASWD"
                # The long pause after a refusal of the credentials, not reconnect_max.
                retry_at = datetime.fromisoformat(down["retry_at"])
                assert retry_at - datetime.now(UTC) > timedelta(seconds=30)
                [up] = body["links"]["carrier"]
                assert up["state"] == "bound"

                metrics = _link_up((await gw.client.get("/metrics")).text)
                assert metrics == {("carrier", "carrier"): 1.0, ("locked", "locked"): 0.0}
    refusals = [
        rec for rec in caplog.records if rec.levelno == logging.ERROR and "RINVPASWD" in rec.message
    ]
    assert len(refusals) == 1


async def test_refused_then_accepted_binds_by_itself(caplog: pytest.LogCaptureFixture) -> None:
    # The SMSC refuses the credentials three times (as a carrier account locked for a
    # while would), then accepts them.
    refusing = SmscOptions(port=0, refuse_binds=3, refuse_bind_status=CommandStatus.ESME_RINVPASWD)
    async with Smsc(refusing) as smsc:
        conn = SmppConnector(
            "carrier",
            SmppOptions(
                port=smsc.port,
                system_id="textgate",
                password="textgate",
                reconnect_initial=0.05,
                reconnect_max=0.2,
                reconnect_auth_min=0.05,
            ),
        )
        with caplog.at_level(logging.DEBUG, logger=LINKS_LOG):
            await conn.start(_no_reports)
            try:
                [link] = conn.links()
                assert link.state is LinkState.AUTH_REFUSED
                await conn.wait_bound(WAIT)
                [link] = conn.links()
                assert link.state is LinkState.BOUND and link.up and link.retry_at is None
                assert link.last_error == "bind refused: ESME_RINVPASWD"  # kept for operators
                assert smsc.binds_refused == 3 and smsc.bound_sessions == 1
            finally:
                await conn.stop()
    mine = [rec for rec in caplog.records if "RINVPASWD" in rec.message]
    # ERROR once for the refusal, the two refusals that followed only at DEBUG.
    assert [rec.levelno for rec in mine] == [logging.ERROR, logging.DEBUG, logging.DEBUG]


async def test_binds_refused_for_a_while_then_accepted() -> None:
    # A transient refusal (ESME_RSYSERR): the first bind, and any in the first 300 ms.
    options = SmscOptions(
        port=0,
        refuse_binds=1,
        refuse_binds_for_ms=300,
        refuse_bind_status=CommandStatus.ESME_RSYSERR,
    )
    async with Smsc(options) as smsc:
        conn = SmppConnector(
            "carrier",
            SmppOptions(
                port=smsc.port,
                system_id="textgate",
                password="textgate",
                reconnect_initial=0.05,
                reconnect_max=0.1,
            ),
        )
        await conn.start(_no_reports)
        try:
            [link] = conn.links()
            assert link.state is LinkState.DOWN  # retryable: the short backoff, not auth's
            assert link.last_error == "bind refused: ESME_RSYSERR"
            await conn.wait_bound(WAIT)
            assert conn.links()[0].up
            assert smsc.binds_refused >= 1 and smsc.bound_sessions == 1
        finally:
            await conn.stop()


async def test_a_connector_whose_start_raises_is_shown_down(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever a connector's start() raises, the gateway runs on without it."""
    real_start = SmppConnector.start

    async def start(self: SmppConnector, *args: Any) -> None:
        if self.name == "bad":
            raise RuntimeError("no route to the carrier's VPN")
        await real_start(self, *args)

    monkeypatch.setattr(SmppConnector, "start", start)
    async with Smsc(SmscOptions(port=0)) as smsc:
        bad = _smpp("bad", smsc.port).model_copy(update={"required": False})
        update = {"connectors": [bad, _smpp("carrier", smsc.port)]}
        async with running_gateway(settings.model_copy(update=update)) as gw:
            r = await gw.client.get("/readyz")
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["connectors"] == {"bad": False, "carrier": True}
            [link] = body["links"]["bad"]
            assert link["state"] == "down"
            assert link["last_error"] == "no route to the carrier's VPN"
            metrics = (await gw.client.get("/metrics")).text
            assert 'textgate_connector_up{connector="bad",type="smpp"} 0.0' in metrics
            assert _link_up(metrics)[("bad", "bad")] == 0.0


def test_bind_refusal_counts_and_times() -> None:
    refusal = BindRefusal(count=2, for_ms=100, status=CommandStatus.ESME_RINVPASWD)
    assert refusal.status == CommandStatus.ESME_RINVPASWD
    assert [refusal.refuses(seen, 500) for seen in range(4)] == [True, True, False, False]
    assert refusal.refuses(5, 50) and not refusal.refuses(5, 100)
    with pytest.raises(ValueError, match="ESME_ROK"):
        SmscOptions(refuse_binds=1, refuse_bind_status=0)
    with pytest.raises(ValueError, match="refuse_binds"):
        SmscOptions.from_mapping({"refuse_binds": -1})
    parsed = SmscOptions.from_mapping({"refuse_binds": 1, "refuse_bind_status": "0x0E"})
    assert parsed.bind_refusal() == BindRefusal(1, 0, CommandStatus.ESME_RINVPASWD)


def test_reconnect_options_validate() -> None:
    with pytest.raises(ValueError, match="reconnect_auth_min"):
        SmppOptions(reconnect_auth_min=0)
    with pytest.raises(ValueError, match="reconnect_initial"):
        SmppOptions(reconnect_initial=0)
    with pytest.raises(ValueError, match="reconnect_initial"):
        SmppOptions(reconnect_initial=5, reconnect_max=1)
