"""What operators and account holders watch: traffic aggregates, queue depths, link state."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from textgate.connectors.base import Connector
from textgate.connectors.health import HasLinks, LinkHealth
from textgate.core.accounts import ApiKey
from textgate.core.clock import Clock, system_clock
from textgate.core.message import Status
from textgate.services.smpp_binds import SmppBindService, SmppBindView
from textgate.storage.stats import Bucket, CountRow, StatsRepo

__all__ = ["RANGES", "ConnectorState", "Overview", "Range", "Snapshot", "StatsService"]


@dataclass(frozen=True, slots=True)
class Range:
    key: str
    label: str
    span_ms: int
    bucket_ms: int


_HOUR = 3_600_000
RANGES: Mapping[str, Range] = {
    r.key: r
    for r in (
        Range("1h", "last hour", _HOUR, 5 * 60_000),
        Range("24h", "last 24 hours", 24 * _HOUR, _HOUR),
        Range("7d", "last 7 days", 7 * 24 * _HOUR, _HOUR),
        Range("30d", "last 30 days", 30 * 24 * _HOUR, 24 * _HOUR),
    )
}
DEFAULT_RANGE = "24h"
# Statuses a message ends in after leaving textgate; the delivery rate is delivered / these.
_REPORTED = frozenset({Status.DELIVERED, Status.UNDELIVERED, Status.EXPIRED, Status.FAILED})


@dataclass(frozen=True, slots=True)
class Overview:
    range: Range
    since_ms: int
    slots: tuple[int, ...]
    """Start of each time slice, oldest first."""
    by_status: Mapping[str, tuple[int, ...]]
    """Messages per slice for each status that occurs."""
    parts: tuple[int, ...]
    cost: tuple[int, ...]
    latency_ms: tuple[float | None, ...]
    """Mean time from submission to delivery report of the messages delivered, per slice."""
    total: int
    delivered: int
    reported: int
    total_parts: int
    total_cost: int
    mean_latency_ms: float | None

    @property
    def delivery_rate(self) -> float | None:
        return None if self.reported == 0 else self.delivered / self.reported


@dataclass(frozen=True, slots=True)
class ConnectorState:
    name: str
    kind: str
    bound: bool | None
    """None when the connector has no link to lose (the simulator)."""
    links_up: int | None
    links: int | None
    window: int | None
    max_rate: float | None
    throughput: float | None
    """Messages handed over per second, measured between the last two looks; None at first."""
    handed_over: int
    link_health: tuple[LinkHealth, ...] = ()
    """Each link's state, for connectors that report them (SMPP: one per bind)."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the metrics endpoint and the connectors page read, taken at once."""

    counts: tuple[CountRow, ...]
    queue_depth: int
    in_doubt: int
    webhook_backlog: int
    connectors: tuple[ConnectorState, ...]
    smpp_server: SmppBindView | None = None
    """The customers bound to this process's SMPP server; None when it runs none."""


class StatsService:
    def __init__(
        self,
        repo: StatsRepo,
        connectors: Callable[[], Mapping[str, Connector]],
        *,
        clock: Clock = system_clock,
        smpp_binds: SmppBindService | None = None,
    ) -> None:
        self._repo = repo
        self._connectors = connectors
        self._smpp_binds = smpp_binds
        self._clock = clock
        # (monotonic seconds, messages handed over per connector): two looks give a rate.
        self._samples: deque[tuple[float, dict[str, int]]] = deque(maxlen=2)

    async def overview(self, account_id: str | None, range_key: str) -> Overview:
        rng = RANGES.get(range_key) or RANGES[DEFAULT_RANGE]
        now = self._clock()
        # Align to the slice so that the same range asked twice draws the same bars.
        until = (now // rng.bucket_ms + 1) * rng.bucket_ms
        since = until - rng.span_ms
        rows = await self._repo.buckets(account_id, since, until, rng.bucket_ms, now)
        return _overview(rng, since, rows)

    async def snapshot(self) -> Snapshot:
        counts = await self._repo.counts(self._clock())
        handed: dict[str, int] = {}
        for row in counts:
            if row.connector is not None:
                handed[row.connector] = handed.get(row.connector, 0) + row.count
        now = time.monotonic()
        previous = self._samples[-1] if self._samples else None
        self._samples.append((now, handed))
        states = tuple(
            _state(conn, handed.get(name, 0), previous, now)
            for name, conn in sorted(self._connectors().items())
        )
        queue_depth, in_doubt = await self._repo.queue_counts()
        return Snapshot(
            counts=tuple(counts),
            queue_depth=queue_depth,
            in_doubt=in_doubt,
            webhook_backlog=await self._repo.webhook_backlog(),
            connectors=states,
            smpp_server=None if self._smpp_binds is None else await self._smpp_binds.view(),
        )

    def links(self) -> list[ConnectorState]:
        """Each connector's link state alone (no database read), for readiness checks."""
        return [_state(c, 0, None, 0.0) for _, c in sorted(self._connectors().items())]

    async def accounts(self) -> list[tuple[str, str]]:
        return await self._repo.accounts()

    async def keys(self, account_id: str) -> list[ApiKey]:
        return await self._repo.keys(account_id)

    def connector_names(self) -> list[str]:
        return sorted(self._connectors())


def _overview(rng: Range, since: int, rows: list[Bucket]) -> Overview:
    n = rng.span_ms // rng.bucket_ms
    slots = tuple(since + i * rng.bucket_ms for i in range(n))
    by_status: dict[str, list[int]] = {}
    parts, cost, lat_sum, lat_n = [0] * n, [0] * n, [0] * n, [0] * n
    total = delivered = reported = 0
    for b in rows:
        i = (b.start_ms - since) // rng.bucket_ms
        if not 0 <= i < n:
            continue
        by_status.setdefault(b.status, [0] * n)[i] += b.count
        parts[i] += b.parts
        cost[i] += b.cost
        total += b.count
        if b.status == Status.DELIVERED.value:
            delivered += b.count
            lat_sum[i] += b.latency_ms_sum
            lat_n[i] += b.count
        if b.status in _REPORTED:
            reported += b.count
    latency = tuple(s / c if c else None for s, c in zip(lat_sum, lat_n, strict=True))
    return Overview(
        range=rng,
        since_ms=since,
        slots=slots,
        by_status={k: tuple(v) for k, v in sorted(by_status.items())},
        parts=tuple(parts),
        cost=tuple(cost),
        latency_ms=latency,
        total=total,
        delivered=delivered,
        reported=reported,
        total_parts=sum(parts),
        total_cost=sum(cost),
        mean_latency_ms=sum(lat_sum) / sum(lat_n) if sum(lat_n) else None,
    )


def _state(
    conn: Connector,
    handed: int,
    previous: tuple[float, dict[str, int]] | None,
    now: float,
) -> ConnectorState:
    # Connectors expose what they have: an SMPP connector its binds and options, the
    # simulator nothing to be down about. Read by name so no connector must grow an API.
    options: Any = getattr(conn, "options", None)
    links_up: int | None = getattr(conn, "bound_links", None)
    links: int | None = getattr(options, "binds", None) if links_up is not None else None
    throughput = None
    if previous is not None and now > previous[0]:
        throughput = max(0, handed - previous[1].get(conn.name, 0)) / (now - previous[0])
    kind: str | None = getattr(conn, "kind", None)  # a stand-in names what it stands for
    return ConnectorState(
        name=conn.name,
        kind=kind or type(conn).__name__.removesuffix("Connector").lower() or "connector",
        bound=None if links_up is None else links_up > 0,
        links_up=links_up,
        links=links,
        window=getattr(options, "window", None),
        max_rate=getattr(options, "max_rate", None),
        throughput=throughput,
        handed_over=handed,
        link_health=tuple(conn.links()) if isinstance(conn, HasLinks) else (),
    )
