"""Gateway A sends through the smsmobileapi connector to gateway B, whose SMSmobileAPI dialect
plays the provider and hands the message to an emulated Android phone. A learns the outcome
from B's sent log, and takes the SMS the phone receives from B's inbox (polling, marking
them read) or from B's received-SMS webhook. Answers B never gives are played by a
scripted server, each checked by what A stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import pytest

from tests.android import conftest as phones
from tests.connectors.upstream.harness import (
    RECIPIENT,
    Answer,
    Behaviour,
    a_settings,
    client_of,
    misbehaving,
    until_seen,
)
from tests.support import HTTP_TIMEOUT, SUITE_SECRET_KEY, WAIT, Running, running_gateway, until
from tests.test_secret_logs import _all_logs_at_debug
from textgate.config import ConnectorSettings, InboundSettings, Settings, WebhookSettings
from textgate.connectors.kinds import callback_token
from textgate.connectors.upstream.connector import UpstreamConnector
from textgate.core.message import Status
from textgate.phone.emulator import PhoneConfig, PhoneEmulator
from textgate.services.query import MessageFilter
from textgate.storage.inbound import InboundFilter

NAME = "phones-b"
OWN_NUMBER = "+10000000001"
"""The emulated phone's number: the recipient of what it receives."""
HANDSET = "+33698765432"
FAST_HOOKS = WebhookSettings(
    allow_private_targets=True,
    poll_seconds=0.05,
    retry_base_seconds=0.05,
    retry_max_seconds=0.3,
    settle_seconds=0.05,
    timeout_seconds=HTTP_TIMEOUT,
)


@dataclass
class B:
    running: Running
    account: phones.Account
    phone: PhoneEmulator

    async def call(self, path: str, **params: str) -> dict[str, Any]:
        r = await self.running.client.get(path, params={"apikey": self.account.key, **params})
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body


@contextlib.asynccontextmanager
async def gateway_b(settings: Settings, **phone: Any) -> AsyncIterator[B]:
    """B with its phones connector, an account, and one emulated phone listening."""
    b_settings = phones.phone_settings(settings).model_copy(update={"webhooks": FAST_HOOKS})
    async with running_gateway(b_settings) as running:
        account = await phones.make_account(running, "gateway-a")
        config = PhoneConfig(
            base_url=running.base_url + phones.PREFIX,
            private_token=account.key,
            timeout_seconds=HTTP_TIMEOUT,
            **phone,
        )
        emulator = PhoneEmulator(config)
        stop = asyncio.Event()
        task: asyncio.Task[None] | None = None
        try:
            await emulator.register()
            await emulator.sync()
            task = asyncio.create_task(emulator.listen(stop))
            await asyncio.wait_for(emulator.subscribed.wait(), WAIT)
            yield B(running, account, emulator)
        finally:
            stop.set()
            if task is not None:
                await task
            await emulator.aclose()


def smsmobileapi(base: str, **options: Any) -> ConnectorSettings:
    return ConnectorSettings(
        name=NAME,
        type="smsmobileapi",
        options={
            "base_url": base,
            "report_query_after_seconds": 1,
            "inbound_poll_seconds": 0.2,
            "read_timeout": 2,
            **options,
        },
    )


def owning(settings: Settings, connector: ConnectorSettings) -> Settings:
    """A's settings, with the phone's number owned by A's account "client"."""
    return a_settings(settings, connector, inbound=InboundSettings(numbers={OWN_NUMBER: "client"}))


async def oauth_client(b: B) -> dict[str, str]:
    r = await b.running.client.post("/oauth2/clients", data={"apikey": b.account.key})
    assert r.status_code == 201, r.text
    made: dict[str, str] = r.json()
    return made


@pytest.mark.parametrize("auth", ["api_key", "oauth2"])
async def test_a_message_through_b_and_its_phone_and_its_status_back(
    settings: Settings, auth: str
) -> None:
    async with gateway_b(settings) as b:
        if auth == "api_key":
            credentials = {"api_key": b.account.key}
        else:
            made = await oauth_client(b)
            credentials = {"client_id": made["client_id"], "client_secret": made["client_secret"]}
        connector = smsmobileapi(b.running.base_url, **credentials)
        async with running_gateway(a_settings(settings, connector)) as a:
            client = await client_of(a)
            text = "Привет ☺ — ваш код 4821"
            mid = await client.send(text=text, sender=None)
            done = await client.final(mid)
            assert done.status == Status.DELIVERED, done
            assert (done.connector, done.attempts, done.error_code) == (NAME, 1, None)

            [in_b] = await b.running.gateway.services.messages.search(b.account.id, MessageFilter())
            assert (in_b.recipient, in_b.text, in_b.interface) == (RECIPIENT, text, "smsmobileapi")
            assert done.external_id == in_b.id
            [local] = b.phone.messages.values()
            assert (local.phone_numbers, local.text, local.state) == (
                [RECIPIENT],
                text,
                "Delivered",
            )


async def test_a_message_the_phone_could_not_send_fails_with_its_error(
    settings: Settings,
) -> None:
    async with gateway_b(settings, outcome="failed") as b:
        connector = smsmobileapi(b.running.base_url, api_key=b.account.key)
        async with running_gateway(a_settings(settings, connector)) as a:
            client = await client_of(a)
            mid = await client.send()
            failed = await client.final(mid)
            assert (failed.status, failed.attempts) == (Status.FAILED, 1)
            assert "RESULT_ERROR_GENERIC_FAILURE" in (failed.error_code or ""), failed
            [local] = b.phone.messages.values()
            assert local.state == "Failed"


async def test_refusals_by_b(settings: Settings) -> None:
    """A key B does not know: the message waits (no attempt), the link shows auth_refused,
    and it goes once A has the right key (A restarted on the same database). A country B's
    account refuses: final, with B's error value."""
    async with gateway_b(settings) as b:
        wrong = smsmobileapi(b.running.base_url, api_key="tg_not_a_key_of_b_0123456789")
        async with running_gateway(a_settings(settings, wrong)) as a:
            client = await client_of(a)
            mid = await client.send()
            waiting = await client.reaches(mid, lambda m: m.error_code == "waiting", "waiting")
            assert (waiting.status, waiting.attempts) == (Status.QUEUED, 0)
            ready = await a.client.get("/readyz")
            [link] = ready.json()["links"][NAME]
            assert link["state"] == "auth_refused"
            assert "tg_not_a_key_of_b" not in ready.text
        assert b.phone.messages == {}
        right = smsmobileapi(b.running.base_url, api_key=b.account.key)
        async with running_gateway(a_settings(settings, right)) as a:
            client.running = a
            done = await client.final(mid)
            assert (done.status, done.attempts) == (Status.DELIVERED, 1)

            await b.running.gateway.services.accounts.update_rules(
                b.account.id, {"countries_blocked": ["IT"]}
            )
            refused = await client.send(text="not to Italy")
            failed = await client.final(refused)
            assert (failed.status, failed.error_code, failed.attempts) == (
                Status.FAILED,
                "smsmobileapi_32",
                1,
            )
        assert [m.text for m in b.phone.messages.values()] == ["Your code is 4821"]


async def test_received_sms_are_polled_once_across_a_restart(settings: Settings) -> None:
    """The phone receives an SMS: A's poll stores it for the account owning the phone's
    number and marks it read at B. A restarts; a second SMS received meanwhile comes in,
    and the first is not stored again."""
    async with gateway_b(settings, own_number=OWN_NUMBER) as b:
        connector = smsmobileapi(
            b.running.base_url, api_key=b.account.key, inbound="poll", phone_number=OWN_NUMBER
        )
        async with running_gateway(owning(settings, connector)) as a:
            client = await client_of(a)
            assert await b.phone.receive_sms(HANDSET, "Merci ! ☺") == [204]

            async def stored(count: int) -> bool:
                found = await a.gateway.services.inbound.search(client.account_id, InboundFilter())
                return len(found) >= count

            await until(lambda: stored(1), "the received SMS in A's inbox")
            [got] = await a.gateway.services.inbound.search(client.account_id, InboundFilter())
            assert (got.sender, got.recipient, got.text, got.connector) == (
                HANDSET,
                OWN_NUMBER,
                "Merci ! ☺",
                NAME,
            )
            [in_b] = (await b.call("/getsms/"))["result"]["sms"]
            assert got.external_id == in_b["guid"]

            async def marked() -> bool:
                return (await b.call("/getsms/", onlyunread="yes"))["result"]["sms"] == []

            await until(marked, "B to list the SMS as read")

        assert await b.phone.receive_sms("+447700900123", "Code 4829") == [204]
        async with running_gateway(owning(settings, connector)) as a:
            await until(lambda: stored(2), "the second SMS in A's inbox")
            await until(marked, "B to list both as read")
            found = await a.gateway.services.inbound.search(client.account_id, InboundFilter())
            assert sorted(m.text for m in found) == ["Code 4829", "Merci ! ☺"]


async def test_received_sms_by_b_webhook(settings: Settings) -> None:
    """B's received-SMS webhook (the seed's payload) posted to A's callback route."""
    async with gateway_b(settings, own_number=OWN_NUMBER) as b:
        connector = smsmobileapi(
            b.running.base_url, api_key=b.account.key, inbound="webhook", phone_number=OWN_NUMBER
        )
        async with running_gateway(owning(settings, connector)) as a:
            client = await client_of(a)
            token = callback_token(SUITE_SECRET_KEY.get_secret_value(), NAME)
            hook = f"{a.base_url}/callbacks/{NAME}/{token}/inbound"
            await b.call("/webhook/add/", url=hook)
            wrong_kind = await a.client.post(f"/callbacks/{NAME}/{token}/status", json={})
            assert wrong_kind.status_code == 404
            assert await b.phone.receive_sms(HANDSET, "Bonjour è") == [204]

            async def stored() -> bool:
                found = await a.gateway.services.inbound.search(client.account_id, InboundFilter())
                return bool(found)

            await until(stored, "the webhook's SMS in A's inbox")
            [got] = await a.gateway.services.inbound.search(client.account_id, InboundFilter())
            assert (got.sender, got.recipient, got.text) == (HANDSET, OWN_NUMBER, "Bonjour è")
            [in_b] = (await b.call("/getsms/"))["result"]["sms"]
            assert got.external_id == in_b["guid"]


def _sent(message_id: str = "c319d3b35e8f") -> Answer:
    return Answer(200, json.dumps({"result": {"error": 0, "sent": "1", "id": message_id}}))


def _error(status: int, error: str, note: str = "") -> Answer:
    return Answer(status, json.dumps({"result": {"error": error, "sent": "0", "note": note}}))


# script, link policy -> status, error_code, attempts, requests.
CASES: dict[str, tuple[list[Behaviour], dict[str, Any], Status, str | None, int, int]] = {
    "an error value in a 200 answer: final": (
        [_error(200, "12", "invalid number")],
        {},
        Status.FAILED,
        "smsmobileapi_12",
        1,
        1,
    ),
    "sent 0 without an error: final": (
        [Answer(200, '{"result": {"error": 0, "sent": "0", "id": "x"}}')],
        {},
        Status.FAILED,
        "smsmobileapi_not_sent",
        1,
        1,
    ),
    "402 out of credit: tried again": ([_error(402, "40"), _sent()], {}, Status.SENT, None, 2, 2),
    "401 refused key: waits, no attempt": (
        [_error(401, "20"), _sent()],
        {},
        Status.SENT,
        None,
        1,
        2,
    ),
    "429 with Retry-After: waits, no attempt": (
        [Answer(429, "{}", {"Retry-After": "0"}), _sent()],
        {},
        Status.SENT,
        None,
        1,
        2,
    ),
    "500: in doubt": (
        [Answer(500, "{}")],
        {"in_doubt": "fail", "in_doubt_grace_seconds": 0},
        Status.FAILED,
        "in_doubt",
        2,
        1,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_each_answer_has_its_outcome(case: str, settings: Settings) -> None:
    script, policy, status, error_code, attempts, requests = CASES[case]
    async with misbehaving(script) as server:
        connector = smsmobileapi(server.url, api_key="key-7f3a9c1e5b2d", port=2, device="dev-1")
        async with running_gateway(a_settings(settings, connector.model_copy(update=policy))) as a:
            client = await client_of(a)
            mid = await client.send()
            done = await client.reaches(mid, lambda m: m.status == status, status.value)
            assert (done.error_code, done.attempts) == (error_code, attempts), done
            await until_seen(server, requests)
            assert len(server.seen) == requests
    seen = server.seen[0]
    assert (seen.method, seen.target) == ("POST", "/sendsms/")
    assert parse_qs(seen.body.decode()) == {
        "apikey": ["key-7f3a9c1e5b2d"],
        "recipients": [RECIPIENT],
        "message": ["Your code is 4821"],
        "port": ["2"],
        "sIdentifiant": ["dev-1"],
    }


async def test_the_key_reaches_no_log_record(settings: Settings) -> None:
    """Every logger at DEBUG while A sends, asks the sent log and polls the inbox (the key
    in the query string of both): the key appears in no record, nor on /readyz; nor do
    the OAuth2 client secret and the access token B issued."""
    async with gateway_b(settings, own_number=OWN_NUMBER) as b:
        made = await oauth_client(b)
        with _all_logs_at_debug() as logs:
            for credentials in (
                {"api_key": b.account.key},
                {"client_id": made["client_id"], "client_secret": made["client_secret"]},
            ):
                connector = smsmobileapi(
                    b.running.base_url, inbound="poll", phone_number=OWN_NUMBER, **credentials
                )
                async with running_gateway(owning(settings, connector)) as a:
                    logging.getLogger("httpx").setLevel(logging.DEBUG)
                    client = await client_of(a, f"client-{len(credentials)}")
                    done = await client.final(await client.send())
                    assert done.status == Status.DELIVERED
                    conn = a.gateway.connectors[NAME]
                    assert isinstance(conn, UpstreamConnector)
                    secrets = list(conn.provider.secrets())
                    ready = await a.client.get("/readyz")
                for secret in secrets:
                    assert secret not in ready.text
                assert len(secrets) == (1 if "api_key" in credentials else 2)
                leaked = [t for _, t in logs.records for s in secrets if s in t]
                assert not leaked, leaked[0][:300]
    records = [t for _, t in logs.records]
    lines = [t for t in records if "HTTP Request: GET" in t and "/log/sent/sms/?" in t]
    assert lines and "apikey=***" in lines[0], lines[:1]
    assert any("/getsms/?" in t for t in records)
    assert b.account.key not in " ".join(records)
