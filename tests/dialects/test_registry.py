"""The dialect registry: the ``dialects`` setting decides which interfaces the server speaks.

Each row probes one dialect with a request only that dialect answers (none of them needs
credentials to get its own answer). A server started without one dialect answers its probe
404, the framework's own, while every other probe gets its dialect's answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from pydantic import SecretStr

from tests.dialects.harness import stored_messages
from tests.support import Running, running_gateway
from textgate.app import create_app
from textgate.config import Settings
from textgate.dialects.registry import DIALECTS

NUMBER = "+33612345678"
ALL = [d.name for d in DIALECTS]


@dataclass(frozen=True)
class Probe:
    dialect: str
    method: str
    path: str
    answer: int
    """The status the dialect gives this request (never 404)."""


PROBES = [
    Probe("native", "GET", "/v1/account", 401),
    Probe("android", "GET", "/mobile/v1/device", 200),
    Probe("admin", "GET", "/v1/admin/accounts/acme", 401),
    Probe("smsend", "GET", "/API/v1.0/REST/login", 401),
    Probe("smsmobileapi", "GET", "/sendsms/", 401),
    # MailUp answers unknown methods under its prefix in its own format.
    Probe("mailup", "GET", "/api/v2.0/nothing", 400),
    Probe("mailup", "POST", "/API/v2.0/messages/SendMessage", 403),
]


def _without(settings: Settings, name: str) -> Settings:
    # An admin token, so that the admin API exists when enabled (it answers 404 without one).
    return settings.model_copy(
        update={"dialects": [n for n in ALL if n != name], "admin_token": SecretStr("t" * 32)}
    )


async def _answer(running: Running, probe: Probe) -> int:
    body = b"{}" if probe.method == "POST" else None
    r = await running.client.request(probe.method, probe.path, content=body)
    return r.status_code


def test_every_dialect_has_a_probe() -> None:
    assert {p.dialect for p in PROBES} == set(ALL)


@pytest.mark.parametrize("disabled", ALL)
async def test_a_disabled_dialect_is_gone_and_the_others_answer(
    disabled: str, settings: Settings
) -> None:
    async with running_gateway(_without(settings, disabled)) as running:
        answers = {p: await _answer(running, p) for p in PROBES}
        spec = (await running.client.get("/openapi.json")).json()
    assert answers == {p: 404 if p.dialect == disabled else p.answer for p in PROBES}
    tags = {t["name"] for t in spec["tags"]}
    assert tags == {d.openapi_tag for d in DIALECTS if d.name != disabled}


async def _native_submit(running: Running) -> tuple[str, str, int]:
    """Account id, API key, and the status of a native submit with that key."""
    accounts = running.gateway.services.accounts
    account = await accounts.create("acme")
    key = (await accounts.issue_key(account.id)).token
    r = await running.client.post(
        "/v1/messages",
        json={"to": NUMBER, "text": "hello"},
        headers={"Authorization": f"Bearer {key}"},
    )
    return account.id, key, r.status_code


async def test_native_submit_stores_with_another_dialect_off(settings: Settings) -> None:
    async with running_gateway(_without(settings, "smsend")) as running:
        account_id, _, status = await _native_submit(running)
        assert status == 202
        stored = await stored_messages(running, account_id)
    assert [(m.recipient, m.text, m.interface) for m in stored] == [(NUMBER, "hello", "native")]


async def test_without_native_the_submit_fast_path_is_off(settings: Settings) -> None:
    async with running_gateway(_without(settings, "native")) as running:
        account_id, key, status = await _native_submit(running)
        assert status == 404
        assert await stored_messages(running, account_id) == []
        # Another dialect still submits through the same services.
        sent = await running.client.post(
            "/sendsms/", params={"apikey": key, "recipients": NUMBER, "message": "hi"}
        )
        assert sent.status_code == 200, sent.text
        stored = await stored_messages(running, account_id)
    assert [(m.recipient, m.text) for m in stored] == [(NUMBER, "hi")]


def test_an_unknown_dialect_is_refused(settings: Settings) -> None:
    with pytest.raises(ValueError, match="unknown 'smpp'"):
        create_app(settings.model_copy(update={"dialects": ["native", "smpp"]}))
