"""Crash acceptance of the delivery contract through SMPP: SIGKILL the gateway twice under load.

README "Delivery guarantees": nothing acknowledged is lost; every message becomes final (a
``sent`` message without a final report ends ``expired``/``no_report`` at the end of its
connector's receipt window); a crash leaves the messages its process had written and not
recorded in doubt, and with ``in_doubt = "resend"`` they are sent again: the handset may get
those twice, at most the window (50 per bind) per crash.

A ``textgate serve`` subprocess with one SMPP bind to an SMSC in the test process (a real
socket, independent of the process killed) takes submissions from concurrent clients; it is
killed with SIGKILL twice during the load and restarted each time under the same
``dispatch.worker_id``, so it takes its own claims back at once. Every message has its own
destination, so the SMSC's record shows each message the operator accepted more than once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import free_port
from tests.system.procs import (
    CLEAN_EXITS,
    FINAL_STATUSES,
    GatewayProcess,
    Processes,
    create_account,
    gateway_env,
    orders_without_all_messages,
    wait_healthy,
    wait_until_final,
)
from tests.system.smpp_load import (
    Accounting,
    Phase,
    RecordingSmsc,
    check_outcomes,
    check_window,
    chunked,
    smpp_connectors,
    stored_messages,
    submit_phase,
    unique_numbers,
    until,
)
from textgate.connectors.smpp.smsc import SmscOptions

pytestmark = pytest.mark.slow

TOTAL = 20_000
PER_REQUEST = 20
SUBMITTERS = 10
KILLS = 2
RECEIPT_WINDOW = 5.0
"""Seconds after sending that a message without a final report ends expired."""


async def test_sigkill_twice_through_smpp_loses_nothing_and_duplicates_at_most_the_window(
    db_url: str, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    numbers = unique_numbers(TOTAL)
    chunks = chunked(numbers, PER_REQUEST)
    smsc = RecordingSmsc(SmscOptions(port=0, record=True, receipt_delay_ms=100))
    accounting = Accounting(smsc)

    async with smsc, Processes(tmp_path / "logs") as procs:
        env = gateway_env(
            db_url,
            tmp_path,
            {
                "TEXTGATE_HTTP__PORT": str(port),
                "TEXTGATE_RUN_DISPATCHER": "true",
                # The same name after each restart: the new process takes the claims the
                # killed one left back at once, instead of after their lease.
                "TEXTGATE_DISPATCH__WORKER_ID": "crash-smpp",
                "TEXTGATE_DISPATCH__WAIT_MIN_SECONDS": "0.1",
                "TEXTGATE_DISPATCH__WAIT_MAX_SECONDS": "0.5",
                "TEXTGATE_CONNECTORS": smpp_connectors(
                    smsc.port, receipt_window_seconds=RECEIPT_WINDOW, in_doubt_grace_seconds=1
                ),
            },
        )
        account = await create_account(env, "crash")
        phases: list[Phase] = []
        at_kill: list[Counter[str]] = []
        server: GatewayProcess | None = None
        for run in range(KILLS + 1):
            server = await procs.start(f"serve-run{run + 1}", ["serve"], env)
            await wait_healthy(server, base_url)
            if run == KILLS:
                phases.append(
                    await submit_phase(base_url, account["api_key"], chunks, submitters=SUBMITTERS)
                )
                break
            phases.append(
                await submit_phase(
                    base_url,
                    account["api_key"],
                    chunks,
                    submitters=SUBMITTERS,
                    stop_after=TOTAL // (KILLS + 1),
                    on_stop=server.kill_now,
                )
            )
            assert await server.kill() == -9, "the server was expected to die by SIGKILL"
            # The SMSC has read all the dead process wrote once it has seen the link close.
            await until(lambda: smsc.bound_sessions == 0, "the SMSC to see the link close")
            accounting.mark()
            stored = await stored_messages(db_url)
            accepted = [mid for p in phases for mid in p.accepted]
            lost = set(accepted) - stored.keys()
            assert not lost, f"{len(lost)} acknowledged messages are not stored after kill {run}"
            at_kill.append(Counter(m.status for m in stored.values()))

        # Every message final within the receipt window after the end (and a margin for
        # the report check's pass every second and a loaded machine).
        final = await wait_until_final(db_url, timeout=RECEIPT_WINDOW + 30)
        assert server is not None
        # Receipts due for the last messages have all been answered (nothing in flight).
        await until(
            lambda: (
                len(smsc.received) - accounting.marks[-1]
                <= sum(
                    smsc.acknowledged[r.message_id] for r in smsc.received[accounting.marks[-1] :]
                )
            ),
            "the receipts of the last run",
        )
        assert await server.stop() in CLEAN_EXITS, server.log_tail()

    stored = await stored_messages(db_url)
    half_stored = await orders_without_all_messages(db_url)
    assert not half_stored, f"orders stored without all their messages: {half_stored[:5]}"
    accepted = [mid for p in phases for mid in p.accepted]
    assert len(set(accepted)) == len(accepted)
    lost = set(accepted) - stored.keys()
    assert not lost, f"{len(lost)} acknowledged messages lost"
    assert stored.keys() == final.keys()
    assert all(m.status in FINAL_STATUSES for m in stored.values())

    outcomes = check_outcomes(stored, accounting)

    dups = accounting.duplicates()
    per_crash = dups.per_epoch
    summary = {
        "submitted": TOTAL,
        "accepted_2xx": len(accepted),
        "unanswered_at_kills": [p.unanswered for p in phases],
        "stored": len(stored),
        "statuses_at_kills": [dict(c) for c in at_kill],
        "parts_accepted_by_smsc": len(smsc.received),
        "duplicates_per_crash": per_crash[:-1],
        "duplicates_after_last_start": per_crash[-1],
        "oldest_duplicate_parts_before_crash": dups.oldest,
        "outcomes": {f"{s}/{e}" if e else s: n for (s, e), n in outcomes.items()},
    }
    print(f"\ncrash through smpp ({db_url.split(':', 1)[0]}): {summary}")
    for key, value in summary.items():
        record_property(key, value)

    seen = {r.destination_addr for r in smsc.received}
    never_sent = {m.recipient.lstrip("+") for m in stored.values()} - seen
    assert not never_sent, f"{len(never_sent)} stored messages never reached the SMSC"
    # A message is sent again only after a crash caught it on the wire: never twice in
    # one epoch, so at most once more per crash (a resend can itself be on the wire at the
    # next crash).
    assert not dups.without_a_crash, f"sent again without a crash: {dups.without_a_crash}"
    twice = dups.twice
    assert all(n <= 1 + KILLS for n in twice.values()), f"sent too often: {twice}"
    assert per_crash[-1] == 0, "duplicates without a crash"
    # Only the messages in hand at a crash went twice; the README bounds them by the window.
    check_window(per_crash[:-1])
