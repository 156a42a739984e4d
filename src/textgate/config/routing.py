"""The routing table's settings (``[routing]``; see core.routing)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from textgate.config.section import Section
from textgate.core.routing_spec import (
    check_cost,
    check_country,
    check_interface,
    check_prefix,
    check_rule_name,
)

__all__ = ["ConnectorCostSettings", "FailoverSettings", "RouteRuleSettings", "RoutingSettings"]


RulePrefix = Annotated[str, AfterValidator(check_prefix)]
RuleCountry = Annotated[str, AfterValidator(check_country)]
RuleInterface = Annotated[str, AfterValidator(check_interface)]


def _amount(value: str | int | float) -> str | int | float:
    check_cost(value)
    return value


CostAmount = Annotated[str | int | float, AfterValidator(_amount)]


class RouteRuleSettings(Section):
    """One ``[[routing.rules]]`` entry (see core.routing): criteria left out match every
    message; those given must all hold, a list matching when any of its values does."""

    name: Annotated[str, AfterValidator(check_rule_name)]
    connectors: list[str] = Field(min_length=1)
    strategy: Literal["ordered", "least_cost"] = "ordered"
    accounts: list[str] = Field(default_factory=list)
    prefixes: list[RulePrefix] = Field(default_factory=list)
    countries: list[RuleCountry] = Field(default_factory=list)
    senders: list[str] = Field(default_factory=list)
    qualities: list[Literal["high", "medium", "low"]] = Field(default_factory=list)
    interfaces: list[RuleInterface] = Field(default_factory=list)


class ConnectorCostSettings(Section):
    """``[routing.costs.<connector>]``: credits per message part upstream; the longest
    matching prefix wins, then the country, then the default."""

    default: CostAmount | None = None
    countries: dict[RuleCountry, CostAmount] = Field(default_factory=dict)
    prefixes: dict[RulePrefix, CostAmount] = Field(default_factory=dict)


class FailoverSettings(Section):
    """When a connector counts as failing (moved behind the others of a route until it
    recovers): at least ``min_handoffs`` of its last ``window`` hand-offs within
    ``memory_seconds`` ended, and ``max_failed_share`` of them or more were refused or
    unanswered. A link that is down counts as failing while it is down."""

    window: int = Field(default=20, ge=1, le=1000)
    min_handoffs: int = Field(default=10, ge=1, le=1000)
    max_failed_share: float = Field(default=0.5, ge=0.01, le=1)
    memory_seconds: float = Field(default=60.0, gt=0)


class RoutingSettings(Section):
    """Which connectors carry which messages (core.routing).

    ``rules`` (``[[routing.rules]]``), tried in order, name the connectors of the messages
    they match; ``costs`` (``[routing.costs.<connector>]``) price each connector for
    least-cost rules and margins. A table stored through the admin API (``PUT
    /v1/admin/routing``) replaces ``rules`` and ``costs`` until it is deleted. Messages no
    rule matches take the connector of their quality class (``high``, ``medium``, ``low``:
    ``quality = {high = "smsc-direct"}``), else the default connector."""

    quality: dict[Literal["high", "medium", "low"], str] = Field(default_factory=dict)
    rules: list[RouteRuleSettings] = Field(default_factory=list)
    costs: dict[str, ConnectorCostSettings] = Field(default_factory=dict)
    failover: FailoverSettings = Field(default_factory=FailoverSettings)
    # How often a dispatcher looks for a table stored by another process.
    reload_seconds: float = Field(default=5.0, gt=0, le=3600)

    def spec(self) -> dict[str, Any]:
        """``rules`` and ``costs`` as core.routing_spec reads them."""
        return self.model_dump(include={"rules", "costs"}, exclude_none=True)
