"""Gateway A sends through a ``generic_http`` connector configured only by templates against
gateway B's native API (``POST /v1/messages`` with a Bearer key); B's webhooks post its
status events to A's callback route, which the template's mapping turns into reports.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from tests.connectors.upstream.harness import RECIPIENT, a_settings, client_of
from tests.support import SUITE_SECRET_KEY, Running, running_gateway, until
from textgate.config import ConnectorSettings, InboundSettings, Settings, WebhookSettings
from textgate.connectors.kinds import callback_token
from textgate.core.message import Status
from textgate.services.query import MessageFilter
from textgate.storage.inbound import InboundFilter

NAME = "b-native"
STATUSES = {
    "sent": "sent",
    "delivered": "delivered",
    "undelivered": "undelivered",
    "expired": "expired",
    "failed": "failed",
}


def native(b: Running, key: str, **options: Any) -> ConnectorSettings:
    return ConnectorSettings(
        name=NAME,
        type="generic_http",
        options={
            "url": f"{b.base_url}/v1/messages",
            "headers": {"Authorization": "Bearer {api_key}"},
            "body": {"to": "{recipient}", "from": "{sender}", "text": "{text}"},
            "api_key": key,
            "id_path": "$.messages[0].id",
            "status_callback": {
                "id_field": "data.message_id",
                "status_field": "data.status",
                "statuses": STATUSES,
            },
            **options,
        },
    )


async def test_a_message_through_b_native_api_and_its_status_back_by_webhook(
    settings: Settings,
) -> None:
    b_settings = settings.model_copy(
        update={
            "webhooks": WebhookSettings(
                allow_private_targets=True, poll_seconds=0.05, settle_seconds=0.05
            )
        }
    )
    async with running_gateway(b_settings) as b:
        accounts = b.gateway.services.accounts
        b_account = await accounts.create("gateway-a")
        b_key = (await accounts.issue_key(b_account.id)).token
        async with running_gateway(a_settings(settings, native(b, b_key))) as a:
            token = callback_token(SUITE_SECRET_KEY.get_secret_value(), NAME)
            hook = await b.client.post(
                "/v1/webhooks",
                json={"url": f"{a.base_url}/callbacks/{NAME}/{token}/status", "events": ["*"]},
                headers={"Authorization": f"Bearer {b_key}"},
            )
            assert hook.status_code == 201, hook.text

            client = await client_of(a)
            mid = await client.send(text="Your code is 4821", sender="ACME")
            done = await client.final(mid)
            assert done.status == Status.DELIVERED, done
            assert (done.connector, done.attempts) == (NAME, 1)
            [in_b] = await b.gateway.services.messages.search(b_account.id, MessageFilter())
            assert (in_b.recipient, in_b.text, in_b.sender) == (
                RECIPIENT,
                "Your code is 4821",
                "ACME",
            )
            assert in_b.status == Status.DELIVERED
            assert done.external_id == in_b.id

            # B's deliveries to A were all answered 2xx (the unmapped words included).
            async def all_delivered() -> bool:
                r = await b.client.get(
                    f"/v1/webhooks/{hook.json()['id']}/deliveries",
                    headers={"Authorization": f"Bearer {b_key}"},
                )
                items = r.json()["data"]
                return bool(items) and all(d["status"] == "delivered" for d in items)

            await until(all_delivered, "B's webhook deliveries to be answered")


async def test_the_callback_route_refuses_what_it_cannot_take(settings: Settings) -> None:
    """A wrong token and an unknown connector get the same 404; a kind the connector does
    not take 404; a body it cannot read 400; a status word it does not map is answered
    and changes nothing; a report for an unknown id is kept for when its message comes."""
    connector = ConnectorSettings(
        name=NAME,
        type="generic_http",
        options={
            "url": "http://127.0.0.1:9/send",
            "id_path": "id",
            "callback_token": "a-token-of-my-own-0123",
            "status_callback": {
                "id_field": "id",
                "status_field": "state",
                "statuses": {"DELIVRD": "delivered"},
                "answer": "thanks",
            },
        },
    )
    async with running_gateway(a_settings(settings, connector)) as a:
        c = a.client
        good = f"/callbacks/{NAME}/a-token-of-my-own-0123"
        wrong = await c.post(f"/callbacks/{NAME}/a-token-of-my-own-0124/status", json={})
        unknown = await c.post("/callbacks/nobody/a-token-of-my-own-0123/status", json={})
        assert (wrong.status_code, unknown.status_code) == (404, 404)
        assert wrong.json() == unknown.json()
        assert (await c.post(f"{good}/inbound", json={})).status_code == 404
        assert (await c.post(f"{good}/status", content=b"{not json")).status_code == 400
        assert (await c.post(f"{good}/status", json={"state": "DELIVRD"})).status_code == 400
        ignored = await c.get(f"{good}/status", params={"id": "x1", "state": "ACCEPTD"})
        assert (ignored.status_code, ignored.text) == (200, "thanks")
        taken = await c.post(f"{good}/status", data={"id": "x1", "state": "delivrd"})
        assert (taken.status_code, taken.text) == (200, "thanks")
        async with a.gateway.db.read() as conn:
            parked = (
                await conn.execute(
                    text("SELECT connector, external_id, status FROM pending_reports")
                )
            ).all()
        assert {tuple(r) for r in parked} == {(NAME, "x1", "delivered")}


async def test_a_process_without_dispatcher_takes_callbacks(settings: Settings) -> None:
    """``serve`` beside separate workers: the front process reads and stores callbacks."""
    connector = ConnectorSettings(
        name=NAME,
        type="generic_http",
        options={
            "url": "http://127.0.0.1:9/send",
            "id_path": "id",
            "status_callback": {"id_field": "id", "status_field": "state", "statuses": STATUSES},
        },
    )
    front = a_settings(settings, connector, run_dispatcher=False)
    async with running_gateway(front) as a:
        assert a.gateway.dispatcher is None
        token = callback_token(SUITE_SECRET_KEY.get_secret_value(), NAME)
        r = await a.client.post(
            f"/callbacks/{NAME}/{token}/status", json={"id": "x2", "state": "delivered"}
        )
        assert (r.status_code, r.text) == (200, "OK")
        async with a.gateway.db.read() as conn:
            parked = (await conn.execute(text("SELECT external_id FROM pending_reports"))).all()
        assert [tuple(p) for p in parked] == [("x2",)]


async def test_an_inbound_callback_reaches_the_owner_inbox(settings: Settings) -> None:
    """A provider posts a handset's reply as a form; the mapping reads it, the route stores
    it for the account that owns the number, and only then answers."""
    ours = "+393400000099"
    connector = ConnectorSettings(
        name=NAME,
        type="generic_http",
        options={
            "url": "http://127.0.0.1:9/send",
            "id_path": "id",
            "callback_token": "a-token-of-my-own-0123",
            "inbound_callback": {
                "from_field": "From",
                "to_field": "To",
                "text_field": "Body",
                "id_field": "MessageSid",
                "answer": "<Response/>",
            },
        },
    )
    update = {"inbound": InboundSettings(numbers={ours: "client"})}
    async with running_gateway(a_settings(settings, connector, **update)) as a:
        client = await client_of(a)
        route = f"/callbacks/{NAME}/a-token-of-my-own-0123/inbound"
        refused = await a.client.post(route, data={"From": "393471234567"})
        assert refused.status_code == 400
        r = await a.client.post(
            route,
            data={
                "From": "00393471234567",
                "To": "393400000099",
                "Body": "Oui, merci ☺",
                "MessageSid": "SM1",
            },
        )
        assert (r.status_code, r.text) == (200, "<Response/>")
        [got] = await a.gateway.services.inbound.search(client.account_id, InboundFilter())
        assert (got.sender, got.recipient, got.text) == (RECIPIENT, ours, "Oui, merci ☺")
