"""The smsend / Skebby REST API v1.0: case table + shared conformance cases through the real
server, with the stored effects of each case checked."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from tests.dialects.harness import (
    LONG_TEXT,
    NUMBER,
    BodyRoute,
    Check,
    Context,
    DialectCase,
    Profile,
    Request,
    Stored,
    conformance,
    run_case,
    stored_messages,
)
from tests.dialects.malformed import malformed
from tests.support import Running, running_gateway
from textgate.config import Settings
from textgate.core.inbound import InboundMessage
from textgate.core.message import Message
from textgate.services.devices import RegistrationAuth
from textgate.services.query import MessageFilter

P = "/API/v1.0/REST"
FR2 = "+33698765432"
USERNAME = "acme-user"
PASSWORD = "correct horse battery"


def _sms(**fields: Any) -> dict[str, Any]:
    return {"message": "Hello world!", "message_type": "N", "recipient": [NUMBER], **fields}


def _send(to: list[str], text: str) -> Request:
    return Request("POST", f"{P}/sms", json=_sms(message=text, recipient=to))


def _session_headers(pair: str) -> dict[str, str]:
    user_key, session_key = pair.split(";")
    return {"user_key": user_key, "Session_key": session_key}


# What ``GET sms/{order_id}`` says for each stored status (smsend's "Get SMS message
# state" words; a cancelled order is textgate's own word).
STATUS_WORDS = {
    "scheduled": "SCHEDULED",
    "queued": "WAITING",
    "sending": "WAITING",
    "sent": "SENT",
    "buffered": "WAIT4DLVR",
    "delivered": "DLVRD",
    "undelivered": "KO",
    "failed": "ERROR",
    "expired": "TIMEOUT",
    "cancelled": "CANCELLED",
}

SMSEND = Profile(
    name="smsend",
    auth_headers=_session_headers,
    send=_send,
    lookup=lambda body: Request("GET", f"{P}/sms/{body['order_id']}"),
    status_of=lambda body: str(body["recipients"][0]["status"]),
    error_code_of=lambda body: str(body["code"]),
    ok_status=201,
    bad_request_status=400,
    unauthorized_status=401,
    status_word=lambda message: STATUS_WORDS[message.status.value],
    body_routes=(BodyRoute("POST", f"{P}/sms"),),
    malformed_code="10",
)

# Header values filled in by the test with the keys of a real login.
USER_KEY = "{user_key}"
ACCESS_TOKEN = "{access_token}"
SESSION_KEY = "{session_key}"


def _order_lookup(ctx: Context) -> Request:
    return Request("GET", f"{P}/sms/{ctx.setup_responses[0]['order_id']}")


def _delete_first(ctx: Context) -> Request:
    return Request("DELETE", f"{P}/sms/{ctx.setup_responses[0]['order_id']}")


@dataclasses.dataclass
class World:
    running: Running
    account_id: str


def _stored(check: Callable[[list[Message]], None]) -> Check:
    """A check of the account's stored messages."""

    async def run(world: World, body: Any) -> None:
        check(await stored_messages(world.running, world.account_id))

    return run


def _body(check: Callable[[Any], None]) -> Check:
    def run(world: World, body: Any) -> None:
        check(body)

    return run


def _on_quality(quality: str) -> Check:
    def check(msgs: list[Message]) -> None:
        assert [m.quality for m in msgs] == [quality] * len(msgs)

    return _stored(check)


def _scheduled_at(when: datetime) -> Check:
    def check(msgs: list[Message]) -> None:
        assert [m.scheduled_at for m in msgs] == [when] * len(msgs)

    return _stored(check)


def _client_ref(ref: str) -> Check:
    def check(msgs: list[Message]) -> None:
        assert [m.client_ref for m in msgs] == [ref] * len(msgs)

    return _stored(check)


def _one_recipient(**expected: str) -> Check:
    def check(body: Any) -> None:
        (recipient,) = body["recipients"]
        assert recipient["destination"] == NUMBER
        for key, value in expected.items():
            assert recipient[key] == value, recipient
        if recipient["status"] == "DLVRD":
            assert len(recipient["delivery_date"]) == 14

    return _body(check)


def _types(names: list[str], quantity: int = 100_000) -> Check:
    def check(body: Any) -> None:
        assert [s["type"] for s in body["sms"]] == names
        assert all(s["quantity"] == quantity for s in body["sms"])

    return _body(check)


@_body
def _history_line(body: Any) -> None:
    (line,) = body["smshistory"]
    assert line["order_id"] == "h1"
    assert line["num_recipients"] == 2
    assert line["message_type"] == "N"
    assert len(line["create_time"]) == 14


@_body
def _no_lines(body: Any) -> None:
    assert body["smshistory"] == []


def _statuses(expected: dict[str, str]) -> Check:
    def check(body: Any) -> None:
        got = {r["destination"]: r["status"] for r in body["recipients"]}
        for number, status in expected.items():
            assert got[number] == status, got

    return _body(check)


CASES: list[DialectCase] = [
    DialectCase(
        "seed example fields (N, sender, returnCredits false, sender null)",
        Request("POST", f"{P}/sms", json=_sms(sender="ACME", returnCredits=False)),
        expect_status=201,
        expect_json={"result": "OK", "total_sent": 1, "remaining_credits": 0},
        expect_stored=(Stored(NUMBER, encoding="gsm7", segments=1, sender="ACME"),),
    ),
    DialectCase(
        "null sender uses the account default",
        Request("POST", f"{P}/sms", json=_sms(sender=None)),
        expect_status=201,
        expect_stored=(Stored(NUMBER, text="Hello world!"),),
    ),
    DialectCase(
        "N is the high quality class",
        Request("POST", f"{P}/sms", json=_sms(message_type="N")),
        expect_status=201,
        expect_stored=(Stored(NUMBER),),
        checks=(_on_quality("high"),),
    ),
    DialectCase(
        "L is the medium quality class",
        Request("POST", f"{P}/sms", json=_sms(message_type="L")),
        expect_status=201,
        expect_stored=(Stored(NUMBER),),
        checks=(_on_quality("medium"),),
    ),
    DialectCase(
        "LL is the low quality class",
        Request("POST", f"{P}/sms", json=_sms(message_type="LL")),
        expect_status=201,
        expect_stored=(Stored(NUMBER),),
        checks=(_on_quality("low"),),
    ),
    DialectCase(
        "Skebby GP is high",
        Request("POST", f"{P}/sms", json=_sms(message_type="GP")),
        expect_status=201,
        expect_stored=(Stored(NUMBER),),
        checks=(_on_quality("high"),),
    ),
    DialectCase(
        "Skebby TI is medium",
        Request("POST", f"{P}/sms", json=_sms(message_type="TI")),
        expect_status=201,
        expect_stored=(Stored(NUMBER),),
        checks=(_on_quality("medium"),),
    ),
    DialectCase(
        "Skebby SI is low",
        Request("POST", f"{P}/sms", json=_sms(message_type="SI")),
        expect_status=201,
        expect_stored=(Stored(NUMBER),),
        checks=(_on_quality("low"),),
    ),
    DialectCase(
        "the class shows in the order state",
        _order_lookup,
        setup=(Request("POST", f"{P}/sms", json=_sms(message_type="SI")),),
        expect_status=200,
        expect_json={"result": "OK", "recipient_number": 1},
        checks=(_one_recipient(message_type="LL", quality="low"),),
    ),
    DialectCase(
        "unknown message_type",
        Request("POST", f"{P}/sms", json=_sms(message_type="XX")),
        expect_status=400,
        expect_error_code="10",
        expect_stored=(),
    ),
    DialectCase(
        "missing message_type",
        Request("POST", f"{P}/sms", json={"message": "x", "recipient": [NUMBER]}),
        expect_status=400,
        expect_error_code="10",
        expect_stored=(),
    ),
    DialectCase(
        "missing message",
        Request("POST", f"{P}/sms", json={"message_type": "N", "recipient": [NUMBER]}),
        expect_status=400,
        expect_error_code="10",
        expect_stored=(),
    ),
    DialectCase(
        "recipient as one string",
        Request("POST", f"{P}/sms", json=_sms(recipient=NUMBER)),
        expect_status=201,
        expect_stored=(Stored(NUMBER),),
    ),
    DialectCase(
        "two recipients",
        Request("POST", f"{P}/sms", json=_sms(recipient=[NUMBER, FR2])),
        expect_status=201,
        expect_json={"total_sent": 2},
        expect_stored=(Stored(FR2), Stored(NUMBER)),
    ),
    DialectCase(
        "client order_id is echoed and stored",
        Request("POST", f"{P}/sms", json=_sms(order_id="my-order-1")),
        expect_status=201,
        expect_json={"result": "OK", "order_id": "my-order-1"},
        expect_stored=(Stored(NUMBER),),
        checks=(_client_ref("my-order-1"),),
    ),
    DialectCase(
        "order state by the client's order_id",
        Request("GET", f"{P}/sms/my-order-2"),
        setup=(Request("POST", f"{P}/sms", json=_sms(order_id="my-order-2")),),
        expect_status=200,
        expect_json={"order_id": "my-order-2", "recipient_number": 1},
    ),
    DialectCase(
        "the same order_id again returns the first order",
        Request("POST", f"{P}/sms", json=_sms(order_id="again")),
        setup=(Request("POST", f"{P}/sms", json=_sms(order_id="again")),),
        expect_status=201,
        expect_json={"order_id": "again", "total_sent": 1},
        expect_stored=(Stored(NUMBER),),
    ),
    DialectCase(
        # A client that numbers its notices by its own order ("shipped", then "delivered"
        # under the same order_id) is told, rather than answered OK with nothing sent.
        "the same order_id with another text is refused",
        Request("POST", f"{P}/sms", json=_sms(order_id="notice-7", message="Delivered")),
        setup=(Request("POST", f"{P}/sms", json=_sms(order_id="notice-7", message="Shipped")),),
        expect_status=400,
        expect_json={"result": "KO", "code": 10, "error": "INVALID_INPUT"},
        expect_stored=(Stored(NUMBER, text="Shipped"),),
    ),
    DialectCase(
        "the same order_id with other recipients is refused",
        Request("POST", f"{P}/sms", json=_sms(order_id="notice-8", recipient=[NUMBER, FR2])),
        setup=(Request("POST", f"{P}/sms", json=_sms(order_id="notice-8")),),
        expect_status=400,
        expect_json={"result": "KO", "code": 10, "error": "INVALID_INPUT"},
        expect_stored=(Stored(NUMBER),),
    ),
    DialectCase(
        "scheduled yyyyMMddHHmmss",
        Request("POST", f"{P}/sms", json=_sms(scheduled_delivery_time="29990101120000")),
        expect_status=201,
        expect_stored=(Stored(NUMBER, status="scheduled"),),
        checks=(_scheduled_at(datetime(2999, 1, 1, 12, tzinfo=UTC)),),
    ),
    DialectCase(
        "scheduled ISO-8601 as the seed's Python example sends it",
        Request(
            "POST", f"{P}/sms", json=_sms(scheduled_delivery_time="2999-01-01T12:00:00.500000")
        ),
        expect_status=201,
        expect_stored=(Stored(NUMBER, status="scheduled"),),
        checks=(_scheduled_at(datetime(2999, 1, 1, 12, 0, 0, 500000, tzinfo=UTC)),),
    ),
    DialectCase(
        "scheduled yyyy-MM-dd HH:mm.0",
        Request("POST", f"{P}/sms", json=_sms(scheduled_delivery_time="2999-01-01 12:00.0")),
        expect_status=201,
        expect_stored=(Stored(NUMBER, status="scheduled"),),
        checks=(_scheduled_at(datetime(2999, 1, 1, 12, tzinfo=UTC)),),
    ),
    DialectCase(
        "scheduled as Gson renders a java.util.Date",
        Request("POST", f"{P}/sms", json=_sms(scheduled_delivery_time="Jan 1, 2999, 12:00:00 PM")),
        expect_status=201,
        expect_stored=(Stored(NUMBER, status="scheduled"),),
        checks=(_scheduled_at(datetime(2999, 1, 1, 12, tzinfo=UTC)),),
    ),
    DialectCase(
        "scheduled with scheduled_delivery_timezone",
        Request(
            "POST",
            f"{P}/sms",
            json=_sms(
                scheduled_delivery_time="29990101120000",
                scheduled_delivery_timezone="Europe/Rome",
            ),
        ),
        expect_status=201,
        expect_stored=(Stored(NUMBER, status="scheduled"),),
        # Rome is UTC+1 in January.
        checks=(_scheduled_at(datetime(2999, 1, 1, 11, tzinfo=UTC)),),
    ),
    DialectCase(
        "a schedule in the past sends now",
        Request("POST", f"{P}/sms", json=_sms(scheduled_delivery_time="010120")),
        expect_status=201,
        expect_stored=(Stored(NUMBER),),
    ),
    DialectCase(
        "unknown time zone",
        Request(
            "POST",
            f"{P}/sms",
            json=_sms(scheduled_delivery_time="29990101120000", scheduled_delivery_timezone="Mars"),
        ),
        expect_status=400,
        expect_error_code="10",
        expect_stored=(),
    ),
    DialectCase(
        "not a date",
        Request("POST", f"{P}/sms", json=_sms(scheduled_delivery_time="tomorrow")),
        expect_status=400,
        expect_error_code="10",
        expect_stored=(),
    ),
    DialectCase(
        "returnCredits counts SMS parts",
        Request("POST", f"{P}/sms", json=_sms(message=LONG_TEXT, returnCredits=True)),
        expect_status=201,
        expect_json={"total_sent": 2},
        expect_stored=(Stored(NUMBER, segments=2),),
    ),
    DialectCase(
        "without returnCredits messages are counted",
        Request("POST", f"{P}/sms", json=_sms(message=LONG_TEXT)),
        expect_status=201,
        expect_json={"total_sent": 1},
        expect_stored=(Stored(NUMBER, segments=2),),
    ),
    DialectCase(
        "returnRemaining adds the messages left today",
        Request("POST", f"{P}/sms", json=_sms(returnRemaining=True)),
        expect_status=201,
        expect_json={"remaining_credits": 0, "remaining_messages": 99_999},
        expect_stored=(Stored(NUMBER),),
    ),
    DialectCase(
        "remaining credits and messages with a balance and prices",
        Request("POST", f"{P}/sms", json=_sms(returnRemaining=True)),
        expect_status=201,
        # 25 credits less one part at 0.05: 24.95 left, 499 messages at 0.05.
        expect_json={"remaining_credits": 24, "remaining_messages": 499},
        expect_stored=(Stored(NUMBER),),
        rules={"price_default": "0.05"},
        credit="25",
    ),
    DialectCase(
        "status with a balance and prices",
        Request("GET", f"{P}/status", params={"getMoney": "true"}),
        expect_status=200,
        expect_json={"money": 25.0},
        rules={"price_default": "0.05"},
        credit="25",
        checks=(_types(["N", "L", "LL"], 500),),
    ),
    DialectCase(
        "encoding ucs2",
        Request("POST", f"{P}/sms", json=_sms(message="abc", encoding="ucs2")),
        expect_status=201,
        expect_stored=(Stored(NUMBER, encoding="ucs2"),),
    ),
    DialectCase(
        "encoding gsm",
        Request("POST", f"{P}/sms", json=_sms(message="abc", encoding="gsm")),
        expect_status=201,
        expect_stored=(Stored(NUMBER, encoding="gsm7"),),
    ),
    DialectCase(
        "unknown encoding",
        Request("POST", f"{P}/sms", json=_sms(encoding="latin1")),
        expect_status=400,
        expect_error_code="10",
        expect_stored=(),
    ),
    DialectCase(
        "an invalid recipient blocks the request by default",
        Request("POST", f"{P}/sms", json=_sms(recipient=[NUMBER, "not-a-number"])),
        expect_status=400,
        expect_error_code="12",
        expect_stored=(),
    ),
    DialectCase(
        "allowInvalidRecipients sends to the others",
        Request(
            "POST",
            f"{P}/sms",
            json=_sms(recipient=[NUMBER, "not-a-number"], allowInvalidRecipients=True),
        ),
        expect_status=201,
        expect_json={"total_sent": 1},
        expect_stored=(Stored(NUMBER), Stored("not-a-number", status="rejected")),
    ),
    DialectCase(
        "unused provider fields are accepted",
        Request(
            "POST",
            f"{P}/sms",
            json=_sms(campaign_name="c", short_link_url="https://example.com", id_landing=3),
        ),
        expect_status=201,
        expect_stored=(Stored(NUMBER),),
    ),
    DialectCase(
        "sender too long",
        Request("POST", f"{P}/sms", json=_sms(sender="ABCDEFGHIJKL")),
        expect_status=400,
        expect_error_code="13",
        expect_stored=(),
    ),
    DialectCase(
        "malformed JSON never gets a 500",
        Request("POST", f"{P}/sms", content=b"{not json"),
        expect_status=400,
        expect_error_code="10",
        expect_stored=(),
    ),
    DialectCase(
        "JSON that is not an object",
        Request("POST", f"{P}/sms", content=b"[1, 2]"),
        expect_status=400,
        expect_error_code="10",
        expect_stored=(),
    ),
    DialectCase(
        "JSON without a Content-Type (the Perl example sends Content_type)",
        Request(
            "POST",
            f"{P}/sms",
            content=b'{"message": "hi", "message_type": "N", "recipient": ["+33612345678"]}',
            headers={"Content_type": "application/json"},
        ),
        expect_status=201,
        expect_stored=(Stored(NUMBER, text="hi"),),
    ),
    DialectCase(
        "trailing slash",
        Request("POST", f"{P}/sms/", json=_sms()),
        expect_status=201,
        expect_stored=(Stored(NUMBER),),
    ),
    DialectCase(
        "doubled slash",
        Request("POST", f"{P}//sms", json=_sms()),
        expect_status=201,
        expect_stored=(Stored(NUMBER),),
    ),
    DialectCase(
        "access token instead of a session",
        Request(
            "POST",
            f"{P}/sms",
            json=_sms(),
            headers={"user_key": USER_KEY, "Access_token": ACCESS_TOKEN},
        ),
        auth=False,
        expect_status=201,
        expect_stored=(Stored(NUMBER),),
    ),
    DialectCase(
        "an access token is not a session key",
        Request(
            "POST",
            f"{P}/sms",
            json=_sms(),
            headers={"user_key": USER_KEY, "Session_key": ACCESS_TOKEN},
        ),
        auth=False,
        expect_status=401,
        expect_error_code="20",
        expect_stored=(),
    ),
    DialectCase(
        "a session key with another user_key",
        Request(
            "POST",
            f"{P}/sms",
            json=_sms(),
            headers={"user_key": "01M808BYXYSPR1BQ468QW43ST0", "Session_key": SESSION_KEY},
        ),
        auth=False,
        expect_status=401,
        expect_error_code="20",
        expect_stored=(),
    ),
    DialectCase(
        "user_key without a session",
        Request("GET", f"{P}/status", headers={"user_key": USER_KEY}),
        auth=False,
        expect_status=401,
        expect_error_code="20",
    ),
    DialectCase(
        "status",
        Request("GET", f"{P}/status"),
        expect_status=200,
        expect_json={"money": None, "email": None},
        checks=(_types(["N", "L", "LL"]),),
    ),
    DialectCase(
        "status with getMoney",
        Request("GET", f"{P}/status", params={"getMoney": "true", "typeAliases": "true"}),
        expect_status=200,
        expect_json={"money": 0.0},
        checks=(_types(["GP", "TI", "SI"]),),
    ),
    DialectCase(
        "history",
        Request("GET", f"{P}/smshistory", params={"from": "20000101000000"}),
        setup=(Request("POST", f"{P}/sms", json=_sms(order_id="h1", recipient=[NUMBER, FR2])),),
        expect_status=200,
        expect_json={"total": 1, "pageNumber": 1, "pageSize": 10},
        checks=(_history_line,),
    ),
    DialectCase(
        "history page past the end",
        Request(
            "GET",
            f"{P}/smshistory",
            params={"from": "20000101000000", "pageNumber": "2", "pageSize": "1", "dir": "asc"},
        ),
        setup=(Request("POST", f"{P}/sms", json=_sms()),),
        expect_status=200,
        expect_json={"total": 1, "pageNumber": 2, "pageSize": 1},
        checks=(_no_lines,),
    ),
    DialectCase(
        "history without from",
        Request("GET", f"{P}/smshistory"),
        expect_status=400,
        expect_error_code="10",
    ),
    DialectCase(
        "history with a bad page size",
        Request("GET", f"{P}/smshistory", params={"from": "20000101000000", "pageSize": "-1"}),
        expect_status=400,
        expect_error_code="10",
    ),
    DialectCase(
        "cancel a scheduled order",
        _delete_first,
        setup=(Request("POST", f"{P}/sms", json=_sms(scheduled_delivery_time="29990101120000")),),
        expect_status=200,
        expect_json={"result": "OK"},
        expect_stored=(Stored(NUMBER, status="cancelled"),),
    ),
    DialectCase(
        "cancel by the client's order_id",
        Request("DELETE", f"{P}/sms/later-1"),
        setup=(
            Request(
                "POST",
                f"{P}/sms",
                json=_sms(order_id="later-1", scheduled_delivery_time="29990101120000"),
            ),
        ),
        expect_status=200,
        expect_stored=(Stored(NUMBER, status="cancelled"),),
    ),
    DialectCase(
        "an order that has left cannot be cancelled",
        _delete_first,
        setup=(Request("POST", f"{P}/sms", json=_sms()),),
        wait_final=True,
        expect_status=404,
        expect_error_code="51",
        expect_stored=(Stored(NUMBER, status="delivered"),),
    ),
    DialectCase(
        "cancel an unknown order",
        Request("DELETE", f"{P}/sms/nope"),
        expect_status=404,
        expect_error_code="50",
    ),
    DialectCase(
        "state of an unknown order",
        Request("GET", f"{P}/sms/nope"),
        expect_status=404,
        expect_error_code="50",
    ),
    DialectCase(
        "delivered in the provider's words",
        _order_lookup,
        setup=(Request("POST", f"{P}/sms", json=_sms()),),
        wait_final=True,
        expect_status=200,
        checks=(_one_recipient(status="DLVRD"),),
    ),
    DialectCase(
        "unknown method under the base path",
        Request("GET", f"{P}/nosuchthing"),
        expect_status=404,
        expect_error_code="50",
    ),
    # Account rules refusing a whole request.
    DialectCase(
        "daily limit reached",
        _send([NUMBER], "two"),
        setup=(_send([NUMBER], "one"),),
        expect_status=429,
        expect_error_code="31",
        expect_stored=(Stored(NUMBER, text="one"),),
        rules={"daily_limit": 1},
    ),
    DialectCase(
        "not enough credit",
        _send([NUMBER], "hi"),
        expect_status=400,
        expect_error_code="40",
        expect_stored=(),
        rules={"price_default": "0.05"},
    ),
    DialectCase(
        "country blocked",
        _send([NUMBER], "hi"),
        expect_status=400,
        expect_error_code="32",
        expect_stored=(),
        rules={"countries_blocked": ["FR"]},
    ),
    DialectCase(
        "duplicate",
        _send([NUMBER], "same"),
        setup=(_send([NUMBER], "same"),),
        expect_status=400,
        expect_error_code="33",
        expect_stored=(Stored(NUMBER, text="same"),),
        rules={"dedupe": True},
    ),
    DialectCase(
        "batch too large",
        _send([NUMBER, FR2], "hi"),
        expect_status=400,
        expect_error_code="30",
        expect_stored=(),
        rules={"batch_limit": 1},
    ),
    DialectCase(
        "opted out",
        _send([NUMBER], "hi"),
        expect_status=400,
        expect_error_code="34",
        expect_stored=(),
        opt_outs=(NUMBER,),
    ),
    DialectCase(
        "address not allowed",
        _send([NUMBER], "hi"),
        expect_status=401,
        expect_error_code="22",
        expect_stored=(),
        rules={"allowed_ips": ["192.0.2.1"]},
    ),
    DialectCase(
        "one refused recipient, the other sent: the refusal shows in provider words",
        _order_lookup,
        setup=(_send([NUMBER, "+447400123456"], "hi"),),
        expect_status=200,
        expect_json={"recipient_number": 2},
        rules={"countries_blocked": ["GB"]},
        checks=(_statuses({"+447400123456": "INVALIDDST"}),),
    ),
]


def _fill(request: Request, keys: Mapping[str, str]) -> Request:
    headers = {name: keys.get(value, value) for name, value in request.headers.items()}
    return dataclasses.replace(request, headers=headers)


def with_keys(case: DialectCase, keys: Mapping[str, str]) -> DialectCase:
    """The case with placeholder header values replaced by a real login's keys."""
    original = case.request
    if callable(original):
        make = original
        return dataclasses.replace(case, request=lambda ctx: _fill(make(ctx), keys))
    return dataclasses.replace(case, request=_fill(original, keys))


async def login_keys(running: Running, account_id: str) -> dict[str, str]:
    await running.gateway.credentials.set_login(account_id, USERNAME, PASSWORD)
    session = await running.client.get(
        f"{P}/login", params={"username": USERNAME, "password": PASSWORD}
    )
    assert session.status_code == 200, session.text
    token = await running.client.get(f"{P}/token", auth=(USERNAME, PASSWORD))
    assert token.status_code == 200, token.text
    user_key, session_key = session.text.split(";")
    token_user_key, access_token = token.text.split(";")
    assert token_user_key == user_key == account_id
    return {USER_KEY: user_key, SESSION_KEY: session_key, ACCESS_TOKEN: access_token}


@pytest.mark.parametrize(
    "case", [*CASES, *conformance(SMSEND), *malformed(SMSEND)], ids=lambda c: c.label
)
async def test_smsend(case: DialectCase, gateway: Running) -> None:
    account = await gateway.gateway.services.accounts.create("acme")
    keys = await login_keys(gateway, account.id)
    pair = f"{keys[USER_KEY]};{keys[SESSION_KEY]}"
    body = await run_case(
        with_keys(case, keys),
        gateway,
        SMSEND,
        pair,
        account.id,
        world=World(gateway, account.id),
        secrets=(keys[SESSION_KEY], keys[ACCESS_TOKEN], PASSWORD),
    )
    if case.expect_status >= 400:
        assert body["result"] == "KO"
        assert body["message"] == body["error_message"] != ""


ADMIN = "admin-token-for-the-zone-test"


async def test_accounts_count_local_times_in_the_configured_zone(settings: Settings) -> None:
    """The seed's Python example, run in Italy, sends a local time with no offset: with
    ``default_timezone = "Europe/Rome"`` new accounts read it as Rome time (UTC+1 in
    January), made by the CLI's service or the admin API alike."""
    rome = settings.model_copy(
        update={"default_timezone": "Europe/Rome", "admin_token": SecretStr(ADMIN)}
    )
    async with running_gateway(rome) as gw:
        admin = await gw.client.post(
            "/v1/admin/accounts",
            json={"name": "shop"},
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
        assert admin.status_code == 201, admin.text
        assert admin.json()["settings"]["timezone"] == "Europe/Rome"
        account = await gw.gateway.services.accounts.create("acme")
        assert account.rules.timezone == "Europe/Rome"
        keys = await login_keys(gw, account.id)
        r = await gw.client.post(
            f"{P}/sms",
            json=_sms(scheduled_delivery_time="2999-01-01T12:00:00"),
            headers={"user_key": keys[USER_KEY], "Session_key": keys[SESSION_KEY]},
        )
        assert r.status_code == 201, r.text
        msgs = await gw.gateway.services.messages.search(account.id, MessageFilter())
        assert [m.scheduled_at for m in msgs] == [datetime(2999, 1, 1, 11, tzinfo=UTC)]


async def test_mo_history_lists_received_messages_by_type(gateway: Running) -> None:
    """``GET mosmshistory?type=``: STOP are the opt-out keywords received, OTHER every
    other received message, CONTACT none (textgate takes no contact requests)."""
    services = gateway.gateway.services
    account = await services.accounts.create("acme")
    keys = await login_keys(gateway, account.id)
    headers = {"user_key": keys[USER_KEY], "Session_key": keys[SESSION_KEY]}
    key = (await services.accounts.issue_key(account.id)).token
    device = (
        await services.devices.register(
            RegistrationAuth(private_token=key), "Pixel", push_token=None, sim_cards=[]
        )
    ).device
    now = datetime.now(UTC)
    texts = ["Hello", "STOP", "See you", "stop."]
    await services.devices.receive(
        device,
        [
            InboundMessage("android", FR2, NUMBER, t, now + timedelta(seconds=i), f"{i}")
            for i, t in enumerate(texts)
        ],
    )

    async def history(**params: str) -> Any:
        r = await gateway.client.get(
            f"{P}/mosmshistory", params={"from": "20000101000000", **params}, headers=headers
        )
        assert r.status_code == 200, r.text
        return r.json()

    other = await history(type="OTHER")
    assert other["total"] == 2
    assert [m["message"] for m in other["mosmshistory"]] == ["See you", "Hello"]
    assert other["mosmshistory"][0]["sender"] == FR2
    stop = await history(type="stop", pageSize="1", pageNumber="2")
    assert (stop["total"], [m["message"] for m in stop["mosmshistory"]]) == (2, ["STOP"])
    assert (await history(type="CONTACT"))["total"] == 0
    missing = await gateway.client.get(f"{P}/mosmshistory", headers=headers)
    assert missing.status_code == 400 and missing.json()["result"] == "KO"
    assert (await gateway.client.get(f"{P}/mosmshistory?type=OTHER")).status_code == 401
