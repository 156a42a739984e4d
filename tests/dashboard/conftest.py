"""A gateway with an account that has a login, an admin token, and the dashboard."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from pydantic import SecretStr

from tests.support import Running, running_gateway, until
from textgate.config import Settings
from textgate.core.accounts import Account

USERNAME = "alice"
PASSWORD = "correct horse battery"
ADMIN_TOKEN = "operator-token-for-tests"
# Our number whose inbound messages belong to the test account.
INBOUND_NUMBER = "+33700000001"


@dataclass
class Site:
    running: Running
    account: Account

    @property
    def base(self) -> str:
        return self.running.base_url + "/dashboard"


@pytest.fixture
async def site(settings: Settings) -> AsyncIterator[Site]:
    inbound = settings.inbound.model_copy(update={"numbers": {INBOUND_NUMBER: "acme"}})
    # Webhooks to a receiver on loopback, one attempt each, fed without delay.
    webhooks = settings.webhooks.model_copy(
        update={
            "allow_private_targets": True,
            "max_attempts": 1,
            "settle_seconds": 0.0,
            "poll_seconds": 0.1,
        }
    )
    settings = settings.model_copy(
        update={"admin_token": SecretStr(ADMIN_TOKEN), "inbound": inbound, "webhooks": webhooks}
    )
    async with running_gateway(settings) as running:
        services = running.gateway.services
        account = await services.accounts.create("acme")
        await services.accounts.credit(account.id, 100_000_000)
        await running.gateway.credentials.set_login(account.id, USERNAME, PASSWORD)
        yield Site(running, account)


def csrf_of(html: str, field: str = "csrf_token") -> str:
    marker = f'name="{field}" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


async def sign_in(client: httpx.AsyncClient, username: str = USERNAME) -> str:
    """Sign in through the form; returns the CSRF token of the session."""
    page = await client.get("/dashboard/login")
    r = await client.post(
        "/dashboard/login",
        data={"csrf_token": csrf_of(page.text), "username": username, "password": PASSWORD},
    )
    assert r.status_code == 303, r.text
    home = await client.get("/dashboard/")
    assert home.status_code == 200
    return csrf_of(home.text)


async def wait_status(client: httpx.AsyncClient, key: str, message_id: str, status: str) -> None:
    auth = {"Authorization": f"Bearer {key}"}

    async def reached() -> bool:
        r = await client.get(f"/v1/messages/{message_id}", headers=auth)
        return bool(r.json()["status"] == status)

    await until(reached, f"message {message_id} to reach {status}")
