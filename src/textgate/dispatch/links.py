"""Which connectors failover should avoid right now, from what this process sees.

A connector is *unusable* while its links are all down (an SMPP connector with no bind, one
that failed to start), or while it is *failing*: of its hand-offs within the last
``memory_seconds`` (at most ``window`` of them), at least ``min_handoffs`` ended and a share of
``max_failed_share`` or more was refused or went unanswered. Routes move unusable connectors
behind the others (``core.failover``); they get messages again as soon as a link is up, or
once their failures are older than ``memory_seconds`` (then a few hand-offs tell again).

A connector carried by another process (``standby``: it holds none of the shared binds) is
not unusable here: the process that holds them routes its messages.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from textgate.config import FailoverSettings
from textgate.connectors.base import Connector

__all__ = ["LinkStatus", "LinkWatch", "Usability"]

log = logging.getLogger(__name__)


class Usability(StrEnum):
    UP = "up"
    DOWN = "down"
    """No link up."""
    FAILING = "failing"
    """Refusing or not answering too many of its recent hand-offs."""


@dataclass(frozen=True, slots=True)
class LinkStatus:
    name: str
    usability: Usability
    handoffs: int
    """Hand-offs counted (within the memory)."""
    failed: int


class _Record:
    __slots__ = ("failed", "results")

    def __init__(self, window: int) -> None:
        self.results: deque[tuple[int, bool]] = deque(maxlen=window)
        self.failed = 0


class LinkWatch:
    def __init__(
        self,
        connectors: Mapping[str, Connector],
        settings: FailoverSettings,
        clock: Callable[[], int],
    ) -> None:
        self._connectors = connectors
        self._settings = settings
        self._memory_ms = int(settings.memory_seconds * 1000)
        self._clock = clock
        self._records: dict[str, _Record] = {}
        self._unusable: frozenset[str] = frozenset()

    def handed(self, name: str, *, ok: bool) -> None:
        """A hand-off to ``name`` ended: taken (``ok``), or refused or unanswered."""
        record = self._records.get(name)
        if record is None:
            record = self._records[name] = _Record(self._settings.window)
        results = record.results
        if len(results) == results.maxlen and not results[0][1]:
            record.failed -= 1  # the oldest falls out of the window
        results.append((self._clock(), ok))
        if not ok:
            record.failed += 1

    def unusable(self) -> frozenset[str]:
        """The connectors to move behind the others now (logs each change)."""
        now = self._clock()
        found = frozenset(
            name for name in self._connectors if self._usability(name, now)[0] is not Usability.UP
        )
        if found != self._unusable:
            for name in sorted(found - self._unusable):
                log.warning(
                    "connector %s is %s: routes use it last", name, self.status(name).usability
                )
            for name in sorted(self._unusable - found):
                log.info("connector %s is usable again", name)
            self._unusable = found
        return found

    def status(self, name: str) -> LinkStatus:
        usability, handoffs, failed = self._usability(name, self._clock())
        return LinkStatus(name, usability, handoffs, failed)

    def standby(self, name: str) -> bool:
        """Another process carries this connector's links."""
        return bool(getattr(self._connectors.get(name), "standby", False))

    def _usability(self, name: str, now: int) -> tuple[Usability, int, int]:
        conn = self._connectors.get(name)
        handoffs, failed = self._recent(name, now)
        # Connectors expose their links by name (see services.stats): None for none to lose.
        if conn is not None and getattr(conn, "bound_links", None) == 0:
            return Usability.DOWN, handoffs, failed
        s = self._settings
        if handoffs >= s.min_handoffs and failed >= s.max_failed_share * handoffs:
            return Usability.FAILING, handoffs, failed
        return Usability.UP, handoffs, failed

    def _recent(self, name: str, now: int) -> tuple[int, int]:
        record = self._records.get(name)
        if record is None:
            return 0, 0
        results = record.results
        horizon = now - self._memory_ms
        while results and results[0][0] < horizon:
            if not results.popleft()[1]:
                record.failed -= 1
        return len(results), record.failed
