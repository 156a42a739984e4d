"""The dispatcher's routing: the table in force, and the choice of each claimed message's
connector (``core.routing`` for the order of candidates, ``core.failover`` for where the
message has been and which links to avoid).

The choice is made in memory, inside the claim's transaction (``storage.queue.Router``), so
that the connector is stored with the claim at no extra statement per message: a worker that
crashes with the message in hand leaves it pinned to the connector it may have reached.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping

from textgate.core.failover import Tried, pick
from textgate.core.routing import RoutingTable, Traits
from textgate.storage.outcomes import Claim

__all__ = ["RouteChooser", "TableSource"]

TableSource = Callable[[], Awaitable[RoutingTable]]
"""The routing table in force now (the stored one if any, else the config file's)."""


class RouteChooser:
    def __init__(self, table: RoutingTable) -> None:
        self.table = table
        self._names: dict[str, str] = {}
        """Account names by id (immutable once made), for rules naming accounts."""

    def use(self, table: RoutingTable) -> None:
        self.table = table

    def router(self, unusable: Collection[str]) -> _Choice:
        """The router of one claim: the table and the links' state as they are now."""
        return _Choice(self, self.table, unusable)

    def routed(self) -> frozenset[str]:
        return self.table.connectors()


class _Choice:
    """Implements ``storage.queue.Router`` for one claim."""

    __slots__ = ("_chooser", "_table", "_unusable")

    def __init__(self, chooser: RouteChooser, table: RoutingTable, unusable: Collection[str]):
        self._chooser = chooser
        self._table = table
        self._unusable = unusable

    def unknown_accounts(self, account_ids: Iterable[str]) -> list[str]:
        if not self._table.names_accounts:
            return []
        known = self._chooser._names
        return sorted(a for a in account_ids if a not in known)

    def learn_accounts(self, names: Mapping[str, str]) -> None:
        self._chooser._names.update(names)

    def choose(self, claim: Claim) -> Claim:
        if claim.pinned:
            # In doubt, or partly taken: where it went before, whatever the links' state.
            last = claim.last_connector or ""
            return claim.routed(last, claim.last_route, (last,))
        table = self._table
        if not table.rules:
            route = table.fallback.route(claim.quality)
        else:
            route = table.route(
                Traits(
                    claim.account_id,
                    claim.recipient,
                    claim.country,
                    claim.sender,
                    claim.quality,
                    claim.interface,
                    self._chooser._names.get(claim.account_id),
                )
            )
        candidates = route.connectors
        if claim.tried is None and not self._unusable:
            connector: str | None = candidates[0]
        else:
            connector = pick(candidates, Tried.parse(claim.tried), self._unusable)
        # "" when every candidate refused it already (the table changed since): it fails.
        return claim.routed(connector or "", route.name, candidates)
