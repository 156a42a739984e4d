"""The CLI's account commands: list, show, credit, set, opt-out, key revocation (stored
effects read back; a revoked key refused by the running API)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tests.support import cli_env, running_gateway
from textgate.cli import app
from textgate.config import Settings
from textgate.core.accounts import NewApiKey, hash_secret
from textgate.core.policy import AccountRules
from textgate.runtime import Gateway
from textgate.services.accounts import AccountListing
from textgate.storage.accounts import AccountRepo

NUMBER = "+33612345678"
FR2 = "+33698765432"
# The words of `account list`'s header line.
HEADER = ["name", "id", "balance", "live", "API", "keys", "revoked", "created"]


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


def _listing(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {a["name"]: a for a in json.loads(_invoke(env, "account", "list", "--json"))}


def test_list_shows_accounts_balances_and_keys(env: dict[str, str]) -> None:
    _invoke(env, "account", "create", "bank")
    _invoke(env, "account", "credit", "shop", "2.5")
    second = json.loads(_invoke(env, "account", "key", "shop", "--json"))
    assert set(second) == {"id", "account", "api_key"}
    assert second["api_key"].startswith(f"tg_{second['id']}_")
    listed = json.loads(_invoke(env, "account", "list", "--json"))
    assert [a["name"] for a in listed] == ["bank", "shop"]
    bank, shop = listed
    assert set(shop) == {"id", "name", "created_at", "balance", "api_keys"}
    assert (bank["balance"], shop["balance"]) == ("0", "2.5")
    assert shop["id"] == _show(env)["id"]
    assert len(bank["api_keys"]) == 1 and len(shop["api_keys"]) == 2
    assert shop["api_keys"][1] == {
        "id": second["id"],
        "label": None,
        "created_at": shop["api_keys"][1]["created_at"],
        "revoked_at": None,
    }
    table = _invoke(env, "account", "list").splitlines()
    assert table[0].split() == HEADER
    [shop_line] = [line for line in table if line.startswith("shop")]
    for key in shop["api_keys"]:
        assert f"tg_{key['id']}" in shop_line
    assert shop["id"] in shop_line and " 2.5 " in shop_line


def test_list_without_accounts(db_url: str, tmp_path: Path) -> None:
    empty = {"TEXTGATE_DATA_DIR": str(tmp_path), "TEXTGATE_DATABASE_URL": db_url}
    assert json.loads(_invoke(empty, "account", "list", "--json")) == []
    assert _invoke(empty, "account", "list").split() == HEADER


async def _keys(env: dict[str, str], name: str) -> list[tuple[str, bool]]:
    """(key id, revoked) of the account's keys, read from the database."""
    gw = Gateway(
        Settings(data_dir=Path(env["TEXTGATE_DATA_DIR"]), database_url=env["TEXTGATE_DATABASE_URL"])
    )
    await gw.start(dispatch=False, migrate=False)
    try:
        acc = await gw.services.accounts.by_name(name)
        return [(k.id, k.revoked_at is not None) for k in await gw.services.stats.keys(acc.id)]
    finally:
        await gw.stop()


def test_key_revoke_by_id_prefix_or_token(env: dict[str, str]) -> None:
    keys = [json.loads(_invoke(env, "account", "key", "shop", "--json")) for _ in range(3)]
    first, second, third = keys
    out = _invoke(env, "account", "key", "--revoke", first["id"][:6])
    assert out == f"revoked API key {first['id']} of account shop\n"
    by_token = ("account", "key", "shop", "--revoke", second["api_key"], "--json")
    done = json.loads(_invoke(env, *by_token))
    assert done["id"] == second["id"] and done["account"] == "shop" and done["revoked_at"]
    assert _fails(env, "account", "key", "--revoke", f"tg_{first['id']}") == (
        f"error: the API key {first['id']} is already revoked\n"
    )
    stored = dict(asyncio.run(_keys(env, "shop")))
    assert {k: stored[k] for k in (first["id"], second["id"], third["id"])} == {
        first["id"]: True,
        second["id"]: True,
        third["id"]: False,
    }
    revoked = {k["id"] for k in _listing(env)["shop"]["api_keys"] if k["revoked_at"]}
    assert revoked == {first["id"], second["id"]}


def test_key_revoke_refusals(env: dict[str, str]) -> None:
    _invoke(env, "account", "create", "bank")
    bank_key = _listing(env)["bank"]["api_keys"][0]["id"]

    async def add_twins() -> None:
        # Two keys whose ids share a prefix (random ids almost never do).
        gw = Gateway(
            Settings(
                data_dir=Path(env["TEXTGATE_DATA_DIR"]), database_url=env["TEXTGATE_DATABASE_URL"]
            )
        )
        await gw.start(dispatch=False, migrate=False)
        try:
            acc = await gw.services.accounts.by_name("shop")
            repo = AccountRepo(gw.db)
            for key_id in ("beef01", "beef02"):
                await repo.add_key(acc.id, NewApiKey(key_id, "unused", hash_secret(key_id)))
        finally:
            await gw.stop()

    asyncio.run(add_twins())
    before = _listing(env)
    twins = _fails(env, "account", "key", "--revoke", "beef")
    assert "names several keys (beef01, beef02)" in twins
    assert "at least 4 characters" in _fails(env, "account", "key", "--revoke", "bee")
    assert "no API key 'feed'" in _fails(env, "account", "key", "--revoke", "feed")
    # Named with an account, only that account's keys are candidates.
    assert f"no API key '{bank_key}'" in _fails(env, "account", "key", "shop", "--revoke", bank_key)
    assert "give an account name" in _fails(env, "account", "key", code=2)
    assert _listing(env) == before
    _invoke(env, "account", "key", "shop", "--revoke", "beef02")
    shop_keys = {k["id"]: k["revoked_at"] for k in _listing(env)["shop"]["api_keys"]}
    assert shop_keys["beef01"] is None and shop_keys["beef02"] is not None


async def _cli(env: dict[str, str], *args: str) -> str:
    """Run the installed CLI as its own process (the API server runs in this one)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "textgate",
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def test_revoked_key_is_refused_by_the_api(settings: Settings) -> None:
    # A short authentication cache, so the running server notices the revocation quickly.
    settings = settings.model_copy(update={"auth_cache_seconds": 0.2})
    async with running_gateway(settings) as gw:
        accounts = gw.gateway.services.accounts
        acc = await accounts.create("acme")
        doomed = (await accounts.issue_key(acc.id)).token
        kept = (await accounts.issue_key(acc.id)).token
        client = gw.client

        async def native(key: str) -> httpx.Response:
            return await client.post(
                "/v1/messages",
                headers={"Authorization": f"Bearer {key}"},
                json={"to": "+33612345678", "text": "hi"},
            )

        async def smsmobileapi(key: str) -> httpx.Response:
            return await client.get(
                "/sendsms/", params={"apikey": key, "recipients": "+33612345678", "message": "hi"}
            )

        assert (await native(doomed)).status_code == 202
        assert (await smsmobileapi(doomed)).status_code == 200
        env = cli_env(gw)
        key_id = doomed.split("_")[1]
        out = await _cli(env, "account", "key", "acme", "--revoke", key_id)
        assert out == f"revoked API key {key_id} of account acme\n"
        deadline = time.monotonic() + 30
        while (refused := await native(doomed)).status_code != 401:
            assert refused.status_code == 202 and time.monotonic() < deadline, refused.text
            await asyncio.sleep(0.05)
        assert refused.json()["error"]["code"] == "authentication_failed"
        other = await smsmobileapi(doomed)
        assert other.status_code == 401 and other.json()["result"]["error"] == "20", other.text
        assert (await native(kept)).status_code == 202
        assert (await smsmobileapi(kept)).status_code == 200
        [listing] = [a for a in await accounts.listing() if a.account.name == "acme"]
        assert isinstance(listing, AccountListing)
        assert [k.revoked_at is not None for k in listing.keys] == [True, False]
