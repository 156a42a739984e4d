"""The interfaces that submit, for the rules conformance table (test_rules_conformance):
how each sends one request and how it words the outcome.

Each :class:`Interface` sends recipients, a text and a sender as its clients do (HTTP to the
real server, real SMTP on loopback, the dashboard's form, the CLI) and says what came back
in its own words; :attr:`Interface.words` is how it refuses a request for each rule.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import xml.etree.ElementTree as ET  # reads only this server's own answers
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from email import message_from_bytes
from email import policy as email_policy
from typing import Any

import httpx
from typer.testing import CliRunner

from tests.dashboard.conftest import csrf_of
from tests.smtp.harness import (
    ASP,
    LABS,
    ORIGINATOR_ADDRESS,
    PASSWORD,
    USERNAME,
    Env,
    email,
    send,
)
from tests.support import HTTP_TIMEOUT, cli_env, until
from textgate.cli import app
from textgate.config import Settings
from textgate.core.policy import Reason
from textgate.dialects.twilio.resource import account_sid

ACCEPTED = "accepted"


@dataclass
class World:
    env: Env
    settings: Settings
    keys: dict[str, Any] = field(default_factory=dict)

    @property
    def http(self) -> httpx.AsyncClient:
        client: httpx.AsyncClient = self.env.running.client
        return client


Send = Callable[[World, tuple[str, ...], str, str | None], Awaitable[str]]
"""Sends the request; the interface's words for the outcome (``accepted`` if it was)."""


@dataclass(frozen=True)
class Interface:
    name: str
    send: Send
    words: Mapping[Reason, str]
    """How this interface refuses the request for each rule (a rule it cannot be asked
    about is missing)."""
    prepare: Callable[[World], Awaitable[None]] | None = None
    """Its own set-up (a login, a list), before the account's rules are set."""
    several: bool = True
    """Takes several recipients in one request."""
    operator: bool = False
    """The operator's local interface: the IP allowlist does not cover it."""


def _http_words(r: httpx.Response, code: Callable[[Any], Any]) -> str:
    if r.status_code < 300:
        return ACCEPTED
    return f"{r.status_code} {code(r.json())}"


async def _native(w: World, to: tuple[str, ...], text: str, sender: str | None) -> str:
    body: dict[str, Any] = {"to": list(to), "text": text}
    if sender:
        body["from"] = sender
    r = await w.http.post(
        "/v1/messages", json=body, headers={"Authorization": f"Bearer {w.env.api_key}"}
    )
    return _http_words(r, lambda b: b["error"]["code"])


SMSEND = "/API/v1.0/REST"


async def _smsend_login(w: World) -> None:
    r = await w.http.get(f"{SMSEND}/login", params={"username": USERNAME, "password": PASSWORD})
    assert r.status_code == 200, r.text
    user_key, session_key = r.text.split(";")
    w.keys["smsend"] = {"user_key": user_key, "Session_key": session_key}


async def _smsend(w: World, to: tuple[str, ...], text: str, sender: str | None) -> str:
    body: dict[str, Any] = {"message": text, "message_type": "N", "recipient": list(to)}
    if sender:
        body["sender"] = sender
    r = await w.http.post(f"{SMSEND}/sms", json=body, headers=w.keys["smsend"])
    return _http_words(r, lambda b: b["code"])


async def _mailup_list(w: World) -> None:
    lists = w.env.services.lists
    account_id = w.env.account_id
    made = await lists.create(account_id, "customers", default_prefix="39", sms_sender="ACME")
    secret = await lists.create_secret(account_id, made.list_id, made.guid)
    console = (await lists.console(account_id)).console_id
    w.keys["mailup"] = (console, made.list_id, made.guid, secret)


async def _mailup(w: World, to: tuple[str, ...], text: str, sender: str | None) -> str:
    console, list_id, guid, secret = w.keys["mailup"]
    body: dict[str, Any] = {
        "Content": text,
        "ListGuid": guid,
        "ListSecret": secret,
        "Recipient": to[0],
    }
    if sender:
        body["Sender"] = sender
    r = await w.http.post(f"/api/v2.0/sms/{console}/{list_id}", json=body)
    return _http_words(r, lambda b: b["Code"])


async def _twilio(w: World, to: tuple[str, ...], text: str, sender: str | None) -> str:
    sid = account_sid(w.env.account_id)
    form = [("To", to[0]), ("Body", text)] + ([("From", sender)] if sender else [])
    r = await w.http.post(
        f"/2010-04-01/Accounts/{sid}/Messages.json",
        data=dict(form),
        auth=(sid, w.env.api_key),
    )
    return _http_words(r, lambda b: b["code"])


async def _smsgate(w: World, to: tuple[str, ...], text: str, sender: str | None) -> str:
    r = await w.http.post(
        "/3rdparty/v1/messages",
        json={"textMessage": {"text": text}, "phoneNumbers": list(to)},
        headers={"Authorization": f"Bearer {w.env.api_key}"},
    )
    return _http_words(r, lambda b: b.get("code"))


async def _smsmobileapi(w: World, to: tuple[str, ...], text: str, sender: str | None) -> str:
    r = await w.http.post(
        "/sendsms/",
        params={"recipients": ",".join(to), "message": text},
        headers={"Authorization": f"Bearer {w.env.api_key}"},
    )
    if r.status_code == 200 and r.json()["result"]["sent"] == "1":
        return ACCEPTED
    return f"{r.status_code} {r.json()['result']['error']}"


SOAP_CALL = """<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:xsd="http://www.w3.org/2001/XMLSchema"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<SOAP-ENV:Body><ns1:sendSms xmlns:ns1="urn:sendsms">
<recipients xsi:type="xsd:string">{to}</recipients>
<message xsi:type="xsd:string">{text}</message>
<apikey xsi:type="xsd:string">{key}</apikey>
</ns1:sendSms></SOAP-ENV:Body></SOAP-ENV:Envelope>"""
SOAP_ENV = "{http://schemas.xmlsoap.org/soap/envelope/}"


async def _soap(w: World, to: tuple[str, ...], text: str, sender: str | None) -> str:
    call = SOAP_CALL.format(to=",".join(to), text=html.escape(text), key=w.env.api_key)
    r = await w.http.post(
        "/sendsms/soap/",
        content=call.encode(),
        headers={"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": "urn:sendsms#sendSms"},
    )
    root = ET.fromstring(r.text)  # noqa: S314
    fault = root.find(f"{SOAP_ENV}Body/{SOAP_ENV}Fault")
    if fault is not None:
        return f"fault {fault.findtext('detail/error')}"
    answer = root.find(f"{SOAP_ENV}Body/{{urn:sendsms}}sendSmsResponse/return")
    assert answer is not None and answer.text is not None, r.text
    result = json.loads(answer.text)["result"]
    return ACCEPTED if result["sent"] == "1" else f"error {result['error']}"


def _smtp_words(out: Any) -> str:
    if out.code == 250 and not out.refused:
        return ACCEPTED
    return f"{out.code} {out.text}"


async def _labsmobile(w: World, to: tuple[str, ...], text: str, sender: str | None) -> str:
    rcpt = [f"{n.lstrip('+')}@{LABS}" for n in to]
    author = f"{sender} <{USERNAME}>" if sender else USERNAME
    data = email(sender=author, to=rcpt, subject=w.env.api_key, text=text)
    return _smtp_words(await send(w.env, "anyone@client.example", rcpt, data))


def _zeros(number: str) -> str:
    return "00" + number.lstrip("+")


async def _textsms(w: World, to: tuple[str, ...], text: str, sender: str | None) -> str:
    keys = [
        f"UserKey={w.env.account_id}",
        f"Password={PASSWORD}",
        "Recipient=" + ";".join(_zeros(n) for n in to),
    ]
    if sender:
        keys.append(f"Originator={sender}")
    rcpt = [f"textsms@{ASP}"]
    data = email(sender="client@client.example", to=rcpt, subject=",".join(keys), text=text)
    return _smtp_words(await send(w.env, "client@client.example", rcpt, data))


async def _numbers(w: World, to: tuple[str, ...], text: str, sender: str | None) -> str:
    rcpt = [f"{_zeros(n)}@{ASP}" for n in to]
    subject = f"Originator={sender}" if sender else None
    data = email(sender=ORIGINATOR_ADDRESS, to=rcpt, subject=subject, text=text)
    return _smtp_words(await send(w.env, ORIGINATOR_ADDRESS, rcpt, data))


XML_CLIENT = "app@client.example"


async def _xml(w: World, to: tuple[str, ...], text: str, sender: str | None) -> str:
    # Each recipient with its own TransRefNumber: still one request.
    recipients = "".join(
        f"<Recipient><PhoneNumber>{_zeros(n)}</PhoneNumber>"
        f"<TransRefNumber>ref-{i}</TransRefNumber></Recipient>"
        for i, n in enumerate(to)
    )
    originator = f"<Originator>{sender}</Originator>" if sender else ""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<aspsms>'
        f"<Userkey>{w.env.account_id}</Userkey><Password>{PASSWORD}</Password>"
        f"{originator}{recipients}<MessageData>{html.escape(text)}</MessageData>"
        "<Action>SendTextSMS</Action></aspsms>"
    )
    rcpt = [f"xml@{ASP}"]
    data = email(sender=XML_CLIENT, to=rcpt, subject=None, text=body)
    out = await send(w.env, XML_CLIENT, rcpt, data)
    assert out.code == 250, out.text
    await until(lambda: len(w.env.relay.received) >= 1)
    [got] = w.env.relay.received
    reply = message_from_bytes(got.data, policy=email_policy.default).get_body(("plain",))
    assert reply is not None
    answer = ET.fromstring(str(reply.get_content()))  # type: ignore[attr-defined]  # noqa: S314
    code = answer.findtext("ErrorCode")
    return ACCEPTED if code == "1" else f"{code} {answer.findtext('ErrorDescription')}"


async def _aspsms_json(w: World, to: tuple[str, ...], text: str, sender: str | None) -> str:
    body: dict[str, Any] = {
        "UserName": w.env.account_id,
        "Password": PASSWORD,
        "Recipients": [
            {"PhoneNumber": _zeros(n), "TransRefNumber": f"ref-{i}"} for i, n in enumerate(to)
        ],
        "MessageText": text,
    }
    if sender:
        body["Originator"] = sender
    # ASPSMS's clients often send no Content-Type.
    r = await w.http.post("/SendTextSMS", content=json.dumps(body).encode())
    assert r.status_code == 200, r.text
    answer = r.json()
    code = answer["StatusCode"]
    return ACCEPTED if code == "1" else f"{code} {answer['StatusInfo']}"


async def _labsmobile_json(w: World, to: tuple[str, ...], text: str, sender: str | None) -> str:
    body: dict[str, Any] = {"recipient": [{"msisdn": n.lstrip("+")} for n in to], "message": text}
    if sender:
        body["tpoa"] = sender
    r = await w.http.post("/json/send", json=body, auth=(USERNAME, w.env.api_key))
    answer = r.json()
    return (
        ACCEPTED
        if answer["code"] == "0"
        else f"{r.status_code} {answer['code']} {answer['message']}"
    )


async def _dashboard(w: World, to: tuple[str, ...], text: str, sender: str | None) -> str:
    base = w.env.running.base_url
    async with httpx.AsyncClient(base_url=base, timeout=HTTP_TIMEOUT) as c:
        page = await c.get("/dashboard/login")
        r = await c.post(
            "/dashboard/login",
            data={"csrf_token": csrf_of(page.text), "username": USERNAME, "password": PASSWORD},
        )
        assert r.status_code == 303, r.text
        csrf = csrf_of((await c.get("/dashboard/")).text)
        form = {"csrf_token": csrf, "to": "\n".join(to), "text": text, "sender": sender or ""}
        r = await c.post("/dashboard/send", data=form)
    if r.status_code == 303:
        return ACCEPTED
    error = re.search(r'<p class="error" role="alert">(.*?)</p>', r.text, re.S)
    return f"{r.status_code} {html.unescape(error.group(1)) if error else r.text[:200]}"


def _cli_send(w: World, to: tuple[str, ...], text: str, sender: str | None) -> Any:
    env = cli_env(w.env.running)
    args = ["send", "--account", "acme", "--text", text, "--json"]
    for n in to:
        args += ["--to", n]
    if sender:
        args += ["--from", sender]
    result = CliRunner().invoke(app, args, env=env)
    return json.loads(result.stdout)


async def _cli(w: World, to: tuple[str, ...], text: str, sender: str | None) -> str:
    answer = await asyncio.to_thread(_cli_send, w, to, text, sender)
    if answer["accepted"]:
        return ACCEPTED
    return f"refused {answer['results'][0]['code']}"


# The email interfaces refuse an email for an account rule alike (smtp.errors): 554 5.7.1
# with the rule's own text.
SMTP_WORDS = {
    Reason.IP_NOT_ALLOWED: "554 5.7.1 requests from this address are not allowed",
    Reason.BATCH_TOO_LARGE: "554 5.7.1 2 recipients; the account allows 1",
    Reason.INVALID_SENDER: "554 5.7.1 sender 'Other': this sender ID is not allowed",
    Reason.DAILY_LIMIT: "554 5.7.1 the account's daily message limit is reached",
    Reason.COUNTRY_BLOCKED: "554 5.7.1 the account may not send to this country",
    Reason.DUPLICATE: "554 5.7.1 the same text went to this recipient",
    Reason.OPTED_OUT: "554 5.7.1 the recipient opted out",
    Reason.INSUFFICIENT_CREDIT: "554 5.7.1 the account's balance does not cover",
}

# ASPSMS's status numbers, the same in its XML interface (xml@) and its JSON API.
ASPSMS_WORDS = {
    Reason.IP_NOT_ALLOWED: "25 User access denied: requests from this address",
    Reason.BATCH_TOO_LARGE: "25 User access denied: 2 recipients; the account allows 1",
    Reason.INVALID_SENDER: "10 Invalid originator: sender 'Other'",
    Reason.DAILY_LIMIT: "25 User access denied: the account's daily message limit",
    Reason.COUNTRY_BLOCKED: "25 User access denied: the account may not send to this",
    Reason.DUPLICATE: "25 User access denied: the same text went to this recipient",
    Reason.OPTED_OUT: "25 User access denied: the recipient opted out",
    Reason.INSUFFICIENT_CREDIT: "5 Not enough credits",
}

# LabsMobile's JSON API: its code 30 carries the rules it has no code of its own for.
LABS_ERROR = "There was an error while sending the message"

INTERFACES: tuple[Interface, ...] = (
    Interface(
        "smsgate",
        _smsgate,
        {
            Reason.IP_NOT_ALLOWED: "403 ip_not_allowed",
            Reason.BATCH_TOO_LARGE: "400 batch_too_large",
            Reason.INVALID_SENDER: "400 invalid_sender",
            Reason.DAILY_LIMIT: "429 daily_limit",
            Reason.COUNTRY_BLOCKED: "400 country_blocked",
            Reason.DUPLICATE: "400 duplicate",
            Reason.OPTED_OUT: "400 opted_out",
            Reason.INSUFFICIENT_CREDIT: "402 insufficient_credit",
        },
    ),
    Interface(
        "twilio",
        _twilio,
        {
            Reason.IP_NOT_ALLOWED: "403 20003",
            Reason.INVALID_SENDER: "400 21212",
            Reason.DAILY_LIMIT: "429 63038",
            Reason.COUNTRY_BLOCKED: "400 21408",
            Reason.DUPLICATE: "400 30007",
            Reason.OPTED_OUT: "400 21610",
            Reason.INSUFFICIENT_CREDIT: "403 20005",
        },
        several=False,
    ),
    Interface(
        "native",
        _native,
        {
            Reason.IP_NOT_ALLOWED: "403 ip_not_allowed",
            Reason.BATCH_TOO_LARGE: "403 batch_too_large",
            Reason.INVALID_SENDER: "403 invalid_sender",
            Reason.DAILY_LIMIT: "403 daily_limit",
            Reason.COUNTRY_BLOCKED: "403 country_blocked",
            Reason.DUPLICATE: "403 duplicate",
            Reason.OPTED_OUT: "403 opted_out",
            Reason.INSUFFICIENT_CREDIT: "402 insufficient_credit",
        },
    ),
    Interface(
        "smsend",
        _smsend,
        {
            Reason.IP_NOT_ALLOWED: "401 22",
            Reason.BATCH_TOO_LARGE: "400 30",
            Reason.INVALID_SENDER: "400 13",
            Reason.DAILY_LIMIT: "429 31",
            Reason.COUNTRY_BLOCKED: "400 32",
            Reason.DUPLICATE: "400 33",
            Reason.OPTED_OUT: "400 34",
            Reason.INSUFFICIENT_CREDIT: "400 40",
        },
        prepare=_smsend_login,
    ),
    Interface(
        "mailup",
        _mailup,
        {
            Reason.IP_NOT_ALLOWED: "403 250",
            Reason.INVALID_SENDER: "403 207",
            Reason.DAILY_LIMIT: "403 250",
            Reason.COUNTRY_BLOCKED: "403 204",
            Reason.DUPLICATE: "500 302",
            Reason.OPTED_OUT: "403 206",
            Reason.INSUFFICIENT_CREDIT: "403 205",
        },
        prepare=_mailup_list,
        several=False,
    ),
    Interface(
        "smsmobileapi",
        _smsmobileapi,
        {
            Reason.IP_NOT_ALLOWED: "403 22",
            Reason.BATCH_TOO_LARGE: "400 30",
            Reason.INVALID_SENDER: "400 13",
            Reason.DAILY_LIMIT: "429 31",
            Reason.COUNTRY_BLOCKED: "400 32",
            Reason.DUPLICATE: "400 33",
            Reason.OPTED_OUT: "400 34",
            Reason.INSUFFICIENT_CREDIT: "402 40",
        },
    ),
    Interface(
        "smsmobileapi soap",
        _soap,
        {
            Reason.IP_NOT_ALLOWED: "fault 22",
            Reason.BATCH_TOO_LARGE: "fault 30",
            Reason.INVALID_SENDER: "fault 13",
            Reason.DAILY_LIMIT: "fault 31",
            Reason.COUNTRY_BLOCKED: "fault 32",
            Reason.DUPLICATE: "fault 33",
            Reason.OPTED_OUT: "fault 34",
            Reason.INSUFFICIENT_CREDIT: "fault 40",
        },
    ),
    Interface(
        "labsmobile email",
        _labsmobile,
        SMTP_WORDS,
    ),
    Interface(
        "labsmobile json",
        _labsmobile_json,
        {
            Reason.IP_NOT_ALLOWED: "403 403 Forbidden: requests from this address",
            Reason.BATCH_TOO_LARGE: "200 24 Too many recipients: 2 recipients",
            Reason.INVALID_SENDER: f"200 30 {LABS_ERROR}: sender 'Other'",
            Reason.DAILY_LIMIT: f"200 30 {LABS_ERROR}: the account's daily message limit",
            Reason.COUNTRY_BLOCKED: f"200 30 {LABS_ERROR}: the account may not send to this",
            Reason.DUPLICATE: f"200 30 {LABS_ERROR}: the same text went to this recipient",
            Reason.OPTED_OUT: f"200 30 {LABS_ERROR}: the recipient opted out",
            Reason.INSUFFICIENT_CREDIT: "200 35 The account has no enough credit",
        },
    ),
    Interface(
        "aspsms textsms@",
        _textsms,
        SMTP_WORDS,
    ),
    Interface(
        "aspsms <number>@",
        _numbers,
        SMTP_WORDS,
    ),
    Interface(
        "aspsms xml@",
        _xml,
        ASPSMS_WORDS,
    ),
    Interface(
        "aspsms json",
        _aspsms_json,
        ASPSMS_WORDS,
    ),
    Interface(
        "dashboard send",
        _dashboard,
        {
            Reason.IP_NOT_ALLOWED: "400 requests from this address are not allowed",
            Reason.BATCH_TOO_LARGE: "400 2 recipients; the account allows 1 per request",
            Reason.INVALID_SENDER: "400 sender 'Other': this sender ID is not allowed",
            Reason.DAILY_LIMIT: "400 the account's daily message limit is reached",
            Reason.COUNTRY_BLOCKED: "400 the account may not send to this country",
            Reason.DUPLICATE: "400 the same text went to this recipient",
            Reason.OPTED_OUT: "400 the recipient opted out",
            Reason.INSUFFICIENT_CREDIT: "400 the account's balance does not cover",
        },
    ),
    Interface(
        "cli send",
        _cli,
        {
            Reason.BATCH_TOO_LARGE: "refused batch_too_large",
            Reason.INVALID_SENDER: "refused invalid_sender",
            Reason.DAILY_LIMIT: "refused daily_limit",
            Reason.COUNTRY_BLOCKED: "refused country_blocked",
            Reason.DUPLICATE: "refused duplicate",
            Reason.OPTED_OUT: "refused opted_out",
            Reason.INSUFFICIENT_CREDIT: "refused insufficient_credit",
        },
        operator=True,
    ),
)
