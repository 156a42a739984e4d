"""Dashboard queries on a large database: p50/p95 of the message list and the overview.

Seeds a SQLite database (migrated to head) with ``--messages`` messages spread over the 30
days before a fixed moment, from a seeded random generator, so every run builds the same
data; the seeded file is kept under bench/out/ and reused while its parameters match. Then
runs each dashboard query ``--repeat`` times through the same services the pages call and
prints the percentiles (and writes them as JSON with ``--json``).

    .venv/bin/python bench/dashboard.py                 # 1,000,000 messages
    .venv/bin/python bench/dashboard.py --messages 100000 --repeat 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from textgate.config import Settings
from textgate.core.ids import new_id
from textgate.core.message import Status
from textgate.runtime import Gateway
from textgate.services.query import MessageFilter
from textgate.storage.migrate import head_revision

OUT = Path(__file__).parent / "out"
# The moment the data ends and the dashboard looks from: fixed, so the ranges always cover
# the same messages.
NOW_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DAY_MS = 86_400_000
SPAN_DAYS = 30
# Most traffic belongs to one big customer: the worst case for per-account queries.
ACCOUNT_SHARE = (("big", 0.8), ("medium", 0.15), ("small", 0.05))
STATUS_MIX = (
    (Status.DELIVERED, 0.86),
    (Status.UNDELIVERED, 0.04),
    (Status.FAILED, 0.02),
    (Status.EXPIRED, 0.01),
    (Status.REJECTED, 0.03),
    (Status.SENT, 0.03),
    (Status.QUEUED, 0.005),
    (Status.CANCELLED, 0.005),
)
COUNTRIES = (("FR", "+336"), ("DE", "+4915"), ("GB", "+447"), ("IT", "+393"), ("ES", "+346"))
TEXTS = (
    "Your code is {n}",
    "Your parcel {n} arrives tomorrow between 9:00 and 12:00.",
    "Rappel : rendez-vous demain à 10h. Répondez STOP pour ne plus recevoir de messages.",
    "Order {n} shipped. Track it at https://example.com/t/{n}",
)
INSERT = (
    "INSERT INTO messages (id, order_id, account_id, interface, recipient, sender, text,"
    " encoding, segments, cost, country, status, reason, connector, external_id, attempts,"
    " created_at, updated_at) VALUES (?, ?, ?, 'native', ?, 'ACME', ?, 'gsm7', ?, ?, ?, ?, ?,"
    " 'sim', ?, 1, ?, ?)"
)


def _pick(rng: random.Random, table: tuple[tuple[Any, float], ...]) -> Any:
    x = rng.random()
    acc = 0.0
    for value, weight in table:
        acc += weight
        if x < acc:
            return value
    return table[-1][0]


def _rows(rng: random.Random, count: int, account_ids: dict[str, str]) -> list[tuple[Any, ...]]:
    # Creation times in ascending order, so ids (time-prefixed) go in b-tree order as in life.
    start = NOW_MS - SPAN_DAYS * DAY_MS
    times = sorted(rng.randrange(start, NOW_MS) for _ in range(count))
    rows = []
    for created in times:
        account = account_ids[_pick(rng, ACCOUNT_SHARE)]
        status = _pick(rng, STATUS_MIX)
        country, prefix = rng.choice(COUNTRIES)
        n = rng.randrange(10**7)
        text = rng.choice(TEXTS).format(n=n)
        segments = 1 if len(text) <= 160 else 2
        ident = new_id(created, rng.randbytes(10))
        latency = int(rng.lognormvariate(8.5, 0.8))  # ~5 s median to the delivery report
        rows.append(
            (
                ident,
                ident,
                account,
                f"{prefix}{rng.randrange(10**7, 10**8)}",
                text,
                segments,
                0 if status is Status.REJECTED else 45_000 * segments,
                country,
                status.value,
                "the destination country is not allowed" if status is Status.REJECTED else None,
                None if status in (Status.REJECTED, Status.QUEUED) else f"ext-{n}",
                created,
                created + latency,
            )
        )
    return rows


async def seed(path: Path, count: int, seed_value: int) -> dict[str, str]:
    """A migrated database with ``count`` messages; returns account name -> id."""
    marker = path.with_suffix(".json")
    wanted = {"messages": count, "seed": seed_value, "now_ms": NOW_MS, "schema": head_revision()}
    if path.exists() and marker.exists():  # noqa: ASYNC240 (set-up, before any timing)
        info = json.loads(marker.read_text())
        if info.get("params") == wanted:
            print(f"reusing {path} ({count:,} messages)", file=sys.stderr)
            return dict(info["accounts"])
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)  # noqa: ASYNC240
    gw = Gateway(_settings(path))
    await gw.start(dispatch=False, migrate=True)
    accounts = {}
    for name, _ in ACCOUNT_SHARE:
        accounts[name] = (await gw.services.accounts.create(name)).id
    await gw.stop()

    rng = random.Random(seed_value)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    started = time.perf_counter()
    chunk = 100_000
    for done in range(0, count, chunk):
        conn.executemany(INSERT, _rows(rng, min(chunk, count - done), accounts))
        print(f"  seeded {done + chunk:,}", file=sys.stderr, end="\r")
    conn.commit()
    conn.execute("ANALYZE")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    print(f"seeded {count:,} messages in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    marker.write_text(json.dumps({"params": wanted, "accounts": accounts}))
    return accounts


def _settings(path: Path) -> Settings:
    return Settings(
        data_dir=path.parent,
        database_url=f"sqlite+aiosqlite:///{path}",
        demo_account=False,
        connectors=[{"name": "sim", "type": "simulator"}],
    )


async def _measure(fn: Callable[[], Awaitable[Any]], repeat: int) -> dict[str, float]:
    for _ in range(3):  # warm the page cache and the connection pool
        await fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 2),
        "p95_ms": round(times[min(len(times) - 1, int(0.95 * len(times)))], 2),
        "max_ms": round(times[-1], 2),
    }


async def _once(fn: Callable[[], Awaitable[Any]]) -> dict[str, float]:
    t0 = time.perf_counter()
    await fn()
    ms = round((time.perf_counter() - t0) * 1000, 2)
    return {"p50_ms": ms, "p95_ms": ms, "max_ms": ms}


def _forget_rollups(path: Path, since_ms: int) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("DELETE FROM stats_hourly WHERE hour >= ?", (since_ms,))
        conn.execute("DELETE FROM stats_hours WHERE hour >= ?", (since_ms,))
    conn.close()


async def run(path: Path, accounts: dict[str, str], repeat: int) -> dict[str, dict[str, float]]:
    gw = Gateway(_settings(path), clock=lambda: NOW_MS)
    await gw.start(dispatch=False, migrate=True)
    svc = gw.services
    results = {}
    # Once, not part of the page figures: the hourly aggregates of a fresh database are
    # computed by the first long overview, and the unsettled hours (the last three days)
    # again every ten minutes at most.
    _forget_rollups(path, 0)
    results["once: first 30-day overview (fills aggregates)"] = await _once(
        lambda: svc.stats.overview(None, "30d")
    )
    _forget_rollups(path, NOW_MS - 4 * DAY_MS)
    results["once: recompute of the unsettled hours"] = await _once(
        lambda: svc.stats.overview(None, "7d")
    )
    for name, r in results.items():
        print(f"{name:48s} {r['p50_ms']:8.2f} ms", flush=True)
    big = accounts["big"]
    page = 51  # the list page asks for one more than it shows, to know if there is more
    middle = await svc.messages.search(big, MessageFilter(until_ms=NOW_MS - 15 * DAY_MS), limit=1)
    sample = (await svc.messages.search(big, MessageFilter(), limit=1))[0]
    queries: dict[str, Callable[[], Awaitable[Any]]] = {
        "list: newest page": lambda: svc.messages.search(big, MessageFilter(), limit=page),
        "list: page 15 days back": lambda: svc.messages.search(
            big, MessageFilter(before_id=middle[0].id), limit=page
        ),
        "list: status failed": lambda: svc.messages.search(
            big, MessageFilter(status=Status.FAILED), limit=page
        ),
        "list: one recipient": lambda: svc.messages.search(
            big, MessageFilter(recipient=sample.recipient), limit=page
        ),
        "message page (with timeline)": lambda: svc.messages.get(big, sample.id),
        "overview: account, 1h": lambda: svc.stats.overview(big, "1h"),
        "overview: account, 24h": lambda: svc.stats.overview(big, "24h"),
        "overview: account, 7d": lambda: svc.stats.overview(big, "7d"),
        "overview: account, 30d": lambda: svc.stats.overview(big, "30d"),
        "overview: operator (all), 24h": lambda: svc.stats.overview(None, "24h"),
        "overview: operator (all), 7d": lambda: svc.stats.overview(None, "7d"),
        "metrics / connectors snapshot": svc.stats.snapshot,
    }
    try:
        for name, fn in queries.items():
            results[name] = await _measure(fn, repeat)
            r = results[name]
            print(f"{name:34s} p50 {r['p50_ms']:8.2f} ms   p95 {r['p95_ms']:8.2f} ms", flush=True)
    finally:
        await gw.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    path = OUT / f"dashboard-{args.messages}.db"

    async def go() -> dict[str, dict[str, float]]:
        accounts = await seed(path, args.messages, args.seed)
        return await run(path, accounts, args.repeat)

    results = asyncio.run(go())
    if args.json:
        args.json.write_text(json.dumps({"messages": args.messages, "results": results}, indent=2))


if __name__ == "__main__":
    main()
