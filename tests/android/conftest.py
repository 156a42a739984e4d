"""A gateway whose connector is the account's phones, and emulated phones talking to it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support import HTTP_TIMEOUT, WAIT, Running, running_gateway
from textgate.config import AndroidSettings, ConnectorSettings, Settings
from textgate.phone.emulator import PhoneConfig, PhoneEmulator

PREFIX = "/mobile/v1"


@dataclass
class Account:
    id: str
    key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def phone_settings(settings: Settings, **options: Any) -> Settings:
    connector = ConnectorSettings(
        name="phones",
        type="android",
        options={"sweep_seconds": 0.1, "offline_after_seconds": 30, **options},
    )
    return settings.model_copy(
        update={
            "connectors": [connector],
            "android": AndroidSettings(keepalive_seconds=0.5),
        }
    )


@pytest.fixture
async def running(settings: Settings) -> AsyncIterator[Running]:
    async with running_gateway(phone_settings(settings)) as r:
        yield r


async def make_account(running: Running, name: str = "acme") -> Account:
    accounts = running.gateway.services.accounts
    acc = await accounts.create(name)
    return Account(acc.id, (await accounts.issue_key(acc.id)).token)


@pytest.fixture
async def account(running: Running) -> Account:
    return await make_account(running)


PhoneFactory = Callable[..., contextlib.AbstractAsyncContextManager[PhoneEmulator]]


@pytest.fixture
def phone(running: Running, account: Account) -> PhoneFactory:
    """Start an emulated phone: registered, synced and listening to its event stream."""

    @contextlib.asynccontextmanager
    async def start(
        listen: bool = True, on_line: Callable[[str], None] | None = None, **config: Any
    ) -> AsyncIterator[PhoneEmulator]:
        config.setdefault("private_token", account.key)
        config.setdefault("timeout_seconds", HTTP_TIMEOUT)
        emulator = PhoneEmulator(
            PhoneConfig(base_url=running.base_url + PREFIX, **config), on_line=on_line
        )
        stop = asyncio.Event()
        task: asyncio.Task[None] | None = None
        try:
            await emulator.register()
            await emulator.sync()
            if listen:
                task = asyncio.create_task(emulator.listen(stop))
                await asyncio.wait_for(emulator.subscribed.wait(), WAIT)
            yield emulator
        finally:
            stop.set()
            if task is not None:
                await task
            await emulator.aclose()

    return start


async def send(running: Running, account: Account, to: str, **fields: Any) -> str:
    async with httpx.AsyncClient(base_url=running.base_url, timeout=HTTP_TIMEOUT) as client:
        r = await client.post(
            "/v1/messages", json={"to": to, "text": "hello", **fields}, headers=account.auth
        )
    assert r.status_code in (200, 201, 202), r.text
    return str(r.json()["messages"][0]["id"])


async def status_of(running: Running, account: Account, message_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=running.base_url, timeout=HTTP_TIMEOUT) as client:
        r = await client.get(f"/v1/messages/{message_id}", headers=account.auth)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def wait_status(
    running: Running,
    account: Account,
    message_id: str,
    wanted: str,
    within: float = WAIT,
    *,
    error: str | None = None,
) -> dict[str, Any]:
    """The message once its status is ``wanted`` (and its error code ``error``, if given)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        body = await status_of(running, account, message_id)
        if body["status"] == wanted and error in (None, body["error_code"]):
            return body
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{message_id} is {body['status']}, not {wanted}: {body}")
        await asyncio.sleep(0.05)
