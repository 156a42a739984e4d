"""Gateway A sends through the mailup connector to gateway B, whose MailUp dialect plays the
provider (textgate's own implementation of that API) and delivers on B's simulator. A
learns the final status by asking B for the DeliveryId. The refusals of the seed's code
table are played by a scripted server, each checked by what A stored.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import pytest

from tests.connectors.upstream.harness import (
    RECIPIENT,
    Answer,
    Behaviour,
    a_settings,
    client_of,
    misbehaving,
    until_seen,
)
from tests.support import Running, running_gateway
from tests.test_secret_logs import _all_logs_at_debug
from textgate.config import ConnectorSettings, PricingSettings, Settings
from textgate.connectors.upstream.connector import UpstreamConnector
from textgate.core.message import Status
from textgate.core.pricing import MICRO
from textgate.services.query import MessageFilter

CONSOLE = 59484
USERNAME, PASSWORD = "m59484", "b's console password: 3e1c-b0e6"
NAME = "mailup-b"


@dataclass
class List:
    account_id: str
    guid: str
    secret: str


async def b_list(b: Running) -> List:
    """B's account for A: console 59484, list 1 with the sender ACME, its ListSecret, and
    the console login."""
    services = b.gateway.services
    account = await services.accounts.create("gateway-a")
    await b.gateway.credentials.set_login(account.id, USERNAME, PASSWORD)
    await services.lists.console(account.id, CONSOLE)
    made = await services.lists.create(account.id, "customers", sms_sender="ACME")
    secret = await services.lists.create_secret(account.id, made.list_id, made.guid)
    return List(account.id, made.guid, secret)


def mailup(
    base: str, found: List | None, *, login: bool = False, **options: Any
) -> ConnectorSettings:
    credentials: dict[str, Any] = (
        {"username": USERNAME, "password": PASSWORD}
        if login
        else {"list_secret": found.secret if found else "yyyyyyyy-ddd-eeee-ffff-3e1cb0e6e64c"}
    )
    return ConnectorSettings(
        name=NAME,
        type="mailup",
        options={
            "base_url": f"{base}/api/v2.0/",
            "account_id": CONSOLE,
            "list_id": 1,
            "list_guid": found.guid if found else "xxxxxxxx-aaa-bbbb-cccc-e3a98b626156",
            "report_query_after_seconds": 1,
            "read_timeout": 2,
            **credentials,
            **options,
        },
    )


@pytest.mark.parametrize("login", [False, True], ids=["list_secret", "login"])
async def test_a_message_through_b_and_its_status_back_by_polling(
    settings: Settings, login: bool
) -> None:
    # B charges 0.045 credits a part, so that its answer's Cost says something.
    b_settings = settings.model_copy(update={"pricing": PricingSettings(default_price="0.045")})
    async with running_gateway(b_settings) as b:
        found = await b_list(b)
        await b.gateway.services.accounts.credit(found.account_id, 10 * MICRO)
        async with running_gateway(
            a_settings(settings, mailup(b.base_url, found, login=login))
        ) as a:
            client = await client_of(a)
            text = "Привет ☺ — ваш код 4821"
            mid = await client.send(text=text, sender="ACME")
            done = await client.final(mid)
            assert done.status == Status.DELIVERED, done
            assert (done.connector, done.attempts) == (NAME, 1)

            [in_b] = await b.gateway.services.messages.search(found.account_id, MessageFilter())
            assert (in_b.recipient, in_b.text, in_b.sender, in_b.interface) == (
                RECIPIENT,
                text,
                "ACME",
                "mailup",
            )
            assert in_b.encoding == "ucs2"
            assert in_b.status == Status.DELIVERED
            # A knows the message by B's DeliveryId, and B knows that id as this message.
            assert done.external_id is not None and done.external_id.isdigit()
            delivery = await b.gateway.services.list_sms.delivery(CONSOLE, 1, int(done.external_id))
            assert delivery.id == in_b.id
            # MailUp's answer says what it charged (Data.Cost): A's upstream cost is what B
            # charged its account.
            assert in_b.cost == 45_000 and done.upstream_cost == in_b.cost


async def test_a_refused_list_secret_holds_messages_and_shows_on_readyz(
    settings: Settings,
) -> None:
    """A ListSecret B does not know (code 103): the message waits with no attempt used and
    the link shows auth_refused. Once B's list has that secret, it goes."""
    async with running_gateway(settings) as b:
        found = await b_list(b)
        wrong = List(found.account_id, found.guid, "0b6f5d9e-1c2a-4e3b-9f8d-7a6c5b4e3d2c")
        async with running_gateway(a_settings(settings, mailup(b.base_url, wrong))) as a:
            client = await client_of(a)
            mid = await client.send()
            waiting = await client.reaches(
                mid, lambda m: m.error_code == "waiting", "waiting for credentials"
            )
            assert (waiting.status, waiting.attempts) == (Status.QUEUED, 0)
            assert "103" in (waiting.reason or "")
            ready = await a.client.get("/readyz")
            assert ready.status_code == 503
            [link] = ready.json()["links"][NAME]
            assert link["state"] == "auth_refused"
            assert wrong.secret not in ready.text
            assert await b.gateway.services.messages.search(found.account_id, MessageFilter()) == []

            await b.gateway.services.lists.import_secret(found.account_id, 1, wrong.secret)
            done = await client.final(mid)
            assert (done.status, done.attempts) == (Status.DELIVERED, 1)
            assert (await a.client.get("/readyz")).status_code == 200


async def test_a_refused_login_waits_and_a_changed_secret_is_read_again(
    settings: Settings,
) -> None:
    """Reading the ListSecret with a wrong password: the message waits, auth_refused. With
    the right one A reads the secret and sends; B then changes the list's secret (DELETE and
    POST): the next send gets 103, reads the new secret and goes, on its one attempt."""
    async with running_gateway(settings) as b:
        found = await b_list(b)
        await b.gateway.credentials.set_login(found.account_id, USERNAME, "another password")
        connector = mailup(b.base_url, found, login=True, auth_retry_seconds=1)
        async with running_gateway(a_settings(settings, connector)) as a:
            client = await client_of(a)
            first = await client.send(text="one")
            waiting = await client.reaches(first, lambda m: m.error_code == "waiting", "waiting")
            assert waiting.attempts == 0
            assert "refused the login" in (waiting.reason or "")
            [link] = (await a.client.get("/readyz")).json()["links"][NAME]
            assert link["state"] == "auth_refused"

            await b.gateway.credentials.set_login(found.account_id, USERNAME, PASSWORD)
            done = await client.final(first)
            assert (done.status, done.attempts) == (Status.DELIVERED, 1)

            lists = b.gateway.services.lists
            await lists.delete_secret(found.account_id, 1, found.guid)
            renewed = await lists.create_secret(found.account_id, 1, found.guid)
            assert renewed != found.secret
            second = await client.send(text="two")
            done = await client.final(second)
            assert (done.status, done.attempts) == (Status.DELIVERED, 1)
            texts = [
                m.text
                for m in await b.gateway.services.messages.search(found.account_id, MessageFilter())
            ]
            assert sorted(texts) == ["one", "two"]


async def test_b_refusals_fail_or_hold_the_message(settings: Settings) -> None:
    """B's list has the recipient opted out (206): final, with the provider's code. B's
    daily limit is reached (250, Access denied): the next message waits, no attempt used,
    and goes once the limit is raised."""
    async with running_gateway(settings) as b:
        found = await b_list(b)
        services = b.gateway.services
        await services.lists.add_opt_outs(found.account_id, 1, [RECIPIENT])
        async with running_gateway(a_settings(settings, mailup(b.base_url, found))) as a:
            client = await client_of(a)
            mid = await client.send()
            failed = await client.final(mid)
            assert (failed.status, failed.error_code, failed.attempts) == (
                Status.FAILED,
                "mailup_206",
                1,
            )
            assert "optout" in (failed.reason or "")

            await services.lists.remove_opt_outs(found.account_id, 1, [RECIPIENT])
            await services.accounts.update_rules(found.account_id, {"daily_limit": 0})
            held = await client.send(text="later")
            waiting = await client.reaches(held, lambda m: m.error_code == "waiting", "waiting")
            assert (waiting.status, waiting.attempts) == (Status.QUEUED, 0)
            assert "250" in (waiting.reason or "")
            await services.accounts.update_rules(found.account_id, {"daily_limit": 100})
            done = await client.final(held)
            assert (done.status, done.attempts) == (Status.DELIVERED, 1)


def _answer(status: int, code: str, data: Any = None) -> Answer:
    body = {
        "Data": data,
        "Code": code,
        "Description": "",
        "State": "DONE" if code == "0" else "ERROR",
    }
    return Answer(status, json.dumps(body))


OK = _answer(200, "0", {"DeliveryId": 1648, "Cost": 1.0})

# script, link policy -> status, error_code, attempts, requests, external id.
CASES: dict[
    str, tuple[list[Behaviour], dict[str, Any], Status, str | None, int, int, str | None]
] = {
    "106 recipient invalid: final": (
        [_answer(400, "106")],
        {},
        Status.FAILED,
        "mailup_106",
        1,
        1,
        None,
    ),
    "107 content too long: final": (
        [_answer(400, "107")],
        {},
        Status.FAILED,
        "mailup_107",
        1,
        1,
        None,
    ),
    "205 no credits: tried again": (
        [_answer(403, "205"), OK],
        {},
        Status.SENT,
        None,
        2,
        2,
        "1648",
    ),
    "302 error delivering: tried again": (
        [_answer(500, "302"), OK],
        {},
        Status.SENT,
        None,
        2,
        2,
        "1648",
    ),
    "102 ListGUID refused: waits, no attempt": (
        [_answer(400, "102"), OK],
        {},
        Status.SENT,
        None,
        1,
        2,
        "1648",
    ),
    "429 with Retry-After: waits, no attempt": (
        [Answer(429, "{}", {"Retry-After": "0"}), OK],
        {},
        Status.SENT,
        None,
        1,
        2,
        "1648",
    ),
    "300 generic error: in doubt": (
        [_answer(500, "300")],
        {"in_doubt": "fail", "in_doubt_grace_seconds": 0},
        Status.FAILED,
        "in_doubt",
        2,
        1,
        None,
    ),
    "301 sent without statistics: sent, nothing to ask": (
        [_answer(200, "301", {"DeliveryId": 0, "Cost": 1.0})],
        {},
        Status.SENT,
        None,
        1,
        1,
        "0",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_each_answer_of_the_code_table(case: str, settings: Settings) -> None:
    script, policy, status, error_code, attempts, requests, external = CASES[case]
    async with misbehaving(script) as server:
        connector = mailup(server.url, None, status_lookup=False)
        connector = connector.model_copy(update=policy)
        async with running_gateway(a_settings(settings, connector)) as a:
            client = await client_of(a)
            mid = await client.send(text="Hello [Name]", sender="ACME")
            done = await client.reaches(mid, lambda m: m.status == status, status.value)
            assert (done.error_code, done.attempts, done.external_id) == (
                error_code,
                attempts,
                external,
            ), done
            await until_seen(server, requests)
            assert len(server.seen) == requests
    seen = server.seen[0]
    assert (seen.method, seen.target) == ("POST", f"/api/v2.0/sms/{CONSOLE}/1")
    assert seen.headers["content-type"] == "application/json;odata=verbose;charset=utf-8"
    assert "authorization" not in seen.headers
    assert json.loads(seen.body) == {
        "Content": "Hello [Name]",
        "ListGuid": "xxxxxxxx-aaa-bbbb-cccc-e3a98b626156",
        "ListSecret": "yyyyyyyy-ddd-eeee-ffff-3e1cb0e6e64c",
        "Recipient": RECIPIENT,
        "isUnicode": 0,
        "Sender": "ACME",
    }


async def test_a_text_mailup_would_truncate_is_refused_before_sending(settings: Settings) -> None:
    async with (
        misbehaving([OK]) as server,
        running_gateway(a_settings(settings, mailup(server.url, None))) as a,
    ):
        client = await client_of(a)
        mid = await client.send(text="x" * 671)
        failed = await client.final(mid)
        assert (failed.status, failed.error_code) == (Status.FAILED, "text_too_long")
        ok = await client.send(text="y" * 670)
        await client.reaches(ok, lambda m: m.status == Status.SENT, "sent")
    assert len(server.seen) == 1


async def test_the_list_secret_and_login_reach_no_log_record(settings: Settings) -> None:
    """Every logger at DEBUG while A reads the ListSecret with its login, sends, and asks
    for the status (the list's credentials in the query string): neither the password, its
    Basic form, the GUID nor the secret appears in a record, nor on /readyz."""
    async with running_gateway(settings) as b:
        found = await b_list(b)
        with _all_logs_at_debug() as logs:
            connector = mailup(b.base_url, found, login=True)
            async with running_gateway(a_settings(settings, connector)) as a:
                for name in ("httpx", "httpcore.http11", "httpcore.connection"):
                    logging.getLogger(name).setLevel(logging.DEBUG)
                client = await client_of(a)
                mid = await client.send()
                done = await client.final(mid)
                assert done.status == Status.DELIVERED
                conn = a.gateway.connectors[NAME]
                assert isinstance(conn, UpstreamConnector)
                secrets = list(conn.provider.secrets())
                ready = await a.client.get("/readyz")
    assert found.secret in secrets and PASSWORD in secrets and found.guid in secrets
    records = [text for _, text in logs.records]
    lookups = [t for t in records if f"/sms/{CONSOLE}/1/{done.external_id}?" in t]
    assert lookups, "the HTTP client's line for the status lookup was not captured"
    assert "ListGuid=***&ListSecret=***" in lookups[0], lookups[0]
    for secret in secrets:
        leaks = [t for t in records if secret in t]
        assert not leaks, leaks[0][:300]
        assert secret not in ready.text
