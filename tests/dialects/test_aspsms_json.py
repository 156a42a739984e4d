"""ASPSMS's JSON API: case table + shared conformance and malformed-input cases through the
real server, with the stored effects of each case checked. Every answer is HTTP 200 with
``StatusCode`` and ``StatusInfo`` as strings, ``"1"`` for OK."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.dialects.harness import (
    NUMBER,
    BodyRoute,
    Check,
    DialectCase,
    Profile,
    Request,
    Stored,
    conformance,
    on_stored,
    run_case,
    stored_messages,
)
from tests.dialects.harness import (
    AccountWorld as World,
)
from tests.dialects.malformed import malformed
from tests.support import Running
from textgate.core.message import Message, Status
from textgate.dialects.aspsms.delivery import STATUSES

USERNAME = "acme-user"
PASSWORD = "correct horse battery"
FR2 = "+33698765432"


def _post(path: str, **fields: Any) -> Request:
    body = {"UserName": USERNAME, "Password": PASSWORD, **fields}
    # ASPSMS's clients often send no Content-Type: none here.
    return Request("POST", path, content=json.dumps(body).encode())


def _send(to: list[str], text: str) -> Request:
    return _post("/SendSimpleTextSMS", Originator="ACME", Recipients=to, MessageText=text)


def _refused(body: Any) -> bool:
    return bool(body["StatusCode"] != "1")


ASPSMS_JSON = Profile(
    name="aspsms json",
    auth_headers=lambda _: {},
    send=_send,
    lookup=lambda body: Request("POST", "/CheckCredits"),
    status_of=lambda body: str(body["StatusCode"]),
    error_code_of=lambda body: str(body["StatusCode"]),
    ok_status=200,
    bad_request_status=200,
    unauthorized_status=200,
    body_routes=(BodyRoute("POST", "/SendTextSMS"),),
    malformed_code="11",
    blames_client=_refused,
)


def _refs(expected: dict[str, str]) -> Check:
    def check(msgs: list[Message]) -> None:
        assert {m.recipient: m.client_ref for m in msgs} == expected

    return on_stored(check)


def _scheduled_at(when: datetime) -> Check:
    def check(msgs: list[Message]) -> None:
        [m] = msgs
        assert (m.status, m.scheduled_at) == (Status.SCHEDULED, when)

    return on_stored(check)


def _ok(**extra: str) -> dict[str, str]:
    return {"StatusCode": "1", "StatusInfo": "Ok", **extra}


def _inquire(refs: str) -> Request:
    return _post("/InquireDeliveryNotifications", TransactionReferenceNumbers=refs)


def _send_refs(refs: dict[str, str]) -> Request:
    recipients = [{"PhoneNumber": n, "TransRefNumber": r} for n, r in refs.items()]
    return _post("/SendTextSMS", Recipients=recipients, MessageText="tracked")


def _notified(expected: dict[str, tuple[str, str]]) -> Check:
    """The answer's notifications, in the order asked, each as the stored message says."""

    async def check(world: World, body: Any) -> None:
        notes = body["DeliveryNotifications"]
        got = {n["TransactionReferenceNumber"]: n for n in notes}
        assert [n["TransactionReferenceNumber"] for n in notes] == list(expected), notes
        stored = await stored_messages(world.running, world.account_id)
        by_ref = {m.client_ref: m for m in stored}
        for ref, (status, description) in expected.items():
            note = got[ref]
            assert (note["DeliveryStatus"], note["DeliveryStatusDescription"]) == (
                status,
                description,
            )
            assert all(isinstance(v, str) for v in note.values())
            sent_at = by_ref[ref].created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            assert note["SubmissionDate"] == sent_at
            assert note["Reasoncode"] == ("000" if status == "0" else "")

    return check


CASES: list[DialectCase] = [
    DialectCase(
        "SendSimpleTextSMS",
        _send(["0033612345678", FR2], "Hello"),
        expect_json=_ok(),
        expect_stored=(Stored(NUMBER, sender="ACME", text="Hello"), Stored(FR2, text="Hello")),
    ),
    DialectCase(
        "keys in other case, recipients in one string",
        Request(
            "POST",
            "/SendSimpleTextSMS",
            json={
                "username": USERNAME,
                "PASSWORD": PASSWORD,
                "recipients": "0033612345678;0033698765432",
                "messagetext": "hi",
            },
        ),
        expect_json=_ok(),
        expect_stored=(Stored(NUMBER, text="hi"), Stored(FR2, text="hi")),
    ),
    DialectCase(
        "a body wrapped in a one-element array",
        Request(
            "POST",
            "/SendSimpleTextSMS",
            content=json.dumps(
                [
                    {
                        "UserName": USERNAME,
                        "Password": PASSWORD,
                        "Recipients": [NUMBER],
                        "MessageText": "x",
                    }
                ]
            ).encode(),
        ),
        expect_json=_ok(),
        expect_stored=(Stored(NUMBER, text="x"),),
    ),
    DialectCase(
        "SendTextSMS: each recipient's TransRefNumber",
        _post(
            "/SendTextSMS",
            Recipients=[
                {"PhoneNumber": "0033612345678", "TransRefNumber": "a-1"},
                {"PhoneNumber": "0033698765432", "TransRefNumber": "a-2"},
            ],
            MessageText="refs",
        ),
        expect_json=_ok(),
        checks=(_refs({NUMBER: "a-1", FR2: "a-2"}),),
    ),
    DialectCase(
        "SendTextSMS: DeferredDeliveryTime in GMT+1 unless TimeZone says otherwise",
        _post(
            "/SendTextSMS",
            Recipients=[NUMBER],
            MessageText="later",
            DeferredDeliveryTime="01012099093000",
            TimeZone="+2",
        ),
        expect_json=_ok(),
        checks=(_scheduled_at(datetime(2099, 1, 1, 7, 30, tzinfo=UTC)),),
    ),
    DialectCase(
        "SendTextSMS: a DeferredDeliveryTime that is no date",
        _post(
            "/SendTextSMS", Recipients=[NUMBER], MessageText="x", DeferredDeliveryTime="tomorrow"
        ),
        expect_json={"StatusCode": "22"},
        expect_stored=(),
    ),
    DialectCase(
        "SendTextSMS: a delivery notification URL that is none",
        _post("/SendTextSMS", Recipients=[NUMBER], MessageText="x", URLDeliveryNotification="nope"),
        expect_json={"StatusCode": "18"},
        expect_stored=(),
    ),
    DialectCase(
        "SendTextSMS: FlashingSMS is refused, not ignored",
        _post("/SendTextSMS", Recipients=[NUMBER], MessageText="x", FlashingSMS=True),
        expect_json={"StatusCode": "11"},
        expect_stored=(),
    ),
    DialectCase(
        "ForceGSM7bit with a text GSM 03.38 cannot write",
        _post("/SendSimpleTextSMS", Recipients=[NUMBER], MessageText="Привет", ForceGSM7bit=True),
        expect_json={"StatusCode": "11"},
        expect_stored=(),
    ),
    DialectCase(
        "no recipients",
        _post("/SendSimpleTextSMS", Recipients=[], MessageText="x"),
        expect_json={"StatusCode": "20"},
        expect_stored=(),
    ),
    DialectCase(
        "recipients that are not a list",
        _post("/SendSimpleTextSMS", Recipients={"a": 1}, MessageText="x"),
        expect_json={"StatusCode": "20"},
        expect_stored=(),
    ),
    DialectCase(
        "a wrong password",
        Request(
            "POST",
            "/SendSimpleTextSMS",
            json={
                "UserName": USERNAME,
                "Password": "wrong",
                "Recipients": [NUMBER],
                "MessageText": "x",
            },
        ),
        expect_json={"StatusCode": "3"},
        expect_stored=(),
    ),
    DialectCase(
        "CheckCredits",
        _post("/CheckCredits"),
        credit="25",
        expect_json=_ok(Credits="25"),
    ),
    DialectCase(
        "not enough credit",
        _send([NUMBER], "x"),
        rules={"price_default": "0.05"},
        expect_json={"StatusCode": "5"},
        expect_stored=(),
    ),
    # Delivery notifications, by the TransRefNumbers the messages were sent with.
    DialectCase(
        "InquireDeliveryNotifications: delivered, and a reference never used",
        _inquire("r-1;nobody;r-2"),
        setup=(_send_refs({NUMBER: "r-1", FR2: "r-2"}),),
        wait_final=True,
        expect_json=_ok(),
        checks=(_notified({"r-1": ("0", "Delivered"), "r-2": ("0", "Delivered")}),),
    ),
    DialectCase(
        "InquireDeliveryNotifications: a scheduled message is not yet submitted",
        _inquire("later-1"),
        setup=(
            _post(
                "/SendTextSMS",
                Recipients=[{"PhoneNumber": NUMBER, "TransRefNumber": "later-1"}],
                MessageText="later",
                DeferredDeliveryTime="01012099093000",
            ),
        ),
        expect_json=_ok(),
        checks=(_notified({"later-1": ("-1", "Not yet submitted or rejected")}),),
    ),
    DialectCase(
        "InquireDeliveryNotifications: no references",
        _inquire(" ; "),
        expect_json={"StatusCode": "11"},
    ),
    DialectCase(
        "InquireDeliveryNotifications: a wrong password",
        Request(
            "POST",
            "/InquireDeliveryNotifications",
            json={"UserName": USERNAME, "Password": "wrong", "TransactionReferenceNumbers": "a"},
        ),
        expect_json={"StatusCode": "3"},
    ),
]


def _with_password(case: DialectCase, password: str) -> DialectCase:
    """The case with wrong credentials in its body (the API has no credential header)."""
    original = case.request
    assert isinstance(original, Request) and original.content is not None
    body = json.loads(original.content)
    body["Password"] = password
    return dataclasses.replace(
        case, request=dataclasses.replace(original, content=json.dumps(body).encode())
    )


def _conformance() -> list[DialectCase]:
    """The shared cases, their outcome read from StatusCode (every answer is HTTP 200)."""
    cases = []
    for case in conformance(ASPSMS_JSON):
        if not case.auth:
            case = _with_password(case, "wrong password")
        refused = case.expect_stored == ()

        def outcome(world: World, body: Any, refused: bool = refused) -> None:
            assert _refused(body) == refused, body

        cases.append(dataclasses.replace(case, checks=(*case.checks, outcome)))
    return cases


@pytest.mark.parametrize(
    "case", [*CASES, *_conformance(), *malformed(ASPSMS_JSON)], ids=lambda c: c.label
)
async def test_aspsms_json(case: DialectCase, gateway: Running) -> None:
    account = await gateway.gateway.services.accounts.create("acme")
    await gateway.gateway.credentials.set_login(account.id, USERNAME, PASSWORD)
    body = await run_case(
        case,
        gateway,
        ASPSMS_JSON,
        "",
        account.id,
        world=World(gateway, account.id),
        secrets=(PASSWORD,),
    )
    if body is not None:
        assert isinstance(body["StatusCode"], str) and isinstance(body["StatusInfo"], str)


def test_every_outbound_status_has_a_delivery_status() -> None:
    """A status added to textgate must be given its ASPSMS word, not fall to a default."""
    assert set(STATUSES) == set(Status) - {Status.RECEIVED}
    assert {code for code, _ in STATUSES.values()} == {"-1", "0", "1", "2"}
