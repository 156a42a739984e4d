"""LabsMobile's own Node.js library (npm ``labsmobile-sms``, pinned in
node/package-lock.json) against the real server, its base URL the only change: sending,
the balance, scheduling and cancelling, and its exception for a refusal, with the stored
messages checked."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tests.interop.node_steps import node_steps
from tests.support import Running
from textgate.core.message import Status
from textgate.core.pricing import parse_amount
from textgate.services.query import MessageFilter

NUMBER = "+33612345678"


async def test_labsmobiles_node_library_sends_schedules_and_cancels(
    gateway: Running, tmp_path: Path
) -> None:
    """What node/labsmobile_client.js sent is checked in the store, what it got in the JSON
    lines it prints. It runs in a scratch directory: the library writes a log file there."""
    accounts = gateway.gateway.services.accounts
    account = await accounts.create("acme")
    await accounts.credit(account.id, parse_amount("12.5"))
    key = (await accounts.issue_key(account.id)).token
    steps = await node_steps(
        "labsmobile_client.js",
        gateway.base_url,
        "acme",
        key,
        NUMBER.lstrip("+"),
        package="labsmobile-sms",
        cwd=tmp_path,
    )
    assert steps["sent"] == {"code": "0", "subid": "node-1"}
    assert steps["credit"] == {"code": 0, "credits": "12.5"}
    assert steps["scheduled"] == {"code": "0", "subid": "node-later"}
    assert steps["cancelled"] == {"code": 0}
    # The library omits an empty message: LabsMobile's 20, raised as its RestException.
    assert steps["refused"]["status"] == "20", steps["refused"]

    stored = await gateway.gateway.services.messages.search(account.id, MessageFilter())
    by_ref = {m.client_ref: m for m in stored}
    assert len(stored) == 2
    sent = by_ref["node-1"]
    assert (sent.recipient, sent.sender, sent.text, sent.interface) == (
        NUMBER,
        "ACME",
        "Hello from labsmobile-sms",
        "labsmobile",
    )
    later = by_ref["node-later"]
    assert later.status == Status.CANCELLED
    assert later.scheduled_at == datetime(2099, 1, 1, 9, 30, tzinfo=UTC)
