"""Cost, revenue and margin over a period, by connector and by country: what the operator
paid upstream for the messages of the period (``messages.upstream_cost``) beside what the
accounts were charged for them, refunds deducted. Margin is charged less cost; messages whose
upstream cost is unknown count with a cost of 0 (``priced`` says how many are known)."""

from __future__ import annotations

from dataclasses import dataclass

from textgate.core.clock import Clock, system_clock
from textgate.errors import InvalidRequest
from textgate.storage.margins import MarginRepo, MarginRow

__all__ = ["DEFAULT_SPAN_MS", "MAX_SPAN_MS", "MarginReport", "MarginRow", "MarginService"]

DEFAULT_SPAN_MS = 24 * 3_600_000
MAX_SPAN_MS = 400 * 24 * 3_600_000
"""Longest period one report covers (a year and a bit: the query reads every message)."""


@dataclass(frozen=True, slots=True)
class MarginReport:
    since_ms: int
    until_ms: int
    by_connector: tuple[MarginRow, ...]
    by_country: tuple[MarginRow, ...]
    total: MarginRow


class MarginService:
    def __init__(self, repo: MarginRepo, clock: Clock = system_clock) -> None:
        self._repo = repo
        self._clock = clock

    async def report(
        self,
        account_id: str | None = None,
        *,
        since_ms: int | None = None,
        until_ms: int | None = None,
    ) -> MarginReport:
        """Messages created in ``[since_ms, until_ms)`` (default: the last 24 hours), of
        one account or of all."""
        until = self._clock() if until_ms is None else until_ms
        since = until - DEFAULT_SPAN_MS if since_ms is None else since_ms
        if since >= until:
            raise InvalidRequest("since must be before until")
        if until - since > MAX_SPAN_MS:
            raise InvalidRequest("at most 400 days at once")
        by_connector = await self._repo.totals("connector", since, until, account_id)
        by_country = await self._repo.totals("country", since, until, account_id)
        return MarginReport(
            since, until, tuple(by_connector), tuple(by_country), _total(by_connector)
        )


def _total(rows: list[MarginRow]) -> MarginRow:
    return MarginRow(
        "",
        sum(r.messages for r in rows),
        sum(r.parts for r in rows),
        sum(r.charged for r in rows),
        sum(r.cost for r in rows),
        sum(r.priced for r in rows),
    )
