"""The routing table in the config file (``[[routing.rules]]``, ``[routing.costs.<name>]``,
``[routing.failover]``): a wrong one stops the process before anything starts, with one
line per problem naming the key (the command line's exit is tested in test_config_errors)."""

from __future__ import annotations

from pathlib import Path

import pytest

from textgate.config import load_settings
from textgate.errors import ConfigError
from textgate.startup import check_settings

CONNECTORS = """
[[connectors]]
name = "cheap"
[[connectors]]
name = "dear"
"""

CASES = {
    "rule to an unknown connector": (
        "[[routing.rules]]\nname = 'fr'\ncountries = ['FR']\nconnectors = ['cheap', 'nowhere']\n",
        "routing.rules[0].connectors[1] = 'nowhere': "
        "allowed: the name of a connector ('cheap', 'dear')",
    ),
    "cost table of an unknown connector": (
        "[routing.costs.nowhere]\ndefault = '0.05'\n",
        "routing.costs.nowhere: allowed: a table for a connector ('cheap', 'dear')",
    ),
    "unknown country": (
        "[[routing.rules]]\nname = 'x'\ncountries = ['FR', 'XY']\nconnectors = ['cheap']\n",
        "routing.rules[0].countries[1] = 'XY' (in {path}): "
        "allowed: an ISO 3166-1 alpha-2 country code such as FR",
    ),
    "prefix that is no digits": (
        "[[routing.rules]]\nname = 'x'\nprefixes = ['33 6']\nconnectors = ['cheap']\n",
        "routing.rules[0].prefixes[0] = '33 6' (in {path}): "
        "allowed: 1 to 15 digits of an E.164 number, country code first",
    ),
    "unknown strategy": (
        "[[routing.rules]]\nname = 'x'\nconnectors = ['cheap']\nstrategy = 'cheap'\n",
        "routing.rules[0].strategy = 'cheap' (in {path}): allowed: one of 'ordered', 'least_cost'",
    ),
    "rule without connectors": (
        "[[routing.rules]]\nname = 'x'\nconnectors = []\n",
        "routing.rules[0].connectors = [] (in {path}): allowed: a list",
    ),
    "rule without a name": (
        "[[routing.rules]]\nconnectors = ['cheap']\n",
        "routing.rules[0].name is required (in {path})",
    ),
    "two rules of one name": (
        "[[routing.rules]]\nname = 'x'\nconnectors = ['cheap']\n"
        "[[routing.rules]]\nname = 'x'\nconnectors = ['dear']\n",
        "routing.rules[1].name = 'x': another rule has this name",
    ),
    "typo in a rule": (
        "[[routing.rules]]\nname = 'x'\nconnectors = ['cheap']\ncountry = ['FR']\n",
        "routing.rules[0].country is not a setting (in {path}); did you mean countries? "
        "([routing.rules[0]] has: accounts, connectors, countries, interfaces, name, prefixes,"
        " qualities, senders, strategy)",
    ),
    "negative cost": (
        "[routing.costs.cheap]\ndefault = '-0.01'\n",
        "routing.costs.cheap.default = '-0.01' (in {path}): "
        "allowed: an amount of credits such as '0.045', not negative",
    ),
    "cost of a country that is none": (
        "[routing.costs.cheap]\ncountries = { ZZ = '0.01' }\n",
        "routing.costs.cheap.countries.ZZ is not an allowed key (in {path}): "
        "allowed: an ISO 3166-1 alpha-2 country code such as FR",
    ),
    "failure share above one": (
        "[routing.failover]\nmax_failed_share = 1.5\n",
        "routing.failover.max_failed_share = 1.5 (in {path}): allowed: a number from 0.01 to 1",
    ),
}


def _problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "textgate.toml"
    path.write_text(CONNECTORS + text)
    try:
        settings = load_settings(path)
        check_settings(settings)
    except ConfigError as exc:
        return [p.replace(str(path), "{path}") for p in exc.problems]
    return []


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_wrong_routing_table_is_one_line_naming_the_key(case: str, tmp_path: Path) -> None:
    text, line = CASES[case]
    assert _problems(tmp_path, text) == [line]


def test_a_good_table_starts(tmp_path: Path) -> None:
    text = """
[routing]
quality = { high = "dear" }

[[routing.rules]]
name = "fr-cheapest"
countries = ["fr"]
prefixes = ["+3370"]
connectors = ["cheap", "dear"]
strategy = "least_cost"

[[routing.rules]]
name = "acme-otp"
accounts = ["acme"]
senders = ["ACME"]
qualities = ["high"]
interfaces = ["native", "smpp"]
connectors = ["dear"]

[routing.costs.cheap]
default = 0.04
countries = { FR = "0.021" }
prefixes = { "33700" = "0.05" }
"""
    assert _problems(tmp_path, text) == []
    settings = load_settings(tmp_path / "textgate.toml")
    spec = settings.routing.spec()
    assert spec["rules"][0]["countries"] == ["FR"]
    assert spec["rules"][0]["prefixes"] == ["3370"]
    assert spec["costs"]["cheap"]["countries"] == {"FR": "0.021"}
