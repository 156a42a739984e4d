"""Per-message callbacks (``callback_url`` on submit) and where webhook connections go."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support import Running, running_gateway, until
from tests.webhooks.receiver import Receiver, running_receiver
from tests.webhooks.test_webhooks import FAST, _account, _count
from textgate.config import Settings
from textgate.core.webhooks import verify
from textgate.services.webhooks import TargetChecker
from textgate.storage.txn import Query, Txn


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as r:
        yield r


async def _events_of(running: Running, message_ids: set[str]) -> dict[str, str]:
    def txn() -> Txn[dict[str, str]]:
        rows = yield Query("SELECT id, message_id, status FROM message_events")
        return {
            f"evt_msg_{r['id']}": r["status"] for r in rows or () if r["message_id"] in message_ids
        }

    return await running.gateway.db.txn(txn)


async def _all_delivered(running: Running, n: int) -> bool:
    return await _count(running, "SELECT COUNT(*) FROM messages WHERE status = 'delivered'") >= n


async def test_a_callback_url_hears_every_status_of_its_messages_only(
    settings: Settings, receiver: Receiver
) -> None:
    async with running_gateway(settings.model_copy(update={"webhooks": FAST})) as running:
        auth = await _account(running)
        with_callback = await running.client.post(
            "/v1/messages",
            json={
                "to": ["+33612345601", "+33612345602"],
                "text": "a",
                "callback_url": receiver.url,
            },
            headers=auth,
        )
        assert with_callback.status_code == 202, with_callback.text
        plain = await running.client.post(
            "/v1/messages", json={"to": "+33612345603", "text": "b"}, headers=auth
        )
        assert plain.status_code == 202
        await until(lambda: _all_delivered(running, 3))
        ids = {m["id"] for m in with_callback.json()["messages"]}
        expected = await _events_of(running, ids)
        assert len(expected) >= 6
        await until(lambda: set(receiver.accepted()) == set(expected))
        for event_id, hit in receiver.accepted().items():
            assert hit.event["type"] == f"message.{expected[event_id]}"
            assert hit.event["data"]["message_id"] in ids

        # The callback URL became one message-scoped target; its secret is learnt by rotating.
        targets = await running.client.get("/v1/webhooks?scope=message", headers=auth)
        [target] = targets.json()["data"]
        assert target["url"] == receiver.url and target["scope"] == "message"
        assert (await running.client.get("/v1/webhooks?scope=account", headers=auth)).json()[
            "data"
        ] == []
        rotated = await running.client.post(f"/v1/webhooks/{target['id']}/secret", headers=auth)
        assert rotated.status_code == 200, rotated.text
        secret = rotated.json()["secret"]
        before = len(receiver.hits)
        again = await running.client.post(
            "/v1/messages",
            json={"to": "+33612345604", "text": "c", "callback_url": receiver.url},
            headers=auth,
        )
        assert again.status_code == 202
        await until(lambda: _all_delivered(running, 4))
        later = await _events_of(running, {again.json()["messages"][0]["id"]})
        await until(lambda: set(later) <= set(receiver.accepted()))
        for hit in receiver.hits[before:]:
            ts = int(hit.headers["textgate-timestamp"])
            assert verify(secret, ts, hit.body, hit.headers["textgate-signature"])
        # Reused, not duplicated.
        assert (
            len(
                (await running.client.get("/v1/webhooks?scope=message", headers=auth)).json()[
                    "data"
                ]
            )
            == 1
        )


async def test_a_callback_url_inside_the_network_is_refused_and_nothing_is_stored(
    settings: Settings, receiver: Receiver
) -> None:
    strict = FAST.model_copy(update={"allow_private_targets": False})
    async with running_gateway(settings.model_copy(update={"webhooks": strict})) as running:
        auth = await _account(running)
        r = await running.client.post(
            "/v1/messages",
            json={"to": "+33612345601", "text": "a", "callback_url": receiver.url},
            headers=auth,
        )
        assert r.status_code == 400, r.text
        assert "non-public" in r.json()["error"]["message"]
        assert await _count(running, "SELECT COUNT(*) FROM messages") == 0
        assert await _count(running, "SELECT COUNT(*) FROM webhooks") == 0


class _Names:
    """A resolver the test controls: what a name resolves to can change between calls."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table

    async def __call__(self, host: str, port: int) -> list[str]:
        if host not in self.table:
            raise OSError("unknown name")
        return self.table[host]


async def test_a_send_connects_to_the_address_that_was_checked(settings: Settings) -> None:
    # The "public" network of this test is 127.0.0.2: the checker allows only it, and the
    # name hooks.example exists only in the test's resolver. A delivery reaching the receiver
    # proves the connection went to the checked address (nothing else could resolve the
    # name); rebinding the name to a refused address stops deliveries before any connection.
    strict = FAST.model_copy(update={"allow_private_targets": False, "max_attempts": 50})
    names = _Names({})
    checker = TargetChecker(strict, resolver=names, allowed=lambda address: address == "127.0.0.2")
    async with running_receiver("127.0.0.2") as receiver:
        port = receiver.url.split(":")[2].split("/")[0]
        names.table["hooks.example"] = ["127.0.0.2"]
        url = f"http://hooks.example:{port}/hook"
        async with running_gateway(
            settings.model_copy(update={"webhooks": strict}), target_checker=checker
        ) as running:
            auth = await _account(running)
            created = await running.client.post(
                "/v1/webhooks", json={"url": url, "events": ["message.*"]}, headers=auth
            )
            assert created.status_code == 201, created.text
            first = await running.client.post(
                "/v1/messages", json={"to": "+33612345601", "text": "a"}, headers=auth
            )
            assert first.status_code == 202
            await until(lambda: _all_delivered(running, 1))
            expected = await _events_of(running, {first.json()["messages"][0]["id"]})
            await until(lambda: set(receiver.accepted()) == set(expected))
            assert all(h.headers["host"] == f"hooks.example:{port}" for h in receiver.hits)

            names.table["hooks.example"] = ["10.1.2.3"]
            hits = len(receiver.hits)
            second = await running.client.post(
                "/v1/messages", json={"to": "+33612345602", "text": "b"}, headers=auth
            )
            assert second.status_code == 202
            await until(lambda: _all_delivered(running, 2))

            async def refused() -> Any:
                rows = await running.client.get(
                    f"/v1/webhooks/{created.json()['id']}/deliveries",
                    params={"status": "pending"},
                    headers=auth,
                )
                items = rows.json()["data"]
                return items and all(
                    d["attempts"] >= 2 and "non-public address (10.1.2.3)" in d["last_error"]
                    for d in items
                )

            await until(refused)
            assert len(receiver.hits) == hits


async def test_a_subscription_shows_and_takes_its_payload_format(
    settings: Settings, receiver: Receiver
) -> None:
    async with running_gateway(settings.model_copy(update={"webhooks": FAST})) as running:
        auth = await _account(running)
        created = await running.client.post(
            "/v1/webhooks",
            json={"url": receiver.url, "events": ["inbound.received"], "format": "smsmobileapi"},
            headers=auth,
        )
        assert created.status_code == 201, created.text
        assert created.json()["format"] == "smsmobileapi"
        [listed] = (await running.client.get("/v1/webhooks", headers=auth)).json()["data"]
        assert listed["format"] == "smsmobileapi"
        plain = await running.client.post(
            "/v1/webhooks", json={"url": receiver.url, "events": ["*"]}, headers=auth
        )
        assert plain.json()["format"] == "textgate"
        bad = await running.client.post(
            "/v1/webhooks",
            json={"url": receiver.url, "events": ["*"], "format": "soap"},
            headers=auth,
        )
        assert bad.status_code == 400
        assert await _count(running, "SELECT COUNT(*) FROM webhooks") == 2
