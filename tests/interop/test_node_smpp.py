"""node-smpp (the npm package ``smpp``, pinned in node/package-lock.json) as a customer of
textgate's SMPP server: it binds as transmitter, receiver and transceiver, submits GSM
03.38 text, UCS-2 text, a long message in UDH parts and a submit_multi, and receives the
receipts and an inbound message as deliver_sm. What it sent is checked in the store, what
it got in the JSON lines node/smpp_client.js prints."""

from __future__ import annotations

import asyncio
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.smpp_server.harness import NUMBER, PASSWORD, SYSTEM_ID, smpp_gateway
from tests.support import until
from textgate.config import InboundSettings, Settings, WebhookSettings
from textgate.connectors.smpp.constants import CommandStatus, MessageState
from textgate.connectors.smpp.receipts import parse_receipt
from textgate.core.inbound import InboundMessage
from textgate.core.message import Status

NODE_DIR = Path(__file__).parent / "node"
SCRIPT = NODE_DIR / "smpp_client.js"
OURS = "+33700000001"
OTHER = "+4915123456789"
GSM_TEXT = "Hi @ 5£ ¿ok? {braces} €"
UCS2_TEXT = "Привет, мир 👋"
LONG_TEXT = "A long message in the GSM alphabet, sent in parts. " * 8
LONG_PARTS = [LONG_TEXT[i : i + 153] for i in range(0, len(LONG_TEXT), 153)]  # as a phone cuts
MO_TEXT = "Bonjour ☺"
MULTI_TEXT = "To all of you"
# Receipts and inbound messages are fed and sent soon: the test waits for them.
FAST = {"deliver": {"poll_seconds": 0.05, "retry_base_seconds": 0.1, "retry_max_seconds": 0.3}}
RUN_SECONDS = 60  # the script bounds itself at 30 s


def _udh(ref: int, total: int, seq: int) -> list[int]:
    """A concatenation UDH, 8-bit reference (3GPP TS 23.040 9.2.3.24.1)."""
    return [5, 0x00, 3, ref, total, seq]


ACTIONS: list[dict[str, Any]] = [
    {"op": "bind", "session": "tx", "mode": "transmitter"},
    {"op": "bind", "session": "rx", "mode": "receiver"},
    {"op": "bind", "session": "trx", "mode": "transceiver"},
    {
        "op": "submit",
        "session": "tx",
        "label": "gsm",
        "destination_addr": NUMBER[1:],
        "text": GSM_TEXT,
        "data_coding": 0,
        "registered_delivery": 1,
    },
    {
        "op": "submit",
        "session": "trx",
        "label": "ucs2",
        "destination_addr": OTHER[1:],
        "text": UCS2_TEXT,
        "data_coding": 8,
        "registered_delivery": 1,
    },
    *(
        {
            "op": "submit",
            "session": "tx",
            "label": f"long{n}",
            "destination_addr": NUMBER[1:],
            "text": part,
            "data_coding": 0,
            "registered_delivery": 1,
            "udh": _udh(0x42, len(LONG_PARTS), n),
        }
        for n, part in enumerate(LONG_PARTS, start=1)
    ),
    {
        "op": "submit_multi",
        "session": "trx",
        "label": "multi",
        "text": MULTI_TEXT,
        "dest_address": [
            {"dest_addr_ton": 1, "dest_addr_npi": 1, "destination_addr": NUMBER[1:]},
            {"dl_name": "friends"},
            {"dest_addr_ton": 1, "dest_addr_npi": 1, "destination_addr": "12ab"},
            {"dest_addr_ton": 1, "dest_addr_npi": 1, "destination_addr": OTHER[1:]},
        ],
    },
    # Three receipts (one for the long message) and the inbound message.
    {"op": "receive", "count": 4},
    {"op": "unbind"},
]


async def run_node(port: int) -> list[dict[str, Any]]:
    node = shutil.which("node")
    assert node is not None, "Node.js is needed (make install-dev installs it)"
    assert (NODE_DIR / "node_modules" / "smpp").is_dir(), "run make install-dev (npm ci)"
    proc = await asyncio.create_subprocess_exec(
        node,
        str(SCRIPT),
        "127.0.0.1",
        str(port),
        SYSTEM_ID,
        PASSWORD,
        json.dumps(ACTIONS),
        cwd=NODE_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(RUN_SECONDS):
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    events = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    assert proc.returncode == 0, (events, err.decode())
    return events


async def test_node_smpp_binds_submits_and_receives(settings: Settings) -> None:
    fast = settings.model_copy(
        update={
            "webhooks": WebhookSettings(poll_seconds=0.05, settle_seconds=0.05),
            "inbound": InboundSettings(numbers={OURS: "acme"}),
        }
    )
    async with smpp_gateway(fast, smpp=FAST) as env:
        # An inbound message before any bind: it waits in the queue for the receiver.
        sink = env.running.gateway.inbound
        assert sink is not None
        when = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
        await sink([InboundMessage("sim", NUMBER, OURS, MO_TEXT, when)])

        events = await run_node(env.port)
        binds = {e["session"]: e["command_status"] for e in events if e["event"] == "bind_resp"}
        assert binds == {"tx": 0, "rx": 0, "trx": 0}
        answers = {e["label"]: e for e in events if e["event"] == "submit_sm_resp"}
        assert all(a["command_status"] == 0 for a in answers.values()), answers
        assert {e["session"] for e in events if e["event"] == "unbind_resp"} == {"tx", "rx", "trx"}
        assert events[-1]["event"] == "done"

        # submit_multi: one order, a message per recipient, the refused ones named.
        [multi] = [e for e in events if e["event"] == "submit_multi_resp"]
        assert (multi["command_status"], multi["message_id"] != "") == (0, True)
        assert sorted(multi["unsuccess_sme"], key=lambda u: u["destination_addr"]) == [
            {"dest_addr_ton": 1, "dest_addr_npi": 1, "destination_addr": "12ab",
             "error_status_code": CommandStatus.ESME_RINVDSTADR},
            {"dest_addr_ton": 0, "dest_addr_npi": 0, "destination_addr": "friends",
             "error_status_code": CommandStatus.ESME_RINVDLNAME},
        ]  # fmt: skip
        everything = await env.messages()
        to_all = [m for m in everything if m.client_ref == multi["message_id"]]
        assert sorted((m.recipient, m.status == Status.REJECTED) for m in to_all) == [
            ("+12ab", True),
            (NUMBER, False),
            (OTHER, False),
        ]
        assert {m.text for m in to_all} == {MULTI_TEXT}
        assert len({m.order_id for m in to_all}) == 1

        # Stored: one message each, the long one whole, with the ids the answers gave.
        stored = {m.id: m for m in everything if m not in to_all}
        assert len(stored) == 3
        gsm, ucs2, long = (stored[answers[k]["message_id"]] for k in ("gsm", "ucs2", "long3"))
        assert (gsm.text, gsm.recipient, gsm.sender, gsm.encoding) == (
            GSM_TEXT,
            NUMBER,
            "ACME",
            "gsm7",
        )
        assert (ucs2.text, ucs2.recipient, ucs2.encoding) == (UCS2_TEXT, OTHER, "ucs2")
        assert (long.text, long.recipient, long.segments) == (LONG_TEXT, NUMBER, len(LONG_PARTS))

        # Received, by the receiver and transceiver binds only: a receipt per message, with
        # the id its answer gave, and the inbound message.
        delivered = [e for e in events if e["event"] == "deliver_sm"]
        assert {e["session"] for e in delivered} <= {"rx", "trx"}
        receipts = [e for e in delivered if e["esm_class"] == 0x04]
        assert sorted(e["receipted_message_id"] for e in receipts) == sorted(
            m.id for m in (gsm, ucs2, long)
        )
        for e in receipts:
            assert e["message_state"] == MessageState.DELIVERED
            assert e["destination_addr"] == "ACME"
            receipt = parse_receipt(e["short_message"])
            assert receipt is not None
            assert (receipt.message_id, receipt.stat) == (e["receipted_message_id"], "DELIVRD")
            assert e["source_addr"] == stored[receipt.message_id].recipient[1:]
        # The text excerpt reads as written although node-smpp reads data_coding 0 as GSM
        # 03.38 (characters that differ from ASCII are sent as "?").
        [gsm_receipt] = [e for e in receipts if e["receipted_message_id"] == gsm.id]
        assert gsm_receipt["short_message"].endswith(" text:Hi ? 5? ?ok? ?braces")
        [mo] = [e for e in delivered if e["esm_class"] == 0]
        assert (mo["source_addr"], mo["destination_addr"]) == (NUMBER[1:], OURS[1:])
        assert (mo["data_coding"], mo["short_message"]) == (8, MO_TEXT)

        async def all_delivered() -> bool:
            found = {m.id: m.status for m in await env.messages()}
            return all(found[i] == Status.DELIVERED for i in stored)

        await until(all_delivered, "the three messages to be delivered")
