"""The routing table as plain data, the shape the config file, the admin API and the stored
copy share, and its checks::

    {"rules": [{"name": "fr-cheapest", "countries": ["FR"], "connectors": ["a", "b"],
                "strategy": "least_cost"}],
     "costs": {"a": {"default": "0.04", "countries": {"FR": "0.021"},
                     "prefixes": {"33700": "0.05"}}}}

Amounts are credits per message part, written as decimal strings (``core.pricing``). The
edges check shapes (unknown keys, types) with their own schemas and call the value checks
below, so a wrong value reads the same everywhere; :func:`table_from_spec` checks it all
again, as a stored table is read back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import phonenumbers

from textgate.core.link_costs import CostTable
from textgate.core.message import Quality
from textgate.core.pricing import format_amount, parse_amount
from textgate.core.routing import DEFAULT_ROUTE, Routes, RoutingTable, Rule, Strategy
from textgate.errors import GatewayError, InvalidRequest

__all__ = [
    "MATCH_KEYS",
    "RoutingSpecError",
    "check_cost",
    "check_country",
    "check_interface",
    "check_prefix",
    "check_rule_name",
    "rule_problems",
    "spec_of",
    "table_from_spec",
    "unknown_connectors",
]

MATCH_KEYS: Final = ("accounts", "prefixes", "countries", "senders", "qualities", "interfaces")
"""What a rule may match on (each a list; see ``core.routing``)."""
_RULE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_INTERFACE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
# ITU-T E.164: at most 15 digits, the country code included.
_E164_MAX_DIGITS: Final = 15
_QUALITIES: Final = tuple(q.value for q in Quality)


class RoutingSpecError(InvalidRequest):
    """A routing table that cannot be used: ``problems`` names each wrong key."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


def check_rule_name(value: str) -> str:
    if value == DEFAULT_ROUTE:
        raise ValueError(f"{DEFAULT_ROUTE!r} names the route of messages no rule matches")
    if not _RULE_NAME.fullmatch(value):
        raise ValueError(
            "allowed: 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit"
        )
    return value


def check_prefix(value: str) -> str:
    """Digits of an E.164 number, country code first; a leading '+' is dropped."""
    digits = value.strip().removeprefix("+")
    if not digits.isdigit() or not digits.isascii() or len(digits) > _E164_MAX_DIGITS:
        raise ValueError("allowed: 1 to 15 digits of an E.164 number, country code first")
    return digits


def check_country(value: str) -> str:
    code = value.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError("allowed: an ISO 3166-1 alpha-2 country code such as FR")
    return code


def check_interface(value: str) -> str:
    if not _INTERFACE.fullmatch(value):
        raise ValueError("allowed: an interface name such as native, smpp, smsend or aspsms-smtp")
    return value


def check_cost(value: str | int | float) -> int:
    """Credits per part as micro-credits (at most six decimals, not negative)."""
    try:
        amount = parse_amount(value)
    except GatewayError as exc:
        raise ValueError(f"allowed: an amount of credits such as '0.045' ({exc.message})") from None
    if amount < 0:
        raise ValueError("allowed: an amount of credits such as '0.045', not negative")
    return amount


def table_from_spec(spec: Mapping[str, Any], fallback: Routes) -> RoutingTable:
    """The table ``spec`` describes; :class:`RoutingSpecError` naming each wrong key."""
    problems: list[str] = []
    rules = []
    raw_rules = spec.get("rules") or []
    if not isinstance(raw_rules, list):
        raise RoutingSpecError(["rules: allowed: a list of rules"])
    for index, raw in enumerate(raw_rules):
        rule = _rule(raw, f"rules[{index}]", problems)
        if rule is not None:
            rules.append(rule)
    problems += rule_problems([r.name for r in rules])
    costs = {}
    raw_costs = spec.get("costs") or {}
    if not isinstance(raw_costs, Mapping):
        raise RoutingSpecError(["costs: allowed: a table of cost tables by connector name"])
    for name, raw in raw_costs.items():
        table = _costs(raw, f"costs.{name}", problems)
        if table is not None:
            costs[str(name)] = table
    unknown = sorted(set(spec) - {"rules", "costs"})
    problems += [f"{key}: not a key of a routing table (allowed: rules, costs)" for key in unknown]
    if problems:
        raise RoutingSpecError(problems)
    return RoutingTable(fallback, tuple(rules), costs)


def rule_problems(names: Sequence[str], where: str = "rules") -> list[str]:
    """Rules must have names of their own (history shows them)."""
    seen: set[str] = set()
    problems = []
    for index, name in enumerate(names):
        if name in seen:
            problems.append(f"{where}[{index}].name = {name!r}: another rule has this name")
        seen.add(name)
    return problems


def unknown_connectors(spec: Mapping[str, Any], known: Iterable[str], where: str) -> list[str]:
    """One problem per connector the table names that is not configured."""
    names = sorted(set(known))
    listed = ", ".join(repr(n) for n in names)
    problems = []
    for index, rule in enumerate(spec.get("rules") or []):
        for position, name in enumerate(rule.get("connectors") or []):
            if name not in names:
                problems.append(
                    f"{where}rules[{index}].connectors[{position}] = {name!r}: "
                    f"allowed: the name of a connector ({listed})"
                )
    for name in spec.get("costs") or {}:
        if name not in names:
            problems.append(f"{where}costs.{name}: allowed: a table for a connector ({listed})")
    return problems


def spec_of(table: RoutingTable) -> dict[str, Any]:
    """The plain form of ``table`` (what :func:`table_from_spec` reads back)."""
    rules = []
    for r in table.rules:
        rule: dict[str, Any] = {"name": r.name}
        for key in MATCH_KEYS:
            values = getattr(r, key)
            if values:
                rule[key] = list(values) if key == "prefixes" else sorted(values)
        rule["connectors"] = list(r.connectors)
        rule["strategy"] = r.strategy.value
        rules.append(rule)
    costs = {}
    for name, c in sorted(table.costs.items()):
        entry: dict[str, Any] = {}
        if c.default is not None:
            entry["default"] = format_amount(c.default)
        if c.by_country:
            entry["countries"] = {k: format_amount(v) for k, v in sorted(c.by_country.items())}
        if c.by_prefix:
            entry["prefixes"] = {k: format_amount(v) for k, v in sorted(c.by_prefix.items())}
        costs[name] = entry
    return {"rules": rules, "costs": costs}


def _rule(raw: Any, at: str, problems: list[str]) -> Rule | None:
    if not isinstance(raw, Mapping):
        problems.append(f"{at}: allowed: a table with a name and connectors")
        return None
    before = len(problems)
    known = {"name", "connectors", "strategy", *MATCH_KEYS}
    problems += [f"{at}.{k}: not a key of a rule" for k in sorted(set(raw) - known)]
    name = _one(raw.get("name"), f"{at}.name", check_rule_name, problems)
    connectors = _list(raw.get("connectors"), f"{at}.connectors", _connector, problems)
    if not connectors and not raw.get("connectors"):
        problems.append(f"{at}.connectors is required: the connectors of the rule, best first")
    twice = sorted({c for c in connectors if connectors.count(c) > 1})
    if twice:
        problems.append(f"{at}.connectors: each connector once (twice: {', '.join(twice)})")
    strategy = raw.get("strategy", Strategy.ORDERED.value)
    if strategy not in {s.value for s in Strategy}:
        problems.append(f"{at}.strategy = {strategy!r}: allowed: 'ordered' or 'least_cost'")
    values = {
        "accounts": _list(raw.get("accounts"), f"{at}.accounts", _account, problems),
        "prefixes": _list(raw.get("prefixes"), f"{at}.prefixes", check_prefix, problems),
        "countries": _list(raw.get("countries"), f"{at}.countries", check_country, problems),
        "senders": _list(raw.get("senders"), f"{at}.senders", _sender, problems),
        "qualities": _list(raw.get("qualities"), f"{at}.qualities", _quality, problems),
        "interfaces": _list(raw.get("interfaces"), f"{at}.interfaces", check_interface, problems),
    }
    if len(problems) > before or name is None:
        return None
    return Rule(
        name,
        tuple(connectors),
        Strategy(strategy),
        accounts=frozenset(values["accounts"]),
        prefixes=tuple(dict.fromkeys(values["prefixes"])),
        countries=frozenset(values["countries"]),
        senders=frozenset(values["senders"]),
        qualities=frozenset(values["qualities"]),
        interfaces=frozenset(values["interfaces"]),
    )


def _costs(raw: Any, at: str, problems: list[str]) -> CostTable | None:
    if not isinstance(raw, Mapping):
        problems.append(f"{at}: allowed: a table with default, countries and prefixes")
        return None
    before = len(problems)
    problems += [
        f"{at}.{k}: not a key of a cost table (allowed: default, countries, prefixes)"
        for k in sorted(set(raw) - {"default", "countries", "prefixes"})
    ]
    default = raw.get("default")
    amount = None if default is None else _one(default, f"{at}.default", check_cost, problems)
    countries = _amounts(raw.get("countries"), f"{at}.countries", check_country, problems)
    prefixes = _amounts(raw.get("prefixes"), f"{at}.prefixes", check_prefix, problems)
    if len(problems) > before:
        return None
    return CostTable(amount, countries, prefixes)


def _amounts(raw: Any, at: str, check_key: Any, problems: list[str]) -> dict[str, int]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        problems.append(f"{at}: allowed: a table of amounts")
        return {}
    out = {}
    for key, value in raw.items():
        k = _one(key, f"{at}", check_key, problems, show_key=True)
        v = _one(value, f"{at}.{key}", check_cost, problems)
        if k is not None and v is not None:
            out[k] = v
    return out


def _one(value: Any, at: str, check: Any, problems: list[str], *, show_key: bool = False) -> Any:
    if value is None:
        problems.append(f"{at} is required")
        return None
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        problems.append(f"{at} = {value!r}: allowed: a string")
        return None
    try:
        return check(value if check is check_cost else str(value))
    except ValueError as exc:
        where = f"{at} key {value!r}" if show_key else f"{at} = {value!r}"
        problems.append(f"{where}: {exc}")
        return None


def _list(raw: Any, at: str, check: Any, problems: list[str]) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.append(f"{at}: allowed: a list")
        return []
    out = []
    for index, value in enumerate(raw):
        checked = _one(value, f"{at}[{index}]", check, problems)
        if checked is not None:
            out.append(checked)
    return out


def _connector(value: str) -> str:
    if not value:
        raise ValueError("allowed: the name of a connector")
    return value


def _account(value: str) -> str:
    if not value:
        raise ValueError("allowed: an account name or id")
    return value


def _sender(value: str) -> str:
    if not value:
        raise ValueError("allowed: a sender id")
    return value


def _quality(value: str) -> str:
    if value not in _QUALITIES:
        raise ValueError("allowed: one of 'high', 'medium', 'low'")
    return value
