"""End to end through SMPP with textgate's SMSC simulator as the carrier.

native API (real HTTP server) -> storage -> dispatcher -> SmppConnector (real socket) ->
Smsc on 127.0.0.1 -> receipts and MO back -> storage, checked through the API and the SMSC's
own record of what it received.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from tests.support import WAIT, Running, free_port, running_gateway
from textgate.config import ConnectorSettings, DispatchSettings, InboundSettings, Settings
from textgate.connectors.smpp.smsc import Smsc, SmscOptions
from textgate.connectors.smpp.smsc_rules import SmscRule

OUR_NUMBER = "+33700000001"
SMPP = {"system_id": "textgate", "password": "textgate", "window": 50}


def _settings(settings: Settings, port: int, **smpp: Any) -> Settings:
    carrier = ConnectorSettings(
        name="carrier",
        type="smpp",
        options={
            "host": "127.0.0.1",
            "port": port,
            "reconnect_initial": 0.05,
            "reconnect_max": 0.2,
            **SMPP,
            **smpp,
        },
        # The tests break the link on purpose: what was on the wire then is in doubt, and
        # is sent again soon rather than after the default minute.
        in_doubt_grace_seconds=0.2,
    )
    return settings.model_copy(
        update={
            "connectors": [carrier],
            "inbound": InboundSettings(numbers={OUR_NUMBER: "acme"}),
            # Quick retries: the tests break the link on purpose.
            "dispatch": DispatchSettings(retry_base_seconds=0.05, retry_max_seconds=0.3),
        }
    )


@asynccontextmanager
async def carrier_and_gateway(
    settings: Settings, smsc_options: SmscOptions | None = None, **smpp: Any
) -> AsyncIterator[tuple[Smsc, Running, dict[str, str]]]:
    options = smsc_options or SmscOptions(port=0, record=True, receipt_delay_ms=20)
    async with (
        Smsc(options) as smsc,
        running_gateway(_settings(settings, smsc.port, **smpp)) as gw,
    ):
        accounts = gw.gateway.services.accounts
        account = await accounts.create("acme")
        token = (await accounts.issue_key(account.id)).token
        yield smsc, gw, {"Authorization": f"Bearer {token}"}


async def eventually(
    check: Callable[[], Awaitable[bool]], what: str, timeout: float = WAIT
) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def send(gw: Running, headers: dict[str, str], to: str | list[str], text: str) -> list[str]:
    r = await gw.client.post("/v1/messages", json={"to": to, "text": text}, headers=headers)
    assert r.status_code == 202, r.text
    return [m["id"] for m in r.json()["messages"]]


async def detail(gw: Running, headers: dict[str, str], mid: str) -> dict[str, Any]:
    r = await gw.client.get(f"/v1/messages/{mid}", headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def wait_status(
    gw: Running, headers: dict[str, str], mid: str, status: str
) -> dict[str, Any]:
    last: dict[str, Any] = {}

    async def reached() -> bool:
        nonlocal last
        last = await detail(gw, headers, mid)
        return last["status"] == status

    try:
        await eventually(reached, f"{mid} to become {status}")
    except AssertionError:
        raise AssertionError(f"{mid} is {last.get('status')}, not {status}: {last}") from None
    return last


# --- outbound --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "data_coding", "parts"),
    [
        ("Hello from textgate", 0, 1),
        # GSM-7 with extension characters (two septets each), over two parts.
        ("Prices: 5€ [promo] {code} ~50% ^top^ |pipe| \\ " * 4, 0, 2),
        ("Bonne journée 😀 " * 6, 8, 2),  # UCS-2 with emoji: 67 units per part
    ],
    ids=["single", "gsm-extension-multipart", "ucs2-emoji"],
)
async def test_outbound_text_arrives_whole_and_is_delivered(
    settings: Settings, text: str, data_coding: int, parts: int
) -> None:
    async with carrier_and_gateway(settings) as (smsc, gw, headers):
        [mid] = await send(gw, headers, "+33612345678", text)
        done = await wait_status(gw, headers, mid, "delivered")
        assert [e["status"] for e in done["history"]] == [
            "queued",
            "sending",
            "sent",
            "delivered",
        ]
        assert done["segments"] == parts
        received = [r for r in smsc.received if r.destination_addr == "33612345678"]
        assert len(received) == parts
        assert {r.data_coding for r in received} == {data_coding}
        assert [t for texts in smsc.reassembled().values() for t in texts] == [text]


STATES = [
    # (destination, smsc rule, expected textgate status) - SMPP 3.4 Appendix B stat values.
    ("+33611000001", {"final_stat": "DELIVRD"}, "delivered"),
    ("+33611000002", {"final_stat": "UNDELIV"}, "undelivered"),
    ("+33611000003", {"final_stat": "REJECTD"}, "undelivered"),
    ("+33611000004", {"final_stat": "EXPIRED"}, "expired"),
    ("+33611000005", {"final_stat": "DELETED"}, "undelivered"),
    ("+33611000006", {"final_stat": "ACCEPTD"}, "buffered"),
    ("+33611000007", {"final_stat": "DELIVRD", "enroute_first": True}, "delivered"),
]


async def test_receipts_of_every_state_set_the_status(settings: Settings) -> None:
    rules = tuple(SmscRule(prefix=to.lstrip("+"), **rule) for to, rule, _ in STATES)
    rules += (SmscRule(prefix="33611000008", final_stat="UNKNOWN"),)
    options = SmscOptions(port=0, record=True, receipt_delay_ms=20, rules=rules)
    async with carrier_and_gateway(settings, options) as (smsc, gw, headers):
        ids = await send(gw, headers, [to for to, _, _ in STATES] + ["+33611000008"], "state?")
        for mid, (_to, _rule, want) in zip(ids, STATES, strict=False):
            await wait_status(gw, headers, mid, want)
        enroute = await detail(gw, headers, ids[6])
        assert [e["status"] for e in enroute["history"]][-2:] == ["buffered", "delivered"]
        failed = await detail(gw, headers, ids[1])
        assert failed["error_code"]  # err: of the receipt is kept
        # UNKNOWN says nothing about the message: acknowledged, the status stays "sent".
        await eventually(
            lambda: _answered(smsc, len(STATES) + 1), "every receipt to be acknowledged"
        )
        assert (await detail(gw, headers, ids[-1]))["status"] == "sent"


async def _answered(smsc: Smsc, count: int) -> bool:
    return smsc.receipts_sent >= count


async def test_throttling_responses_drain_the_backlog(settings: Settings) -> None:
    options = SmscOptions(port=0, record=True, receipt_delay_ms=10, throttle_every=3)
    # Short pauses and a high floor to the pace throttling brings the link down to: the
    # test is about what is resent, and the defaults (0.5 s pauses, down to 1 submit/s)
    # would make it last most of a minute.
    quick = {"throttle_backoff_initial": 0.02, "throttle_backoff_max": 0.1, "throttle_min_rate": 50}
    async with carrier_and_gateway(settings, options, **quick) as (smsc, gw, headers):
        numbers = [f"+336123400{i:02d}" for i in range(60)]
        ids = await send(gw, headers, numbers, "throttled but not lost " * 8)  # 2 parts
        for mid in ids:
            await wait_status(gw, headers, mid, "delivered")
        assert smsc.throttled > 0
        # Each part was accepted exactly once: a throttled part is retried alone, the
        # message is not resent from its first part.
        by_destination: dict[str, list[int]] = {}
        for r in smsc.received:
            by_destination.setdefault(r.destination_addr, []).append(r.sequence or 1)
        assert sorted(by_destination) == sorted(n.lstrip("+") for n in numbers)
        wrong = {d: s for d, s in by_destination.items() if sorted(s) != [1, 2]}
        assert not wrong, wrong


@pytest.mark.parametrize("graceful", [True, False], ids=["unbind", "crash"])
async def test_smsc_restart_in_the_middle_of_a_load_loses_nothing(
    settings: Settings, graceful: bool
) -> None:
    port = free_port()
    first = Smsc(SmscOptions(port=port, record=True, receipt_delay_ms=20, response_delay_ms=2))
    await first.start()
    second: Smsc | None = None
    try:
        async with running_gateway(_settings(settings, port)) as gw:
            accounts = gw.gateway.services.accounts
            account = await accounts.create("acme")
            headers = {"Authorization": f"Bearer {(await accounts.issue_key(account.id)).token}"}
            numbers = [f"+336124{i:05d}" for i in range(600)]
            sends = [
                asyncio.create_task(send(gw, headers, numbers[i : i + 50], "restart"))
                for i in range(0, len(numbers), 50)
            ]

            async def some_submitted() -> bool:
                return first.submitted >= 100

            await eventually(some_submitted, "the first SMSC to take some messages")
            await first.stop(graceful=graceful)
            second = Smsc(SmscOptions(port=port, record=True, receipt_delay_ms=20))
            await second.start()
            ids = [mid for task in sends for mid in await task]
            assert len(ids) == len(numbers)
            final: dict[str, str] = {}

            async def all_out() -> bool:
                for mid in ids:
                    if mid not in final:
                        status = (await detail(gw, headers, mid))["status"]
                        if status not in ("queued", "sending"):
                            final[mid] = status
                return len(final) == len(ids)

            await eventually(all_out, "every message to leave the queue")
            restarted = second

            async def receipts_stored() -> bool:
                # A receipt is answered only once stored.
                return restarted.receipts_sent >= restarted.submitted

            await eventually(receipts_stored, "the second SMSC's receipts")
            statuses = [(await detail(gw, headers, mid))["status"] for mid in ids]
            # Nothing failed; every message reached an SMSC that acknowledged it.
            assert set(statuses) <= {"delivered", "sent"}, set(statuses)
            seen = {r.destination_addr for s in (first, second) for r in s.received}
            assert seen == {n.lstrip("+") for n in numbers}
            # The messages whose receipts the first SMSC dropped stay "sent"; all others
            # were delivered, those sent through the second one included.
            assert second.submitted > 0
            assert statuses.count("delivered") >= second.submitted
    finally:
        await first.stop()
        if second is not None:
            await second.stop()


# --- inbound ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "split"),
    [
        ("Yes, please call me back", "auto"),
        ("Réponse longue 👍 " * 10, "udh8"),  # UCS-2, 3 parts
        ("A long reply with {braces} and €uros. " * 6, "udh16"),  # GSM-7 with escapes
        ("Parts linked by SAR TLVs, no header at all. " * 5, "sar"),
        ("One deliver_sm, the text in message_payload. " * 5, "payload"),
    ],
)
async def test_mobile_originated_messages_reach_the_owner(
    settings: Settings, text: str, split: str
) -> None:
    async with carrier_and_gateway(settings) as (smsc, gw, headers):
        await eventually(_bound(smsc), "the gateway to bind")
        resp = await smsc.send_mo(OUR_NUMBER, "+33698765432", text, split=split)
        assert resp.command_status == 0  # answered only once stored

        async def listed() -> bool:
            r = await gw.client.get("/v1/inbound", headers=headers)
            return bool(r.json()["data"])

        await eventually(listed, "the message to be listed")
        [item] = (await gw.client.get("/v1/inbound", headers=headers)).json()["data"]
        assert item["text"] == text
        assert (item["from"], item["to"], item["complete"]) == ("+33698765432", OUR_NUMBER, True)
        assert item["connector"] == "carrier"


def _bound(smsc: Smsc) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return smsc.bound_sessions > 0

    return check
