"""Crash test: SIGKILL the gateway under load, restart it, and account for every message.

DESIGN section 3: a message accepted with a 2xx is committed and never lost; section 4: a
crashed worker's claims are recovered. The simulator's journal (one line per message each
time it is handed to the connector) shows what reached the operator. A message can reach it
twice only if the crash came between the hand-over and the commit that records it, i.e.
only if it was still ``sending`` at the kill; everything else must reach it exactly once.

Each run gets its own journal file (same settings otherwise) so that a journal line cut
short by the kill cannot run into the first line of the restarted server.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support import HTTP_TIMEOUT, free_port
from tests.system.procs import (
    CLEAN_EXITS,
    FINAL_STATUSES,
    GatewayProcess,
    Processes,
    create_account,
    gateway_env,
    message_statuses,
    mobile_numbers,
    orders_without_all_messages,
    read_journal,
    simulator_connectors,
    wait_healthy,
    wait_until_final,
)

pytestmark = pytest.mark.slow

KILL_AFTER = 1_500
"""Accepted messages after which the server is killed (submissions still in flight)."""
SUBMITTERS = 20
LEASE_SECONDS = 2


async def _submit_until_killed(
    server: GatewayProcess, base_url: str, api_key: str, numbers: list[str]
) -> tuple[list[str], int]:
    """Post single-recipient messages from concurrent clients; SIGKILL the server once
    ``KILL_AFTER`` are accepted. Returns the accepted ids and the count of unanswered posts."""
    accepted: list[str] = []
    unanswered = 0
    killed = asyncio.Event()
    index = itertools.count()

    async def submitter(client: httpx.AsyncClient) -> None:
        nonlocal unanswered
        while not killed.is_set():
            i = next(index)
            assert i < len(numbers), "ran out of numbers before the kill"
            try:
                r = await client.post(
                    "/v1/messages", json={"to": numbers[i], "text": f"crash test {i}"}
                )
            except httpx.TransportError:
                if not killed.is_set():
                    raise
                unanswered += 1  # cut off by the kill: never acknowledged
                return
            assert r.status_code == 202, f"unexpected answer {r.status_code}: {r.text[:300]}"
            body = r.json()
            assert body["accepted"] == 1 and body["rejected"] == 0, body
            accepted.append(body["messages"][0]["id"])
            if len(accepted) >= KILL_AFTER and not killed.is_set():
                killed.set()
                server.kill_now()

    limits = httpx.Limits(max_connections=SUBMITTERS, max_keepalive_connections=SUBMITTERS)
    async with httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=HTTP_TIMEOUT,
        limits=limits,
    ) as client:
        await asyncio.gather(*(submitter(client) for _ in range(SUBMITTERS)))
    assert await server.kill() == -9, "the server was expected to die by SIGKILL"
    return accepted, unanswered


async def test_sigkill_under_load_loses_nothing_and_resends_only_in_flight(
    db_url: str, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    journals = [tmp_path / "journal-run1.txt", tmp_path / "journal-run2.txt"]

    def env(journal: Path) -> dict[str, str]:
        return gateway_env(
            db_url,
            tmp_path,
            {
                "TEXTGATE_HTTP__PORT": str(port),
                "TEXTGATE_RUN_DISPATCHER": "true",
                "TEXTGATE_DISPATCH__LEASE_SECONDS": str(LEASE_SECONDS),
                # A little operator latency keeps batches in flight when the kill lands.
                "TEXTGATE_CONNECTORS": simulator_connectors(
                    journal, report_delay_ms=100, latency_ms=20
                ),
            },
        )

    async with Processes(tmp_path / "logs") as procs:
        account = await create_account(env(journals[0]), "crash")
        server = await procs.start("serve-run1", ["serve"], env(journals[0]))
        await wait_healthy(server, base_url)

        accepted, unanswered = await _submit_until_killed(
            server, base_url, account["api_key"], mobile_numbers(6_000)
        )

        # The database as the crash left it, before anything can touch it again.
        at_kill = await message_statuses(db_url)
        in_flight = {mid for mid, status in at_kill.items() if status == "sending"}
        lost_at_kill = set(accepted) - at_kill.keys()
        assert not lost_at_kill, f"{len(lost_at_kill)} acknowledged messages are not stored"
        half_stored = await orders_without_all_messages(db_url)
        assert not half_stored, f"orders stored without all their messages: {half_stored[:5]}"

        server = await procs.start("serve-run2", ["serve"], env(journals[1]))
        await wait_healthy(server, base_url)
        final = await wait_until_final(db_url, timeout=60)

        # The API agrees with the database.
        sample = random.sample(accepted, 20)
        async with httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {account['api_key']}"},
            timeout=HTTP_TIMEOUT,
        ) as client:
            for mid in sample:
                r = await client.get(f"/v1/messages/{mid}")
                assert r.status_code == 200, r.text
                assert r.json()["status"] == final[mid]
        assert await server.stop() in CLEAN_EXITS, server.log_tail()

    # Every acknowledged message exists and is final; so is every stored but unanswered one
    # (wait_until_final waited for all stored messages, not only the acknowledged ones).
    assert len(set(accepted)) == len(accepted)
    missing = set(accepted) - final.keys()
    assert not missing, f"{len(missing)} acknowledged messages vanished after the restart"
    assert all(status in FINAL_STATUSES for status in final.values())
    stored_unanswered = final.keys() - set(accepted)

    run1, run2 = read_journal(journals[0]), read_journal(journals[1])
    assert run2.torn is None, f"unterminated journal line after a clean stop: {run2.torn!r}"
    if run1.torn is not None:
        # The kill cut a hand-over short: it can only be one of the in-flight messages.
        assert any(mid.startswith(run1.torn) for mid in in_flight), run1.torn
    counts = Counter(run1.ids) + Counter(run2.ids)
    unknown = counts.keys() - final.keys()
    assert not unknown, f"the connector got ids that are not stored: {sorted(unknown)[:5]}"

    resent = {mid: n for mid, n in counts.items() if n > 1}
    duplicates = sum(n - 1 for n in resent.values())
    summary = {
        "accepted_2xx": len(accepted),
        "unanswered_at_kill": unanswered,
        "stored_but_unanswered": len(stored_unanswered),
        "stored_at_kill": len(at_kill),
        "status_at_kill": dict(Counter(at_kill.values())),
        "in_flight_at_kill": len(in_flight),
        "handed_over_run1": len(run1.ids),
        "handed_over_run2": len(run2.ids),
        "torn_journal_line": run1.torn is not None,
        "duplicates": duplicates,
        "final_statuses": dict(Counter(final.values())),
    }
    print(f"\ncrash test ({db_url.split(':', 1)[0]}): {summary}")
    for key, value in summary.items():
        record_property(key, value)

    not_in_flight = {mid: n for mid, n in resent.items() if mid not in in_flight}
    assert not not_in_flight, (
        f"{len(not_in_flight)} messages reached the connector more than once although they "
        f"were not in flight at the kill: {dict(list(not_in_flight.items())[:5])}"
    )
    over_twice = {mid: n for mid, n in resent.items() if n > 2}
    assert not over_twice, f"in-flight messages sent more than twice: {over_twice}"
    assert duplicates <= len(in_flight)

    never_sent = set(accepted) - counts.keys()
    assert not never_sent, (
        f"{len(never_sent)} acknowledged messages never reached the connector, e.g. "
        f"{[(mid, final[mid]) for mid in sorted(never_sent)[:5]]}"
    )
