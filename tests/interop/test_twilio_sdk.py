"""Twilio's own Python library (``twilio`` on PyPI), and its Node.js one, against the real
server, their base URL the only change: sending, reading, listing page by page, scheduling
and cancelling, callbacks, and their exceptions for refusals, with the stored messages
checked."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from tests.interop.node_steps import node_steps
from tests.support import Running, running_gateway, until
from tests.webhooks.receiver import running_receiver
from tests.webhooks.test_webhooks import FAST
from textgate.config import InboundSettings, Settings
from textgate.core.inbound import InboundMessage
from textgate.core.message import Status
from textgate.dialects.twilio.resource import account_sid, message_sid
from textgate.services.inbound import InboundFilter
from textgate.services.query import MessageFilter

T = TypeVar("T")

NUMBER = "+33612345678"
SENDER = "+15005550006"


async def _client(gateway: Running, name: str = "acme") -> tuple[Client, str]:
    accounts = gateway.gateway.services.accounts
    account = await accounts.create(name)
    key = (await accounts.issue_key(account.id)).token
    client = Client(account_sid(account.id), key)
    # What an application changes to move from Twilio to textgate: the API's base URL.
    client.api.base_url = gateway.base_url
    return client, account.id


async def _call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    # The library is synchronous (requests); the server runs on this test's loop.
    return await asyncio.to_thread(fn, *args, **kwargs)


async def test_send_read_and_see_it_delivered(gateway: Running) -> None:
    client, account_id = await _client(gateway)
    sent = await _call(
        client.messages.create, to=NUMBER, from_=SENDER, body="Hello from the Twilio library"
    )
    assert sent.sid.startswith("SM") and len(sent.sid) == 34
    assert sent.status == "queued"
    assert sent.num_segments == "1"
    assert isinstance(sent.date_created, datetime)
    [stored] = await gateway.gateway.services.messages.search(account_id, MessageFilter())
    assert message_sid(stored.id) == sent.sid
    assert (stored.recipient, stored.sender, stored.text, stored.interface) == (
        NUMBER,
        SENDER,
        "Hello from the Twilio library",
        "twilio",
    )

    async def delivered() -> bool:
        return (await _call(client.messages(sent.sid).fetch)).status == "delivered"

    await until(delivered)
    assert await _call(client.messages(sent.sid).media.list) == []
    account = await _call(client.api.accounts(client.username).fetch)
    assert (account.sid, account.status) == (client.username, "active")


async def test_listing_walks_every_page_by_its_next_page_uri(gateway: Running) -> None:
    client, account_id = await _client(gateway)
    sids = [
        (await _call(client.messages.create, to=NUMBER, body=f"message {i}")).sid for i in range(5)
    ]
    listed = await _call(client.messages.list, page_size=2)
    assert [m.sid for m in listed] == sids[::-1]
    only = await _call(client.messages.list, to="+33699999999")
    assert only == []
    stored = await gateway.gateway.services.messages.search(account_id, MessageFilter())
    assert sorted(message_sid(m.id) for m in stored) == sorted(sids)


async def test_refusals_raise_the_librarys_exception_with_twilios_code(gateway: Running) -> None:
    client, account_id = await _client(gateway)
    with pytest.raises(TwilioRestException) as invalid:
        await _call(client.messages.create, to="+999123456", body="hi")
    assert (invalid.value.status, invalid.value.code) == (400, 21211)
    await gateway.gateway.services.accounts.add_opt_outs(
        await gateway.gateway.services.accounts.get(account_id), [NUMBER]
    )
    with pytest.raises(TwilioRestException) as opted_out:
        await _call(client.messages.create, to=NUMBER, body="hi")
    assert (opted_out.value.status, opted_out.value.code) == (400, 21610)
    with pytest.raises(TwilioRestException) as unknown:
        await _call(client.messages("SM" + "0" * 32).fetch)
    assert (unknown.value.status, unknown.value.code) == (404, 20404)
    assert await gateway.gateway.services.messages.search(account_id, MessageFilter()) == []

    wrong = Client(client.username, "tg_000000000000_notakey")
    wrong.api.base_url = gateway.base_url
    with pytest.raises(TwilioRestException) as refused:
        await _call(wrong.messages.create, to=NUMBER, body="hi")
    assert (refused.value.status, refused.value.code) == (401, 20003)


async def test_a_scheduled_message_is_cancelled(gateway: Running) -> None:
    client, account_id = await _client(gateway)
    later = datetime.now(UTC) + timedelta(hours=2)
    scheduled = await _call(
        client.messages.create,
        to=NUMBER,
        body="tomorrow's reminder",
        messaging_service_sid="MG" + "0" * 32,
        send_at=later,
        schedule_type="fixed",
        validity_period=600,
    )
    assert scheduled.status == "scheduled"
    cancelled = await _call(client.messages(scheduled.sid).update, status="canceled")
    assert cancelled.status == "canceled"
    [stored] = await gateway.gateway.services.messages.search(account_id, MessageFilter())
    assert stored.status == Status.CANCELLED
    assert stored.scheduled_at == later.replace(microsecond=0)
    assert stored.valid_until == stored.scheduled_at + timedelta(seconds=600)


async def test_status_callbacks_are_forms_the_librarys_validator_accepts(
    settings: Settings,
) -> None:
    """Each status change is posted to StatusCallback as Twilio posts it, signed with the
    API key the message was sent with: two keys of one account on one callback URL get
    posts signed each with its own."""
    async with (
        running_gateway(settings.model_copy(update={"webhooks": FAST})) as gateway,
        running_receiver() as receiver,
    ):
        client, account_id = await _client(gateway)
        other_key = (await gateway.gateway.services.accounts.issue_key(account_id)).token
        other = Client(client.username, other_key)
        other.api.base_url = gateway.base_url
        sent = {
            key: await _call(c.messages.create, to=NUMBER, body="hi", status_callback=receiver.url)
            for key, c in ((client.password, client), (other_key, other))
        }

        def posts(sid: str) -> list[dict[str, str]]:
            return [dict(parse_qsl(h.body)) for h in receiver.hits if f"={sid}&" in h.body]

        async def both_delivered() -> bool:
            # Callbacks are posted concurrently, as Twilio's are: not necessarily in the
            # order of the changes (each carries its status; receivers must not rely on
            # order), so the wait is for both words, whichever comes last.
            return all(
                {"sent", "delivered"} <= {p["MessageStatus"] for p in posts(m.sid)}
                for m in sent.values()
            )

        await until(both_delivered)
        for key, message in sent.items():
            validator = RequestValidator(key)
            hits = [h for h in receiver.hits if f"={message.sid}&" in h.body]
            for hit in hits:
                assert hit.headers["content-type"] == "application/x-www-form-urlencoded"
                params = dict(parse_qsl(hit.body))
                assert validator.validate(receiver.url, params, hit.headers["x-twilio-signature"])
                assert (params["MessageSid"], params["SmsSid"], params["To"]) == (
                    message.sid,
                    message.sid,
                    NUMBER,
                )
                assert params["MessageStatus"] == params["SmsStatus"]
                assert params["AccountSid"] == client.username
                assert params["ApiVersion"] == "2010-04-01"
                assert "ErrorCode" not in params
            words = [dict(parse_qsl(h.body))["MessageStatus"] for h in hits]
            assert {"sent", "delivered"} <= set(words) <= {"queued", "sending", "sent", "delivered"}
        # The key is the signing secret of its own target, and nowhere in the gateway's
        # answers about the account's webhooks.
        webhooks = await gateway.gateway.services.webhooks.of_account(account_id)
        assert len(webhooks) == 2
        assert {w.format for w in webhooks} == {"twilio"}


async def test_a_twilio_format_subscription_hears_received_messages_as_twilio_posts_them(
    settings: Settings,
) -> None:
    """An application's existing handler for Twilio's incoming-message webhook, subscribed
    through the native API with the ``twilio`` format and its own signing secret, gets
    Twilio's form and a signature Twilio's validator accepts."""
    ours = "+33700000001"
    inbound = InboundSettings(numbers={ours: "acme"})
    update = {"webhooks": FAST, "inbound": inbound}
    async with (
        running_gateway(settings.model_copy(update=update)) as gateway,
        running_receiver() as receiver,
    ):
        client, account_id = await _client(gateway)
        secret = "handler-auth-token-0123456789"
        r = await gateway.client.post(
            "/v1/webhooks",
            json={
                "url": receiver.url,
                "events": ["inbound.received"],
                "secret": secret,
                "format": "twilio",
            },
            headers={"Authorization": f"Bearer {client.password}"},
        )
        assert r.status_code == 201, r.text
        sink = gateway.gateway.inbound
        assert sink is not None
        await sink([InboundMessage("sim", NUMBER, ours, "STOP please", datetime.now(UTC))])
        await until(lambda: len(receiver.hits) == 1)
        [hit] = receiver.hits
        params = dict(parse_qsl(hit.body))
        assert RequestValidator(secret).validate(
            receiver.url, params, hit.headers["x-twilio-signature"]
        )
        [stored] = await gateway.gateway.services.inbound.search(account_id, InboundFilter())
        assert params == {
            "AccountSid": account_sid(account_id),
            "ApiVersion": "2010-04-01",
            "Body": "STOP please",
            "From": NUMBER,
            "MessageSid": message_sid(stored.id),
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsMessageSid": message_sid(stored.id),
            "SmsSid": message_sid(stored.id),
            "SmsStatus": "received",
            "To": ours,
        }


async def test_received_messages_are_listed_and_read_beside_sent_ones(settings: Settings) -> None:
    """Replies read back as a Twilio application reads them: ``messages.list`` holds both
    directions, newest first across pages, ``to=`` our number gives the received ones, and a
    received message's SID fetches it."""
    ours = "+33700000001"
    update = {"inbound": InboundSettings(numbers={ours: "acme"})}
    async with running_gateway(settings.model_copy(update=update)) as gateway:
        client, account_id = await _client(gateway)
        sink = gateway.gateway.inbound
        assert sink is not None
        order = []
        for i in range(3):
            order.append((await _call(client.messages.create, to=NUMBER, body=f"out {i}")).sid)
            await sink([InboundMessage("sim", NUMBER, ours, f"in {i}", datetime.now(UTC))])
            [newest, *_] = await gateway.gateway.services.inbound.search(
                account_id, InboundFilter()
            )
            order.append(message_sid(newest.id))
        listed = await _call(client.messages.list, page_size=4)
        assert [m.sid for m in listed] == order[::-1]
        assert [(m.direction, m.body) for m in listed[:2]] == [
            ("inbound", "in 2"),
            ("outbound-api", "out 2"),
        ]
        replies = await _call(client.messages.list, to=ours, page_size=2)
        assert [m.body for m in replies] == ["in 2", "in 1", "in 0"]
        assert {(m.from_, m.status, m.num_segments) for m in replies} == {(NUMBER, "received", "1")}
        fetched = await _call(client.messages(order[1]).fetch)
        assert (fetched.direction, fetched.body, fetched.to) == ("inbound", "in 0", ours)
        assert await _call(client.messages(order[1]).media.list) == []
        stored = await gateway.gateway.services.inbound.search(account_id, InboundFilter())
        assert sorted(message_sid(m.id) for m in stored) == sorted(order[1::2])
        # Another account reads none of them.
        other, _ = await _client(gateway, "other")
        assert await _call(other.messages.list) == []
        with pytest.raises(TwilioRestException) as refused:
            await _call(other.messages(order[1]).fetch)
        assert (refused.value.status, refused.value.code) == (404, 20404)


async def test_twilios_node_library_sends_lists_and_reads(gateway: Running) -> None:
    """twilio-node (npm ``twilio``, pinned in node/package-lock.json), which refuses an
    Account SID that does not start with AC, against the real server: what it sent is
    checked in the store, what it got in the JSON lines node/twilio_client.js prints."""
    accounts = gateway.gateway.services.accounts
    account = await accounts.create("acme")
    key = (await accounts.issue_key(account.id)).token
    steps = await node_steps(
        "twilio_client.js",
        gateway.base_url,
        account_sid(account.id),
        key,
        NUMBER,
        package="twilio",
    )
    stored = await gateway.gateway.services.messages.search(account.id, MessageFilter())
    by_sid = {message_sid(m.id): m for m in stored}
    created = steps["created"]
    assert (created["status"], created["numSegments"]) == ("queued", "1")
    assert by_sid[created["sid"]].text == "Hello from twilio-node"
    assert by_sid[created["sid"]].interface == "twilio"
    # Every page followed: the four messages, newest first.
    assert steps["listed"]["sids"] == [message_sid(m.id) for m in stored]
    assert steps["fetched"] == {
        "sid": created["sid"],
        "body": "Hello from twilio-node",
        "to": NUMBER,
    }
    assert steps["refused"] == {"status": 400, "code": 21211}
    assert len(stored) == 4
