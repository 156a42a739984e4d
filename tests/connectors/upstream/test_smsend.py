"""Gateway A sends through the smsend connector to gateway B, whose smsend dialect plays the
provider (textgate's own implementation of that API) and delivers on B's simulator. A
learns the final status by polling ``GET sms/{order_id}``.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.connectors.upstream.harness import RECIPIENT, a_settings, client_of
from tests.support import Running, ShiftedClock, running_gateway, until
from tests.test_secret_logs import _all_logs_at_debug
from textgate.config import ConnectorSettings, Settings
from textgate.connectors.upstream.connector import UpstreamConnector
from textgate.core.message import Status
from textgate.services.query import MessageFilter

USERNAME, PASSWORD = "a-at-b", "b's password: 9f2c-77aa-e1d0"


def smsend(b: Running, **options: Any) -> ConnectorSettings:
    return ConnectorSettings(
        name="smsend-b",
        type="smsend",
        options={
            "base_url": f"{b.base_url}/API/v1.0/REST/",
            "username": USERNAME,
            "password": PASSWORD,
            "report_query_after_seconds": 1,
            **options,
        },
    )


async def b_account(b: Running) -> str:
    """B's account for A, with the login A uses."""
    account = await b.gateway.services.accounts.create("gateway-a")
    await b.gateway.credentials.set_login(account.id, USERNAME, PASSWORD)
    return account.id


@pytest.mark.parametrize("login", ["token", "session"])
async def test_a_message_through_b_and_its_status_back_by_polling(
    settings: Settings, login: str
) -> None:
    async with running_gateway(settings) as b:
        b_id = await b_account(b)
        async with running_gateway(a_settings(settings, smsend(b, login=login))) as a:
            client = await client_of(a)
            text = "Привет ☺ — ваш код 4821"
            mid = await client.send(text=text, sender="ACME")
            done = await client.final(mid)
            assert done.status == Status.DELIVERED, done
            assert (done.connector, done.attempts) == ("smsend-b", 1)

            in_b = await b.gateway.services.messages.search(b_id, MessageFilter())
            assert [(m.recipient, m.text, m.sender, m.interface) for m in in_b] == [
                (RECIPIENT, text, "ACME", "smsend")
            ]
            assert in_b[0].status == Status.DELIVERED
            # A's message id went as the order id; B answers with it, and A knows the
            # message by it.
            assert in_b[0].client_ref == mid
            assert done.external_id == mid


async def test_refused_credentials_hold_messages_and_show_on_readyz(settings: Settings) -> None:
    """A wrong password: the message waits (no attempt used), the link shows auth_refused,
    and logins are not retried before auth_retry_seconds. Fixed on B's side, the next
    login (after the pause) sends it."""
    async with running_gateway(settings) as b:
        b_id = await b_account(b)
        await b.gateway.credentials.set_login(b_id, USERNAME, "another password")
        connector = smsend(b, auth_retry_seconds=1)
        async with running_gateway(a_settings(settings, connector)) as a:
            client = await client_of(a)
            mid = await client.send()
            waiting = await client.held_by_refused_credentials(mid, "smsend-b", PASSWORD)
            assert "refused the login" in (waiting.reason or "")

            await b.gateway.credentials.set_login(b_id, USERNAME, PASSWORD)
            done = await client.final(mid)
            assert done.status == Status.DELIVERED
            assert (await a.client.get("/readyz")).status_code == 200


async def test_the_password_and_keys_reach_no_log_record(settings: Settings) -> None:
    """Every logger at DEBUG while A logs in (credentials in the query string, as the
    provider documents), sends and polls: neither the password nor the access token B
    gave appears in any record, nor in /readyz."""
    async with running_gateway(settings) as b:
        await b_account(b)
        with _all_logs_at_debug() as logs:
            async with running_gateway(a_settings(settings, smsend(b))) as a:
                for name in ("httpx", "httpcore.http11", "httpcore.connection"):
                    logging.getLogger(name).setLevel(logging.DEBUG)
                client = await client_of(a)
                mid = await client.send()
                done = await client.final(mid)
                assert done.status == Status.DELIVERED
                connector = a.gateway.connectors["smsend-b"]
                assert isinstance(connector, UpstreamConnector)
                secrets = list(connector.provider.secrets())
                ready = await a.client.get("/readyz")
    assert len(secrets) == 2, "the access token is one of the connector's secrets"
    records = [text for _, text in logs.records]
    logins = [t for t in records if "REST/token?username=" in t]
    assert logins, "the HTTP client's line for the login was not captured"
    assert "password=***" in logins[0], logins[0]
    for secret in secrets:
        leaks = [t for t in records if secret in t]
        assert not leaks, leaks[0][:300]
        assert secret not in ready.text


async def test_a_provider_that_is_gone_makes_messages_wait(settings: Settings) -> None:
    """Nothing at the base URL's port: no login, the message waits with no attempt used."""
    async with running_gateway(settings) as b:
        base = b.base_url
    connector = ConnectorSettings(
        name="smsend-b",
        type="smsend",
        options={"base_url": f"{base}/API/v1.0/REST/", "username": "u", "password": "p"},
    )
    async with running_gateway(a_settings(settings, connector)) as a:
        client = await client_of(a)
        mid = await client.send()
        waiting = await client.reaches(mid, lambda m: m.error_code == "waiting", "waiting")
        assert waiting.attempts == 0
        assert "login" in (waiting.reason or "")

        async def down() -> bool:
            return (await a.client.get("/readyz")).status_code == 503

        await until(down, "readyz to show the provider down")


async def test_an_expired_session_is_renewed_without_using_an_attempt(settings: Settings) -> None:
    """B's clock moves past its session idle time twice: A's poll and then its next send
    each find the session gone (401), log in again and carry on; no message uses an
    attempt for it."""
    clock = ShiftedClock()
    idle = settings.session_idle_seconds + 1
    async with running_gateway(settings, clock=clock) as b:
        await b_account(b)
        connector = smsend(b, login="session")
        with _all_logs_at_debug() as logs:
            async with running_gateway(a_settings(settings, connector)) as a:
                client = await client_of(a)
                first = await client.send(text="one")
                await client.reaches(first, lambda m: m.status == Status.SENT, "sent")
                clock.advance(idle)  # the poll finds the session gone
                done = await client.final(first)
                assert (done.status, done.attempts) == (Status.DELIVERED, 1)
                clock.advance(idle)  # and so does the next send
                second = await client.send(text="two")
                done = await client.final(second)
                assert (done.status, done.attempts) == (Status.DELIVERED, 1)
    answers = [t for _, t in logs.records if "HTTP Request:" in t and "/API/v1.0/REST/" in t]
    logins = [t for t in answers if "REST/login?" in t]
    refused = [t for t in answers if "401 Unauthorized" in t]
    assert len(logins) == 3 and len(refused) == 2, answers
    assert any("POST" in t and "401" in t for t in refused), refused
