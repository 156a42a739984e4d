"""``textgate account smpp-login``: the stored pair binds, the password is kept hashed, and
values SMPP 3.4 cannot carry are refused with a clear message."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from textgate.cli import app as cli
from textgate.config import Settings
from textgate.errors import AuthenticationFailed
from textgate.runtime import Gateway
from textgate.services.smpp_logins import UNKNOWN_SYSTEM_ID, WRONG_PASSWORD
from textgate.storage.tables import smpp_logins

SYSTEM_ID = "shop_esme"
PASSWORD = "s3cret!"


def _env(db_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "TEXTGATE_DATA_DIR": str(tmp_path),
        "TEXTGATE_DATABASE_URL": db_url,
        "TEXTGATE_LOG_LEVEL": "WARNING",
    }


def _smpp_login(env: dict[str, str], system_id: str, password: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli,
        ["account", "smpp-login", "shop", "--system-id", system_id, "--password-stdin"],
        input=f"{password}\n",
        env=env,
    )
    return result.exit_code, result.output


def test_cli_smpp_login_stores_a_pair_that_binds(db_url: str, tmp_path: Path) -> None:
    env = _env(db_url, tmp_path)
    created = CliRunner().invoke(cli, ["account", "create", "shop", "--json"], env=env)
    assert created.exit_code == 0, created.output
    code, output = _smpp_login(env, SYSTEM_ID, PASSWORD)
    assert code == 0, output
    assert f"system_id {SYSTEM_ID}" in output and PASSWORD not in output

    async def check() -> None:
        gateway = Gateway(Settings(data_dir=tmp_path, database_url=db_url, demo_account=False))
        await gateway.start(dispatch=False)
        try:
            async with gateway.db.read() as conn:
                rows = (await conn.execute(select(smpp_logins))).all()
            assert [r.system_id for r in rows] == [SYSTEM_ID]
            assert PASSWORD not in rows[0].password_hash
            assert rows[0].password_hash.startswith("scrypt$")
            logins = gateway.services.smpp_logins
            account = await logins.bind(SYSTEM_ID, PASSWORD, client_ip="127.0.0.1")
            assert account.name == "shop"
            with pytest.raises(AuthenticationFailed) as wrong:
                await logins.bind(SYSTEM_ID, "nope", client_ip="127.0.0.1")
            assert wrong.value.code == WRONG_PASSWORD
            with pytest.raises(AuthenticationFailed) as unknown:
                await logins.bind("nobody", PASSWORD, client_ip="127.0.0.1")
            assert unknown.value.code == UNKNOWN_SYSTEM_ID
        finally:
            await gateway.stop()

    asyncio.run(check())


@pytest.mark.parametrize(
    ("system_id", "password", "message"),
    [
        (
            "a" * 16,
            "pw",
            "an SMPP system_id has 1 to 15 characters (SMPP 3.4 4.1.1); this one has 16",
        ),
        (
            "shop",
            "123456789",
            "an SMPP password has 1 to 8 characters (SMPP 3.4 4.1.1); this one has 9",
        ),
        ("shop", "", "an SMPP password has 1 to 8 characters (SMPP 3.4 4.1.1); this one has 0"),
        ("shöp", "pw", "an SMPP system_id is printable ASCII without spaces"),
    ],
    ids=["system_id too long", "password too long", "empty password", "non-ASCII system_id"],
)
def test_cli_smpp_login_refuses_what_smpp_cannot_carry(
    db_url: str, tmp_path: Path, system_id: str, password: str, message: str
) -> None:
    env = _env(db_url, tmp_path)
    assert CliRunner().invoke(cli, ["account", "create", "shop"], env=env).exit_code == 0
    code, output = _smpp_login(env, system_id, password)
    assert code == 1
    assert message in " ".join(output.split())  # the console wraps long lines
