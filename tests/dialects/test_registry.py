"""The dialect registry: the ``dialects`` setting decides which interfaces the server speaks.

Each row probes one dialect with a request only that dialect answers (none of them needs
credentials to get its own answer). A server started without one dialect answers its probe
404, the framework's own, while every other probe gets its dialect's answer. The email
dialects are probed over SMTP: without one, its address is refused like any unknown one,
while mail to the other is stored.
"""

from __future__ import annotations

import asyncio
import re
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage

import pytest
from pydantic import SecretStr

from tests.dialects.harness import stored_messages
from tests.support import HTTP_TIMEOUT, Running, running_gateway
from textgate.app import create_app
from textgate.config import Settings, SmtpSettings
from textgate.dialects.registry import DIALECTS, address_handlers

NUMBER = "+33612345678"
ALL = [d.name for d in DIALECTS]
HTTP = [d.name for d in DIALECTS if d.routers or d.configured_routers]


@dataclass(frozen=True)
class Probe:
    dialect: str
    method: str
    path: str
    answer: int
    """The status the dialect gives this request (never 404)."""


PROBES = [
    Probe("native", "GET", "/v1/account", 401),
    Probe("android", "GET", "/mobile/v1/device", 200),
    Probe("admin", "GET", "/v1/admin/accounts/acme", 401),
    Probe("smsend", "GET", "/API/v1.0/REST/login", 401),
    Probe("smsmobileapi", "GET", "/sendsms/", 401),
    Probe("twilio", "GET", "/2010-04-01/Accounts/AC0/Messages.json", 401),
    Probe("smsgate", "GET", "/3rdparty/v1/devices", 401),
    # LabsMobile refuses missing credentials with 401, its code in a JSON body.
    Probe("labsmobile", "GET", "/json/balance", 401),
    # ASPSMS answers every request 200, its status in the body.
    Probe("aspsms", "POST", "/CheckCredits", 200),
    # MailUp answers unknown methods under its prefix in its own format.
    Probe("mailup", "GET", "/api/v2.0/nothing", 400),
    Probe("mailup", "POST", "/API/v2.0/messages/SendMessage", 403),
]


def _without(settings: Settings, name: str) -> Settings:
    # An admin token, so that the admin API exists when enabled (it answers 404 without one).
    return settings.model_copy(
        update={"dialects": [n for n in ALL if n != name], "admin_token": SecretStr("t" * 32)}
    )


async def _answer(running: Running, probe: Probe) -> int:
    body = b"{}" if probe.method == "POST" else None
    r = await running.client.request(probe.method, probe.path, content=body)
    return r.status_code


@dataclass(frozen=True)
class MailProbe:
    dialect: str
    address: str
    subject: str
    """Built from the account's login username and password and its API key."""
    interface: str
    """The interface its message is stored under."""


USERNAME = "ops@acme.example"
PASSWORD = "correct horse battery"
MAIL_PROBES = [
    # LabsMobile MailSMS: From is the login username, Subject an API key.
    MailProbe("labsmobile", "33612345678@api.labsmobile.com", "{key}", "labsmobile-mail"),
    MailProbe(
        "aspsms",
        "textsms@smtp.aspsms.com",
        "UserKey={username},Password={password},Recipient=0033612345678",
        "aspsms-smtp",
    ),
]


def test_every_dialect_has_a_probe() -> None:
    assert {p.dialect for p in PROBES} | {p.dialect for p in MAIL_PROBES} == set(ALL)
    assert {p.dialect for p in PROBES} == set(HTTP)


@pytest.mark.parametrize("disabled", HTTP)
async def test_a_disabled_dialect_is_gone_and_the_others_answer(
    disabled: str, settings: Settings
) -> None:
    async with running_gateway(_without(settings, disabled)) as running:
        answers = {p: await _answer(running, p) for p in PROBES}
        spec = (await running.client.get("/openapi.json")).json()
    assert answers == {p: 404 if p.dialect == disabled else p.answer for p in PROBES}
    tags = {t["name"] for t in spec["tags"]}
    assert tags == {d.openapi_tag for d in DIALECTS if d.name != disabled and d.openapi_tag}


async def _native_submit(running: Running) -> tuple[str, str, int]:
    """Account id, API key, and the status of a native submit with that key."""
    accounts = running.gateway.services.accounts
    account = await accounts.create("acme")
    key = (await accounts.issue_key(account.id)).token
    r = await running.client.post(
        "/v1/messages",
        json={"to": NUMBER, "text": "hello"},
        headers={"Authorization": f"Bearer {key}"},
    )
    return account.id, key, r.status_code


async def test_native_submit_stores_with_another_dialect_off(settings: Settings) -> None:
    async with running_gateway(_without(settings, "smsend")) as running:
        account_id, _, status = await _native_submit(running)
        assert status == 202
        stored = await stored_messages(running, account_id)
    assert [(m.recipient, m.text, m.interface) for m in stored] == [(NUMBER, "hello", "native")]


async def test_without_native_the_submit_fast_path_is_off(settings: Settings) -> None:
    async with running_gateway(_without(settings, "native")) as running:
        account_id, key, status = await _native_submit(running)
        assert status == 404
        assert await stored_messages(running, account_id) == []
        # Another dialect still submits through the same services.
        sent = await running.client.post(
            "/sendsms/", params={"apikey": key, "recipients": NUMBER, "message": "hi"}
        )
        assert sent.status_code == 200, sent.text
        stored = await stored_messages(running, account_id)
    assert [(m.recipient, m.text) for m in stored] == [(NUMBER, "hi")]


def test_an_unknown_dialect_is_refused(settings: Settings) -> None:
    with pytest.raises(ValueError, match="unknown 'smpp'"):
        create_app(settings.model_copy(update={"dialects": ["native", "smpp"]}))


def _mail(port: int, probe: MailProbe, key: str) -> tuple[int, str]:
    """The SMTP reply to one email to the probe's address: RCPT's if it refused the
    recipient, else DATA's."""
    msg = EmailMessage()
    msg["From"] = USERNAME
    msg["To"] = probe.address
    msg["Subject"] = probe.subject.format(key=key, username=USERNAME, password=PASSWORD)
    msg.set_content(f"hello from {probe.dialect}")
    with smtplib.SMTP("127.0.0.1", port, timeout=HTTP_TIMEOUT) as client:
        try:
            client.sendmail(USERNAME, [probe.address], msg.as_bytes())
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = exc.recipients[probe.address]
            return code, text.decode()
    return 250, ""


@pytest.mark.parametrize("disabled", [p.dialect for p in MAIL_PROBES])
async def test_a_disabled_email_dialect_refuses_its_addresses(
    disabled: str, settings: Settings
) -> None:
    smtp = SmtpSettings(enabled=True, port=0, starttls=False)
    changes = {"dialects": [n for n in ALL if n != disabled], "smtp": smtp}
    async with running_gateway(settings.model_copy(update=changes)) as running:
        services = running.gateway.services
        account = await services.accounts.create("acme")
        key = (await services.accounts.issue_key(account.id)).token
        await services.credentials.set_login(account.id, USERNAME, PASSWORD)
        assert running.gateway.smtp is not None
        port = running.gateway.smtp.port
        replies = {p.dialect: await asyncio.to_thread(_mail, port, p, key) for p in MAIL_PROBES}
        stored = await stored_messages(running, account.id)
    (gone,) = (p for p in MAIL_PROBES if p.dialect == disabled)
    (other,) = (p for p in MAIL_PROBES if p.dialect != disabled)
    domain = gone.address.partition("@")[2]
    # The same refusal as for a domain no dialect serves.
    assert replies[disabled] == (550, f"5.1.2 mail for {domain!r} is not accepted here")
    assert replies[other.dialect] == (250, "")
    assert [(m.recipient, m.text, m.interface) for m in stored] == [
        (NUMBER, f"hello from {other.dialect}", other.interface)
    ]


def test_a_domain_claimed_by_two_dialects_is_refused(settings: Settings) -> None:
    smtp = SmtpSettings(labsmobile_domains=["sms.example"], aspsms_domains=["SMS.example."])
    claimed = re.escape("'SMS.example.' is claimed by both labsmobile and aspsms")
    with pytest.raises(ValueError, match=claimed):
        address_handlers(DIALECTS, settings.model_copy(update={"smtp": smtp}))


def test_each_email_dialect_serves_its_configured_domains(settings: Settings) -> None:
    smtp = SmtpSettings(labsmobile_domains=["l.example"], aspsms_domains=["a.example", "b.example"])
    handlers = address_handlers(DIALECTS, settings.model_copy(update={"smtp": smtp}))
    assert [list(h.domains) for h in handlers] == [["l.example"], ["a.example", "b.example"]]
