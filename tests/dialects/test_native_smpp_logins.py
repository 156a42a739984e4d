"""``/v1/smpp-logins``: case table through the real HTTP server, whose SMPP server is on.
What a case stores is checked where it counts: a real SMPP client (smpplib) binds with the
pair the API set, and is refused once the API deleted it."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from tests.dialects.harness import BodyRoute, DialectCase, Request, run_case
from tests.dialects.malformed import malformed
from tests.dialects.test_native import NATIVE
from tests.smpp_server.harness import Esme
from tests.support import Running, running_gateway
from textgate.config import Settings, SmppServerSettings
from textgate.connectors.smpp.constants import CommandStatus
from textgate.storage.tables import smpp_logins

PATH = "/v1/smpp-logins"
SYSTEM_ID = "shop_esme"
PASSWORD = "s3cret!"
OTHER_PASSWORD = "n3wpass"

PROFILE = dataclasses.replace(
    NATIVE,
    body_routes=(BodyRoute("POST", PATH),),
    # 204 answers have no body.
    parse=lambda text: json.loads(text) if text else None,
)


@dataclass
class World:
    running: Running
    port: int
    account_id: str

    async def bind(self, system_id: str, password: str, kind: str = "transceiver") -> int:
        """A real client's bind with this pair: the command_status answered."""
        esme = Esme(self.port)
        await esme.call("connect")
        try:
            answer = await esme.call("bind", kind, system_id, password)
        finally:
            await esme.call("close")
        assert answer.command == f"bind_{kind}_resp"
        return answer.status

    async def stored(self) -> list[tuple[str, str, str]]:
        """(account id, system_id, password hash) of every stored SMPP login."""
        async with self.running.gateway.db.read() as conn:
            rows = (await conn.execute(select(smpp_logins))).all()
        return sorted((r.account_id, r.system_id, r.password_hash) for r in rows)


@pytest.fixture
async def world(settings: Settings) -> AsyncIterator[World]:
    server = SmppServerSettings(enabled=True, port=0)
    async with running_gateway(settings.model_copy(update={"smpp_server": server})) as running:
        assert running.gateway.smpp is not None
        account = await running.gateway.services.accounts.create("acme")
        yield World(running, running.gateway.smpp.port, account.id)


def _set(system_id: str = SYSTEM_ID, password: str = PASSWORD) -> Request:
    return Request("POST", PATH, json={"system_id": system_id, "password": password})


def _binds(
    system_id: str, password: str, status: int = CommandStatus.ESME_ROK
) -> Callable[[World, Any], Awaitable[None]]:
    async def check(world: World, body: Any) -> None:
        for kind in ("transmitter", "receiver", "transceiver"):
            assert await world.bind(system_id, password, kind) == status, (system_id, kind)

    return check


def _stored(*system_ids: str) -> Callable[[World, Any], Awaitable[None]]:
    """The account's stored logins are exactly these; passwords only as scrypt hashes."""

    async def check(world: World, body: Any) -> None:
        rows = await world.stored()
        assert [s for a, s, _ in rows if a == world.account_id] == list(system_ids)
        for _, _, password_hash in rows:
            assert password_hash.startswith("scrypt$")
            assert PASSWORD not in password_hash and OTHER_PASSWORD not in password_hash

    return check


def _listed(*system_ids: str) -> Callable[[World, Any], Awaitable[None]]:
    """The answer lists exactly these logins, each with its system_id and the time it was
    set (nothing else), as stored."""

    async def check(world: World, body: Any) -> None:
        listed = body["data"]
        assert [x["system_id"] for x in listed] == list(system_ids)
        assert all(set(x) == {"system_id", "created_at"} for x in listed)
        stored = await world.running.gateway.services.smpp_logins.of_account(world.account_id)
        assert [datetime.fromisoformat(x["created_at"]) for x in listed] == [
            s.created_at for s in stored
        ]

    return check


async def _no_password_shown(world: World, body: Any) -> None:
    text = json.dumps(body)
    assert PASSWORD not in text and "scrypt" not in text and "password" not in text


async def _other_account_has(world: World) -> None:
    services = world.running.gateway.services
    other = await services.accounts.create("other")
    await services.smpp_logins.set_login(other.id, SYSTEM_ID, OTHER_PASSWORD)


def _too_long(what: str, length: int, longest: int) -> dict[str, Any]:
    return {
        "error": {
            "code": "invalid_request",
            "message": f"an SMPP {what} has 1 to {longest} characters (SMPP 3.4 4.1.1);"
            f" this one has {length}",
        }
    }


def _refused(label: str, body: dict[str, Any], expect: dict[str, Any] | None = None) -> DialectCase:
    """A POST the API refuses with 400, storing nothing."""
    return DialectCase(
        label,
        Request("POST", PATH, json=body),
        expect_status=400,
        expect_error_code="invalid_request",
        expect_json=expect,
        checks=(_stored(),),
        quiet=True,
    )


CASES = [
    DialectCase("no login yet", Request("GET", PATH), expect_json={"data": []}),
    DialectCase(
        "set a login: each kind of bind takes it, a wrong password does not",
        _set(),
        expect_status=201,
        expect_json={"system_id": SYSTEM_ID},
        checks=(
            _stored(SYSTEM_ID),
            _no_password_shown,
            _binds(SYSTEM_ID, PASSWORD),
            _binds(SYSTEM_ID, "wrong", CommandStatus.ESME_RINVPASWD),
        ),
    ),
    DialectCase(
        "the list shows the system_id and when it was set, never the password",
        Request("GET", PATH),
        setup=(_set(),),
        checks=(_no_password_shown, _listed(SYSTEM_ID)),
    ),
    DialectCase(
        "setting another pair replaces the old one",
        _set("shop2", OTHER_PASSWORD),
        setup=(_set(),),
        expect_status=201,
        expect_json={"system_id": "shop2"},
        checks=(
            _stored("shop2"),
            _binds("shop2", OTHER_PASSWORD),
            _binds(SYSTEM_ID, PASSWORD, CommandStatus.ESME_RINVSYSID),
        ),
    ),
    DialectCase(
        "setting the same system_id again changes its password",
        _set(SYSTEM_ID, OTHER_PASSWORD),
        setup=(_set(),),
        expect_status=201,
        checks=(
            _stored(SYSTEM_ID),
            _binds(SYSTEM_ID, OTHER_PASSWORD),
            _binds(SYSTEM_ID, PASSWORD, CommandStatus.ESME_RINVPASWD),
        ),
    ),
    DialectCase(
        "delete: binds with it are refused",
        Request("DELETE", f"{PATH}/{SYSTEM_ID}"),
        setup=(_set(),),
        expect_status=204,
        checks=(_stored(), _binds(SYSTEM_ID, PASSWORD, CommandStatus.ESME_RINVSYSID)),
    ),
    DialectCase(
        "a system_id with a slash is deleted by its percent-encoded path",
        Request("DELETE", f"{PATH}/a%2Fb"),
        setup=(_set("a/b"),),
        expect_status=204,
        checks=(_stored(), _binds("a/b", PASSWORD, CommandStatus.ESME_RINVSYSID)),
    ),
    DialectCase(
        "delete an unknown system_id",
        Request("DELETE", f"{PATH}/nobody"),
        expect_status=404,
        expect_error_code="not_found",
    ),
    DialectCase(
        "another account's login can be neither deleted nor taken",
        Request("DELETE", f"{PATH}/{SYSTEM_ID}"),
        arrange=_other_account_has,
        expect_status=404,
        expect_error_code="not_found",
        checks=(_stored(), _binds(SYSTEM_ID, OTHER_PASSWORD)),
    ),
    DialectCase(
        "a system_id another account has",
        _set(),
        arrange=_other_account_has,
        expect_status=409,
        expect_error_code="conflict",
        checks=(_stored(), _binds(SYSTEM_ID, OTHER_PASSWORD)),
    ),
    _refused(
        "system_id of 16 characters (SMPP 3.4 5.2.1: 15 and the NUL)",
        {"system_id": "a" * 16, "password": PASSWORD},
        _too_long("system_id", 16, 15),
    ),
    _refused(
        "password of 9 characters (SMPP 3.4 5.2.2: 8 and the NUL)",
        {"system_id": SYSTEM_ID, "password": "123456789"},
        _too_long("password", 9, 8),
    ),
    _refused("empty password", {"system_id": SYSTEM_ID, "password": ""}),
    _refused("empty system_id", {"system_id": "", "password": PASSWORD}),
    _refused("non-ASCII system_id", {"system_id": "shöp", "password": PASSWORD}),
    _refused("space in the system_id", {"system_id": "my shop", "password": PASSWORD}),
    _refused("NUL in the password", {"system_id": SYSTEM_ID, "password": "ab\x00cd"}),
    _refused("no password", {"system_id": SYSTEM_ID}),
    _refused("a number for a password", {"system_id": SYSTEM_ID, "password": 1234}),
    _refused("unknown field", {"system_id": SYSTEM_ID, "password": PASSWORD, "kind": "tx"}),
    DialectCase(
        "no API key",
        _set(),
        auth=False,
        expect_status=401,
        expect_error_code="authentication_failed",
        checks=(_stored(),),
    ),
]


@pytest.mark.parametrize(
    "case", [*CASES, *malformed(PROFILE, injections=False)], ids=lambda c: c.label
)
async def test_native_smpp_logins(case: DialectCase, world: World) -> None:
    accounts = world.running.gateway.services.accounts
    api_key = (await accounts.issue_key(world.account_id)).token
    await run_case(
        case,
        world.running,
        PROFILE,
        api_key,
        world.account_id,
        world=world,
        secrets=(PASSWORD, OTHER_PASSWORD),
    )
