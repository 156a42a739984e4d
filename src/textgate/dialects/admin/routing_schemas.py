"""Wire shapes of the admin API's routing table and margins (``/v1/admin/routing``,
``/v1/admin/margins``).

The table is core.routing_spec's plain form, as in the config file's ``[[routing.rules]]``
and ``[routing.costs.<connector>]``: amounts are credits per message part as decimal strings
(numbers are taken too).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
)

from textgate.core.routing_spec import (
    check_cost,
    check_country,
    check_interface,
    check_prefix,
    check_rule_name,
)

__all__ = [
    "ConnectorHealthOut",
    "CostTableIn",
    "MarginOut",
    "MarginsOut",
    "RoutingIn",
    "RoutingOut",
    "RuleIn",
]


def _amount(value: str | int | float) -> str | int | float:
    check_cost(value)
    return value


Amount = Annotated[
    StrictStr | StrictInt | StrictFloat,
    AfterValidator(_amount),
    Field(description='Credits per message part, as a decimal string ("0.045") or a number'),
]
Text = Annotated[StrictStr, StringConstraints(min_length=1, max_length=200)]
Prefix = Annotated[StrictStr, AfterValidator(check_prefix)]
Country = Annotated[StrictStr, AfterValidator(check_country)]
Interface = Annotated[StrictStr, AfterValidator(check_interface)]


class RuleIn(BaseModel):
    """A rule; criteria left out match every message, those given must all hold (a list
    matching when any of its values does)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[StrictStr, AfterValidator(check_rule_name)]
    connectors: list[Text] = Field(min_length=1, max_length=50, description="Best first")
    strategy: Literal["ordered", "least_cost"] = "ordered"
    accounts: list[Text] = Field(default_factory=list, description="Account names or ids")
    prefixes: list[Prefix] = Field(
        default_factory=list, description="Leading digits of the E.164 number"
    )
    countries: list[Country] = Field(default_factory=list, description="ISO 3166 alpha-2")
    senders: list[Text] = Field(default_factory=list, description="Any case")
    qualities: list[Literal["high", "medium", "low"]] = Field(default_factory=list)
    interfaces: list[Interface] = Field(
        default_factory=list, description="native, smpp, smsend, aspsms-smtp..."
    )


class CostTableIn(BaseModel):
    """A connector's price per part: the longest matching prefix, else the country, else
    the default."""

    model_config = ConfigDict(extra="forbid")

    default: Amount | None = None
    countries: dict[Country, Amount] = Field(default_factory=dict)
    prefixes: dict[Prefix, Amount] = Field(default_factory=dict)


class RoutingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[RuleIn] = Field(default_factory=list, max_length=1000, description="In order")
    costs: dict[Text, CostTableIn] = Field(default_factory=dict, description="By connector")


class RuleOut(BaseModel):
    name: str
    connectors: list[str]
    strategy: str
    accounts: list[str] = Field(default_factory=list)
    prefixes: list[str] = Field(default_factory=list)
    countries: list[str] = Field(default_factory=list)
    senders: list[str] = Field(default_factory=list)
    qualities: list[str] = Field(default_factory=list)
    interfaces: list[str] = Field(default_factory=list)


class CostTableOut(BaseModel):
    default: str | None = None
    countries: dict[str, str] = Field(default_factory=dict)
    prefixes: dict[str, str] = Field(default_factory=dict)


class ConnectorHealthOut(BaseModel):
    name: str
    state: str = Field(description="up, down (no link up) or failing (refusing too much)")
    handoffs: int = Field(description="Recent hand-offs counted")
    failed: int = Field(description="Of them, refused or unanswered")


class RoutingOut(BaseModel):
    source: Literal["config", "stored"] = Field(
        description="stored: set through this API (wins over the config file's table)"
    )
    updated_at: datetime | None = None
    problem: str | None = Field(default=None, description="Why a stored table is not used")
    rules: list[RuleOut]
    costs: dict[str, CostTableOut]
    default_connector: str = Field(description="Messages no rule matches")
    quality: dict[str, str] = Field(description="...unless their quality class has a connector")
    connectors: list[ConnectorHealthOut] = Field(
        description="As this process's dispatcher sees them (empty where it runs none)"
    )


class MarginOut(BaseModel):
    key: str = Field(description='Connector or country; "" for none')
    messages: int
    parts: int
    charged: str = Field(description="Credits charged to accounts, refunds deducted")
    cost: str = Field(description="Credits paid upstream, as far as known")
    margin: str = Field(description="charged - cost")
    priced: int = Field(description="Messages whose upstream cost is known")


class MarginsOut(BaseModel):
    since: datetime
    until: datetime
    account: str | None = None
    total: MarginOut
    by_connector: list[MarginOut]
    by_country: list[MarginOut]
