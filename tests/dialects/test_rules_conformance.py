"""The account rules are one decision, made by the submit service, whatever the interface.

Each :class:`RuleCase` sends the same request (recipients, text, sender) under the same
account state through every interface that submits: the native API, smsend, MailUp,
SMSmobileAPI (REST and SOAP), LabsMobile and ASPSMS email (``textsms@``, ``<number>@`` and
``xml@``, real SMTP on loopback), the dashboard's send form and the CLI's ``send``. Every
interface must refuse it for the same rule, each in its own words (:attr:`Interface.words`),
and leave the same rows stored (:attr:`RuleCase.stored`, read from storage).

What is stored follows ``services.submit``: a refusal of the request itself (IP allowlist,
batch limit, sender) or of every recipient stores nothing; a refused recipient among
accepted ones is stored ``rejected`` with the rule's reason.
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
import pytest
from typer.testing import CliRunner

from tests.dashboard.conftest import csrf_of
from tests.dialects.harness import NUMBER, secrets_stay_out_of_logs
from tests.smtp.harness import (
    ASP,
    LABS,
    ORIGINATOR_ADDRESS,
    PASSWORD,
    USERNAME,
    Env,
    email,
    send,
    smtp_gateway,
)
from tests.support import HTTP_TIMEOUT, until
from textgate.cli import app
from textgate.config import Settings
from textgate.core.message import Status
from textgate.core.policy import Reason
from textgate.core.pricing import parse_amount
from textgate.services.query import MessageFilter
from textgate.services.submit import SubmitRequest

FR = NUMBER
FR2 = "+33698765432"
US = "+12015550123"
TEXT = "Your code is 4711"
ACCEPTED = "accepted"


@dataclass(frozen=True)
class RuleCase:
    """One request under one account state, and its one outcome on every interface."""

    rule: str
    to: tuple[str, ...]
    refused: Reason | None
    """The rule that refuses the request whole (None: it is accepted)."""
    stored: tuple[tuple[str, str], ...]
    """Exactly the account's messages afterwards: (recipient, ``accepted`` or the reason of a
    ``rejected`` row); ``before`` sends included."""
    rules: Mapping[str, Any] = field(default_factory=dict)
    credit: str | None = None
    opt_outs: tuple[str, ...] = ()
    before: tuple[str, ...] = ()
    """Numbers the same text went to first (through the submit service)."""
    sender: str | None = None


_SENDER_RULES = {"allowed_senders": ["ACME"], "default_sender": "Other"}
_PRICED = {"price_default": "1"}

CASES: tuple[RuleCase, ...] = (
    RuleCase(
        "ip allowlist",
        (FR,),
        Reason.IP_NOT_ALLOWED,
        (),
        rules={"allowed_ips": ["192.0.2.1"]},
    ),
    RuleCase(
        "batch limit over the whole request",
        (FR, FR2),
        Reason.BATCH_TOO_LARGE,
        (),
        rules={"batch_limit": 1},
    ),
    RuleCase(
        "sender rules",
        (FR,),
        Reason.INVALID_SENDER,
        (),
        rules=_SENDER_RULES,
        sender="Other",
    ),
    RuleCase(
        "daily limit",
        (FR,),
        Reason.DAILY_LIMIT,
        ((FR2, ACCEPTED),),
        rules={"daily_limit": 1},
        before=(FR2,),
    ),
    RuleCase(
        "daily limit, one of two",
        (FR, US),
        None,
        ((FR, ACCEPTED), (FR2, ACCEPTED), (US, "daily_limit")),
        rules={"daily_limit": 2},
        before=(FR2,),
    ),
    RuleCase(
        "country filter",
        (US,),
        Reason.COUNTRY_BLOCKED,
        (),
        rules={"countries_blocked": ["US"]},
    ),
    RuleCase(
        "country filter, one of two",
        (US, FR),
        None,
        ((FR, ACCEPTED), (US, "country_blocked")),
        rules={"countries_blocked": ["US"]},
    ),
    RuleCase(
        "duplicate filter",
        (FR,),
        Reason.DUPLICATE,
        ((FR, ACCEPTED),),
        rules={"dedupe": True},
        before=(FR,),
    ),
    RuleCase(
        "duplicate filter, one of two",
        (FR, FR2),
        None,
        ((FR, ACCEPTED), (FR, "duplicate"), (FR2, ACCEPTED)),
        rules={"dedupe": True},
        before=(FR,),
    ),
    RuleCase(
        "a number given twice is one recipient",
        (FR, FR),
        None,
        ((FR, ACCEPTED),),
    ),
    RuleCase(
        "opt-outs",
        (FR,),
        Reason.OPTED_OUT,
        (),
        opt_outs=(FR,),
    ),
    RuleCase(
        "opt-outs, one of two",
        (FR, FR2),
        None,
        ((FR, "opted_out"), (FR2, ACCEPTED)),
        opt_outs=(FR,),
    ),
    RuleCase("credit", (FR,), Reason.INSUFFICIENT_CREDIT, (), rules=_PRICED),
    RuleCase(
        "credit, one of two",
        (FR, FR2),
        None,
        ((FR, ACCEPTED), (FR2, "insufficient_credit")),
        rules=_PRICED,
        credit="1",
    ),
)


# --- the interfaces ---------------------------------------------------------------------------


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
    env = {
        "TEXTGATE_DATA_DIR": str(w.settings.data_dir),
        "TEXTGATE_DATABASE_URL": w.settings.database_url,
        "TEXTGATE_LOG_LEVEL": "WARNING",
    }
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


_SMTP_POLICY = "554 5.7.1 "

INTERFACES: tuple[Interface, ...] = (
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
        {
            Reason.IP_NOT_ALLOWED: _SMTP_POLICY + "requests from this address are not allowed",
            Reason.BATCH_TOO_LARGE: _SMTP_POLICY + "2 recipients; the account allows 1",
            Reason.INVALID_SENDER: _SMTP_POLICY + "sender 'Other': this sender ID is not allowed",
            Reason.DAILY_LIMIT: _SMTP_POLICY + "the account's daily message limit is reached",
            Reason.COUNTRY_BLOCKED: _SMTP_POLICY + "the account may not send to this country",
            Reason.DUPLICATE: _SMTP_POLICY + "the same text went to this recipient",
            Reason.OPTED_OUT: _SMTP_POLICY + "the recipient opted out",
            Reason.INSUFFICIENT_CREDIT: _SMTP_POLICY + "the account's balance does not cover",
        },
    ),
    Interface(
        "aspsms textsms@",
        _textsms,
        {
            Reason.IP_NOT_ALLOWED: _SMTP_POLICY + "requests from this address are not allowed",
            Reason.BATCH_TOO_LARGE: _SMTP_POLICY + "2 recipients; the account allows 1",
            Reason.INVALID_SENDER: _SMTP_POLICY + "sender 'Other': this sender ID is not allowed",
            Reason.DAILY_LIMIT: _SMTP_POLICY + "the account's daily message limit is reached",
            Reason.COUNTRY_BLOCKED: _SMTP_POLICY + "the account may not send to this country",
            Reason.DUPLICATE: _SMTP_POLICY + "the same text went to this recipient",
            Reason.OPTED_OUT: _SMTP_POLICY + "the recipient opted out",
            Reason.INSUFFICIENT_CREDIT: _SMTP_POLICY + "the account's balance does not cover",
        },
    ),
    Interface(
        "aspsms <number>@",
        _numbers,
        {
            Reason.IP_NOT_ALLOWED: _SMTP_POLICY + "requests from this address are not allowed",
            Reason.BATCH_TOO_LARGE: _SMTP_POLICY + "2 recipients; the account allows 1",
            Reason.INVALID_SENDER: _SMTP_POLICY + "sender 'Other': this sender ID is not allowed",
            Reason.DAILY_LIMIT: _SMTP_POLICY + "the account's daily message limit is reached",
            Reason.COUNTRY_BLOCKED: _SMTP_POLICY + "the account may not send to this country",
            Reason.DUPLICATE: _SMTP_POLICY + "the same text went to this recipient",
            Reason.OPTED_OUT: _SMTP_POLICY + "the recipient opted out",
            Reason.INSUFFICIENT_CREDIT: _SMTP_POLICY + "the account's balance does not cover",
        },
    ),
    Interface(
        "aspsms xml@",
        _xml,
        {
            Reason.IP_NOT_ALLOWED: "25 User access denied: requests from this address",
            Reason.BATCH_TOO_LARGE: "25 User access denied: 2 recipients; the account allows 1",
            Reason.INVALID_SENDER: "10 Invalid originator: sender 'Other'",
            Reason.DAILY_LIMIT: "25 User access denied: the account's daily message limit",
            Reason.COUNTRY_BLOCKED: "25 User access denied: the account may not send to this",
            Reason.DUPLICATE: "25 User access denied: the same text went to this recipient",
            Reason.OPTED_OUT: "25 User access denied: the recipient opted out",
            Reason.INSUFFICIENT_CREDIT: "5 Not enough credits",
        },
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


def _applies(case: RuleCase, interface: Interface) -> bool:
    """Whether the case's request can be made through the interface at all."""
    return interface.several or len(case.to) == 1


PAIRS = [(i, c) for i in INTERFACES for c in CASES if _applies(c, i)]


# --- running a case ---------------------------------------------------------------------------


async def _stored(env: Env) -> list[tuple[str, str]]:
    found = await env.services.messages.search(env.account_id, MessageFilter(), limit=1000)
    return sorted(
        (m.recipient, str(m.error_code) if m.status == Status.REJECTED else ACCEPTED) for m in found
    )


async def _arrange(case: RuleCase, world: World) -> None:
    services = world.env.services
    account_id = world.env.account_id
    if case.credit is not None:
        await services.accounts.credit(account_id, parse_amount(case.credit))
    account = await services.accounts.get(account_id)
    if case.before:
        await services.submit.submit(
            SubmitRequest(account=account, recipients=case.before, text=TEXT, operator=True)
        )
    if case.rules:
        await services.accounts.update_settings(account_id, dict(case.rules))
    if case.opt_outs:
        await services.accounts.add_opt_outs(account, list(case.opt_outs))


@pytest.mark.parametrize(
    ("interface", "case"), PAIRS, ids=[f"{i.name}: {c.rule}" for i, c in PAIRS]
)
async def test_every_interface_decides_a_rule_alike(
    interface: Interface, case: RuleCase, settings: Settings
) -> None:
    async with smtp_gateway(settings) as env:
        world = World(env, settings)
        if interface.prepare is not None:
            await interface.prepare(world)
        await _arrange(case, world)
        refused, stored = case.refused, case.stored
        if interface.operator and refused is Reason.IP_NOT_ALLOWED:
            refused, stored = None, ((FR, ACCEPTED),)
        with secrets_stay_out_of_logs((PASSWORD, env.api_key)):
            words = await interface.send(world, case.to, TEXT, case.sender)
        expected = ACCEPTED if refused is None else interface.words[refused]
        assert words.startswith(expected), f"{words!r} is not {expected!r}"
        assert await _stored(env) == sorted(stored)
