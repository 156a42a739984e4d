"""The vendor's Python client (``android-sms-gateway`` on PyPI) against textgate's SMSGate
client API, its base URL the only change: sending, reading the state, cancelling, the
account's phones and the health check, signed in with a login or an API key, with the
stored messages checked."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from android_sms_gateway import client as sms_client
from android_sms_gateway import domain
from android_sms_gateway.enums import HealthStatus, ProcessState, WebhookEvent
from android_sms_gateway.errors import APIError

from tests.support import Running, running_gateway, until
from tests.webhooks.receiver import running_receiver
from tests.webhooks.test_webhooks import FAST
from textgate.config import InboundSettings, Settings
from textgate.core.inbound import InboundMessage
from textgate.core.message import Status
from textgate.services.query import MessageFilter

T = TypeVar("T")

NUMBER = "+33612345678"
OTHER = "+33698765432"
USERNAME = "acme-user"
PASSWORD = "correct horse battery"


async def _call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    # The client is synchronous (requests); the server runs on this test's loop.
    return await asyncio.to_thread(fn, *args, **kwargs)


async def _account(gateway: Running) -> tuple[str, str]:
    accounts = gateway.gateway.services.accounts
    account = await accounts.create("acme")
    await gateway.gateway.credentials.set_login(account.id, USERNAME, PASSWORD)
    return account.id, (await accounts.issue_key(account.id)).token


async def test_send_read_and_see_it_delivered_with_a_login(gateway: Running) -> None:
    account_id, _ = await _account(gateway)
    base = f"{gateway.base_url}/3rdparty/v1"
    with sms_client.APIClient(USERNAME, PASSWORD, base_url=base) as api:
        message = domain.Message(
            phone_numbers=[NUMBER, OTHER],
            text_message=domain.TextMessage(text="Hello from the SMSGate client"),
            id="order-42",
            ttl=3600,
        )
        state = await _call(api.send, message)
        assert (state.id, state.state) == ("order-42", ProcessState.Pending)
        assert [r.phone_number for r in state.recipients] == [NUMBER, OTHER]
        stored = await gateway.gateway.services.messages.search(account_id, MessageFilter())
        assert sorted(m.recipient for m in stored) == [NUMBER, OTHER]
        assert {(m.text, m.client_ref, m.interface) for m in stored} == {
            ("Hello from the SMSGate client", "order-42", "smsgate")
        }

        async def delivered() -> bool:
            return (await _call(api.get_state, "order-42")).state == ProcessState.Delivered

        await until(delivered)
        final = await _call(api.get_state, "order-42")
        assert {r.state for r in final.recipients} == {ProcessState.Delivered}

        with pytest.raises(APIError) as again:
            await _call(api.send, message)
        assert again.value.status_code == 409
        listed = await _call(api.get_messages, pagination=domain.QueryPagination(limit=10))
        assert [m.id for m in listed] == ["order-42"]
        assert (await _call(api.health_check)).status == HealthStatus.PASS
        assert await _call(api.list_devices) == []


async def test_cancel_a_scheduled_message_with_an_api_key(gateway: Running) -> None:
    account_id, key = await _account(gateway)
    base = f"{gateway.base_url}/3rdparty/v1"
    with sms_client.APIClient(None, key, base_url=base) as api:
        later = datetime.now(UTC) + timedelta(hours=2)
        message = domain.Message(
            phone_numbers=[NUMBER],
            text_message=domain.TextMessage(text="see you later"),
            valid_until=later + timedelta(hours=1),
        )
        # The client has no scheduleAt field of its own: send it as the vendor's JSON does.
        state = await _call(
            api.http.post,
            f"{base}/messages",
            payload={**message.asdict(), "scheduleAt": later.isoformat()},
            headers=api.headers,
        )
        await _call(api.cancel_message, state["id"])
        [stored] = await gateway.gateway.services.messages.search(account_id, MessageFilter())
        assert stored.status == Status.CANCELLED
        assert (await _call(api.get_state, state["id"])).state == ProcessState.Cancelled
        with pytest.raises(APIError) as gone:
            await _call(api.cancel_message, state["id"])
        assert gone.value.status_code == 409

    with (
        sms_client.APIClient(USERNAME, "wrong password", base_url=base) as wrong,
        pytest.raises(APIError) as refused,
    ):
        await _call(wrong.list_devices)
    assert refused.value.status_code == 401


async def test_webhooks_are_posted_as_the_app_posts_them(settings: Settings) -> None:
    """Subscriptions made through the vendor's client hear received messages and status
    changes in the app's shape, signed as the app signs them; deleted, they are gone."""
    ours = "+33700000001"
    update = {"webhooks": FAST, "inbound": InboundSettings(numbers={ours: "acme"})}
    async with (
        running_gateway(settings.model_copy(update=update)) as gateway,
        running_receiver() as receiver,
    ):
        account_id, key = await _account(gateway)
        base = f"{gateway.base_url}/3rdparty/v1"
        with sms_client.APIClient(None, key, base_url=base) as api:
            received = await _call(
                api.create_webhook,
                domain.Webhook(id=None, url=receiver.url, event=WebhookEvent.SMS_RECEIVED),
            )
            delivered = await _call(
                api.create_webhook,
                domain.Webhook(id=None, url=receiver.url, event=WebhookEvent.SMS_DELIVERED),
            )
            listed = await _call(api.get_webhooks)
            assert {(w.id, w.event) for w in listed} == {
                (received.id, WebhookEvent.SMS_RECEIVED),
                (delivered.id, WebhookEvent.SMS_DELIVERED),
            }
            webhooks = gateway.gateway.services.webhooks
            secret = {
                "sms:received": (await webhooks.rotate_secret(account_id, received.id)).secret,
                "sms:delivered": (await webhooks.rotate_secret(account_id, delivered.id)).secret,
            }
            await _call(
                api.send,
                domain.Message(
                    phone_numbers=[NUMBER], text_message=domain.TextMessage(text="hi"), id="o-7"
                ),
            )
            sink = gateway.gateway.inbound
            assert sink is not None
            await sink([InboundMessage("sim", NUMBER, ours, "Yes please", datetime.now(UTC))])
            await until(lambda: len(receiver.hits) >= 2)
            bodies = {}
            for hit in receiver.hits:
                body = json.loads(hit.body)
                bodies[body["event"]] = body["payload"]
                # Each signed with its own subscription's key, over the body and timestamp.
                key = secret[body["event"]]
                assert key is not None
                signed = (hit.body + hit.headers["x-timestamp"]).encode()
                expected = hmac.new(key.encode(), signed, hashlib.sha256).hexdigest()
                assert hmac.compare_digest(expected, hit.headers["x-signature"])
            assert bodies["sms:received"]["message"] == "Yes please"
            assert bodies["sms:received"]["phoneNumber"] == NUMBER
            assert bodies["sms:delivered"]["messageId"] == "o-7"
            assert bodies["sms:delivered"]["phoneNumber"] == NUMBER
            await _call(api.delete_webhook, received.id)
            assert [w.id for w in await _call(api.get_webhooks)] == [delivered.id]


async def test_a_webhook_registered_again_under_its_id_is_one_subscription(
    settings: Settings,
) -> None:
    """What a client does at each start: register its webhook under its own id. Twice is
    one subscription, listed and deleted by that id."""
    async with running_gateway(settings.model_copy(update={"webhooks": FAST})) as gateway:
        account_id, key = await _account(gateway)
        base = f"{gateway.base_url}/3rdparty/v1"
        with sms_client.APIClient(None, key, base_url=base) as api:
            for url in ("http://127.0.0.1:9/old", "http://127.0.0.1:9/new"):
                made = await _call(
                    api.create_webhook,
                    domain.Webhook(id="my-app", url=url, event=WebhookEvent.SMS_RECEIVED),
                )
                assert (made.id, made.url) == ("my-app", url)
            [listed] = await _call(api.get_webhooks)
            assert (listed.id, listed.url) == ("my-app", "http://127.0.0.1:9/new")
            [stored] = await gateway.gateway.services.webhooks.of_account(account_id)
            assert (stored.label, stored.url) == ("my-app", "http://127.0.0.1:9/new")
            await _call(api.delete_webhook, "my-app")
            assert await _call(api.get_webhooks) == []
            assert await gateway.gateway.services.webhooks.of_account(account_id) == []
