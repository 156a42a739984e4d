"""The CLI's account commands: show, credit, set, opt-out (stored effects read back)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from textgate.cli import app
from textgate.config import Settings
from textgate.core.policy import AccountRules
from textgate.runtime import Gateway

NUMBER = "+33612345678"
FR2 = "+33698765432"


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> dict[str, str]:
    env = {
        "TEXTGATE_DATA_DIR": str(tmp_path),
        "TEXTGATE_DATABASE_URL": db_url,
        "TEXTGATE_LOG_LEVEL": "WARNING",
    }
    result = CliRunner().invoke(app, ["account", "create", "shop"], env=env)
    assert result.exit_code == 0, result.output
    return env


def _invoke(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def _fails(env: dict[str, str], *args: str, code: int = 1) -> str:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == code, result.output
    return result.output


def _show(env: dict[str, str]) -> dict[str, Any]:
    view: dict[str, Any] = json.loads(_invoke(env, "account", "show", "shop", "--json"))
    return view


async def _opt_outs(env: dict[str, str]) -> list[tuple[str, str]]:
    gw = Gateway(
        Settings(data_dir=Path(env["TEXTGATE_DATA_DIR"]), database_url=env["TEXTGATE_DATABASE_URL"])
    )
    await gw.start(dispatch=False, migrate=False)
    try:
        acc = await gw.services.accounts.by_name("shop")
        return [(n, src) for n, src, _ in await gw.services.accounts.opt_outs(acc.id)]
    finally:
        await gw.stop()


def test_show_a_new_account(env: dict[str, str]) -> None:
    view = _show(env)
    assert set(view) == {"id", "name", "settings", "balance", "usage_today"}
    assert view["name"] == "shop"
    assert view["settings"] == AccountRules().to_public()
    assert view["balance"] == "0"
    assert view["usage_today"]["count"] == 0
    table = _invoke(env, "account", "show", "shop")
    for expected in ("account shop", "balance: 0", "used today", "daily_limit", "100000"):
        assert expected in table


def test_credit_prints_the_balance_and_keeps_a_ledger(env: dict[str, str]) -> None:
    assert _invoke(env, "account", "credit", "shop", "10.5", "--note", "welcome") == (
        "balance: 10.5\n"
    )
    assert _invoke(env, "account", "credit", "shop", "-0.5") == "balance: 10\n"
    assert _show(env)["balance"] == "10"
    assert "balance: 10\n" in _invoke(env, "account", "show", "shop")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("credit", "shop", "ten"), "not an amount: 'ten'"),
        (("credit", "shop", "0"), "a credit of zero changes nothing"),
        (("credit", "nobody", "1"), "no account named 'nobody'"),
        (("show", "nobody"), "no account named 'nobody'"),
    ],
    ids=["not an amount", "zero", "unknown account", "show unknown account"],
)
def test_account_errors(env: dict[str, str], args: tuple[str, ...], message: str) -> None:
    assert message in _fails(env, "account", *args)


def test_set_changes_only_the_named_settings(env: dict[str, str]) -> None:
    out = _invoke(
        env,
        "account",
        "set",
        "shop",
        "countries_blocked=us,CA",
        "dedupe=on",
        "daily_limit=500",
        "price_default=0.05",
        "prices=fr:0.04,GB:0.045",
        "default_sender=ACME",
        "timezone=Europe/Paris",
    )
    assert "countries_blocked" in out and "US,CA" in out
    settings = _show(env)["settings"]
    assert settings == {
        **AccountRules().to_public(),
        "countries_blocked": ["US", "CA"],
        "dedupe": True,
        "daily_limit": 500,
        "price_default": "0.05",
        "prices": {"FR": "0.04", "GB": "0.045"},
        "default_sender": "ACME",
        "timezone": "Europe/Paris",
    }
    # An empty value restores the default; false restores it too; the rest stays.
    again = json.loads(
        _invoke(
            env, "account", "set", "shop", "default_sender=", "timezone=", "dedupe=off", "--json"
        )
    )
    assert again == {
        **settings,
        "default_sender": None,
        "timezone": "UTC",
        "dedupe": False,
    }
    assert _show(env)["settings"] == again


@pytest.mark.parametrize(
    ("pairs", "code", "message"),
    [
        (("countries_blocked=USA",), 1, "not an ISO 3166 country code: 'USA'"),
        (("colour=red",), 1, "unknown account setting(s): colour"),
        (("daily_limit=many",), 1, "a whole number is needed"),
        (("timezone=Mars/Base",), 1, "unknown time zone 'Mars/Base'"),
        (("dedupe=maybe",), 1, "true or false"),
        (("prices=FR",), 1, "COUNTRY:PRICE pairs"),
        (("overdraft=-1",), 1, "given as positive"),
        (("daily_limit",), 2, "expected KEY=VALUE"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_set_refuses_bad_values(
    env: dict[str, str], pairs: tuple[str, ...], code: int, message: str
) -> None:
    assert message in _fails(env, "account", "set", "shop", *pairs, code=code)
    assert _show(env)["settings"] == AccountRules().to_public()


def test_set_unknown_account(env: dict[str, str]) -> None:
    assert "no account named 'nobody'" in _fails(env, "account", "set", "nobody", "dedupe=on")


def test_opt_out_and_back(env: dict[str, str]) -> None:
    out = _invoke(env, "account", "opt-out", "shop", NUMBER, "0033 6 98 76 54 32")
    assert out == f"opted out: {NUMBER} {FR2}\n"
    assert asyncio.run(_opt_outs(env)) == [(NUMBER, "cli"), (FR2, "cli")]
    _invoke(env, "account", "set", "shop", "default_country=FR")
    assert _invoke(env, "account", "opt-out", "shop", "--remove", "06 12 34 56 78") == (
        f"removed: {NUMBER}\n"
    )
    assert asyncio.run(_opt_outs(env)) == [(FR2, "cli")]
    assert "invalid phone number 'ACME'" in _fails(env, "account", "opt-out", "shop", "ACME")
    assert asyncio.run(_opt_outs(env)) == [(FR2, "cli")]
