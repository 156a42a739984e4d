"""The routing table (core.routing, core.link_costs, core.routing_spec) and the choice of the
next connector (core.failover), as tables of cases."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from textgate.core.failover import Tried, fresh, pick
from textgate.core.link_costs import CostTable
from textgate.core.routing import Routes, RoutingTable, Traits
from textgate.core.routing_spec import RoutingSpecError, spec_of, table_from_spec

FALLBACK = Routes("bulk", {"high": "premium"})

RULES: dict[str, Any] = {
    "rules": [
        {"name": "by-account-name", "accounts": ["acme"], "connectors": ["a"]},
        {"name": "by-account-id", "accounts": ["01ACCOUNTID"], "connectors": ["b"]},
        {"name": "swiss-mobile", "prefixes": ["4179", "+4178"], "connectors": ["c"]},
        {"name": "france", "countries": ["fr"], "connectors": ["d", "e"]},
        {"name": "bank-otp", "senders": ["MyBank"], "connectors": ["f"]},
        {
            "name": "premium-smpp",
            "qualities": ["high"],
            "interfaces": ["smpp"],
            "connectors": ["g"],
        },
        {"name": "mail", "interfaces": ["aspsms-smtp", "labsmobile-mail"], "connectors": ["h"]},
    ]
}


@dataclass(frozen=True)
class Case:
    id: str
    traits: Traits
    route: str
    connectors: tuple[str, ...]


def _t(**fields: Any) -> Traits:
    base: dict[str, Any] = {"account_id": "01OTHER", "recipient": "+4915112345678"}
    return Traits(**{**base, **fields})


MATCH_CASES = [
    Case("account by name", _t(account_name="acme"), "by-account-name", ("a",)),
    Case("account by id", _t(account_id="01ACCOUNTID"), "by-account-id", ("b",)),
    Case(
        "first rule wins",
        _t(account_id="01ACCOUNTID", account_name="acme"),
        "by-account-name",
        ("a",),
    ),
    Case("prefix", _t(recipient="+41791234567", country="CH"), "swiss-mobile", ("c",)),
    Case(
        "prefix written with +", _t(recipient="+41781234567", country="CH"), "swiss-mobile", ("c",)
    ),
    Case(
        "other prefix of the country",
        _t(recipient="+41441234567", country="CH"),
        "default",
        ("bulk",),
    ),
    Case("country", _t(recipient="+33612345678", country="FR"), "france", ("d", "e")),
    Case("country unknown, no prefix", _t(recipient="+33612345678"), "default", ("bulk",)),
    Case("sender any case", _t(sender="MYBANK"), "bank-otp", ("f",)),
    Case("other sender", _t(sender="Shop"), "default", ("bulk",)),
    Case("no sender", _t(), "default", ("bulk",)),
    Case("quality and interface", _t(quality="high", interface="smpp"), "premium-smpp", ("g",)),
    Case(
        "quality without the interface",
        _t(quality="high", interface="native"),
        "quality:high",
        ("premium",),
    ),
    Case(
        "interface without the quality", _t(quality="low", interface="smpp"), "default", ("bulk",)
    ),
    Case("one interface of a list", _t(interface="labsmobile-mail"), "mail", ("h",)),
    Case("no rule, no quality", _t(interface="native"), "default", ("bulk",)),
]


@pytest.mark.parametrize("case", MATCH_CASES, ids=lambda c: c.id)
def test_a_message_takes_the_first_rule_it_matches(case: Case) -> None:
    table = table_from_spec(RULES, FALLBACK)
    route = table.route(case.traits)
    assert (route.name, route.connectors) == (case.route, case.connectors)


def test_criteria_of_one_rule_must_all_hold() -> None:
    spec = {
        "rules": [
            {"name": "acme-fr", "accounts": ["acme"], "countries": ["FR"], "connectors": ["a"]}
        ]
    }
    table = table_from_spec(spec, FALLBACK)
    assert table.route(_t(account_name="acme", country="FR")).name == "acme-fr"
    assert table.route(_t(account_name="acme", country="DE")).name == "default"
    assert table.route(_t(account_name="other", country="FR")).name == "default"


COSTS = {
    "cheap-fr": CostTable(default=50_000, by_country={"FR": 20_000}),
    "prefixed": CostTable(default=40_000, by_prefix={"33": 30_000, "3361": 10_000}),
    "flat": CostTable(default=25_000),
}


@dataclass(frozen=True)
class CostCase:
    id: str
    connectors: tuple[str, ...]
    recipient: str
    country: str | None
    order: tuple[str, ...]
    costs: dict[str, CostTable] = field(default_factory=lambda: COSTS)


COST_CASES = [
    CostCase("country price", ("flat", "cheap-fr"), "+33712345678", "FR", ("cheap-fr", "flat")),
    CostCase(
        "longest prefix wins",
        ("cheap-fr", "flat", "prefixed"),
        "+33612345678",
        "FR",
        ("prefixed", "cheap-fr", "flat"),
    ),
    CostCase(
        "shorter prefix",
        ("cheap-fr", "flat", "prefixed"),
        "+33712345678",
        "FR",
        ("cheap-fr", "flat", "prefixed"),
    ),
    CostCase("default price", ("cheap-fr", "flat"), "+4915112345678", "DE", ("flat", "cheap-fr")),
    CostCase(
        "unknown cost last",
        ("nocost", "cheap-fr"),
        "+4915112345678",
        "DE",
        ("cheap-fr", "nocost"),
    ),
    CostCase(
        "ties keep the rule's order",
        ("b", "a"),
        "+4915112345678",
        "DE",
        ("b", "a"),
        {"a": CostTable(default=1), "b": CostTable(default=1)},
    ),
]


@pytest.mark.parametrize("case", COST_CASES, ids=lambda c: c.id)
def test_least_cost_orders_cheapest_first(case: CostCase) -> None:
    spec_rule = {"name": "lc", "connectors": list(case.connectors), "strategy": "least_cost"}
    table = table_from_spec({"rules": [spec_rule]}, FALLBACK)
    table = RoutingTable(table.fallback, table.rules, case.costs)
    route = table.route(_t(recipient=case.recipient, country=case.country))
    assert route.connectors == case.order


def test_upstream_cost_is_per_part() -> None:
    table = RoutingTable(FALLBACK, (), COSTS)
    assert table.cost("prefixed", "+33612345678", "FR", 3) == 30_000
    assert table.cost("cheap-fr", "+33712345678", "FR", 2) == 40_000
    assert table.cost("nocost", "+33712345678", "FR", 2) is None


@dataclass(frozen=True)
class PickCase:
    id: str
    tried: Tried
    unusable: frozenset[str]
    picked: str | None
    fresh: str | None


CANDIDATES = ("a", "b", "c")
PICK_CASES = [
    PickCase("nothing tried", Tried(), frozenset(), "a", "a"),
    PickCase("first down", Tried(), frozenset({"a"}), "b", "b"),
    PickCase("all down: the first anyway", Tried(), frozenset({"a", "b", "c"}), "a", None),
    PickCase("refused by the first", Tried(frozenset({"a"})), frozenset(), "b", "b"),
    PickCase("refused by all", Tried(frozenset({"a", "b", "c"})), frozenset(), None, None),
    PickCase("first did not take it", Tried(passed=("a",)), frozenset(), "b", "b"),
    PickCase(
        "all passed: the longest ago first", Tried(passed=("b", "a", "c")), frozenset(), "b", None
    ),
    PickCase(
        "a usable passed one before an unusable fresh one",
        Tried(passed=("a",)),
        frozenset({"b", "c"}),
        "a",
        None,
    ),
    PickCase(
        "refused and down",
        Tried(frozenset({"a"}), ("b",)),
        frozenset({"c"}),
        "b",
        None,
    ),
]


@pytest.mark.parametrize("case", PICK_CASES, ids=lambda c: c.id)
def test_the_next_connector(case: PickCase) -> None:
    assert pick(CANDIDATES, case.tried, case.unusable) == case.picked
    assert fresh(CANDIDATES, case.tried, case.unusable) == case.fresh


def test_tried_round_trips_through_its_stored_form() -> None:
    tried = Tried().passed_by("a").refused_by("b").passed_by("c").passed_by("a")
    assert tried == Tried(frozenset({"b"}), ("c", "a"))
    assert Tried.parse(tried.stored()) == tried
    assert Tried().stored() is None
    assert Tried.parse("not json") == Tried()


BAD_SPECS = [
    ({"rules": [{"name": "x", "connectors": []}]}, "rules[0].connectors is required"),
    ({"rules": [{"name": "x", "connectors": ["a", "a"]}]}, "rules[0].connectors: each"),
    ({"rules": [{"name": "default", "connectors": ["a"]}]}, "rules[0].name = 'default'"),
    ({"rules": [{"name": "a b", "connectors": ["a"]}]}, "rules[0].name = 'a b': allowed"),
    (
        {"rules": [{"name": "x", "connectors": ["a"]}, {"name": "x", "connectors": ["b"]}]},
        "rules[1].name = 'x': another rule has this name",
    ),
    (
        {"rules": [{"name": "x", "connectors": ["a"], "prefixes": ["33a"]}]},
        "rules[0].prefixes[0] = '33a': allowed: 1 to 15 digits",
    ),
    (
        {"rules": [{"name": "x", "connectors": ["a"], "countries": ["XX"]}]},
        "rules[0].countries[0] = 'XX': allowed: an ISO 3166-1 alpha-2",
    ),
    (
        {"rules": [{"name": "x", "connectors": ["a"], "qualities": ["best"]}]},
        "rules[0].qualities[0] = 'best': allowed: one of",
    ),
    (
        {"rules": [{"name": "x", "connectors": ["a"], "strategy": "cheapest"}]},
        "rules[0].strategy = 'cheapest'",
    ),
    (
        {"rules": [{"name": "x", "connectors": ["a"], "colour": "red"}]},
        "rules[0].colour: not a key",
    ),
    ({"costs": {"a": {"default": "-1"}}}, "costs.a.default = '-1': allowed: an amount"),
    ({"costs": {"a": {"countries": {"FR": "0.1234567"}}}}, "costs.a.countries.FR = '0.1234567'"),
    ({"costs": {"a": {"prefixes": {"3x": "1"}}}}, "costs.a.prefixes key '3x'"),
    ({"routes": []}, "routes: not a key of a routing table"),
]


@pytest.mark.parametrize(("spec", "problem"), BAD_SPECS, ids=[p for _, p in BAD_SPECS])
def test_a_wrong_table_names_the_key(spec: dict[str, Any], problem: str) -> None:
    with pytest.raises(RoutingSpecError) as caught:
        table_from_spec(spec, FALLBACK)
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems


def test_the_plain_form_reads_back_the_same() -> None:
    spec = {
        "rules": [
            {
                "name": "fr",
                "countries": ["FR"],
                "prefixes": ["336"],
                "connectors": ["a", "b"],
                "strategy": "least_cost",
            }
        ],
        "costs": {"a": {"default": "0.04", "countries": {"FR": "0.021"}, "prefixes": {"336": 0.5}}},
    }
    table = table_from_spec(spec, FALLBACK)
    plain = spec_of(table)
    assert plain["costs"]["a"] == {
        "default": "0.04",
        "countries": {"FR": "0.021"},
        "prefixes": {"336": "0.5"},
    }
    assert table_from_spec(plain, FALLBACK) == table
