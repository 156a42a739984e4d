"""Which connectors may carry a message, in which order (DESIGN section 3, step 4).

The routing table is a list of rules, looked at in order; the first rule that matches a
message names its connectors and how to order them:

- ``ordered``: the connectors in the order the rule lists them (priority, then backups);
- ``least_cost``: cheapest first, from each connector's cost table (``core.link_costs``) for
  the message's destination; a connector with no known cost comes after those priced, and
  equal costs keep the rule's order.

A rule matches on any of: the account (its name or its id), the destination (E.164 prefixes
or ISO 3166 countries: either matching is enough), the sender, the quality class
(``core.message.Quality``) and the interface the message came in through. Criteria a rule
leaves out match everything; criteria it gives must all hold (a list matches when any of its
values does). A message no rule matches takes the fallback, :class:`Routes`: the connector of
its quality class (``[routing] quality``), else the default connector.

The table decides the order of the candidates only. Which one a message is handed to
depends also on the links' health and on where the message has already been, which the
dispatcher knows (``core.failover``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from textgate.core.link_costs import CostTable

__all__ = [
    "DEFAULT_ROUTE",
    "Route",
    "Routes",
    "RoutingTable",
    "Rule",
    "Strategy",
    "Traits",
]

DEFAULT_ROUTE: Final = "default"
"""Name of the route a message takes when no rule and no quality class sends it elsewhere."""
QUALITY_ROUTE: Final = "quality:"
"""Prefix of the name of a route taken by quality class (``quality:high``)."""


class Strategy(StrEnum):
    ORDERED = "ordered"
    LEAST_COST = "least_cost"


@dataclass(frozen=True, slots=True)
class Traits:
    """What routing looks at in a message."""

    account_id: str
    recipient: str
    """E.164, with its leading ``+``."""
    country: str | None = None
    sender: str | None = None
    quality: str | None = None
    interface: str | None = None
    account_name: str | None = None


@dataclass(frozen=True, slots=True)
class Route:
    """The route a message takes: its name (the rule's) and the connectors, best first."""

    name: str
    connectors: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    connectors: tuple[str, ...]
    strategy: Strategy = Strategy.ORDERED
    accounts: frozenset[str] = frozenset()
    """Account names or ids."""
    prefixes: tuple[str, ...] = ()
    """Leading digits of the destination, country code first, without ``+``."""
    countries: frozenset[str] = frozenset()
    senders: frozenset[str] = frozenset()
    """Compared without regard to case."""
    qualities: frozenset[str] = frozenset()
    interfaces: frozenset[str] = frozenset()
    _sender_keys: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_sender_keys", frozenset(s.casefold() for s in self.senders))

    def matches(self, t: Traits) -> bool:
        if (
            self.accounts
            and t.account_id not in self.accounts
            and (t.account_name is None or t.account_name not in self.accounts)
        ):
            return False
        if (self.prefixes or self.countries) and not self._destination(t):
            return False
        if self.senders and (t.sender is None or t.sender.casefold() not in self._sender_keys):
            return False
        if self.qualities and t.quality not in self.qualities:
            return False
        return not self.interfaces or t.interface in self.interfaces

    def _destination(self, t: Traits) -> bool:
        if t.country is not None and t.country in self.countries:
            return True
        digits = t.recipient.lstrip("+")
        return any(digits.startswith(p) for p in self.prefixes)


@dataclass(frozen=True, slots=True)
class Routes:
    """The fallback: a connector per quality class, else the default connector."""

    default: str
    by_quality: Mapping[str, str] = field(default_factory=dict)
    _routes: Mapping[str | None, Route] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Made once: the dispatcher asks for every message it claims.
        routes: dict[str | None, Route] = {
            q: Route(QUALITY_ROUTE + q, (c,)) for q, c in self.by_quality.items()
        }
        routes[None] = Route(DEFAULT_ROUTE, (self.default,))
        object.__setattr__(self, "_routes", routes)

    def connector_for(self, quality: str | None) -> str:
        if quality is None:
            return self.default
        return self.by_quality.get(quality, self.default)

    def route(self, quality: str | None) -> Route:
        found = self._routes.get(quality)
        return self._routes[None] if found is None else found

    def connectors(self) -> frozenset[str]:
        """Every connector a route names (each must exist)."""
        return frozenset({self.default, *self.by_quality.values()})


@dataclass(frozen=True, slots=True)
class RoutingTable:
    fallback: Routes
    rules: tuple[Rule, ...] = ()
    costs: Mapping[str, CostTable] = field(default_factory=dict)
    """Per connector: what a message part costs textgate upstream."""

    @property
    def names_accounts(self) -> bool:
        """Some rule matches on accounts (by name: routing needs account names)."""
        return any(r.accounts for r in self.rules)

    def route(self, t: Traits) -> Route:
        for rule in self.rules:
            if rule.matches(t):
                if rule.strategy is Strategy.LEAST_COST and len(rule.connectors) > 1:
                    return Route(rule.name, self._cheapest_first(rule.connectors, t))
                return Route(rule.name, rule.connectors)
        return self.fallback.route(t.quality)

    def _cheapest_first(self, names: tuple[str, ...], t: Traits) -> tuple[str, ...]:
        digits = t.recipient.lstrip("+")
        keyed = []
        for index, name in enumerate(names):
            table = self.costs.get(name)
            price = None if table is None else table.price(digits, t.country)
            # Unknown costs last; equal costs in the rule's order (sort is stable).
            keyed.append((price is None, price or 0, index, name))
        keyed.sort()
        return tuple(k[3] for k in keyed)

    def cost(self, connector: str, recipient: str, country: str | None, parts: int) -> int | None:
        """What sending a message of ``parts`` parts through ``connector`` costs upstream
        (micro-credits, as ``core.pricing``); None when its cost table does not say."""
        table = self.costs.get(connector)
        if table is None:
            return None
        price = table.price(recipient.lstrip("+"), country)
        return None if price is None else price * parts

    def connectors(self) -> frozenset[str]:
        """Every connector a rule, a cost table or the fallback names (each must exist)."""
        named = {c for r in self.rules for c in r.connectors}
        return frozenset(named | set(self.costs) | self.fallback.connectors())
