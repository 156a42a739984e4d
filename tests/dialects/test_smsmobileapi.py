"""SMSmobileAPI (seed 003): case table + shared conformance cases through the real server,
every endpoint as GET with a query string and as a form POST, with and without the trailing
slash, with the stored effect of each case checked."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import xml.etree.ElementTree as ET  # reads only this server's own answers
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from xml.sax.saxutils import escape

import pytest
import requests

from tests.dialects.harness import (
    NUMBER,
    BodyRoute,
    Context,
    DialectCase,
    Profile,
    Request,
    Stored,
    conformance,
    run_case,
    stored_messages,
)
from tests.dialects.malformed import OVER_LIMIT, BadBody, Flaw, malformed
from tests.support import HTTP_TIMEOUT, Running, running_gateway
from textgate.config import ConnectorSettings, Settings
from textgate.core.devices import SimCard
from textgate.core.inbound import InboundMessage
from textgate.core.message import Message, Status
from textgate.services.devices import RegistrationAuth
from textgate.storage.txn import Query

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
# Filled in per test: the account's API key, a registered phone, two SMS it received.
KEY, DEVICE, IN1, IN2 = "{apikey}", "{device}", "{in1}", "{in2}"
URL = "https://example.com/track?id=42"


def get(path: str, **params: str) -> Request:
    return Request("GET", path, params={"apikey": KEY, **params})


def post(path: str, **fields: str) -> Request:
    return Request(
        "POST", path, content=urlencode({"apikey": KEY, **fields}).encode(), headers=FORM
    )


def _send(to: list[str], text: str) -> Request:
    # Parameters in the query string of a POST: the harness's setup requests carry no body.
    return Request("POST", "/sendsms/", params={"recipients": ",".join(to), "message": text})


def _sent_state_of(line: Any) -> str:
    return f"send_from_mobile={line['send_from_mobile']} error_api={line['error_api']}"


def _sent_state(message: Message) -> str:
    """What the sent log says of a stored message: whether a phone sent it (never, here: the
    cases' gateway carries messages through its SMSC simulator) and why the gateway refused
    or failed it."""
    refused = message.status in (Status.REJECTED, Status.FAILED)
    error = (message.reason or message.error_code or message.status.value) if refused else ""
    return f"send_from_mobile=0 error_api={error}"


SMSMOBILEAPI = Profile(
    name="smsmobileapi",
    # The API key also works as a Bearer token (the seed's OAuth2 header).
    auth_headers=lambda key: {"Authorization": f"Bearer {key}"},
    send=_send,
    lookup=lambda body: Request(
        "GET", "/log/sent/sms/", params={"guid_message": body["result"]["id"]}
    ),
    status_of=lambda body: _sent_state_of(body["result"]["sms"][0]),
    error_code_of=lambda body: str(body["result"]["error"]),
    ok_status=200,
    bad_request_status=400,
    unauthorized_status=401,
    status_word=lambda message: _sent_state(message),
    # The seed's axios example posts JSON.
    body_routes=(BodyRoute("POST", "/sendsms/"),),
    malformed_code="10",
)

WRONG_KEY = "tg_000000000000_notakey"
"""A key that is not the account's."""


@dataclasses.dataclass
class World:
    running: Running
    ids: dict[str, str]


Check = Callable[[World, Any], Awaitable[None]]


async def _rows(running: Running, sql: str, *params: Any) -> list[dict[str, Any]]:
    def txn() -> Any:
        rows = yield Query(sql, params)
        return [dict(r) for r in rows or ()]

    found: list[dict[str, Any]] = await running.gateway.db.txn(txn)
    return found


async def _choice(running: Running, body: Any, want: tuple[Any, Any]) -> None:
    rows = await _rows(
        running,
        "SELECT device_id, sim_number FROM message_devices WHERE message_id = ?",
        body["result"]["id"],
    )
    assert [(r["device_id"], r["sim_number"]) for r in rows] == [want]


async def _port(world: World, body: Any) -> None:
    running = world.running
    await _choice(running, body, (None, 2))


async def _device(world: World, body: Any) -> None:
    running, ids = world.running, world.ids
    await _choice(running, body, (ids[DEVICE], None))


async def _no_choice(world: World, body: Any) -> None:
    running = world.running
    assert await _rows(running, "SELECT * FROM message_devices") == []


async def _short(world: World, body: Any) -> None:
    running, ids = world.running, world.ids
    [msg] = await stored_messages(running, ids["account"])
    assert URL not in msg.text and msg.text.endswith(".")
    code = msg.text.split("/s/")[1].rstrip(".")
    assert msg.text == f"See {running.base_url}/s/{code}."
    r = await running.client.get(f"/s/{code}", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (302, URL)
    assert (await running.client.get("/s/unknown1")).status_code == 404
    # The account reads the link and its clicks in the native API; no other account can.
    auth = {"Authorization": f"Bearer {ids['key']}"}
    link = await running.client.get(f"/v1/links/{code}", headers=auth)
    assert link.status_code == 200, link.text
    assert (link.json()["url"], link.json()["clicks"]) == (URL, 1)
    assert link.json()["last_click_at"] is not None
    accounts = running.gateway.services.accounts
    other = await accounts.create("other")
    other_auth = {"Authorization": f"Bearer {(await accounts.issue_key(other.id)).token}"}
    assert (await running.client.get(f"/v1/links/{code}", headers=other_auth)).status_code == 404


async def _sealed(world: World, body: Any) -> None:
    running, ids = world.running, world.ids
    enc = body["result"]["encrypted"]
    [msg] = await stored_messages(running, ids["account"])
    assert "4242" not in msg.text and enc["url"] in msg.text
    stored = await _rows(running, "SELECT * FROM sealed_messages")
    assert "4242" not in repr(stored) and enc["key"] not in repr(stored)
    path = enc["url"].removeprefix(running.base_url)
    page = await running.client.get(path)
    assert page.status_code == 200 and "4242" not in page.text
    wrong = await running.client.post(path, data={"key": "WRONGKEY2345"})
    assert wrong.status_code == 401 and "4242" not in wrong.text
    right = await running.client.post(path, data={"key": enc["key"]})
    assert right.status_code == 200 and "The code is 4242" in right.text


async def _sent_line(world: World, body: Any) -> None:
    [line] = body["result"]["sms"]
    types = {
        "sIdentifiantPhone": str,
        "port": int,
        "date_add": str,
        "hour_add": str,
        "timestamp": int,
        "send_from_mobile": int,
        "send_from_mobile_date": str,
        "send_from_mobile_heure": str,
        "send_from_mobile_timestamp": int,
        "recipients": str,
        "sms": str,
        "error_api": str,
        "send_from_mobile_erreur": str,
        "guid_message": str,
        "timearea": str,
        "date_add_server": str,
        "hour_add_server": str,
        "timestamp_server": int,
        "send_from_mobile_date_server": str,
        "send_from_mobile_heure_server": str,
    }
    assert {k: type(v) for k, v in line.items()} == types
    assert (line["sms"], line["recipients"], line["timearea"]) == ("logged", NUMBER[1:], "UTC+00")


async def _one_line(world: World, body: Any) -> None:
    assert [s["sms"] for s in body["result"]["sms"]] == ["logged"]


async def _inbox(world: World, body: Any) -> None:
    ids = world.ids
    lines = body["result"]["sms"]
    assert [(s["number"], s["message"]) for s in lines] == [
        ("+447700900123", "Code 4829"),
        ("+33698765432", "Merci !"),
    ]
    types = {
        "id": str,
        "sIdentifiantPhone": str,
        "date": str,
        "hour": str,
        "timestamp_unix": int,
        "time_received": str,
        "indice": str,
        "message": str,
        "number": str,
        "guid": str,
        "alias": type(None),
        "apikey": str,
    }
    assert {k: type(v) for k, v in lines[0].items()} == types
    assert {s["sIdentifiantPhone"] for s in lines} == {ids[DEVICE]}
    assert ids["key"] not in repr(lines)


async def _two(world: World, body: Any) -> None:
    assert len(body["result"]["sms"]) == 2


async def _read(world: World, body: Any) -> None:
    running, ids = world.running, world.ids
    got = await running.gateway.services.inbound.get(ids["account"], ids[IN1])
    assert got.read_at is not None
    other = await running.gateway.services.inbound.get(ids["account"], ids[IN2])
    assert other.read_at is None


async def _unread(world: World, body: Any) -> None:
    running, ids = world.running, world.ids
    # The case's account has both unread: mark one and ask again.
    await running.gateway.services.inbound.update(ids["account"], ids[IN1], read=True)
    r = await running.client.get("/getsms/", params={"apikey": ids["key"], "onlyunread": "yes"})
    assert [s["guid"] for s in r.json()["result"]["sms"]] == [ids[IN2]]
    assert len(body["result"]["sms"]) == 2


async def _alias(world: World, body: Any) -> None:
    running, ids = world.running, world.ids
    got = await running.gateway.services.inbound.get(ids["account"], ids[IN1])
    assert got.alias == "John Doe"


async def _no_alias(world: World, body: Any) -> None:
    running, ids = world.running, world.ids
    assert (await running.gateway.services.inbound.get(ids["account"], ids[IN1])).alias is None


def _left(count: int) -> Check:
    async def check(world: World, body: Any) -> None:
        assert len(await _rows(world.running, "SELECT id FROM inbound_messages")) == count

    return check


async def _conversations(world: World, body: Any) -> None:
    ids = world.ids
    talks = body["conversations"]
    assert [c["phone_number"] for c in talks] == ["+447700900123", "+33698765432"]
    assert talks[0]["messages"] == [
        {
            "direction": "incoming",
            "message_id": ids[IN2],
            "date": talks[0]["messages"][0]["date"],
            "timestamp_utc": talks[0]["messages"][0]["timestamp_utc"],
            "message": "Code 4829",
            "status": "received",
            "mobile_sid": ids[DEVICE],
        }
    ]


async def _resumed(world: World, body: Any) -> None:
    [talk] = body["conversations"]
    assert talk["phone_number"] == NUMBER
    assert [(m["direction"], m["message"], m["mobile_sid"]) for m in talk["messages"]] == [
        ("outgoing", "out", None)
    ]


async def _one_number(world: World, body: Any) -> None:
    assert [c["phone_number"] for c in body["conversations"]] == ["+447700900123"]


async def _mobiles(world: World, body: Any) -> None:
    ids = world.ids
    [mobile] = body["result"]["mobiles"]
    assert (mobile["sid"], mobile["name"], mobile["sims"]) == (ids[DEVICE], "Pixel", [1, 2])
    assert mobile["sIdentifiant_pour_check"] == mobile["sid"]


async def _labelled(world: World, body: Any) -> None:
    running, ids = world.running, world.ids
    device = await running.gateway.services.devices.get(ids["account"], ids[DEVICE])
    assert (device.label, device.phone_number) == ("OfficePhone", "+33600000001")


async def _deleted_device(world: World, body: Any) -> None:
    running, ids = world.running, world.ids
    assert await running.gateway.services.devices.of_account(ids["account"]) == []


async def _whatsapp(world: World, body: Any) -> None:
    assert body["result"]["sent"] == "0" and "WhatsApp" in body["result"]["note"]


SEND_OK = {"result": {"error": 0, "sent": "1", "port": None, "send_with_whatsapp": "0"}}
ONE = (Stored(NUMBER, text="Hello World"),)

CASES: list[DialectCase] = [
    # --- /sendsms/ -----------------------------------------------------------------
    DialectCase(
        "send: GET with apikey",
        get("/sendsms/", recipients=NUMBER, message="Hello World"),
        auth=False,
        expect_json=SEND_OK,
        expect_stored=ONE,
        checks=(_no_choice,),
    ),
    DialectCase(
        "send: form POST, no slash",
        post("/sendsms", recipients=NUMBER, message="Hello World"),
        auth=False,
        expect_json=SEND_OK,
        expect_stored=ONE,
    ),
    DialectCase(
        "send: doubled slash",
        post("{base}//sendsms/", recipients=NUMBER, message="Hello World"),
        auth=False,
        expect_json=SEND_OK,
        expect_stored=ONE,
    ),
    DialectCase(
        "send: JSON body (axios)",
        Request(
            "POST",
            "/sendsms/",
            json={"recipients": NUMBER, "message": "Hello World", "apikey": KEY},
        ),
        auth=False,
        expect_json=SEND_OK,
        expect_stored=ONE,
    ),
    DialectCase(
        "send: form without Content-Type",
        Request(
            "POST",
            "/sendsms/",
            content=urlencode(
                {"recipients": NUMBER, "message": "Hello World", "apikey": KEY}
            ).encode(),
        ),
        auth=False,
        expect_stored=ONE,
    ),
    DialectCase(
        "send: Bearer header, unknown parameters ignored",
        Request(
            "POST",
            "/sendsms",
            content=urlencode(
                {"recipients": NUMBER, "message": "Hello World", "from": "python"}
            ).encode(),
            headers=FORM,
        ),
        expect_json=SEND_OK,
        expect_stored=ONE,
    ),
    DialectCase(
        "send: two recipients",
        post("/sendsms/", recipients=f"{NUMBER},+33698765432", message="Hi"),
        auth=False,
        expect_stored=(Stored(NUMBER), Stored("+33698765432")),
    ),
    DialectCase(
        "send: wrong apikey",
        get("/sendsms/", recipients=NUMBER, message="x", apikey=WRONG_KEY),
        auth=False,
        expect_status=401,
        expect_error_code="20",
        expect_stored=(),
    ),
    DialectCase(
        "send: missing message",
        post("/sendsms/", recipients=NUMBER),
        auth=False,
        expect_status=400,
        expect_error_code="10",
        expect_stored=(),
    ),
    DialectCase(
        "send: invalid number",
        post("/sendsms/", recipients="12", message="x"),
        auth=False,
        expect_status=400,
        expect_error_code="12",
        expect_stored=(),
    ),
    DialectCase(
        "send: port 2",
        post("/sendsms/", recipients=NUMBER, message="Hello World", port="2"),
        auth=False,
        expect_json={"result": {"error": 0, "port": 2}},
        expect_stored=ONE,
        checks=(_port,),
    ),
    DialectCase(
        "send: port 3",
        post("/sendsms/", recipients=NUMBER, message="x", port="3"),
        auth=False,
        expect_status=400,
        expect_error_code="10",
        expect_stored=(),
    ),
    DialectCase(
        "send: sIdentifiant",
        post("/sendsms/", recipients=NUMBER, message="Hello World", sIdentifiant=DEVICE),
        auth=False,
        expect_json=SEND_OK,
        expect_stored=ONE,
        checks=(_device,),
    ),
    DialectCase(
        "send: unknown sIdentifiant",
        post("/sendsms/", recipients=NUMBER, message="x", sIdentifiant="nope"),
        auth=False,
        expect_status=404,
        expect_error_code="50",
        expect_stored=(),
    ),
    DialectCase(
        "send: schedule_timestamp",
        get(
            "/sendsms/",
            recipients=NUMBER,
            message="Hello World",
            schedule_timestamp=str(int(time.time()) + 86400),
        ),
        auth=False,
        expect_json={"result": {"error": 0, "sent": "1", "note": "scheduled"}},
        expect_stored=(Stored(NUMBER, status="scheduled"),),
    ),
    DialectCase(
        "send: bad schedule_timestamp",
        get("/sendsms/", recipients=NUMBER, message="x", schedule_timestamp="soon"),
        auth=False,
        expect_status=400,
        expect_stored=(),
    ),
    DialectCase(
        "send: sendwa=1 is refused",
        post("/sendsms/", recipients=NUMBER, message="x", sendwa="1", sendsms="1"),
        auth=False,
        expect_status=400,
        expect_error_code="70",
        expect_stored=(),
        checks=(_whatsapp,),
    ),
    DialectCase(
        "send: sendsms=0 without sendwa",
        post("/sendsms/", recipients=NUMBER, message="x", sendsms="0"),
        auth=False,
        expect_status=400,
        expect_error_code="10",
        expect_stored=(),
    ),
    DialectCase(
        "send: shorturl=1",
        post("/sendsms/", recipients=NUMBER, message=f"See {URL}.", shorturl="1"),
        auth=False,
        expect_json=SEND_OK,
        checks=(_short,),
    ),
    DialectCase(
        "send: shorturl=0",
        post("/sendsms/", recipients=NUMBER, message=f"See {URL}.", shorturl="0"),
        auth=False,
        expect_stored=(Stored(NUMBER, text=f"See {URL}."),),
    ),
    DialectCase(
        "send: encrypt_message=yes",
        post("/sendsms/", recipients=NUMBER, message="The code is 4242", encrypt_message="yes"),
        auth=False,
        expect_json={"result": {"error": 0, "encrypted": {"status": "1"}}},
        checks=(_sealed,),
    ),
    DialectCase(
        "send: schedule_timestamp out of range",
        get("/sendsms/", recipients=NUMBER, message="x", schedule_timestamp="9" * 30),
        auth=False,
        expect_status=400,
        expect_error_code="10",
        expect_stored=(),
    ),
    DialectCase(
        "send: negative schedule_timestamp",
        get("/sendsms/", recipients=NUMBER, message="x", schedule_timestamp="-5"),
        auth=False,
        expect_status=400,
        expect_error_code="10",
        expect_stored=(),
    ),
    # --- /resend/ ------------------------------------------------------------------
    DialectCase(
        "resend: missing guid",
        get("/resend/"),
        auth=False,
        expect_status=400,
        expect_error_code="10",
    ),
    DialectCase(
        "resend: unknown guid",
        post("/resend", guid="01HZZZZZZZZZZZZZZZZZZZZZZZ"),
        auth=False,
        expect_status=404,
        expect_error_code="50",
    ),
    DialectCase(
        "resend: not in error",
        lambda ctx: post("/resend/", guid=ctx.setup_responses[0]["result"]["id"]),
        setup=(_send([NUMBER], "fine"),),
        auth=True,
        expect_status=409,
        expect_error_code="51",
    ),
    # --- /log/sent/sms/ --------------------------------------------------------------
    DialectCase(
        "sent log: by guid",
        lambda ctx: get("/log/sent/sms/", guid_message=ctx.setup_responses[0]["result"]["id"]),
        setup=(_send([NUMBER], "logged"),),
        expect_json={"result": {"error": "0"}},
        checks=(_sent_line,),
    ),
    DialectCase(
        "sent log: keyword without match",
        post("/log/sent/sms", keyword="zzz"),
        setup=(_send([NUMBER], "logged"),),
        expect_json={"result": {"error": "0", "sms": []}},
    ),
    DialectCase(
        "sent log: keyword match",
        get("/log/sent/sms", keyword="ogge"),
        setup=(_send([NUMBER], "logged"),),
        checks=(_one_line,),
    ),
    DialectCase(
        "sent log: before an old timestamp",
        get("/log/sent/sms/", before="1000"),
        setup=(_send([NUMBER], "logged"),),
        expect_json={"result": {"sms": []}},
    ),
    DialectCase(
        "sent log: error_api",
        get("/log/sent/sms/", error_api="1"),
        setup=(_send([NUMBER], "logged"),),
        expect_json={"result": {"sms": []}},
    ),
    DialectCase(
        "sent log: wrong apikey",
        get("/log/sent/sms/", apikey=WRONG_KEY),
        auth=False,
        expect_status=401,
        expect_error_code="20",
    ),
    # --- /log/sent/frommobile/ --------------------------------------------------------
    DialectCase(
        "phone log: defaults",
        get("/log/sent/frommobile/"),
        auth=False,
        expect_json={
            "result": {
                "error": "0",
                "count": 0,
                "limit": 200,
                "history_limit_days": 7,
                "sort_by": "mobile_date_ms",
                "sort_order": "DESC",
                "sms": [],
            }
        },
    ),
    DialectCase(
        "phone log: filters and a limit over 200",
        post(
            "/log/sent/frommobile",
            date="2026-03-13",
            number="+15551234567",
            sort_by="synchro_time",
            sort_order="asc",
            limit="500",
        ),
        auth=False,
        expect_json={"result": {"limit": 200, "sort_by": "synchro_time", "sort_order": "ASC"}},
    ),
    DialectCase(
        "phone log: period",
        get("/log/sent/frommobile/", period="last_7days", limit="200", search="x"),
        auth=False,
        expect_json={"result": {"count": 0}},
    ),
    DialectCase(
        "phone log: bad period",
        get("/log/sent/frommobile/", period="lastweek"),
        auth=False,
        expect_status=400,
        expect_error_code="10",
    ),
    DialectCase(
        "phone log: bad sort_by",
        get("/log/sent/frommobile/", sort_by="id"),
        auth=False,
        expect_status=400,
        expect_error_code="10",
    ),
    DialectCase(
        "phone log: bad date",
        get("/log/sent/frommobile/", date="13/03/2026"),
        auth=False,
        expect_status=400,
        expect_error_code="10",
    ),
    # --- /getsms/ ----------------------------------------------------------------------
    DialectCase(
        "getsms: all",
        get("/getsms/"),
        auth=False,
        expect_json={"result": {"error": ""}},
        checks=(_inbox,),
    ),
    DialectCase(
        "getsms: by phone, POST",
        post("/getsms", sIdentifiantPhone=DEVICE),
        auth=False,
        checks=(_two,),
    ),
    DialectCase(
        "getsms: another phone",
        get("/getsms", sIdentifiantPhone="other"),
        auth=False,
        expect_json={"result": {"sms": []}},
    ),
    DialectCase(
        "getsms: after a future time",
        get("/getsms/", after_timestamp_unix=str(int(time.time()) + 3600)),
        auth=False,
        expect_json={"result": {"sms": []}},
    ),
    DialectCase(
        "getsms: after_timestamp_unix out of range",
        get("/getsms/", after_timestamp_unix="1" * 25),
        auth=False,
        expect_status=400,
        expect_error_code="10",
    ),
    DialectCase(
        "sent log: before out of range",
        get("/log/sent/sms/", before="1" * 25),
        auth=False,
        expect_status=400,
        expect_error_code="10",
    ),
    DialectCase(
        "getsms: only unread", get("/getsms/", onlyunread="yes"), auth=False, checks=(_unread,)
    ),
    DialectCase(
        "getsms: wrong apikey",
        get("/getsms/", apikey=WRONG_KEY),
        auth=False,
        expect_status=401,
        expect_error_code="20",
    ),
    DialectCase(
        "set-read: one",
        get("/getsms/set-read/", guid_message=IN1),
        auth=False,
        expect_json={"result": {"error": "0", "read": "1"}},
        checks=(_read,),
    ),
    DialectCase("set-read: POST, no slash", post("/getsms/set-read", guid_message=IN2), auth=False),
    DialectCase(
        "set-read: missing guid",
        get("/getsms/set-read/"),
        auth=False,
        expect_status=400,
        expect_error_code="10",
    ),
    DialectCase(
        "set-read: unknown guid",
        get("/getsms/set-read/", guid_message="nope"),
        auth=False,
        expect_status=404,
        expect_error_code="50",
    ),
    DialectCase(
        "alias: set",
        get("/getsms/update/", guid=IN1, alias="John Doe"),
        auth=False,
        expect_json={"result": {"error": "0", "alias": "John Doe"}},
        checks=(_alias,),
    ),
    DialectCase(
        "alias: cleared",
        post("/getsms/update", guid=IN1, alias=""),
        auth=False,
        expect_json={"result": {"alias": None}},
        checks=(_no_alias,),
    ),
    DialectCase(
        "alias: missing alias",
        get("/getsms/update/", guid=IN1),
        auth=False,
        expect_status=400,
        expect_error_code="10",
    ),
    DialectCase(
        "alias: unknown guid",
        get("/getsms/update/", guid="nope", alias="x"),
        auth=False,
        expect_status=404,
        expect_error_code="50",
    ),
    # --- /deletesms/ --------------------------------------------------------------------
    DialectCase(
        "delete: by guid",
        get("/deletesms/", guid_message=IN1),
        auth=False,
        expect_json={"result": {"error": None, "count_delete": 1}},
        checks=(_left(1),),
    ),
    DialectCase(
        "delete: unknown guid",
        post("/deletesms", guid_message="nope"),
        auth=False,
        expect_json={"result": {"error": None, "count_delete": 0}},
    ),
    DialectCase(
        "delete: by day",
        # The days the two messages were received on (_prepare): named when the test runs,
        # not when it is collected, and both days when they straddle midnight.
        get("/deletesms/", date_start="{first_day}", date_end="{last_day}"),
        auth=False,
        expect_json={"result": {"count_delete": 2}},
        checks=(_left(0),),
    ),
    DialectCase(
        "delete: another day",
        get("/deletesms/", date_start="2020-01-01", date_end="2020-01-31"),
        auth=False,
        expect_json={"result": {"count_delete": 0}},
    ),
    DialectCase(
        "delete: nothing named",
        get("/deletesms/"),
        auth=False,
        expect_status=400,
        expect_error_code="10",
    ),
    DialectCase(
        "delete: end before start",
        get("/deletesms/", date_start="2020-02-01", date_end="2020-01-01"),
        auth=False,
        expect_status=400,
    ),
    # --- /conversation/sms/list/ ---------------------------------------------------------
    DialectCase(
        "conversations: received",
        get("/conversation/sms/list/", origineConversation="received"),
        auth=False,
        expect_json={
            "success": True,
            "origineConversation": "received",
            "resume": 0,
            "resume_line_how": None,
        },
        checks=(_conversations,),
    ),
    DialectCase(
        "conversations: sent, resume",
        post("/conversation/sms/list", origineConversation="sent", resume="1", resume_line_how="3"),
        setup=(_send([NUMBER], "out"),),
        auth=True,
        expect_json={"success": True, "resume": 1, "resume_line_how": 3},
        checks=(_resumed,),
    ),
    DialectCase(
        "conversations: one number",
        get(
            "/conversation/sms/list/",
            origineConversation="received",
            numero="+447700900123",
            date_from="2020-01-01",
            date_to="2999-12-31",
            sort="ASC",
            limit="5",
        ),
        auth=False,
        checks=(_one_number,),
    ),
    DialectCase(
        "conversations: missing origin",
        get("/conversation/sms/list/"),
        auth=False,
        expect_status=400,
        expect_json={"success": False, "error": "Missing required parameter: origineConversation"},
    ),
    DialectCase(
        "conversations: bad sort",
        get("/conversation/sms/list/", origineConversation="sent", sort="UP"),
        auth=False,
        expect_status=400,
        expect_json={"success": False},
    ),
    DialectCase(
        "conversations: no apikey",
        Request("GET", "/conversation/sms/list/", params={"origineConversation": "sent"}),
        auth=False,
        expect_status=401,
        expect_json={"success": False, "error": "Missing required parameter: apikey"},
    ),
    # --- /gateway/mobile/ -----------------------------------------------------------------
    DialectCase(
        "mobiles: list",
        get("/gateway/mobile/list/"),
        auth=False,
        expect_json={"result": {"error": "0"}},
        checks=(_mobiles,),
    ),
    DialectCase(
        "mobiles: by sid, POST",
        post("/gateway/mobile/list", sid=DEVICE),
        auth=False,
        checks=(_mobiles,),
    ),
    DialectCase(
        "mobiles: search without match",
        get("/gateway/mobile/list/", search="zzz"),
        auth=False,
        expect_json={"result": {"mobiles": []}},
    ),
    DialectCase(
        "mobile update: label",
        get(
            "/gateway/mobile/update/", sid=DEVICE, label="OfficePhone", phone_number="+33600000001"
        ),
        auth=False,
        expect_json={
            "result": {"error": "0", "label": "OfficePhone", "phone_number": "+33600000001"}
        },
        checks=(_labelled,),
    ),
    DialectCase(
        "mobile update: label required",
        post("/gateway/mobile/update", sid=DEVICE),
        auth=False,
        expect_status=400,
        expect_error_code="10",
    ),
    DialectCase(
        "mobile update: bad number",
        get("/gateway/mobile/update/", sid=DEVICE, label="", phone_number="call me"),
        auth=False,
        expect_status=400,
    ),
    DialectCase(
        "mobile update: unknown sid",
        get("/gateway/mobile/update/", sid="nope", label="x"),
        auth=False,
        expect_status=404,
        expect_error_code="50",
    ),
    DialectCase(
        "mobile delete",
        post("/gateway/mobile/delete/", sid=DEVICE),
        auth=False,
        expect_json={"result": {"error": "0", "deleted": "1"}},
        checks=(_deleted_device,),
    ),
    DialectCase(
        "mobile delete: unknown sid",
        get("/gateway/mobile/delete", sid="nope"),
        auth=False,
        expect_status=404,
        expect_error_code="50",
    ),
    # --- /oauth2/token ---------------------------------------------------------------------
    DialectCase(
        "oauth2: unknown client",
        Request(
            "POST",
            "/oauth2/token",
            content=b"grant_type=client_credentials&client_id=x&client_secret=y",
            headers=FORM,
        ),
        auth=False,
        expect_status=401,
        expect_json={"error": "invalid_client"},
    ),
    DialectCase(
        "oauth2: other grant",
        Request(
            "POST",
            "/oauth2/token/",
            content=b"grant_type=password&client_id=x&client_secret=y",
            headers=FORM,
        ),
        auth=False,
        expect_status=400,
        expect_json={"error": "unsupported_grant_type"},
    ),
]


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        for name, real in ids.items():
            if "{" not in name and "%7B" not in name:
                continue  # not a placeholder
            value = value.replace(name, real)
        return value
    if isinstance(value, bytes):
        # Bytes as they are (bodies that are not UTF-8 included); placeholders are ASCII.
        return _fill(value.decode("latin-1"), ids).encode("latin-1")
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


def _with_ids(case: DialectCase, ids: dict[str, str]) -> DialectCase:
    def fill(req: Request) -> Request:
        return dataclasses.replace(
            req,
            path=_fill(req.path, ids),
            params=_fill(dict(req.params), ids) if req.params is not None else None,
            json=_fill(req.json, ids),
            content=None if req.content is None else _fill(req.content, _quoted(ids)),
        )

    original = case.request
    if callable(original):
        make = original
        return dataclasses.replace(case, request=lambda ctx: fill(make(ctx)))
    return dataclasses.replace(case, request=fill(original))


def _quoted(ids: dict[str, str]) -> dict[str, str]:
    # Placeholders inside a form body are percent-encoded.
    return {urlencode({"x": k})[2:]: v for k, v in ids.items()}


async def _prepare(running: Running) -> dict[str, str]:
    services = running.gateway.services
    account = await services.accounts.create("acme")
    key = (await services.accounts.issue_key(account.id)).token
    registration = await services.devices.register(
        RegistrationAuth(private_token=key),
        "Pixel",
        push_token=None,
        sim_cards=[SimCard(slot_index=0, sim_number=1), SimCard(slot_index=1, sim_number=2)],
    )
    device = registration.device
    now = datetime.now(UTC)
    await services.devices.receive(
        device,
        [
            InboundMessage(
                "android", "+33698765432", "+33600000009", "Merci !", now, f"{device.id}:a1"
            ),
        ],
    )
    await services.devices.receive(
        device,
        [
            InboundMessage(
                "android",
                "+447700900123",
                "+33600000009",
                "Code 4829",
                now + timedelta(seconds=1),
                f"{device.id}:a2",
            ),
        ],
    )
    inbox = await services.phone_sms.received(account.id)
    return {
        KEY: key,
        DEVICE: device.id,
        IN1: inbox[1].id,
        IN2: inbox[0].id,
        "account": account.id,
        "key": key,
        # A path that starts with "//" goes out as given only in a full URL.
        "{base}": running.base_url,
        "{first_day}": now.strftime("%Y-%m-%d"),
        "{last_day}": (now + timedelta(seconds=1)).strftime("%Y-%m-%d"),
    }


@pytest.mark.parametrize(
    "case", [*CASES, *conformance(SMSMOBILEAPI), *malformed(SMSMOBILEAPI)], ids=lambda c: c.label
)
async def test_smsmobileapi(case: DialectCase, gateway: Running) -> None:
    ids = await _prepare(gateway)
    body = await run_case(
        _with_ids(case, ids),
        gateway,
        SMSMOBILEAPI,
        ids["key"],
        ids["account"],
        world=World(gateway, ids),
    )
    request = case.request
    # Conversations and OAuth2 answer errors in shapes of their own.
    own_shape = isinstance(request, Request) and request.path.startswith(
        ("/conversation", "/oauth2")
    )
    if case.expect_status >= 400 and not own_shape:
        assert body["result"]["error"] not in (0, "0", "", None)
        assert body["result"]["sent"] == "0" and body["result"]["note"]


async def test_the_answer_says_when_no_phone_is_there_to_send(settings: Settings) -> None:
    """Seed 003: "sent" 1 means the mobile accepted the message for sending. With no phone
    connected it is kept until one connects, and the note says so instead of "sent by
    mobile"; once a phone of the account has been seen, the note is the seed's."""
    phones = [ConnectorSettings(name="phones", type="android")]
    async with running_gateway(settings.model_copy(update={"connectors": phones})) as gateway:
        await _no_phone_then_one(gateway)


async def _no_phone_then_one(gateway: Running) -> None:
    services = gateway.gateway.services
    account = await services.accounts.create("phoneless")
    key = (await services.accounts.issue_key(account.id)).token
    params = {"apikey": key, "recipients": NUMBER, "message": "hi"}
    r = await gateway.client.get("/sendsms/", params=params)
    assert r.status_code == 200, r.text
    result = r.json()["result"]
    assert (result["error"], result["sent"]) == (0, "1")
    assert result["note"].startswith("waiting for a mobile"), result
    [msg] = await stored_messages(gateway, account.id)
    assert msg.status.value in ("queued", "sending"), msg.status
    await services.devices.register(
        RegistrationAuth(private_token=key), "Pixel", push_token=None, sim_cards=[]
    )
    r = await gateway.client.get("/sendsms/", params=params)
    assert r.json()["result"]["note"] == "sent by mobile"


async def test_a_national_number_is_read_in_the_phones_country(gateway: Running) -> None:
    """The account sets no default country; the phone that sends knows its own number, so
    a number written as it would be dialled there is sent, in that phone's country."""
    services = gateway.gateway.services
    account = await services.accounts.create("national")
    key = (await services.accounts.issue_key(account.id)).token
    registration = await services.devices.register(
        RegistrationAuth(private_token=key), "Pixel", push_token=None, sim_cards=[]
    )
    params = {"apikey": key, "recipients": "0612345678", "message": "hi"}
    # The phone's own number is not known yet: a national number cannot be read.
    refused = await gateway.client.get("/sendsms/", params=params)
    assert refused.json()["result"]["error"] != 0, refused.text
    assert await stored_messages(gateway, account.id) == []
    await services.devices.set_labels(
        account.id, registration.device.id, phone_number="+33600000042"
    )
    r = await gateway.client.get("/sendsms/", params=params)
    assert r.json()["result"]["error"] == 0, r.text
    [msg] = await stored_messages(gateway, account.id)
    assert msg.recipient == "+33612345678"


async def test_every_answer_is_json(gateway: Running) -> None:
    """Errors included, whatever went wrong (the Python client calls .json())."""
    for method, path in (
        ("GET", "/sendsms"),
        ("POST", "/getsms/"),
        ("GET", "/resend"),
        ("POST", "/gateway/mobile/list/"),
    ):
        r = await gateway.client.request(method, path)
        assert r.status_code == 401
        assert r.headers["content-type"].startswith("application/json")
        assert r.json()["result"]["error"] == "20"


SOAP_CALL = """<?xml version="1.0" encoding="ISO-8859-1"?>
<SOAP-ENV:Envelope SOAP-ENV:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"
 xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:xsd="http://www.w3.org/2001/XMLSchema"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
 xmlns:SOAP-ENC="http://schemas.xmlsoap.org/soap/encoding/" xmlns:tns="urn:sendsms">
<SOAP-ENV:Body><ns1:sendSms xmlns:ns1="urn:sendsms">
<recipients xsi:type="xsd:string">{to}</recipients>
<message xsi:type="xsd:string">{text}</message>
<apikey xsi:type="xsd:string">{key}</apikey>
</ns1:sendSms></SOAP-ENV:Body></SOAP-ENV:Envelope>"""
WSDL_NS = {
    "w": "http://schemas.xmlsoap.org/wsdl/",
    "soap": "http://schemas.xmlsoap.org/wsdl/soap/",
    "env": "http://schemas.xmlsoap.org/soap/envelope/",
}


async def test_soap_send_sms_with_its_wsdl(gateway: Running) -> None:
    """What the seed's nusoap example does: read the WSDL, post sendSms to its address."""
    ids = await _prepare(gateway)
    wsdl = await gateway.client.get("/sendsms/wsdl/sendsms.wsdl")
    assert wsdl.status_code == 200 and wsdl.headers["content-type"].startswith("text/xml")
    doc = ET.fromstring(wsdl.text)  # noqa: S314
    operations = doc.findall("w:portType/w:operation", WSDL_NS)
    assert [o.get("name") for o in operations] == ["sendSms"]
    parts = [
        p.get("name") for p in doc.findall("w:message[@name='sendSmsRequest']/w:part", WSDL_NS)
    ]
    assert parts[:3] == ["recipients", "message", "apikey"]
    address = doc.find("w:service/w:port/soap:address", WSDL_NS)
    assert address is not None
    location = address.get("location", "")
    assert location == f"{gateway.base_url}/sendsms/soap/"
    headers = {"Content-Type": "text/xml; charset=ISO-8859-1", "SOAPAction": "urn:sendsms#sendSms"}
    call = SOAP_CALL.format(to=NUMBER, text="Caf&#233; &amp; co", key=ids["key"])
    r = await gateway.client.post(location, content=call.encode("latin-1"), headers=headers)
    assert r.status_code == 200, r.text
    answer = ET.fromstring(r.text).find("env:Body/{urn:sendsms}sendSmsResponse/return", WSDL_NS)  # noqa: S314
    assert answer is not None and answer.text is not None
    result = json.loads(answer.text)["result"]
    assert (result["error"], result["sent"]) == (0, "1")
    [msg] = await stored_messages(gateway, ids["account"])
    assert (msg.id, msg.recipient, msg.text) == (result["id"], NUMBER, "Café & co")
    # A wrong key is a SOAP Fault, and so is a DTD (no entity expansion): nothing more stored.
    wrong = SOAP_CALL.format(to=NUMBER, text="x", key="tg_0_nope")
    bombs = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        + call.split("?>", 1)[1].replace("Caf", "&b;")
    )
    for body, code in ((wrong, "20"), (bombs, "10"), ("not xml", "10")):
        fault = await gateway.client.post("/sendsms/soap", content=body.encode(), headers=headers)
        assert fault.status_code == 500
        parsed = ET.fromstring(fault.text).find("env:Body/env:Fault", WSDL_NS)  # noqa: S314
        assert parsed is not None
        assert parsed.findtext("faultcode") == "SOAP-ENV:Client"
        assert parsed.findtext("detail/error") == code
    assert len(await stored_messages(gateway, ids["account"])) == 1


@pytest.mark.parametrize(
    ("body", "stored"),
    [
        # nusoap declares ISO-8859-1 by default and sends PHP's UTF-8 strings as they are.
        ("Café à Zürich".encode(), "Café à Zürich"),
        # A client that does write Latin-1 under that declaration.
        ("Café à Zürich".encode("latin-1"), "Café à Zürich"),
    ],
    ids=["utf-8 bytes", "latin-1 bytes"],
)
async def test_soap_text_under_a_latin1_declaration(
    gateway: Running, body: bytes, stored: str
) -> None:
    ids = await _prepare(gateway)
    head, tail = SOAP_CALL.format(to=NUMBER, text="{text}", key=ids["key"]).split("{text}")
    call = head.encode("latin-1") + body + tail.encode("latin-1")
    headers = {"Content-Type": "text/xml; charset=ISO-8859-1", "SOAPAction": "urn:sendsms#sendSms"}
    r = await gateway.client.post("/sendsms/soap/", content=call, headers=headers)
    assert r.status_code == 200, r.text
    [msg] = await stored_messages(gateway, ids["account"])
    assert msg.text == stored


def _soap_send(to: list[str], text: str) -> Request:
    call = SOAP_CALL.format(to=escape(",".join(to)), text=escape(text), key=KEY)
    return Request("POST", "/sendsms/soap/", content=call.encode(), headers=SOAP_HEADERS)


def _soap_answer(text: str) -> dict[str, Any]:
    """A SOAP answer as the SOAP profile reads it: the fault's code and error, or the
    result the return string carries."""
    body = ET.fromstring(text).find("env:Body", WSDL_NS)  # noqa: S314
    assert body is not None, text
    fault = body.find("env:Fault", WSDL_NS)
    if fault is not None:
        return {"faultcode": fault.findtext("faultcode"), "error": fault.findtext("detail/error")}
    answer = body.findtext("{urn:sendsms}sendSmsResponse/return")
    assert answer is not None, text
    return dict(json.loads(answer))


SOAP_HEADERS = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": "urn:sendsms#sendSms"}
SOAP = Profile(
    name="smsmobileapi SOAP",
    auth_headers=lambda _: {},
    send=_soap_send,
    lookup=SMSMOBILEAPI.lookup,
    status_of=SMSMOBILEAPI.status_of,
    error_code_of=lambda body: str(body["error"]),
    ok_status=200,
    # SOAP 1.1 section 6.2: a fault is answered with HTTP 500; its faultcode says whose.
    bad_request_status=500,
    unauthorized_status=500,
    body_routes=(BodyRoute("POST", "/sendsms/soap/", content_type=SOAP_HEADERS["Content-Type"]),),
    malformed_code="10",
    parse=_soap_answer,
    blames_client=lambda body: body.get("faultcode") == "SOAP-ENV:Client",
)
_DEEP_XML = 100_000
BAD_XML = (
    BadBody("invalid UTF-8", b"\xff", Flaw.UNREADABLE),
    BadBody(
        "stray UTF-16 BOM",
        b"\xff\xfe" + SOAP_CALL.format(to=NUMBER, text="x", key=KEY).encode(),
        Flaw.UNREADABLE,
    ),
    BadBody("not XML", b"' OR 1=1 --", Flaw.UNREADABLE),
    BadBody(
        "truncated", SOAP_CALL.format(to=NUMBER, text="x", key=KEY).encode()[:300], Flaw.UNREADABLE
    ),
    BadBody(
        "elements nested 100,000 deep", b"<a>" * _DEEP_XML + b"</a>" * _DEEP_XML, Flaw.UNREADABLE
    ),
    BadBody(
        "entity expansion",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]><x>&a;&a;</x>',
        Flaw.UNREADABLE,
    ),
    BadBody("JSON", b'{"recipients": "+33612345678"}', Flaw.UNREADABLE),
    BadBody("over the body limit", b"<x>" + b"a" * OVER_LIMIT + b"</x>", Flaw.TOO_LARGE),
)


@pytest.mark.parametrize("case", malformed(SOAP, BAD_XML), ids=lambda c: c.label)
async def test_smsmobileapi_soap_malformed(case: DialectCase, gateway: Running) -> None:
    ids = await _prepare(gateway)
    make = case.request

    def with_key(ctx: Context) -> Request:
        # The key is in the envelope, as it is.
        req = make(ctx) if callable(make) else make
        content = req.content or b""
        return dataclasses.replace(req, content=content.replace(KEY.encode(), ids["key"].encode()))

    filled = dataclasses.replace(case, request=with_key)
    await run_case(filled, gateway, SOAP, ids["key"], ids["account"])


def _seed_python_client(base: str, key: str) -> list[Any]:
    """The seed's examples, with only the base URL changed (blocking ``requests``)."""
    answers = []
    # "GET https://api.smsmobileapi.com/sendsms/?apikey=...&recipients=+1234567890&message=..."
    # as written: the '+' is not encoded.
    r = requests.get(
        f"{base}/sendsms/?apikey={key}&recipients=+33612345678&message=Hello%20World",
        timeout=HTTP_TIMEOUT,
    )
    r.raise_for_status()
    answers.append(r.json())
    # requests.post(url, data=payload) with the payload of the Python example.
    payload = {"recipients": "+33698765432", "message": "YOUR_MESSAGE", "apikey": key}
    r = requests.post(f"{base}/sendsms/", data=payload, timeout=HTTP_TIMEOUT)
    r.raise_for_status()
    answers.append(r.json())
    r = requests.get(
        f"{base}/getsms", params={"apikey": key, "from": "python"}, timeout=HTTP_TIMEOUT
    )
    r.raise_for_status()
    answers.append(r.json())
    # An error is JSON too, after raise_for_status() raised.
    r = requests.post(f"{base}/sendsms", data={"recipients": "+33612345678"}, timeout=HTTP_TIMEOUT)
    with pytest.raises(requests.HTTPError):
        r.raise_for_status()
    answers.append(r.json())
    return answers


async def test_clients_written_as_the_seed_examples(gateway: Running) -> None:
    ids = await _prepare(gateway)
    first, second, inbox, error = await asyncio.to_thread(
        _seed_python_client, gateway.base_url, ids["key"]
    )
    assert (first["result"]["error"], first["result"]["sent"]) == (0, "1")
    assert second["result"]["sent"] == "1"
    assert len(inbox["result"]["sms"]) == 2
    assert error["result"]["error"] == "20"
    msgs = await stored_messages(gateway, ids["account"])
    assert sorted((m.recipient, m.text) for m in msgs) == [
        ("+33612345678", "Hello World"),
        ("+33698765432", "YOUR_MESSAGE"),
    ]
