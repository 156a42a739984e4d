"""Claim nothing while this process cannot send anything (cluster-wide binds).

With several processes on PostgreSQL, a connector's binds are shared out by leases
(``connectors/smpp/bind_leases.py``); a process may hold none. If it claimed messages for
such a connector anyway, each would come back at once as never sent: a wasted claim and
record, and a pause of at least ``wait_min_seconds`` during which the processes that do hold
binds cannot claim it either. So a process whose routed connectors all stand by claims
nothing, and the holders get every message. (A process that holds binds of some routed
connectors only still claims everything; messages for the others come back as never sent.)
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

from textgate.connectors.base import Connector
from textgate.storage.queue import Claim, DispatchQueue, Router

__all__ = ["StandbyQueue"]


class StandbyQueue(DispatchQueue):
    _connectors: Mapping[str, Connector] = {}
    _routed: Callable[[], Collection[str]] = staticmethod(tuple)

    def watch(
        self,
        connectors: Mapping[str, Connector],
        routed: Collection[str] | Callable[[], Collection[str]],
    ) -> None:
        """The connectors this process dispatches to and those its routes name (a function
        when the routing table may change)."""
        self._connectors = connectors
        self._routed = routed if callable(routed) else (lambda: routed)

    @property
    def standing_by(self) -> bool:
        """True while every routed connector is carried by other processes."""
        routed = [self._connectors.get(name) for name in self._routed()]
        return bool(routed) and all(getattr(c, "standby", False) for c in routed)

    async def claim(
        self,
        *,
        now: int,
        lease_ms: int,
        limit: int,
        validity_ms: int = 172_800_000,
        router: Router | None = None,
    ) -> list[Claim]:
        if self.standing_by:
            return []
        return await super().claim(
            now=now, lease_ms=lease_ms, limit=limit, validity_ms=validity_ms, router=router
        )
