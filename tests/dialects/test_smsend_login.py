"""smsend logins through the real server: both grant kinds, credentials in the query or
HTTP Basic, session expiry and revocation, and a client written like the seed's Python
example (requests, query-string login, user_key / Session_key headers, JSON POST)."""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
from typing import Any

import pytest
import requests
from pydantic import SecretStr
from sqlalchemy import text
from typer.testing import CliRunner

from tests.dialects.harness import NUMBER, DialectCase, Request, Stored, passes, run_case
from tests.dialects.test_smsend import SMSEND
from tests.support import HTTP_TIMEOUT, Running, ShiftedClock, running_gateway, until
from textgate.cli import app as cli
from textgate.config import Settings
from textgate.errors import Conflict, InvalidRequest
from textgate.storage.secrets import load_key

P = "/API/v1.0/REST"
USERNAME = "shop-user"
PASSWORD = "s3cret-Passw0rd"


async def _account(running: Running, name: str = "shop") -> str:
    account = await running.gateway.services.accounts.create(name)
    await running.gateway.credentials.set_login(account.id, USERNAME, PASSWORD)
    return account.id


def _basic(username: str, password: str) -> dict[str, str]:
    pair = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


def _sms(**fields: Any) -> dict[str, Any]:
    return {"message": "hi", "message_type": "N", "recipient": [NUMBER], **fields}


@pytest.mark.parametrize(
    ("method", "path", "params", "headers"),
    [
        ("GET", "login", {"username": USERNAME, "password": PASSWORD}, {}),
        ("GET", "login", None, _basic(USERNAME, PASSWORD)),
        ("POST", "login", {"username": USERNAME, "password": PASSWORD}, {}),
        ("GET", "/login", {"username": USERNAME, "password": PASSWORD}, {}),
        ("GET", "login/", {"username": USERNAME, "password": PASSWORD}, {}),
        ("GET", "token", {"username": USERNAME, "password": PASSWORD}, {}),
        ("GET", "token", None, _basic(USERNAME, PASSWORD)),
    ],
    ids=["query", "basic", "post", "doubled-slash", "trailing-slash", "token", "token-basic"],
)
async def test_grants(
    gateway: Running, method: str, path: str, params: dict[str, str] | None, headers: Any
) -> None:
    account_id = await _account(gateway)
    r = await gateway.client.request(method, f"{P}/{path}", params=params, headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    user_key, secret = r.text.split(";")
    assert user_key == account_id and len(secret) >= 40
    kind = "Access_token" if "token" in path else "Session_key"
    sent = await gateway.client.post(
        f"{P}/sms", json=_sms(), headers={"user_key": user_key, kind: secret}
    )
    assert sent.status_code == 201, sent.text


@pytest.mark.parametrize(
    ("params", "headers"),
    [
        ({"username": USERNAME, "password": "wrong-password"}, {}),
        ({"username": "nobody", "password": PASSWORD}, {}),
        ({"username": "", "password": ""}, {}),
        (None, {}),
        (None, _basic(USERNAME, "wrong-password")),
        (None, {"Authorization": "Basic !!!"}),
        (None, {"Authorization": "Bearer abc"}),
    ],
    ids=[
        "wrong-password",
        "unknown-user",
        "empty",
        "none",
        "basic-wrong",
        "basic-garbage",
        "bearer",
    ],
)
async def test_refused_logins(
    gateway: Running, params: dict[str, str] | None, headers: dict[str, str]
) -> None:
    await _account(gateway)
    for path in ("login", "token"):
        r = await gateway.client.get(f"{P}/{path}", params=params, headers=headers)
        assert r.status_code == 401, r.text
        body = r.json()
        assert body["result"] == "KO" and body["code"] == 20
        assert PASSWORD not in r.text


async def test_password_is_stored_hashed_and_username_unique(gateway: Running) -> None:
    account_id = await _account(gateway)
    other = await gateway.gateway.services.accounts.create("other")
    with pytest.raises(Conflict):
        await gateway.gateway.credentials.set_login(other.id, USERNAME, "another-password")
    with pytest.raises(InvalidRequest):
        await gateway.gateway.credentials.set_login(other.id, "has space", "another-password")
    with pytest.raises(InvalidRequest):
        await gateway.gateway.credentials.set_login(other.id, "fine", "short")
    async with gateway.gateway.db.read() as conn:
        rows = (await conn.execute(text("SELECT password_hash FROM login_credentials"))).all()
    assert len(rows) == 1 and rows[0][0].startswith("scrypt$") and PASSWORD not in rows[0][0]
    r = await gateway.client.get(f"{P}/login", auth=(USERNAME, PASSWORD))
    session_key = r.text.split(";")[1]
    async with gateway.gateway.db.read() as conn:
        tokens = (await conn.execute(text("SELECT token_hash FROM auth_tokens"))).all()
    assert len(tokens) == 1 and tokens[0][0] != session_key and len(tokens[0][0]) == 64
    assert await gateway.gateway.credentials.username(account_id) == USERNAME


async def test_session_expires_when_idle_and_slides_while_used(settings: Settings) -> None:
    idle = 60.0
    clock = ShiftedClock()
    idle_settings = settings.model_copy(update={"session_idle_seconds": idle})
    async with running_gateway(idle_settings, clock=clock) as gw:
        await _account(gw)
        session = (await gw.client.get(f"{P}/login", auth=(USERNAME, PASSWORD))).text.split(";")
        token = (await gw.client.get(f"{P}/token", auth=(USERNAME, PASSWORD))).text.split(";")
        by_session = {"user_key": session[0], "Session_key": session[1]}
        by_token = {"user_key": token[0], "Access_token": token[1]}
        # Used every half idle time, the session outlives its idle time several times over.
        for _ in range(5):
            r = await gw.client.get(f"{P}/status", headers=by_session)
            assert r.status_code == 200, r.text
            clock.advance(idle / 2)
        clock.advance(idle)
        r = await gw.client.get(f"{P}/status", headers=by_session)
        assert r.status_code == 401 and r.json()["code"] == 20 and "expired" in r.text
        r = await gw.client.post(f"{P}/sms", json=_sms(), headers=by_session)
        assert r.status_code == 401
        # The access token does not expire with idleness.
        r = await gw.client.get(f"{P}/status", headers=by_token)
        assert r.status_code == 200, r.text


# Through the shared harness: the setup request uses the session, then a minute passes on
# the gateway's clock, longer than the idle time, and the next request is refused.
EXPIRED = DialectCase(
    "session expired after its idle time",
    Request("GET", f"{P}/status"),
    setup=(Request("POST", f"{P}/sms", json=_sms()),),
    after_setup=passes(61),
    expect_status=401,
    expect_error_code="20",
    expect_stored=(Stored(NUMBER),),
)


async def test_session_expiry_case(settings: Settings) -> None:
    clock = ShiftedClock()
    idle = settings.model_copy(update={"session_idle_seconds": 60})
    async with running_gateway(idle, clock=clock) as gw:
        account_id = await _account(gw)
        login = await gw.client.get(f"{P}/login", auth=(USERNAME, PASSWORD))
        session_key = login.text.split(";")[1]
        body = await run_case(
            EXPIRED,
            gw,
            SMSEND,
            login.text,
            account_id,
            world=clock,
            secrets=(session_key, PASSWORD),
        )
        assert "expired" in body["message"]


async def test_revocation_and_password_change(gateway: Running) -> None:
    account_id = await _account(gateway)
    credentials = gateway.gateway.credentials
    token = (await gateway.client.get(f"{P}/token", auth=(USERNAME, PASSWORD))).text.split(";")
    by_token = {"user_key": token[0], "Access_token": token[1]}
    assert (await gateway.client.get(f"{P}/status", headers=by_token)).status_code == 200
    assert await credentials.revoke(account_id) == 1
    assert (await gateway.client.get(f"{P}/status", headers=by_token)).status_code == 401
    session = (await gateway.client.get(f"{P}/login", auth=(USERNAME, PASSWORD))).text.split(";")
    by_session = {"user_key": session[0], "Session_key": session[1]}
    await credentials.set_login(account_id, USERNAME, "a-new-password")
    assert (await gateway.client.get(f"{P}/status", headers=by_session)).status_code == 401
    old = await gateway.client.get(f"{P}/login", auth=(USERNAME, PASSWORD))
    assert old.status_code == 401
    new = await gateway.client.get(f"{P}/login", auth=(USERNAME, "a-new-password"))
    assert new.status_code == 200


# --- a client written as the seed's Python example, base URL changed -------------------

MESSAGE_HIGH_QUALITY = "N"


def json_serial(obj: Any) -> str:
    if isinstance(obj, datetime.datetime):
        return obj.isoformat()
    raise TypeError("Type not serializable")


def seed_client(base: str, sendsms: dict[str, Any]) -> tuple[dict[str, Any], str, str]:
    baseurl = f"{base}/API/v1.0/REST/"
    r = requests.get(
        f"{baseurl}login?username={USERNAME}&password={PASSWORD}", timeout=HTTP_TIMEOUT
    )
    assert r.status_code == 200, r.text
    user_key, session_key = r.text.split(";")
    headers = {
        "user_key": user_key,
        "Session_key": session_key,
        "Content-type": "application/json",
    }
    r = requests.post(
        f"{baseurl}sms",
        headers=headers,
        data=json.dumps(sendsms, default=json_serial),
        timeout=HTTP_TIMEOUT,
    )
    assert r.status_code == 201, r.text
    return json.loads(r.text), user_key, session_key


def order_statuses(base: str, user_key: str, session_key: str, order_id: str) -> list[str]:
    r = requests.get(
        f"{base}/API/v1.0/REST/sms/{order_id}",
        headers={"user_key": user_key, "Session_key": session_key},
        timeout=HTTP_TIMEOUT,
    )
    assert r.status_code == 200, r.text
    return [x["status"] for x in r.json()["recipients"]]


async def test_seed_python_client(gateway: Running) -> None:
    await _account(gateway)
    loop = asyncio.get_running_loop()
    now_message = {
        "message": "Hello world!",
        "message_type": MESSAGE_HIGH_QUALITY,
        "returnCredits": False,
        "recipient": [NUMBER],
        "sender": None,
    }
    sent, user_key, session_key = await loop.run_in_executor(
        None, seed_client, gateway.base_url, now_message
    )
    assert sent["result"] == "OK"
    assert sent["total_sent"] == 1 and isinstance(sent["remaining_credits"], int)
    statuses: list[str] = []

    async def delivered() -> bool:
        nonlocal statuses
        statuses = await loop.run_in_executor(
            None, order_statuses, gateway.base_url, user_key, session_key, sent["order_id"]
        )
        return statuses == ["DLVRD"]

    await until(delivered, "the order to be delivered")
    msgs = await gateway.gateway.services.messages.order(user_key, sent["internal_order_id"])
    assert [(m.status.value, m.quality, m.interface) for m in msgs] == [
        ("delivered", "high", "smsend")
    ]
    # The seed's own request: the same message postponed by 5 minutes.
    later = {
        **now_message,
        "scheduled_delivery_time": datetime.datetime.now() + datetime.timedelta(minutes=5),
    }
    scheduled, user_key, session_key = await loop.run_in_executor(
        None, seed_client, gateway.base_url, later
    )
    assert scheduled["result"] == "OK"
    assert await loop.run_in_executor(
        None, order_statuses, gateway.base_url, user_key, session_key, scheduled["order_id"]
    ) == ["SCHEDULED"]


def test_cli_set_login(db_url: str, tmp_path: Any) -> None:
    env = {
        "TEXTGATE_DATA_DIR": str(tmp_path),
        "TEXTGATE_DATABASE_URL": db_url,
        "TEXTGATE_LOG_LEVEL": "WARNING",
    }
    runner = CliRunner()
    created = runner.invoke(cli, ["account", "create", "shop", "--json"], env=env)
    assert created.exit_code == 0, created.output
    result = runner.invoke(
        cli,
        ["account", "set-login", "shop", "--username", USERNAME, "--password-stdin"],
        input=f"{PASSWORD}\n",
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    too_short = runner.invoke(
        cli,
        ["account", "set-login", "shop", "--username", USERNAME, "--password-stdin"],
        input="short\n",
        env=env,
    )
    assert too_short.exit_code == 1

    async def check() -> None:
        # The key file the commands made: the database knows that key.
        settings = Settings(
            data_dir=tmp_path,
            database_url=db_url,
            demo_account=False,
            secret_key=SecretStr(load_key(tmp_path)),
        )
        async with running_gateway(settings) as gw:
            r = await gw.client.get(
                f"{P}/login", params={"username": USERNAME, "password": PASSWORD}
            )
            assert r.status_code == 200, r.text
            assert r.text.split(";")[0] == json.loads(created.stdout)["id"]

    asyncio.run(check())
    revoked = runner.invoke(cli, ["account", "revoke-logins", "shop"], env=env)
    assert revoked.exit_code == 0 and "revoked: 1" in revoked.output


async def test_repeated_failed_logins_are_throttled(gateway: Running) -> None:
    account_id = await _account(gateway)
    for _ in range(10):
        r = await gateway.client.get(f"{P}/login", auth=(USERNAME, "guess-password"))
        assert r.status_code == 401
    # Even the right password is refused now, unchecked, and so is the token endpoint.
    for path in ("login", "token"):
        r = await gateway.client.get(f"{P}/{path}", auth=(USERNAME, PASSWORD))
        assert r.status_code == 429 and r.json()["code"] == 60, r.text
    # Other usernames are not affected; a new password lifts the block.
    other = await gateway.gateway.services.accounts.create("other")
    await gateway.gateway.credentials.set_login(other.id, "other-user", PASSWORD)
    assert (
        await gateway.client.get(f"{P}/login", auth=("other-user", PASSWORD))
    ).status_code == 200
    await gateway.gateway.credentials.set_login(account_id, USERNAME, "a-new-password")
    r = await gateway.client.get(f"{P}/login", auth=(USERNAME, "a-new-password"))
    assert r.status_code == 200
