"""LabsMobile's JSON API and http/GET interface: case tables + shared conformance and
malformed-input cases through the real server, with the stored effects of each case
checked. A sending answers ``code`` as a string, the balance and scheduled commands as a
number; refused credentials are HTTP 401, every other answer HTTP 200."""

from __future__ import annotations

import base64
import dataclasses
import json
import xml.etree.ElementTree as ET  # reads only this server's own answers
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.dialects.harness import (
    NUMBER,
    AccountWorld,
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
from tests.dialects.malformed import malformed
from tests.support import Running
from textgate.core.message import Message, Status

USERNAME = "acme"
"""The account's name: what LabsMobile calls the username, with an API key as token."""
FR2 = "+33698765432"
SENT = "Message has been successfully sent"
MOVING = {Status.QUEUED, Status.SENDING, Status.SENT, Status.DELIVERED}


def _basic(user: str, token: str) -> dict[str, str]:
    raw = base64.b64encode(f"{user}:{token}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def _msisdn(number: str) -> dict[str, str]:
    # LabsMobile's clients write international numbers without "+".
    return {"msisdn": number.lstrip("+")}


def _post(path: str, **fields: Any) -> Request:
    return Request("POST", path, json=fields)


def _send(to: list[str], text: str, **fields: Any) -> Request:
    return _post("/json/send", recipient=[_msisdn(n) for n in to], message=text, **fields)


def _blames_client(body: Any) -> bool:
    return str(body["code"]) not in ("0", "30")


LABSMOBILE_JSON = Profile(
    name="labsmobile json",
    auth_headers=lambda key: _basic(USERNAME, key),
    # A client that means to send a text of several parts says so (``long``).
    send=lambda to, text: _send(to, text, long=1),
    lookup=lambda body: Request("GET", "/json/balance"),
    status_of=lambda body: str(body["code"]),
    error_code_of=lambda body: str(body["code"]),
    ok_status=200,
    bad_request_status=200,
    unauthorized_status=401,
    body_routes=(BodyRoute("POST", "/json/send"), BodyRoute("POST", "/json/scheduled")),
    malformed_code="11",
    blames_client=_blames_client,
)


def _xml(text: str) -> dict[str, str | None]:
    return {child.tag: child.text for child in ET.fromstring(text)}  # noqa: S314


LABSMOBILE_GET = dataclasses.replace(
    LABSMOBILE_JSON,
    name="labsmobile get",
    send=lambda to, text: Request(
        "GET", "/get/send.php", params={"msisdn": ",".join(n.lstrip("+") for n in to)}
    ),
    body_routes=(),
    malformed_code=None,
    parse=_xml,
)


def _stored(check: Callable[[list[Message]], None]) -> Check:
    return on_stored(check)


def _statuses(*wanted: set[Status] | Status) -> Check:
    def check(msgs: list[Message]) -> None:
        assert len(msgs) == len(wanted)
        for m, w in zip(msgs, wanted, strict=True):
            assert m.status in (w if isinstance(w, set) else {w}), m.status

    return _stored(check)


def _ref(ref: str | None) -> Check:
    def check(msgs: list[Message]) -> None:
        assert {m.client_ref for m in msgs} == {ref}

    return _stored(check)


def _scheduled_at(when: datetime) -> Check:
    def check(msgs: list[Message]) -> None:
        [m] = msgs
        assert (m.status, m.scheduled_at) == (Status.SCHEDULED, when)

    return _stored(check)


async def _subid_is_order(world: AccountWorld, body: Any) -> None:
    """Without a subid of the client's, the answer's is textgate's order id."""
    msgs = await stored_messages(world.running, world.account_id)
    assert {m.order_id for m in msgs} == {body["subid"]}


def _code(code: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, **extra}


LATER = "2099-01-01 09:30:00"
LATER_SEND = _send([NUMBER], "later", subid="later-1", scheduled=LATER)

CASES: list[DialectCase] = [
    DialectCase(
        "send to two recipients, with a sender",
        _send([NUMBER, FR2], "Hello", tpoa="ACME"),
        expect_json=_code("0", message=SENT),
        expect_stored=(
            Stored(NUMBER, sender="ACME", text="Hello", encoding="gsm7", segments=1),
            Stored(FR2, sender="ACME", text="Hello"),
        ),
        checks=(_statuses(MOVING, MOVING), _ref(None), _subid_is_order),
    ),
    DialectCase(
        "without tpoa, LabsMobile's default sender",
        _send([NUMBER], "Hi"),
        expect_json=_code("0"),
        expect_stored=(Stored(NUMBER, sender="LABSMOBILE", text="Hi"),),
    ),
    DialectCase(
        "the client's subid is answered back and kept",
        _send([NUMBER], "Hi", subid="order-17"),
        expect_json=_code("0", subid="order-17"),
        checks=(_ref("order-17"),),
    ),
    DialectCase(
        "a body in a one-element array, with no Content-Type, numbers as numbers",
        Request(
            "POST",
            "/json/send",
            content=json.dumps(
                [{"recipient": [{"msisdn": 33612345678}], "message": "x", "subid": 5}]
            ).encode(),
        ),
        expect_json=_code("0", subid="5"),
        expect_stored=(Stored(NUMBER, text="x"),),
    ),
    DialectCase(
        "a number written with 00",
        _post("/json/send", recipient=[{"msisdn": "0033612345678"}], message="x"),
        expect_json=_code("0"),
        expect_stored=(Stored(NUMBER, text="x"),),
    ),
    DialectCase(
        "ucs2 sends UCS-2 whatever the text",
        _send([NUMBER], "plain", ucs2=1),
        expect_json=_code("0"),
        expect_stored=(Stored(NUMBER, encoding="ucs2", segments=1),),
    ),
    DialectCase(
        "long allows several parts",
        _send([NUMBER], "a" * 200, long="1"),
        expect_json=_code("0"),
        expect_stored=(Stored(NUMBER, segments=2),),
    ),
    DialectCase(
        "a text over one part without long",
        _send([NUMBER], "a" * 161),
        expect_json=_code("27"),
        expect_stored=(),
    ),
    DialectCase(
        "no message",
        _post("/json/send", recipient=[_msisdn(NUMBER)]),
        expect_json=_code("20"),
        expect_stored=(),
    ),
    DialectCase("an empty message", _send([NUMBER], ""), expect_json=_code("21"), expect_stored=()),
    DialectCase("no recipients", _send([], "x"), expect_json=_code("23"), expect_stored=()),
    DialectCase(
        "a recipient without msisdn",
        _post("/json/send", recipient=[{"number": "33612345678"}], message="x"),
        expect_json=_code("23"),
        expect_stored=(),
    ),
    DialectCase(
        "too many recipients",
        _post(
            "/json/send",
            recipient=[{"msisdn": str(33600000000 + i)} for i in range(10_001)],
            message="x",
        ),
        expect_json=_code("24"),
        expect_stored=(),
    ),
    DialectCase(
        "the account's batch limit",
        _send([NUMBER, FR2], "x"),
        rules={"batch_limit": 1},
        expect_json=_code("24"),
        expect_stored=(),
    ),
    DialectCase(
        "a subid over 20 characters",
        _send([NUMBER], "x", subid="s" * 21),
        expect_json=_code("28"),
        expect_stored=(),
    ),
    DialectCase(
        "scheduled, in UTC",
        LATER_SEND,
        expect_json=_code("0", subid="later-1"),
        checks=(_scheduled_at(datetime(2099, 1, 1, 9, 30, tzinfo=UTC)),),
    ),
    DialectCase(
        "a scheduled date that is none",
        _send([NUMBER], "x", scheduled="01/01/2099 09:30"),
        expect_json=_code("39"),
        expect_stored=(),
    ),
    DialectCase(
        "test mode answers and stores nothing",
        _send([NUMBER], "x", test=1, subid="t-1"),
        expect_json=_code("0", subid="t-1"),
        expect_stored=(),
    ),
    DialectCase(
        "test mode with a schedule",
        _send([NUMBER], "x", test=1, scheduled=LATER),
        expect_json=_code("41"),
        expect_stored=(),
    ),
    DialectCase(
        "a wrong token",
        _send([NUMBER], "x"),
        auth=False,
        # The profile's headers are left out: the case's own (request headers) apply.
        expect_status=401,
        expect_json=_code("401"),
        expect_stored=(),
    ),
    DialectCase(
        "not enough credit",
        _send([NUMBER], "x"),
        rules={"price_default": "0.05"},
        expect_json=_code("35"),
        expect_stored=(),
    ),
    DialectCase(
        "the same subid again sends nothing twice",
        _send([NUMBER], "once", subid="dup-1"),
        setup=(_send([NUMBER], "once", subid="dup-1"),),
        expect_json=_code("0", subid="dup-1"),
        expect_stored=(Stored(NUMBER, text="once"),),
    ),
    DialectCase(
        "a subid used for another request",
        _send([NUMBER], "second", subid="dup-2"),
        setup=(_send([NUMBER], "first", subid="dup-2"),),
        expect_json=_code("30"),
        expect_stored=(Stored(NUMBER, text="first"),),
    ),
    DialectCase(
        "balance",
        Request("GET", "/json/balance"),
        credit="25",
        expect_json={"code": 0, "credits": "25"},
    ),
    DialectCase(
        "cancel a scheduled sending",
        _post("/json/scheduled", subid="later-1", cmd="cancel"),
        setup=(LATER_SEND,),
        expect_json={"code": 0},
        checks=(_statuses(Status.CANCELLED),),
    ),
    DialectCase(
        "send a scheduled sending now",
        _post("/json/scheduled", subid="later-1", cmd="send"),
        setup=(LATER_SEND,),
        expect_json={"code": 0},
        checks=(_statuses(MOVING),),
    ),
    DialectCase(
        "a subid with nothing scheduled",
        _post("/json/scheduled", subid="nothing", cmd="cancel"),
        expect_json={"code": 30},
        expect_stored=(),
    ),
    DialectCase(
        "a subid whose messages have left: nothing to cancel",
        _post("/json/scheduled", subid="now-1", cmd="cancel"),
        setup=(_send([NUMBER], "now", subid="now-1"),),
        wait_final=True,
        expect_json={"code": 30},
        checks=(_statuses(Status.DELIVERED),),
    ),
    DialectCase(
        "a command that is none",
        _post("/json/scheduled", subid="later-1", cmd="pause"),
        setup=(LATER_SEND,),
        expect_json={"code": 10},
        checks=(_statuses(Status.SCHEDULED),),
    ),
]


def _wrong_token(case: DialectCase) -> DialectCase:
    original = case.request
    assert isinstance(original, Request)
    headers = {**original.headers, **_basic(USERNAME, "tg_000000000000_notakey")}
    return dataclasses.replace(case, request=dataclasses.replace(original, headers=headers))


CASES = [_wrong_token(c) if c.label == "a wrong token" else c for c in CASES]


def _get(**params: str) -> Request:
    return Request("GET", "/get/send.php", params=params)


GET_CASES: list[DialectCase] = [
    DialectCase(
        "send.php, with Basic credentials and several numbers",
        _get(msisdn="33612345678,33698765432", sender="ACME", message="Hello", subid="g-1"),
        expect_json={"code": "0", "message": SENT, "subid": "g-1"},
        expect_stored=(Stored(NUMBER, sender="ACME", text="Hello"), Stored(FR2, text="Hello")),
    ),
    DialectCase(
        "send.php without a message",
        _get(msisdn="33612345678"),
        expect_json={"code": "20"},
        expect_stored=(),
    ),
    DialectCase(
        "send.php with wrong credentials",
        _get(username=USERNAME, password="wrong", msisdn="33612345678", message="x"),
        auth=False,
        expect_status=401,
        expect_json={"code": "401"},
        expect_stored=(),
    ),
]


def _conformance() -> list[DialectCase]:
    """The shared cases, their outcome also read from ``code``."""
    cases = []
    for case in conformance(LABSMOBILE_JSON):
        refused = case.expect_stored == ()

        def outcome(world: AccountWorld, body: Any, refused: bool = refused) -> None:
            assert (body["code"] != "0") == refused, body

        cases.append(dataclasses.replace(case, checks=(*case.checks, outcome)))
    return cases


async def _run(case: DialectCase, gateway: Running, profile: Profile) -> Any:
    accounts = gateway.gateway.services.accounts
    account = await accounts.create(USERNAME)
    key = (await accounts.issue_key(account.id)).token
    return await run_case(
        case, gateway, profile, key, account.id, world=AccountWorld(gateway, account.id)
    )


@pytest.mark.parametrize(
    "case", [*CASES, *_conformance(), *malformed(LABSMOBILE_JSON)], ids=lambda c: c.label
)
async def test_labsmobile_json(case: DialectCase, gateway: Running) -> None:
    body = await _run(case, gateway, LABSMOBILE_JSON)
    if isinstance(case.request, Request) and case.request.path == "/json/send":
        assert isinstance(body["code"], str) and isinstance(body["message"], str)


@pytest.mark.parametrize("case", GET_CASES, ids=lambda c: c.label)
async def test_labsmobile_get(case: DialectCase, gateway: Running) -> None:
    await _run(case, gateway, LABSMOBILE_GET)
