"""The delivery contract under link faults: native API -> dispatcher -> SMPP -> simulator.

Each case is one fault of the SMSC simulator (its rules, its accept rate, an outage, a
refused bind...) and the messages sent through it; the expectations are fields of the case.
Every case checks, from the SMSC's own record and the stored statuses: nothing lost, no
part accepted twice (except where a case counts in-doubt resends), every message final with
the status the case names, none failed or expired for a link reason within its validity,
and the number of submit_sm against the parts sent.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.support import WAIT, Running, running_gateway
from textgate.config import ConnectorSettings, DispatchSettings, Settings
from textgate.connectors.smpp.smsc import Smsc, SmscOptions
from textgate.connectors.smpp.smsc_rules import SmscRule
from textgate.core.message import FINAL, Message, Status
from textgate.services.query import MessageFilter

LONG = "Long message for the fault matrix, in three parts. " * 7  # 357 GSM-7 chars: 3 parts


@dataclass(frozen=True)
class Fault:
    """One scenario and what must hold after it."""

    id: str
    count: int = 40
    text: str = "fault matrix"
    smsc: dict[str, Any] = field(default_factory=dict)
    rules: tuple[SmscRule, ...] = ()
    connector: dict[str, Any] = field(default_factory=dict)
    link: dict[str, Any] = field(default_factory=dict)
    """ConnectorSettings fields (in_doubt, in_doubt_grace_seconds, receipt_window_seconds)."""
    dispatch: dict[str, Any] = field(default_factory=dict)
    during: str | None = None
    """What happens while the messages are in flight (see ``_DURING``)."""
    statuses: dict[str, str] = field(default_factory=lambda: {"": "delivered"})
    """Expected final status by destination prefix (the longest match wins)."""
    submits_per_part: float = 1.05
    """Most submit_sm per part sent (for destinations whose status is delivered)."""
    duplicates: int = 0
    """Parts the SMSC may accept twice (in-doubt resends this case provokes)."""
    history: str | None = None
    """A history detail every message of the first prefix must show."""
    error_code: str | None = None
    """error_code the non-delivered messages must end with."""
    attempts: int = 1
    """Most attempts a message may use (waiting and throttling use none)."""
    metrics: tuple[str, ...] = ()
    """Lines /metrics must show afterwards."""


def _rule(prefix: str, **fields: Any) -> SmscRule:
    return SmscRule(prefix=prefix, **fields)


FAULTS = [
    # A connector rate below what the batch needs: no batch timeout, nothing sent twice.
    Fault("connector-max-rate", count=60, connector={"max_rate": 30}),
    # The carrier enforces a rate (throttling above it): the link slows down by itself,
    # nothing fails, few submit_sm wasted.
    Fault(
        "carrier-accept-rate",
        count=150,
        smsc={"accept_rate": 60},
        connector={"window": 50, "throttle_backoff_initial": 0.05},
        submits_per_part=2.0,
    ),
    # One destination always throttled: the others go through at full speed, once each;
    # the throttled ones wait out their validity (a link reason) and only then expire.
    Fault(
        "one-prefix-always-throttled",
        count=60,
        rules=(_rule("3361299", submit_status="ESME_RTHROTTLED"),),
        dispatch={"validity_seconds": 4, "wait_max_seconds": 0.5},
        # Short throttling pauses, so that the others are not held up behind them for long.
        connector={
            "throttle_backoff_initial": 0.05,
            "throttle_backoff_max": 0.4,
            "throttle_min_rate": 20,
        },
        statuses={"": "delivered", "3361299": "expired"},
        error_code="validity",
    ),
    # A full queue for a while (ESME_RMSGQFUL on every submit_sm), then back to normal.
    Fault(
        "queue-full-window",
        count=40,
        rules=(_rule("", submit_status="ESME_RMSGQFUL", times=30),),
        connector={
            "throttle_backoff_initial": 0.05,
            "throttle_backoff_max": 0.4,
            "throttle_min_rate": 20,
        },
        submits_per_part=2.0,
    ),
    # The SMSC goes away for a while with messages waiting: they wait (no attempt used),
    # and leave when it is back.
    Fault("outage", count=30, during="outage", dispatch={"max_attempts": 2}),
    # Binds refused for a while after start (credentials refused), then accepted.
    Fault(
        "bind-refused-then-accepted",
        count=20,
        smsc={"refuse_binds": 2, "refuse_bind_status": "ESME_RINVPASWD"},
        connector={"reconnect_auth_min": 0.2, "reconnect_max": 0.4},
        dispatch={"max_attempts": 1},
    ),
    # The link drops between the parts of long messages: only the missing parts go again,
    # under the same concatenation reference.
    Fault(
        "unbind-mid-message",
        count=6,
        text=LONG,
        rules=(_rule("", at_part=2, action="drop", times=2),),
        # What was on the wire when the link dropped is in doubt: sent again soon.
        link={"in_doubt_grace_seconds": 0.2},
        attempts=3,
    ),
    # Answers after the response timeout: recorded as sent, never sent again.
    Fault(
        "late-answers",
        count=10,
        rules=(_rule("", response_delay_ms=1200, times=10),),
        connector={"response_timeout": 0.3},
        link={"in_doubt_grace_seconds": 30},
        attempts=1,
        history="answered after the response timeout",
        metrics=(
            "textgate_dispatch_in_doubt_total 10.0",
            "textgate_dispatch_late_answers_total 10.0",
            "textgate_dispatch_late_duplicates_total 0.0",
        ),
    ),
    # No answer to some submit_sm: in doubt, sent again after the grace period (the SMSC
    # dropped them unanswered here, so nothing is accepted twice; a real one may have
    # taken them: README "Delivery guarantees").
    Fault(
        "in-doubt-resend",
        count=20,
        rules=(_rule("", action="ignore", times=5),),
        connector={"response_timeout": 0.3},
        link={"in_doubt_grace_seconds": 0.2},
        attempts=2,
        history="in doubt",
        submits_per_part=1.3,
        metrics=("textgate_dispatch_in_doubt_total 5.0",),
    ),
    # The same with in_doubt = "fail": at most once, those end failed, not refunded.
    Fault(
        "in-doubt-fail",
        count=12,
        rules=(_rule("3361299", action="ignore"),),
        connector={"response_timeout": 0.3},
        link={"in_doubt": "fail", "in_doubt_grace_seconds": 0.2},
        statuses={"": "delivered", "3361299": "failed"},
        error_code="in_doubt",
        history="in doubt",
        attempts=2,  # the claim after the grace period decides, and counts
    ),
    # The link drops with receipts still to come: the SMSC delivers them on the next bind.
    Fault(
        "receipts-after-reconnect",
        count=20,
        smsc={"redeliver_receipts": True, "receipt_delay_ms": 1500},
        during="bounce",
    ),
    # Receipts sent as data_sm.
    Fault("receipts-as-data-sm", count=10, smsc={"receipts_as": "data_sm"}),
    # No receipt ever comes: the receipt window ends the message, never left "sent".
    Fault(
        "no-receipt",
        count=5,
        smsc={"receipt_delay_ms": 600_000},
        link={"receipt_window_seconds": 1.5},
        statuses={"": "expired"},
        error_code="no_report",
    ),
]


@asynccontextmanager
async def _gateway(
    settings: Settings, fault: Fault, smsc: Smsc
) -> AsyncIterator[tuple[Running, dict[str, str], str]]:
    carrier = ConnectorSettings(
        name="carrier",
        type="smpp",
        options={
            "host": "127.0.0.1",
            "port": smsc.port,
            "system_id": "textgate",
            "password": "textgate",
            "window": 20,
            "reconnect_initial": 0.05,
            "reconnect_max": 0.3,
            **fault.connector,
        },
        **fault.link,
    )
    dispatch = DispatchSettings(
        **{
            "poll_seconds": 0.05,
            "retry_base_seconds": 0.05,
            "retry_max_seconds": 0.3,
            "wait_min_seconds": 0.05,
            "wait_max_seconds": 0.3,
            **fault.dispatch,
        }
    )
    updated = settings.model_copy(update={"connectors": [carrier], "dispatch": dispatch})
    async with running_gateway(updated) as gw:
        accounts = gw.gateway.services.accounts
        account = await accounts.create("faults")
        token = (await accounts.issue_key(account.id)).token
        yield gw, {"Authorization": f"Bearer {token}"}, account.id


async def _outage(smsc: Smsc, gw: Running, account_id: str) -> None:
    """The SMSC went away before the messages came (see the test); bring it back once
    every message has looked for the link at least once, on the same port."""

    async def waited() -> bool:
        msgs = await _messages(gw, account_id)
        return all(m.error_code == "waiting" for m in msgs)

    await _eventually(waited, "messages waiting for the link")
    await smsc.start()


async def _bounce(smsc: Smsc, gw: Running, account_id: str) -> None:
    """Once everything is sent, the SMSC crashes (receipts still due) and comes back."""

    async def sent() -> bool:
        return all(m.status == Status.SENT for m in await _messages(gw, account_id))

    await _eventually(sent, "every message sent")
    await smsc.stop(graceful=False)
    await smsc.start()


_DURING: dict[str, Callable[[Smsc, Running, str], Awaitable[None]]] = {
    "outage": _outage,
    "bounce": _bounce,
}


async def _eventually(
    check: Callable[[], Awaitable[bool]], what: str, timeout: float = WAIT
) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def _messages(gw: Running, account_id: str) -> list[Message]:
    return await gw.gateway.services.messages.search(account_id, MessageFilter(), limit=1000)


def _expected(fault: Fault, recipient: str) -> str:
    digits = recipient.lstrip("+")
    prefix = max((p for p in fault.statuses if digits.startswith(p)), key=len)
    return fault.statuses[prefix]


def _recipients(fault: Fault) -> list[str]:
    # Each case's special prefixes get a share of the numbers; the rest are ordinary.
    special = [p for p in fault.statuses if p]
    numbers = []
    for i in range(fault.count):
        if special and i % 6 == 5:
            numbers.append(f"+{special[0]}{i:04d}")
        else:
            numbers.append(f"+336120{i:05d}")
    return numbers


@pytest.mark.parametrize("fault", FAULTS, ids=[f.id for f in FAULTS])
async def test_link_fault(settings: Settings, fault: Fault) -> None:
    options = SmscOptions(port=0, record=True, receipt_delay_ms=20, rules=fault.rules)
    options = dataclasses.replace(options, **fault.smsc)
    async with Smsc(options) as smsc, _gateway(settings, fault, smsc) as (gw, headers, acct):
        recipients = _recipients(fault)
        if fault.during == "outage":
            await smsc.stop(graceful=False)
        r = await gw.client.post(
            "/v1/messages", json={"to": recipients, "text": fault.text}, headers=headers
        )
        assert r.status_code == 202, r.text
        parts = r.json()["messages"][0]["segments"]
        if fault.during is not None:
            await _DURING[fault.during](smsc, gw, acct)

        async def final() -> bool:
            return all(m.status in FINAL for m in await _messages(gw, acct))

        try:
            await _eventually(final, "every message final")
        except AssertionError:
            left = [
                (m.recipient, m.status, m.error_code, m.reason)
                for m in await _messages(gw, acct)
                if m.status not in FINAL
            ]
            raise AssertionError(f"not final: {left[:5]} ({len(left)})") from None
        msgs = await _messages(gw, acct)
        # Nothing lost: one stored message per recipient, each with the expected status.
        assert sorted(m.recipient for m in msgs) == sorted(recipients)
        wrong = {
            m.recipient: (m.status, m.reason)
            for m in msgs
            if m.status != _expected(fault, m.recipient)
        }
        assert not wrong, wrong
        for m in msgs:
            if m.status != Status.DELIVERED and fault.error_code is not None:
                assert m.error_code == fault.error_code, (m.recipient, m.error_code, m.reason)
            # Waiting for a link and throttling never used up attempts.
            assert m.attempts <= fault.attempts, (m.recipient, m.attempts)

        # No part accepted twice, every delivered message's parts accepted once.
        accepted = Counter((x.destination_addr, x.sequence) for x in smsc.received)
        twice = sum(n - 1 for n in accepted.values() if n > 1)
        assert twice <= fault.duplicates, [k for k, n in accepted.items() if n > 1]
        delivered = [m for m in msgs if m.status == Status.DELIVERED]
        for m in delivered:
            digits = m.recipient.lstrip("+")
            assert all(accepted[(digits, seq)] >= 1 for seq in range(1, parts + 1)), digits
        if parts > 1:  # every message's parts share one concatenation reference
            refs: dict[str, set[int | None]] = {}
            for x in smsc.received:
                refs.setdefault(x.destination_addr, set()).add(x.reference)
            assert all(len(r) == 1 for r in refs.values()), refs

        # submit_sm spent on the messages that went through, against their parts.
        good = {m.recipient.lstrip("+") for m in delivered}
        spent = smsc.submit_counts
        used = sum(n for dest, n in spent.items() if dest in good)
        assert used <= fault.submits_per_part * parts * len(good) + 2, (used, len(good))

        if fault.metrics:
            text = (await gw.client.get("/metrics")).text
            for line in fault.metrics:
                assert line in text.splitlines(), line
        if fault.history is not None:
            details = [
                (await gw.client.get(f"/v1/messages/{m.id}", headers=headers)).json() for m in msgs
            ]
            assert any(
                fault.history in (e.get("detail") or "") for d in details for e in d["history"]
            ), fault.history
