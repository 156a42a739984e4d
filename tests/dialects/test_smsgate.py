"""SMSGate's client API (``/3rdparty/v1``): case table + shared conformance and
malformed-input cases through the real server, with the stored effects of each case
checked."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.dialects.harness import (
    NUMBER,
    BodyRoute,
    Check,
    Context,
    DialectCase,
    Profile,
    Request,
    Stored,
    conformance,
    on_stored,
    run_case,
    valid_for,
)
from tests.dialects.harness import (
    AccountWorld as World,
)
from tests.dialects.malformed import malformed
from tests.support import Running, running_gateway
from tests.webhooks.test_webhooks import FAST
from textgate.config import Settings
from textgate.core.message import Message, Status
from textgate.dialects.smsgate.schemas import STATE_WORDS
from textgate.services.devices import RegistrationAuth
from textgate.storage.txn import Many, Txn

P = "/3rdparty/v1"
FR2 = "+33698765432"
USERNAME = "acme-user"
PASSWORD = "correct horse battery"


def _send(to: list[str], text: str, **fields: Any) -> Request:
    return Request(
        "POST", f"{P}/messages", json={"textMessage": {"text": text}, "phoneNumbers": to, **fields}
    )


def _send_within(hours: str) -> Request:
    """A send that only phones seen within ``hours`` may take (``deviceActiveWithin``)."""
    return Request(
        "POST",
        f"{P}/messages",
        params={"deviceActiveWithin": hours},
        json={"textMessage": {"text": "x"}, "phoneNumbers": [NUMBER]},
    )


def _basic(login: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()}


SMSGATE = Profile(
    name="smsgate",
    auth_headers=lambda key: {"Authorization": f"Bearer {key}"},
    send=_send,
    lookup=lambda body: Request("GET", f"{P}/messages/{body['id']}"),
    status_of=lambda body: body["state"],
    error_code_of=lambda body: str(body.get("code", "")),
    ok_status=202,
    bad_request_status=400,
    unauthorized_status=401,
    status_word=lambda message: STATE_WORDS[message.status],
    body_routes=(BodyRoute("POST", f"{P}/messages"),),
    malformed_code="malformed_input",
    parse=lambda text: json.loads(text) if text else None,
)


def _statuses(*expected: Status) -> Check:
    def check(msgs: list[Message]) -> None:
        assert sorted(m.status for m in msgs) == sorted(expected), msgs

    return on_stored(check)


def _body(check: Any) -> Check:
    def run(world: World, body: Any) -> None:
        check(body)

    return run


def _recipient_states(body: Any) -> None:
    assert [r["phoneNumber"] for r in body["recipients"]] == [NUMBER, FR2]
    assert {r["state"] for r in body["recipients"]} == {"Pending"}
    assert body["isEncrypted"] is False and body["isHashed"] is False
    assert body["textMessage"] == {"text": "two of you"}


def _one_recipient(body: Any, number: str) -> None:
    assert [r["phoneNumber"] for r in body["recipients"]] == [number]


async def _no_webhooks(world: World, body: Any) -> None:
    assert await world.running.gateway.services.webhooks.of_account(world.account_id) == []


def _id_of(ctx: Context) -> str:
    ident: str = ctx.setup_responses[0]["id"]
    return ident


LATER = (datetime.now(UTC) + timedelta(hours=1)).isoformat()

CASES: list[DialectCase] = [
    DialectCase(
        "send to two numbers: 202, the state of each",
        _send([NUMBER, FR2], "two of you", id="client-id-1"),
        expect_status=202,
        expect_json={"id": "client-id-1", "state": "Pending"},
        expect_stored=(Stored(NUMBER, text="two of you"), Stored(FR2, text="two of you")),
        checks=(_body(_recipient_states),),
    ),
    DialectCase(
        "the same id again is 409, nothing more stored",
        _send([NUMBER], "again", id="dup-1"),
        setup=(_send([NUMBER], "first", id="dup-1"),),
        expect_status=409,
        expect_stored=(Stored(NUMBER, text="first"),),
    ),
    DialectCase(
        "the older message field instead of textMessage",
        Request("POST", f"{P}/messages", json={"message": "legacy", "phoneNumbers": [NUMBER]}),
        expect_status=202,
        expect_stored=(Stored(NUMBER, text="legacy"),),
    ),
    DialectCase(
        "read by the client's own id",
        Request("GET", f"{P}/messages/mine-7"),
        setup=(_send([NUMBER], "hi", id="mine-7"),),
        wait_final=True,
        expect_status=200,
        expect_json={"id": "mine-7", "state": "Delivered"},
    ),
    DialectCase(
        "read by the id textgate gave",
        lambda ctx: Request("GET", f"{P}/messages/{_id_of(ctx)}"),
        setup=(_send([NUMBER], "hi"),),
        expect_status=200,
        checks=(_body(lambda body: _one_recipient(body, NUMBER)),),
    ),
    DialectCase(
        "an unknown id",
        Request("GET", f"{P}/messages/nothing-here"),
        expect_status=404,
        expect_error_code="not_found",
    ),
    DialectCase(
        "cancel a scheduled message",
        Request("DELETE", f"{P}/messages/later-1"),
        setup=(_send([NUMBER], "later", id="later-1", scheduleAt=LATER),),
        expect_status=204,
        checks=(_statuses(Status.CANCELLED),),
    ),
    DialectCase(
        "cancel a message that has left",
        Request("DELETE", f"{P}/messages/gone-1"),
        setup=(_send([NUMBER], "now", id="gone-1"),),
        wait_final=True,
        expect_status=409,
        checks=(_statuses(Status.DELIVERED),),
    ),
    DialectCase(
        "ttl bounds the wait",
        _send([NUMBER], "soon", ttl=600),
        expect_status=202,
        checks=(valid_for(600),),
    ),
    DialectCase(
        "ttl and validUntil together",
        _send([NUMBER], "x", ttl=600, validUntil=LATER),
        expect_status=400,
        expect_stored=(),
    ),
    DialectCase(
        "an encrypted message",
        _send([NUMBER], "c2VjcmV0", isEncrypted=True),
        expect_status=400,
        expect_stored=(),
    ),
    DialectCase(
        "a data message",
        Request(
            "POST",
            f"{P}/messages",
            json={"dataMessage": {"data": "AAE=", "port": 53739}, "phoneNumbers": [NUMBER]},
        ),
        expect_status=400,
        expect_stored=(),
    ),
    DialectCase(
        "101 numbers",
        _send([f"+336{i:08d}" for i in range(101)], "x"),
        expect_status=400,
        expect_stored=(),
    ),
    DialectCase(
        "one number that is none refuses the whole request",
        _send([NUMBER, "+999123456"], "x"),
        expect_status=400,
        expect_stored=(),
    ),
    DialectCase(
        "with skipPhoneValidation the others go and the bad one is stored refused",
        Request(
            "POST",
            f"{P}/messages",
            params={"skipPhoneValidation": "true"},
            json={"textMessage": {"text": "x"}, "phoneNumbers": [NUMBER, "+999123456"]},
        ),
        expect_status=202,
        expect_stored=(Stored(NUMBER), Stored("+999123456", status="rejected")),
    ),
    DialectCase(
        "a phone the account does not have",
        _send([NUMBER], "x", deviceId="no-such-phone"),
        expect_status=404,
        expect_stored=(),
    ),
    DialectCase(
        "deviceActiveWithin: no phone seen within that time",
        _send_within("12"),
        expect_status=400,
        expect_json={"message": "No active device with such ID found"},
        expect_stored=(),
    ),
    DialectCase(
        "deviceActiveWithin: a phone seen just now",
        _send_within("1"),
        arrange=lambda world: _register_phone(world),
        expect_status=202,
        expect_stored=(Stored(NUMBER, text="x"),),
    ),
    DialectCase(
        "deviceActiveWithin that is not a number of hours",
        _send_within("half a day"),
        arrange=lambda world: _register_phone(world),
        expect_status=400,
        expect_stored=(),
    ),
    DialectCase(
        "the account's phones",
        Request("GET", f"{P}/devices"),
        arrange=lambda world: _register_phone(world),
        expect_status=200,
        checks=(_body(lambda body: _one_phone(body)),),
    ),
    DialectCase(
        "a webhook for an event textgate does not raise",
        Request(
            "POST", f"{P}/webhooks", json={"url": "https://example.com/h", "event": "system:ping"}
        ),
        expect_status=400,
        checks=(_no_webhooks,),
    ),
    DialectCase(
        "a webhook narrowed to one phone",
        Request(
            "POST",
            f"{P}/webhooks",
            json={"url": "https://example.com/h", "event": "sms:received", "deviceId": "x"},
        ),
        expect_status=400,
        checks=(_no_webhooks,),
    ),
    DialectCase(
        "deleting a webhook that is not one",
        Request("DELETE", f"{P}/webhooks/nothing"),
        expect_status=404,
    ),
    DialectCase(
        "health, without credentials",
        Request("GET", f"{P}/health"),
        auth=False,
        expect_status=200,
        expect_json={"status": "pass"},
    ),
    DialectCase(
        "Basic: the account's username and password",
        Request(
            "POST",
            f"{P}/messages",
            json={"textMessage": {"text": "basic"}, "phoneNumbers": [NUMBER]},
            headers=_basic(USERNAME, PASSWORD),
        ),
        auth=False,
        expect_status=202,
        expect_stored=(Stored(NUMBER, text="basic"),),
    ),
    DialectCase(
        "Basic with a wrong password",
        Request(
            "POST",
            f"{P}/messages",
            json={"textMessage": {"text": "basic"}, "phoneNumbers": [NUMBER]},
            headers=_basic(USERNAME, "wrong"),
        ),
        auth=False,
        expect_status=401,
        expect_stored=(),
    ),
    DialectCase(
        "account rules: an opted-out number",
        _send([NUMBER], "x"),
        opt_outs=(NUMBER,),
        expect_status=400,
        expect_error_code="opted_out",
        expect_stored=(),
    ),
    DialectCase(
        "account rules: not enough credit",
        _send([NUMBER], "x"),
        rules={"price_default": "0.05"},
        expect_status=402,
        expect_error_code="insufficient_credit",
        expect_stored=(),
    ),
]


async def _register_phone(world: World) -> None:
    running = world.running
    key = (await running.gateway.services.accounts.issue_key(world.account_id)).token
    await running.gateway.services.devices.register(
        RegistrationAuth(private_token=key), "Office phone", push_token=None, sim_cards=()
    )


def _one_phone(body: Any) -> None:
    [phone] = body
    assert phone["name"] == "Office phone"
    assert phone["id"] and phone["lastSeen"] and phone["deletedAt"] is None


@pytest.mark.parametrize(
    "case", [*CASES, *conformance(SMSGATE), *malformed(SMSGATE)], ids=lambda c: c.label
)
async def test_smsgate(case: DialectCase, gateway: Running) -> None:
    accounts = gateway.gateway.services.accounts
    account = await accounts.create("acme")
    key = (await accounts.issue_key(account.id)).token
    await gateway.gateway.credentials.set_login(account.id, USERNAME, PASSWORD)
    await run_case(
        case,
        gateway,
        SMSGATE,
        key,
        account.id,
        world=World(gateway, account.id),
        secrets=(PASSWORD,),
    )


async def test_the_list_pages_by_offset_and_counts_them_all(gateway: Running) -> None:
    accounts = gateway.gateway.services.accounts
    account = await accounts.create("acme")
    auth = {"Authorization": f"Bearer {(await accounts.issue_key(account.id)).token}"}
    for i in range(3):
        sent = await gateway.client.post(
            f"{P}/messages",
            json={"textMessage": {"text": f"m{i}"}, "phoneNumbers": [NUMBER], "id": f"m{i}"},
            headers=auth,
        )
        assert sent.status_code == 202, sent.text
    newest = await gateway.client.get(f"{P}/messages", params={"limit": "2"}, headers=auth)
    assert newest.status_code == 200, newest.text
    assert newest.headers["X-Total-Count"] == "3"
    assert [m["id"] for m in newest.json()] == ["m2", "m1"]
    rest = await gateway.client.get(
        f"{P}/messages", params={"limit": "2", "offset": "2"}, headers=auth
    )
    assert [m["id"] for m in rest.json()] == ["m0"]
    oldest = await gateway.client.get(
        f"{P}/messages", params={"sort": "created_at", "limit": "1"}, headers=auth
    )
    assert [(m["id"], m["textMessage"]["text"]) for m in oldest.json()] == [("m0", "m0")]
    none = await gateway.client.get(
        f"{P}/messages", params={"to": "2001-01-01T00:00:00Z"}, headers=auth
    )
    assert (none.json(), none.headers["X-Total-Count"]) == ([], "0")
    for params in ({"limit": "101"}, {"offset": "-1"}, {"state": "sent"}, {"sort": "id"}):
        refused = await gateway.client.get(f"{P}/messages", params=params, headers=auth)
        assert refused.status_code == 400, (params, refused.text)
        assert refused.json()["message"]


# Orders (reference -> its recipients' statuses) and the state the list gives each: its
# least advanced recipient's (spec section 6; schemas.STATE_WORDS).
STATE_ORDERS: dict[str, tuple[Status, ...]] = {
    "waits": (Status.SCHEDULED,),
    "taken": (Status.SENDING, Status.DELIVERED),
    "half": (Status.SENT, Status.DELIVERED),
    "done": (Status.DELIVERED,),
    "mixed": (Status.DELIVERED, Status.FAILED),
    "lost": (Status.FAILED, Status.EXPIRED),
    "stopped": (Status.CANCELLED,),
}
STATE_OF = {
    "waits": "Pending",
    "taken": "Processed",
    "half": "Sent",
    "done": "Delivered",
    "mixed": "Delivered",
    "lost": "Failed",
    "stopped": "Cancelled",
}


async def test_the_list_keeps_the_messages_in_a_state(gateway: Running) -> None:
    accounts = gateway.gateway.services.accounts
    account = await accounts.create("acme")
    auth = {"Authorization": f"Bearer {(await accounts.issue_key(account.id)).token}"}
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    for ref, statuses in STATE_ORDERS.items():
        numbers = [f"+336123456{i:02d}" for i in range(len(statuses))]
        sent = await gateway.client.post(
            "/v1/messages",
            json={"to": numbers, "text": ref, "reference": ref, "schedule_at": later},
            headers=auth,
        )
        assert sent.status_code == 202, sent.text
        order = sent.json()["order_id"]
        # Statuses set in storage (scheduled, none of these is ever due for the dispatcher).
        for number, status in zip(numbers, statuses, strict=True):
            if status is not Status.SCHEDULED:
                await _set_status(gateway, order, number, status)

    async def listed(**params: str) -> tuple[list[str], str]:
        r = await gateway.client.get(f"{P}/messages", params=params, headers=auth)
        assert r.status_code == 200, r.text
        return sorted(m["id"] for m in r.json()), r.headers["X-Total-Count"]

    everything = await gateway.client.get(f"{P}/messages", headers=auth)
    assert {m["id"]: m["state"] for m in everything.json()} == STATE_OF
    for word in ("Pending", "Processed", "Sent", "Delivered", "Failed", "Cancelled"):
        want = sorted(ref for ref, state in STATE_OF.items() if state == word)
        assert await listed(state=word) == (want, str(len(want))), word
    # With paging and the other filters: counted before the page is cut.
    assert await listed(state="Delivered", limit="1") == (["mixed"], "2")
    assert await listed(state="Delivered", to="2001-01-01T00:00:00Z") == ([], "0")
    for word in ("sent", "Queued", "Delivered,Failed"):
        refused = await gateway.client.get(f"{P}/messages", params={"state": word}, headers=auth)
        assert refused.status_code == 400, (word, refused.text)
        assert "Pending" in refused.json()["message"]


async def _set_status(gateway: Running, order_id: str, number: str, status: Status) -> None:
    def txn() -> Txn[None]:
        yield Many(
            "UPDATE messages SET status = ?, next_attempt_at = NULL"
            " WHERE order_id = ? AND recipient = ?",
            [(status.value, order_id, number)],
        )

    await gateway.gateway.db.txn(txn)


async def test_failed_basic_logins_are_limited_as_every_login_is(gateway: Running) -> None:
    """Ten wrong passwords for a username from one address: the right one is refused from
    there too (429) until the count is forgotten ("Logins and failed attempts")."""
    accounts = gateway.gateway.services.accounts
    account = await accounts.create("acme")
    await gateway.gateway.credentials.set_login(account.id, USERNAME, PASSWORD)
    for _ in range(10):
        wrong = await gateway.client.get(f"{P}/devices", headers=_basic(USERNAME, "guess"))
        assert wrong.status_code == 401, wrong.text
    blocked = await gateway.client.get(f"{P}/devices", headers=_basic(USERNAME, PASSWORD))
    assert blocked.status_code == 429, blocked.text


async def test_a_native_subscription_is_not_the_vendor_apis_to_delete(settings: Settings) -> None:
    # Private targets allowed: the subscription's URL stays on loopback.
    async with running_gateway(settings.model_copy(update={"webhooks": FAST})) as gateway:
        accounts = gateway.gateway.services.accounts
        account = await accounts.create("acme")
        auth = {"Authorization": f"Bearer {(await accounts.issue_key(account.id)).token}"}
        native = await gateway.client.post(
            "/v1/webhooks",
            json={"url": "http://127.0.0.1:9/h", "events": ["message.*"]},
            headers=auth,
        )
        assert native.status_code == 201, native.text
        listed = await gateway.client.get(f"{P}/webhooks", headers=auth)
        assert listed.json() == []
        gone = await gateway.client.delete(f"{P}/webhooks/{native.json()['id']}", headers=auth)
        assert gone.status_code == 404
        assert len(await gateway.gateway.services.webhooks.of_account(account.id)) == 1


async def test_a_webhook_made_again_under_its_client_id_replaces_the_first(
    settings: Settings,
) -> None:
    """Clients register their webhooks at each start under ids of their own: the same id
    again is the same subscription (new URL and event, same signing secret), listed and
    deleted by that id; without an id, textgate's own names it."""
    async with running_gateway(settings.model_copy(update={"webhooks": FAST})) as gateway:
        accounts = gateway.gateway.services.accounts
        account = await accounts.create("acme")
        auth = {"Authorization": f"Bearer {(await accounts.issue_key(account.id)).token}"}
        hooks = gateway.gateway.services.webhooks

        async def register(body: dict[str, str]) -> dict[str, Any]:
            r = await gateway.client.post(f"{P}/webhooks", json=body, headers=auth)
            assert r.status_code == 201, r.text
            answer: dict[str, Any] = r.json()
            return answer

        first = await register(
            {"id": "ha-sms", "url": "http://127.0.0.1:9/a", "event": "sms:received"}
        )
        assert first == {
            "id": "ha-sms",
            "deviceId": None,
            "url": "http://127.0.0.1:9/a",
            "event": "sms:received",
        }
        [stored] = await hooks.of_account(account.id)
        again = await register({"id": "ha-sms", "url": "http://127.0.0.1:9/b", "event": "sms:sent"})
        assert again == {**first, "url": "http://127.0.0.1:9/b", "event": "sms:sent"}
        [replaced] = await hooks.of_account(account.id)
        assert (replaced.id, replaced.label, replaced.url) == (stored.id, "ha-sms", again["url"])
        unnamed = await register({"url": "http://127.0.0.1:9/c", "event": "sms:delivered"})
        assert unnamed["id"] not in ("ha-sms", stored.id)
        listed = await gateway.client.get(f"{P}/webhooks", headers=auth)
        assert sorted(h["id"] for h in listed.json()) == sorted(["ha-sms", unnamed["id"]])
        # Another account may use the same id for its own.
        other = await accounts.create("other")
        other_auth = {"Authorization": f"Bearer {(await accounts.issue_key(other.id)).token}"}
        theirs = await gateway.client.post(
            f"{P}/webhooks",
            json={"id": "ha-sms", "url": "http://127.0.0.1:9/d", "event": "sms:received"},
            headers=other_auth,
        )
        assert theirs.status_code == 201, theirs.text
        assert [h.url for h in await hooks.of_account(account.id)] == [again["url"], unnamed["url"]]
        for name in ("ha-sms", unnamed["id"]):
            gone = await gateway.client.delete(f"{P}/webhooks/{name}", headers=auth)
            assert gone.status_code == 204, gone.text
        assert await hooks.of_account(account.id) == []
        assert [h.label for h in await hooks.of_account(other.id)] == ["ha-sms"]
