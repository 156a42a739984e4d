"""``textgate mailup ...``: lists, opt-outs, templates, SMTP+ users, console status and
campaigns managed from the command line, with the stored effects read back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from typer.testing import CliRunner

from textgate.cli import app
from textgate.config import Settings
from textgate.core.lists import ConsoleStatus, TemplateKind
from textgate.runtime import Gateway

T = TypeVar("T")


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> dict[str, str]:
    env = {
        "TEXTGATE_DATA_DIR": str(tmp_path),
        "TEXTGATE_DATABASE_URL": db_url,
        "TEXTGATE_LOG_LEVEL": "WARNING",
    }
    _invoke(env, "account", "create", "shop")
    return env


def _invoke(env: dict[str, str], *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == code, result.output
    return result.stdout


async def _read(env: dict[str, str], read: Callable[[Gateway, str], Awaitable[T]]) -> T:
    gw = Gateway(
        Settings(data_dir=Path(env["TEXTGATE_DATA_DIR"]), database_url=env["TEXTGATE_DATABASE_URL"])
    )
    await gw.start(dispatch=False, migrate=False)
    try:
        account = await gw.services.accounts.by_name("shop")
        return await read(gw, account.id)
    finally:
        await gw.stop()


def test_lists_opt_outs_and_templates(env: dict[str, str]) -> None:
    made = json.loads(
        _invoke(
            env, "mailup", "list-create", "shop", "customers", "--prefix", "+39", "--sender", "SHOP"
        )
    )
    assert (made["console_id"], made["list_id"]) == (10001, 1)
    _invoke(env, "mailup", "opt-out", "shop", "1", "3350000001", "+393350000002")
    _invoke(env, "mailup", "opt-out", "shop", "1", "+393350000002", "--remove")
    _invoke(env, "mailup", "list-set", "shop", "1", "--sender", "OTHER")
    assert (
        _invoke(env, "mailup", "template-add", "shop", "otp", "--text", "Code [Code]").strip()
        == "1"
    )
    assert (
        _invoke(
            env, "mailup", "template-add", "shop", "mail", "--kind", "email", "--html", "<p>x</p>"
        ).strip()
        == "2"
    )
    _invoke(env, "mailup", "template-add", "shop", "bad", "--kind", "fax", "--text", "x", code=1)
    # The TemplateId it had at MailUp, kept; taken once.
    kept = ("mailup", "template-add", "shop", "kept", "--text", "Kept", "--id", "694")
    assert _invoke(env, *kept).strip() == "694"
    _invoke(env, *kept, code=1)
    _invoke(env, "mailup", "template-remove", "shop", "2")
    lines = [json.loads(x) for x in _invoke(env, "mailup", "lists", "shop").splitlines()]
    assert lines == [
        {
            "list_id": 1,
            "name": "customers",
            "guid": made["guid"],
            "secret_set": False,
            "default_prefix": "39",
            "sms_sender": "OTHER",
        }
    ]

    async def read(gw: Gateway, account_id: str) -> Any:
        return (
            await gw.services.lists.opt_outs(account_id, 1),
            [
                (t.template_id, t.kind, t.text)
                for t in await gw.services.lists.templates(account_id)
            ],
        )

    opt_outs, templates = asyncio.run(_read(env, read))
    assert opt_outs == ["+393350000001"]
    assert templates == [(1, TemplateKind.SMS, "Code [Code]"), (694, TemplateKind.SMS, "Kept")]


def test_smtp_users_and_console(env: dict[str, str]) -> None:
    _invoke(env, "mailup", "list-create", "shop", "customers")
    created = json.loads(_invoke(env, "mailup", "smtp-user-create", "shop", "1"))
    assert created["username"] == "s10001_1" and len(created["secret"]) >= 32
    _invoke(
        env,
        "mailup",
        "smtp-user-set",
        "s10001_1",
        "--disabled",
        "--priority",
        "2",
        "--senders",
        "a@example.com",
        "--block-until",
        "2999-01-01T00:00:00+00:00",
    )
    _invoke(env, "mailup", "smtp-user-set", "s10001_1", "--priority", "9", code=1)
    status = json.loads(_invoke(env, "mailup", "console", "shop", "--status", "suspended"))
    assert status == {"account": "shop", "console_id": 10001, "status": "suspended"}
    assert _invoke(env, "mailup", "campaigns", "shop") == ""

    async def read(gw: Gateway, account_id: str) -> Any:
        user = await gw.services.smtp_users.get("s10001_1")
        console = await gw.services.lists.console_of(account_id)
        return user, console

    user, console = asyncio.run(_read(env, read))
    assert (user.enabled, user.priority, user.sender_list) == (False, 2, "a@example.com")
    assert user.block_until is not None and user.block_until.year == 2999
    assert console is not None and console.status is ConsoleStatus.SUSPENDED


def test_a_list_moved_from_elsewhere_keeps_its_guid_and_secret(env: dict[str, str]) -> None:
    guid = "AAFA5375-BCF1-4E06-965A-E3A98B626156"
    secret = "0b7dd2a2-3c8e-4f5c-9a55-3e1cb0e6e64c"
    _invoke(env, "mailup", "console", "shop", "--number", "59484")
    made = json.loads(_invoke(env, "mailup", "list-create", "shop", "moved", "--guid", guid))
    assert (made["console_id"], made["guid"]) == (59484, guid.lower())
    _invoke(env, "mailup", "list-create", "shop", "again", "--guid", guid, code=1)
    _invoke(env, "mailup", "list-create", "shop", "bad", "--guid", "not-a-guid", code=1)
    _invoke(env, "mailup", "list-set", "shop", "1", "--secret", "nope", code=1)
    _invoke(env, "mailup", "list-set", "shop", "1", "--secret", secret)

    async def read(gw: Gateway, account_id: str) -> Any:
        return [(x.guid, x.secret) for x in await gw.services.lists.lists(account_id)]

    assert asyncio.run(_read(env, read)) == [(guid.lower(), secret)]
