"""Crash acceptance with several dispatchers on PostgreSQL, through SMPP.

- One of two workers dies by SIGKILL mid-load: the other takes its claims when their lease
  ends and finishes; nothing acknowledged is lost, every message ends final, and only the
  messages the dead worker had in hand go twice (README "Delivery guarantees").
- The database fails under the dispatchers while they claim (their backends terminated, a
  tiny ``statement_timeout`` for a moment): the loops report the failures, recover on
  their own, and every message ends delivered.

Each dispatcher holds one of the connector's two binds (``binds`` counts for the whole
cluster) with its own ``dispatch.worker_id`` to an SMSC
in the test process, which records every part it accepts; each message has its own
destination.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support import HTTP_TIMEOUT, PG_ENV, free_port, postgres_url
from tests.support import until as support_until
from tests.system.procs import (
    CLEAN_EXITS,
    Processes,
    create_account,
    gateway_env,
    wait_for_log,
    wait_healthy,
    wait_until_final,
)
from tests.system.smpp_load import (
    WINDOW,
    Accounting,
    Phase,
    RecordingSmsc,
    check_outcomes,
    chunked,
    smpp_connectors,
    stored_messages,
    submit_phase,
    unique_numbers,
    until,
)
from textgate.connectors.smpp.smsc import SmscOptions

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.skipif(
        postgres_url() is None,
        reason=f"several dispatchers share a queue only on PostgreSQL: set {PG_ENV}",
    ),
]

LEASE_SECONDS = 3.0
PER_REQUEST = 50
SUBMITTERS = 8


def _env(
    db_url: str, tmp_path: Path, smsc_port: int, http_port: int, **settings: str
) -> dict[str, str]:
    return gateway_env(
        db_url,
        tmp_path,
        {
            "TEXTGATE_HTTP__PORT": str(http_port),
            "TEXTGATE_DISPATCH__LEASE_SECONDS": str(LEASE_SECONDS),
            "TEXTGATE_DISPATCH__BATCH_SIZE": "200",
            "TEXTGATE_DISPATCH__WAIT_MIN_SECONDS": "0.1",
            "TEXTGATE_DISPATCH__WAIT_MAX_SECONDS": "0.5",
            **settings,
        },
    )


async def test_sigkill_one_of_two_workers_the_other_finishes(
    db_url: str, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    total = 10_000
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    smsc = RecordingSmsc(SmscOptions(port=0, record=True, receipt_delay_ms=100))
    accounting = Accounting(smsc)
    async with smsc, Processes(tmp_path / "logs") as procs:
        # Binds are shared by the cluster: two, one for each worker.
        # (A receipt window long enough that the survivor, working through the dead
        # worker's claims too, gets every receipt of a live link in time.)
        connectors = smpp_connectors(
            smsc.port, receipt_window_seconds=15.0, in_doubt_grace_seconds=1, binds=2
        )

        def env(**settings: str) -> dict[str, str]:
            return _env(
                db_url, tmp_path, smsc.port, port, TEXTGATE_CONNECTORS=connectors, **settings
            )

        account = await create_account(env(), "workers")
        api = await procs.start("serve", ["serve"], env(TEXTGATE_RUN_DISPATCHER="false"))
        await wait_healthy(api, base_url)
        workers = [
            await procs.start(name, ["worker"], env(TEXTGATE_DISPATCH__WORKER_ID=name))
            for name in ("worker-a", "worker-b")
        ]
        for worker in workers:
            await wait_for_log(worker, "running")
        await until(lambda: smsc.bound_sessions == 2, "both workers to bind", timeout=60.0)

        phase = Phase()
        load = asyncio.create_task(
            submit_phase(
                base_url,
                account["api_key"],
                chunked(unique_numbers(total), PER_REQUEST),
                submitters=SUBMITTERS,
                phase=phase,
            )
        )
        await until(
            lambda: len(smsc.received) >= total // 3, "a third of the load to go out", timeout=60.0
        )
        victim, survivor = workers
        assert await victim.kill() == -9
        # Binds are the cluster's: the dead worker may have held one or both, or (for a
        # moment at start) none. Where it held one, the SMSC sees the link close.
        with contextlib.suppress(AssertionError):
            await until(lambda: smsc.closed_sessions >= 1, "the dead link to close", timeout=10.0)
        accounting.mark()
        at_kill = Counter(m.status for m in (await stored_messages(db_url)).values())
        await load
        assert len(phase.accepted) == total and phase.unanswered == 0
        # The dead worker's claims come back when their lease ends; then the receipt window.
        final = await wait_until_final(db_url, timeout=LEASE_SECONDS + 5 + 40)
        for proc in (survivor, api):
            assert await proc.stop() in CLEAN_EXITS, proc.log_tail()

    stored = await stored_messages(db_url)
    assert set(phase.accepted) == stored.keys() == final.keys()
    outcomes = check_outcomes(stored, accounting)
    dups = accounting.duplicates()
    summary = {
        "accepted_2xx": len(phase.accepted),
        "statuses_at_kill": dict(at_kill),
        "parts_accepted_by_smsc": len(smsc.received),
        "duplicates_at_kill": dups.per_epoch[0],
        "oldest_duplicate_parts_before_kill": dups.oldest[0],
        "duplicates_after": dups.per_epoch[1],
        "outcomes": {f"{s}/{e}" if e else s: n for (s, e), n in outcomes.items()},
    }
    print(f"\none of two workers killed: {summary}")
    for key, value in summary.items():
        record_property(key, value)
    seen = {r.destination_addr for r in smsc.received}
    assert {m.recipient.lstrip("+") for m in stored.values()} <= seen
    assert all(n == 2 for n in dups.twice.values()), dups.twice
    assert dups.per_epoch[1] == 0, "duplicates without a crash"
    # At most the dead worker's windows: one per bind it held (it may hold both binds for a
    # moment, its share before the other worker joined).
    assert dups.per_epoch[0] <= 2 * WINDOW, f"{dups.per_epoch[0]} duplicates (2 x {WINDOW})"


# --- database errors ---------------------------------------------------------------------

_FAILURES = re.compile(r'^textgate_loop_failures(?:_total)?\{loop="([^"]+)"\} (\S+)$', re.M)


async def _loop_failures(client: httpx.AsyncClient) -> dict[str, float]:
    body = (await client.get("/metrics")).text
    return {loop: float(n) for loop, n in _FAILURES.findall(body)}


async def test_database_errors_while_claiming_delivery_continues(
    db_url: str, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    total = 10_000
    ports = {"api": free_port(), "disp-a": free_port(), "disp-b": free_port()}
    database = make_url(db_url).database
    smsc = RecordingSmsc(SmscOptions(port=0, record=True, receipt_delay_ms=100))
    admin = create_async_engine(db_url, isolation_level="AUTOCOMMIT")

    async def terminate_others() -> int:
        async with admin.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            return len(rows.all())

    async def statement_timeout(value: str | None) -> None:
        async with admin.connect() as conn:
            # This session's own timeout, whatever the database's is now.
            await conn.execute(text("SET statement_timeout = 0"))
            if value is None:
                await conn.execute(text(f'ALTER DATABASE "{database}" RESET statement_timeout'))
            else:
                await conn.execute(
                    text(f"ALTER DATABASE \"{database}\" SET statement_timeout = '{value}'")
                )

    readyz: list[dict[str, object]] = []
    try:
        async with smsc, Processes(tmp_path / "logs") as procs:
            connectors = smpp_connectors(
                smsc.port,
                binds=2,  # shared by the cluster: one for each dispatcher
                # Receipts refused while the database is down are not delivered again by
                # the simulator: query_sm asks for them.
                receipt_window_seconds=120.0,
                in_doubt_grace_seconds=1,
                query_after_ms=3000,
            )

            def env(name: str, **settings: str) -> dict[str, str]:
                return _env(
                    db_url,
                    tmp_path,
                    smsc.port,
                    ports[name],
                    TEXTGATE_CONNECTORS=connectors,
                    **settings,
                )

            account = await create_account(env("api"), "faults")
            api = await procs.start("serve", ["serve"], env("api", TEXTGATE_RUN_DISPATCHER="false"))
            await wait_healthy(api, f"http://127.0.0.1:{ports['api']}")
            # A backlog first, so that the dispatchers are claiming when the faults come.
            phase = await submit_phase(
                f"http://127.0.0.1:{ports['api']}",
                account["api_key"],
                chunked(unique_numbers(total), 100),
                submitters=4,
            )
            assert len(phase.accepted) == total
            dispatchers = [
                await procs.start(name, ["serve"], env(name, TEXTGATE_DISPATCH__WORKER_ID=name))
                for name in ("disp-a", "disp-b")
            ]
            clients = [
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports[n]}", timeout=HTTP_TIMEOUT)
                for n in ("disp-a", "disp-b")
            ]
            try:
                for proc, name in zip(dispatchers, ("disp-a", "disp-b"), strict=True):
                    await wait_healthy(proc, f"http://127.0.0.1:{ports[name]}")
                await until(
                    lambda: len(smsc.received) >= total // 10, "delivery to start", timeout=60.0
                )
                sent_before = len(smsc.received)

                async def watch() -> None:
                    while True:
                        for client in clients:
                            with contextlib.suppress(httpx.HTTPError):
                                r = await client.get("/readyz")
                                body = r.json()
                                if "failing_loops" in body:
                                    readyz.append(body)
                        await asyncio.sleep(0.1)

                watcher = asyncio.create_task(watch())
                # 1. Every connection of the gateway killed under it.
                terminated = [await terminate_others()]
                # 2. A tiny statement_timeout that new connections pick up; the old ones are
                #    killed so that the pools reconnect into it.
                await statement_timeout("1ms")
                terminated.append(await terminate_others())

                async def failures_seen() -> bool:
                    counts = [await _loop_failures(c) for c in clients]
                    return any(sum(c.values()) >= 3 for c in counts)

                # Which loop meets the errors first depends on timing: the claim loop, or
                # the bind leases (a dispatcher that loses its bind stops claiming).
                await support_until(failures_seen, "a background loop to fail", interval=0.2)
                await statement_timeout(None)
                terminated.append(await terminate_others())
                sent_during = len(smsc.received) - sent_before
                final = await wait_until_final(db_url, timeout=60)
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
                failures = [await _loop_failures(c) for c in clients]
            finally:
                for client in clients:
                    await client.aclose()
            for proc in (*dispatchers, api):
                assert await proc.stop() in CLEAN_EXITS, proc.log_tail()
    finally:
        with contextlib.suppress(Exception):
            await statement_timeout(None)
        await admin.dispose()

    stored = await stored_messages(db_url)
    assert set(phase.accepted) == stored.keys() == final.keys()
    statuses = Counter(m.status for m in stored.values())
    dups = Accounting(smsc).duplicates()
    failing_in_readyz = sorted({n for b in readyz for n in b["failing_loops"]})  # type: ignore[attr-defined]
    summary = {
        "messages": total,
        "backends_terminated": terminated,
        "parts_accepted_during_faults": sent_during,
        "loop_failures": failures,
        "readyz_failing_loops": failing_in_readyz,
        "duplicates": dups.per_epoch[0],
        "final": dict(statuses),
        "query_sm_answered": smsc.queried,
    }
    print(f"\ndatabase errors while claiming: {summary}")
    for key, value in summary.items():
        record_property(key, value)
    assert statuses == {"delivered": total}, statuses
    assert {m.recipient.lstrip("+") for m in stored.values()} <= {
        r.destination_addr for r in smsc.received
    }
