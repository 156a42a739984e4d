"""A client that leaves in the middle of its request body, at every body route of every HTTP
dialect: one line at INFO, no traceback, no error (a client can do this at will; a logged
traceback each time would flood the logs), and the server goes on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping

import pytest
from pydantic import SecretStr

from tests.android.test_malformed import ANDROID
from tests.dialects.harness import BodyRoute, secrets_stay_out_of_logs
from tests.dialects.test_admin import ADMIN, ADMIN_TOKEN
from tests.dialects.test_mailup import MAILUP
from tests.dialects.test_native import NATIVE
from tests.dialects.test_smsend import SMSEND, login_keys
from tests.dialects.test_smsmobileapi import SMSMOBILEAPI, SOAP
from tests.support import Running, running_gateway, until
from textgate.config import Settings

ROUTES = [
    (profile.name, route)
    for profile in (NATIVE, ADMIN, SMSEND, MAILUP, SMSMOBILEAPI, SOAP, ANDROID)
    for route in profile.body_routes
    if not route.setup  # the routes a registered phone calls read their bodies as the others
]


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[Running]:
    changed = settings.model_copy(update={"admin_token": SecretStr(ADMIN_TOKEN)})
    async with running_gateway(changed) as running:
        yield running


async def _credentials(running: Running, dialect: str) -> dict[str, str]:
    accounts = running.gateway.services.accounts
    account = await accounts.create("acme")
    key = (await accounts.issue_key(account.id)).token
    if dialect == ADMIN.name:
        return ADMIN.auth_headers(ADMIN_TOKEN)
    if dialect == SMSEND.name:
        keys = await login_keys(running, account.id)
        return {"user_key": account.id, "Session_key": keys["{session_key}"]}
    return {"Authorization": f"Bearer {key}"}


async def _leave_mid_body(running: Running, route: BodyRoute, headers: Mapping[str, str]) -> None:
    """Declare a body of 1000 bytes, send 10, and close the connection."""
    host, port = running.base_url.removeprefix("http://").split(":")
    _, writer = await asyncio.open_connection(host, int(port))
    lines = [
        f"{route.method} {route.path} HTTP/1.1",
        f"Host: {host}",
        f"Content-Type: {route.content_type}",
        "Content-Length: 1000",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + b'{"to": ["+')
    await writer.drain()
    writer.close()
    await writer.wait_closed()


@pytest.mark.parametrize(("dialect", "route"), ROUTES, ids=[f"{d}: {r.path}" for d, r in ROUTES])
async def test_a_client_leaving_mid_body_is_one_info_line(
    dialect: str, route: BodyRoute, server: Running
) -> None:
    headers = await _credentials(server, dialect)
    with secrets_stay_out_of_logs(()) as records:
        await _leave_mid_body(server, route, headers)

        def left() -> bool:
            return any("before the body ended" in r.getMessage() for r in records)

        await until(left, "the server to notice the client left")
        r = await server.client.get("/healthz")
        assert r.status_code == 200
    [line] = [r for r in records if "before the body ended" in r.getMessage()]
    assert line.levelno == logging.INFO and line.exc_info is None
    loud = [r for r in records if r.levelno >= logging.WARNING or r.exc_info]
    assert not loud, [(r.name, r.getMessage()) for r in loud]
