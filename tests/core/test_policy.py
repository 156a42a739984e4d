"""Account rules: conversion, validation, and the per-recipient decision."""

from __future__ import annotations

from typing import Any

import pytest

from textgate.core.policy import AccountRules, AccountState, Reason, admit, check_request
from textgate.core.pricing import MICRO, format_amount, parse_amount
from textgate.errors import InvalidRequest, PolicyDenied


def test_public_round_trip_and_reset_to_default() -> None:
    rules = AccountRules.from_public(
        {"dedupe": "yes", "overdraft": "2.5", "prices": {"fr": "0.05"}, "countries_blocked": "us"}
    )
    assert rules.dedupe and rules.overdraft == 2_500_000 and rules.prices == {"FR": 50_000}
    assert rules.countries_blocked == ("US",)
    assert AccountRules.from_dict(rules.to_dict()) == rules
    back = AccountRules.from_public({"dedupe": False, "overdraft": None}, base=rules)
    assert not back.dedupe and back.overdraft == 0 and back.prices == {"FR": 50_000}
    assert AccountRules.from_public({"dedupe": None}, base=rules).dedupe is False


@pytest.mark.parametrize(
    "changes",
    [
        {"prices": "x"},
        {"prices": {"FR": "abc"}},
        {"timezone": "Mars/Olympus"},
        {"daily_limit": 10**30},
        {"batch_limit": 0},
        {"dedupe_window_seconds": 10**12},
        {"default_sender": "x" * 5000},
        {"allowed_senders": ["OK", "bad\x00"]},
        {"allowed_ips": ["not-an-ip"]},
        {"countries_allowed": ["FRA"]},
        {"overdraft": "1e30"},
        {"daily_limit": True},
        {"colour": "red"},
    ],
    ids=repr,
)
def test_bad_settings_are_refused_cleanly(changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest):
        AccountRules.from_public(changes)


@pytest.mark.parametrize(
    ("text", "micro"), [("1", MICRO), ("0.05", 50_000), ("-3", -3 * MICRO), (2.5, 2_500_000)]
)
def test_amounts(text: str | float, micro: int) -> None:
    assert parse_amount(text) == micro
    assert parse_amount(format_amount(micro)) == micro


@pytest.mark.parametrize("text", ["1e30", "0.0000001", "ten", "NaN", "inf"])
def test_bad_amounts(text: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_amount(text)


def test_request_checks() -> None:
    rules = AccountRules(allowed_ips=("10.0.0.0/8",), batch_limit=2)
    check_request(rules, client_ip="10.1.2.3", recipients=2)
    check_request(rules, client_ip=None, recipients=1, operator=True)  # the local CLI
    for unknown in (None, ""):  # no peer address: an allowlist fails closed
        with pytest.raises(PolicyDenied):
            check_request(rules, client_ip=unknown, recipients=1)
    with pytest.raises(PolicyDenied) as ip:
        check_request(rules, client_ip="127.0.0.1", recipients=1)
    assert ip.value.reason == Reason.IP_NOT_ALLOWED
    with pytest.raises(PolicyDenied) as batch:
        check_request(rules, client_ip="10.0.0.1", recipients=3)
    assert batch.value.reason == Reason.BATCH_TOO_LARGE


def test_admit_order_of_checks_and_state() -> None:
    rules = AccountRules(daily_limit=2, dedupe=True, overdraft=10)
    state = AccountState(balance=100, used_today=0, opted_out={"+1"})
    assert admit(rules, state, "+1", "t", 50) == Reason.OPTED_OUT
    assert admit(rules, state, "+2", "t", 50) is None
    assert admit(rules, state, "+2", "t", 50) == Reason.DUPLICATE
    assert admit(rules, state, "+3", "t", 70) == Reason.INSUFFICIENT_CREDIT  # 50 - 70 < -10
    assert admit(rules, state, "+3", "t", 60) is None  # exactly the overdraft
    assert (state.balance, state.used_today) == (-10, 2)
    assert admit(rules, state, "+4", "t", 0) == Reason.DAILY_LIMIT
