"""Twilio's Messages API: case table + shared conformance and malformed-input cases through
the real server, with the stored effects of each case checked."""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.dialects.harness import (
    LONG_TEXT,
    NUMBER,
    AccountWorld,
    BodyRoute,
    Check,
    Context,
    DialectCase,
    Profile,
    Request,
    Stored,
    all_final,
    conformance,
    on_stored,
    run_case,
    stored_messages,
    valid_for,
)
from tests.dialects.malformed import OVER_LIMIT, BadBody, Flaw, malformed
from tests.support import Running
from textgate.core.accounts import Account
from textgate.core.message import Message, Status
from textgate.dialects.twilio.resource import STATUS_WORDS, account_sid, message_sid
from textgate.services.submit_request import Notify, SubmitRequest

AC = "{AC}"
"""Where a path or a credential holds the account's SID (filled in per case)."""
P = f"/2010-04-01/Accounts/{AC}"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
US = "+14155550100"
SENDER = "+15005550006"
OTHER = "AC" + "1" * 32
"""Another account's SID."""


def _form(*fields: tuple[str, str]) -> bytes:
    return urlencode(fields).encode()


def _post(*fields: tuple[str, str], path: str = f"{P}/Messages.json") -> Request:
    return Request("POST", path, content=_form(*fields), headers=FORM)


def _send(to: list[str], text: str) -> Request:
    return _post(*[("To", t) for t in to], ("From", SENDER), ("Body", text))


def _sid_path(ctx: Context, i: int = 0) -> str:
    return f"{P}/Messages/{ctx.setup_responses[i]['sid']}.json"


def _basic(pair: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


TWILIO = Profile(
    name="twilio",
    auth_headers=_basic,
    send=_send,
    lookup=lambda body: Request("GET", f"{P}/Messages/{body['sid']}.json"),
    status_of=lambda body: body["status"],
    error_code_of=lambda body: str(body["code"]),
    ok_status=201,
    bad_request_status=400,
    unauthorized_status=401,
    status_word=lambda message: STATUS_WORDS[message.status],
    body_routes=(BodyRoute("POST", f"{P}/Messages.json", content_type=FORM["Content-Type"]),),
    malformed_code="20001",
)

# What no client should send, as a form: each refused in Twilio's shape, nothing stored.
BAD_FORMS: tuple[BadBody, ...] = (
    BadBody("invalid UTF-8", b"To=%2B33612345678&Body=\xff", Flaw.UNREADABLE),
    BadBody("invalid UTF-8, percent-encoded", b"To=%2B33612345678&Body=%FF%FE", Flaw.UNREADABLE),
    BadBody("a NUL in the text", b"To=%2B33612345678&Body=a%00b", Flaw.INVALID),
    BadBody("JSON, not a form", b'{"To": "+33612345678", "Body": "hi"}', Flaw.INVALID),
    BadBody("no fields at all", b"&&&", Flaw.INVALID),
    BadBody("over the body limit", b"To=1&Body=" + b"a" * OVER_LIMIT, Flaw.TOO_LARGE),
)


def _valid_after_schedule(seconds: int) -> Check:
    def check(msgs: list[Message]) -> None:
        [m] = msgs
        assert m.valid_until is not None and m.scheduled_at is not None
        assert m.valid_until - m.scheduled_at == timedelta(seconds=seconds)

    return on_stored(check)


def _stored_status(status: Status) -> Check:
    def check(msgs: list[Message]) -> None:
        assert [m.status for m in msgs] == [status]

    return on_stored(check)


def _names_stored_message(world: World, body: Any) -> Any:
    async def check() -> None:
        [m] = await stored_messages(world.running, world.account_id)
        assert body["sid"] == message_sid(m.id)
        assert body["account_sid"] == account_sid(m.account_id)
        path = f"/2010-04-01/Accounts/{body['account_sid']}/Messages/{body['sid']}.json"
        assert body["uri"] == path

    return check()


def _is_the_account(world: World, body: Any) -> None:
    assert body["sid"] == account_sid(world.account_id)
    assert body["uri"] == f"/2010-04-01/Accounts/{body['sid']}.json"


def _listed(count: int, *, more: bool) -> Check:
    def check(world: World, body: Any) -> None:
        assert len(body["messages"]) == count, body
        assert (body["next_page_uri"] is not None) == more, body
        assert body["page_size"] == 2

    return check


async def _follow_next_page(world: World, body: Any) -> None:
    """The next page, as a client library fetches it: the next_page_uri as given."""
    r = await world.running.client.get(body["next_page_uri"], headers=_basic(world.pair))
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["page"] == 1 and page["start"] == 2
    seen = [m["sid"] for m in body["messages"]] + [m["sid"] for m in page["messages"]]
    assert len(seen) == len(set(seen)) == 3
    assert page["next_page_uri"] is None
    # Newest first over the two pages, as Twilio lists them.
    msgs = await stored_messages(world.running, world.account_id)
    assert seen == [message_sid(m.id) for m in sorted(msgs, key=lambda m: m.id, reverse=True)]


def _only_to(number: str) -> Check:
    def check(world: World, body: Any) -> None:
        assert [m["to"] for m in body["messages"]] == [number]

    return check


IN_AN_HOUR = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

CASES: list[DialectCase] = [
    DialectCase(
        "send: 201 with the Message resource, as Twilio writes it",
        _send([NUMBER], "Hello from textgate"),
        expect_status=201,
        expect_json={
            "status": "queued",
            "to": NUMBER,
            "from": SENDER,
            "body": "Hello from textgate",
            "direction": "outbound-api",
            "num_segments": "1",
            "num_media": "0",
            "api_version": "2010-04-01",
            "error_code": None,
        },
        expect_stored=(Stored(NUMBER, sender=SENDER, text="Hello from textgate"),),
        checks=(_names_stored_message,),
    ),
    DialectCase(
        "a long text is one message of several segments",
        _send([NUMBER], LONG_TEXT),
        expect_status=201,
        expect_json={"num_segments": "2"},
        expect_stored=(Stored(NUMBER, segments=2),),
    ),
    DialectCase(
        "MessagingServiceSid instead of From: the account's sender applies",
        _post(("To", NUMBER), ("MessagingServiceSid", "MG" + "0" * 32), ("Body", "hi")),
        expect_status=201,
        expect_stored=(Stored(NUMBER, text="hi"),),
    ),
    DialectCase(
        "no To",
        _post(("From", SENDER), ("Body", "hi")),
        expect_status=400,
        expect_error_code="21604",
        expect_stored=(),
    ),
    DialectCase(
        "no Body",
        _post(("To", NUMBER), ("From", SENDER)),
        expect_status=400,
        expect_error_code="21602",
        expect_stored=(),
    ),
    DialectCase(
        "a Body over 1,600 characters",
        _send([NUMBER], "a" * 1601),
        expect_status=400,
        expect_error_code="21617",
        expect_stored=(),
    ),
    DialectCase(
        "MMS (MediaUrl) is refused",
        _post(("To", NUMBER), ("Body", "hi"), ("MediaUrl", "https://example.com/cat.jpg")),
        expect_status=400,
        expect_error_code="20001",
        expect_stored=(),
    ),
    DialectCase(
        "two numbers in To",
        _send([f"{NUMBER},{US}"], "hi"),
        expect_status=400,
        expect_error_code="20001",
        expect_stored=(),
    ),
    DialectCase(
        "an invalid From",
        _post(("To", NUMBER), ("From", "not a sender!!"), ("Body", "hi")),
        expect_status=400,
        expect_error_code="21212",
        expect_stored=(),
    ),
    DialectCase(
        "a StatusCallback that is not an http(s) URL",
        _post(("To", NUMBER), ("Body", "hi"), ("StatusCallback", "ftp://example.com/x")),
        expect_status=400,
        expect_error_code="21609",
        expect_stored=(),
    ),
    DialectCase(
        "ValidityPeriod: the message waits at most that long",
        _post(("To", NUMBER), ("Body", "hi"), ("ValidityPeriod", "600")),
        expect_status=201,
        expect_stored=(Stored(NUMBER, text="hi"),),
        checks=(valid_for(600),),
    ),
    *(
        DialectCase(
            f"ValidityPeriod {value!r} is refused",
            _post(("To", NUMBER), ("Body", "hi"), ("ValidityPeriod", value)),
            expect_status=400,
            expect_error_code="20001",
            expect_stored=(),
        )
        for value in ("0", "36001", "ten", "-5", "1.5")
    ),
    DialectCase(
        "SendAt with ScheduleType=fixed schedules the message",
        _post(("To", NUMBER), ("Body", "later"), ("SendAt", IN_AN_HOUR), ("ScheduleType", "fixed")),
        expect_status=201,
        expect_json={"status": "scheduled"},
        expect_stored=(Stored(NUMBER, status="scheduled", text="later"),),
    ),
    DialectCase(
        "ValidityPeriod with SendAt counts from SendAt",
        _post(
            ("To", NUMBER),
            ("Body", "later"),
            ("SendAt", IN_AN_HOUR),
            ("ScheduleType", "fixed"),
            ("ValidityPeriod", "60"),
        ),
        expect_status=201,
        checks=(_valid_after_schedule(60),),
    ),
    DialectCase(
        "SendAt without ScheduleType",
        _post(("To", NUMBER), ("Body", "later"), ("SendAt", IN_AN_HOUR)),
        expect_status=400,
        expect_error_code="20001",
        expect_stored=(),
    ),
    DialectCase(
        "SendAt that is no date",
        _post(("To", NUMBER), ("Body", "x"), ("SendAt", "tomorrow"), ("ScheduleType", "fixed")),
        expect_status=400,
        expect_error_code="20001",
        expect_stored=(),
    ),
    DialectCase(
        "a JSON body has no To, as Twilio reads it",
        Request("POST", f"{P}/Messages.json", json={"To": NUMBER, "Body": "hi"}),
        expect_status=400,
        expect_error_code="21604",
        expect_stored=(),
    ),
    # Account rules, in Twilio's codes.
    DialectCase(
        "opted-out recipient",
        _send([NUMBER], "hi"),
        expect_status=400,
        expect_error_code="21610",
        expect_stored=(),
        opt_outs=(NUMBER,),
    ),
    DialectCase(
        "country blocked",
        _send([NUMBER], "hi"),
        expect_status=400,
        expect_error_code="21408",
        expect_stored=(),
        rules={"countries_blocked": ["FR"]},
    ),
    DialectCase(
        "duplicate",
        _send([NUMBER], "same"),
        setup=(_send([NUMBER], "same"),),
        expect_status=400,
        expect_error_code="30007",
        expect_stored=(Stored(NUMBER, text="same"),),
        rules={"dedupe": True},
    ),
    DialectCase(
        "daily limit reached",
        _send([NUMBER], "two"),
        setup=(_send([NUMBER], "one"),),
        expect_status=429,
        expect_error_code="63038",
        expect_stored=(Stored(NUMBER, text="one"),),
        rules={"daily_limit": 1},
    ),
    DialectCase(
        "not enough credit",
        _send([NUMBER], "hi"),
        expect_status=403,
        expect_error_code="20005",
        expect_stored=(),
        rules={"price_default": "0.05"},
    ),
    DialectCase(
        "address not allowed",
        _send([NUMBER], "hi"),
        expect_status=403,
        expect_error_code="20003",
        expect_stored=(),
        rules={"allowed_ips": ["192.0.2.1"]},
    ),
    # Credentials and the account in the path.
    DialectCase(
        "another account's SID in the path",
        _post(("To", NUMBER), ("Body", "hi"), path=f"/2010-04-01/Accounts/{OTHER}/Messages.json"),
        expect_status=404,
        expect_error_code="20404",
        expect_stored=(),
    ),
    DialectCase(
        "a user name that is not the key's Account SID",
        Request(
            "POST",
            f"{P}/Messages.json",
            content=_form(("To", NUMBER), ("Body", "hi")),
            headers={**FORM, **_basic(f"{OTHER}:tg_000000000000_notakey")},
        ),
        auth=False,
        expect_status=401,
        expect_error_code="20003",
        expect_stored=(),
    ),
    # Reading, listing, cancelling.
    DialectCase(
        "fetch a message by its SID",
        lambda ctx: Request("GET", _sid_path(ctx)),
        setup=(_send([NUMBER], "read me"),),
        expect_status=200,
        expect_json={"body": "read me", "to": NUMBER},
        checks=(_names_stored_message,),
    ),
    DialectCase(
        "fetch with a form Content-Type on GET, as Twilio's clients send",
        lambda ctx: Request("GET", _sid_path(ctx), headers=FORM),
        setup=(_send([NUMBER], "read me"),),
        expect_status=200,
        expect_json={"body": "read me", "to": NUMBER},
        checks=(_names_stored_message,),
    ),
    DialectCase(
        "the Account resource, as clients fetch it to check their credentials",
        Request("GET", "/2010-04-01/Accounts/{AC}.json"),
        expect_status=200,
        expect_json={"friendly_name": "acme", "status": "active", "auth_token": None},
        checks=(_is_the_account,),
    ),
    DialectCase(
        "another account's Account resource",
        Request("GET", f"/2010-04-01/Accounts/{OTHER}.json"),
        expect_status=404,
        expect_error_code="20404",
    ),
    DialectCase(
        "a message's media: none",
        lambda ctx: Request("GET", _sid_path(ctx).removesuffix(".json") + "/Media.json"),
        setup=(_send([NUMBER], "no picture"),),
        expect_status=200,
        expect_json={"media_list": [], "next_page_uri": None},
    ),
    DialectCase(
        "fetch an unknown SID",
        Request("GET", f"{P}/Messages/SM{'0' * 32}.json"),
        expect_status=404,
        expect_error_code="20404",
    ),
    DialectCase(
        "fetch a SID that is none",
        Request("GET", f"{P}/Messages/SMnot-a-sid.json"),
        expect_status=404,
        expect_error_code="20404",
    ),
    DialectCase(
        "delivered: the status word and the date sent",
        lambda ctx: Request("GET", _sid_path(ctx)),
        setup=(_send([NUMBER], "hi"),),
        wait_final=True,
        expect_status=200,
        expect_json={"status": "delivered", "error_code": None},
        checks=(lambda world, body: None if body["date_sent"] else pytest.fail("no date_sent"),),
    ),
    DialectCase(
        "cancel a scheduled message",
        lambda ctx: _post(("Status", "canceled"), path=_sid_path(ctx)),
        setup=(
            _post(("To", NUMBER), ("Body", "x"), ("SendAt", IN_AN_HOUR), ("ScheduleType", "fixed")),
        ),
        expect_status=200,
        expect_json={"status": "canceled"},
        checks=(_stored_status(Status.CANCELLED),),
    ),
    DialectCase(
        "cancel a message that has left",
        lambda ctx: _post(("Status", "canceled"), path=_sid_path(ctx)),
        setup=(_send([NUMBER], "x"),),
        wait_final=True,
        expect_status=400,
        expect_error_code="20001",
        checks=(_stored_status(Status.DELIVERED),),
    ),
    DialectCase(
        "redacting a body is not offered",
        lambda ctx: _post(("Body", ""), path=_sid_path(ctx)),
        setup=(_send([NUMBER], "keep me"),),
        expect_status=400,
        expect_error_code="20001",
        expect_stored=(Stored(NUMBER, text="keep me"),),
    ),
    DialectCase(
        "list: a page of PageSize, newest first, and the next page by its URI",
        Request("GET", f"{P}/Messages.json", params={"PageSize": "2"}),
        setup=(_send([NUMBER], "1"), _send([NUMBER], "2"), _send([US], "3")),
        expect_status=200,
        expect_json={"page": 0, "start": 0, "end": 1, "previous_page_uri": None},
        checks=(_listed(2, more=True), _follow_next_page),
    ),
    DialectCase(
        "list filtered by To",
        Request("GET", f"{P}/Messages.json", params={"To": US, "PageSize": "2"}),
        setup=(_send([NUMBER], "1"), _send([US], "2")),
        expect_status=200,
        checks=(_listed(1, more=False), _only_to(US)),
    ),
    DialectCase(
        "list filtered by a DateSent range with nothing in it",
        Request("GET", f"{P}/Messages.json", params={"DateSent<": "2001-01-01", "PageSize": "2"}),
        setup=(_send([NUMBER], "1"),),
        expect_status=200,
        checks=(_listed(0, more=False),),
    ),
    *(
        DialectCase(
            f"list with {name}={value!r}",
            Request("GET", f"{P}/Messages.json", params={name: value}),
            expect_status=400,
            expect_error_code="20001",
        )
        for name, value in (
            ("PageSize", "0"),
            ("PageSize", "1001"),
            ("Page", "-1"),
            ("PageToken", "PAnothing"),
            ("DateSent", "yesterday"),
        )
    ),
]


@dataclasses.dataclass
class World(AccountWorld):
    pair: str


def _fill(request: Request, sid: str) -> Request:
    return dataclasses.replace(request, path=request.path.replace(AC, sid))


def for_account(case: DialectCase, sid: str) -> DialectCase:
    """The case with the account's SID where its requests hold the placeholder."""
    original = case.request

    def request(ctx: Context) -> Request:
        return _fill(original(ctx) if callable(original) else original, sid)

    setup = tuple(_fill(r, sid) for r in case.setup)
    return dataclasses.replace(case, request=request, setup=setup)


@pytest.mark.parametrize(
    "case",
    [*CASES, *conformance(TWILIO), *malformed(TWILIO, BAD_FORMS)],
    ids=lambda c: c.label,
)
async def test_twilio(case: DialectCase, gateway: Running) -> None:
    accounts = gateway.gateway.services.accounts
    account = await accounts.create("acme")
    key = (await accounts.issue_key(account.id)).token
    sid = account_sid(account.id)
    pair = f"{sid}:{key}"
    await run_case(
        for_account(case, sid),
        gateway,
        TWILIO,
        pair,
        account.id,
        world=World(gateway, account.id, pair),
        secrets=(key,),
    )


async def test_the_account_id_names_the_account_as_its_sid_does(gateway: Running) -> None:
    """Path and user name may hold the account id itself; the resource still answers with
    the AC SID."""
    accounts = gateway.gateway.services.accounts
    account = await accounts.create("acme")
    key = (await accounts.issue_key(account.id)).token
    r = await gateway.client.post(
        f"/2010-04-01/Accounts/{account.id}/Messages.json",
        content=_form(("To", NUMBER), ("Body", "hi")),
        headers={**FORM, **_basic(f"{account.id}:{key}")},
    )
    assert r.status_code == 201, r.text
    assert r.json()["account_sid"] == account_sid(account.id)
    [m] = await all_final(gateway, account.id)
    assert m.interface == "twilio"
    assert r.json()["sid"] == message_sid(m.id)


def test_a_callbacks_signing_key_stays_out_of_the_requests_repr() -> None:
    """The API key a StatusCallback is signed with rides in the submit request: a logged
    request must not show it."""
    notify = Notify("https://example.com/cb", format="twilio", secret="tg_0123_secretpart")
    request = SubmitRequest(
        account=Account("01", "acme", datetime.now(UTC)),
        recipients=[NUMBER],
        text="hi",
        notify=(notify,),
    )
    assert "secretpart" not in repr(request)
