"""The vendor's Python client (``android-sms-gateway`` on PyPI) against textgate's SMSGate
client API, its base URL the only change: sending, reading the state, cancelling, the
account's phones and the health check, signed in with a login or an API key, with the
stored messages checked."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from android_sms_gateway import client as sms_client
from android_sms_gateway import domain
from android_sms_gateway.enums import HealthStatus, ProcessState
from android_sms_gateway.errors import APIError

from tests.support import Running, until
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
