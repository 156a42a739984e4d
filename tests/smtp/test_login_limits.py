"""Failed logins on the SMTP server, through real sockets from two client addresses (the
client bound to 127.0.0.2 and 127.0.0.3): SMTP AUTH, ASPSMS ``textsms@`` and ``xml@``
credentials, and guesses of an authorised sender address for ``<00number>@`` (checked at
DATA, where the From header is known).
Address A fails 50 times and is refused from then on with a temporary reply (4xx, or the
XML reply's "temporarily not available"), even with the right credentials; the owner
still gets through from address B."""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import smtplib
import ssl
from collections import Counter
from collections.abc import Callable
from email import message_from_bytes, policy

import pytest

from tests.smtp.harness import (
    ASP,
    ORIGINATOR_ADDRESS,
    PASSWORD,
    USERNAME,
    Env,
    email,
    smtp_gateway,
)
from tests.support import HTTP_TIMEOUT, until
from textgate.config import Settings
from textgate.core.login_limits import LoginBudget

A = "127.0.0.2"
B = "127.0.0.3"
FAILURES = 50
BUDGET = LoginBudget()
NUMBER_ADDRESS = f"0041790000000@{ASP}"
XML_CLIENT = "app@client.example"
# ASPSMS XML reply codes: 1 ok, 3 authorization failed, 24 temporarily unavailable.
XML_OK, XML_DENIED, XML_UNAVAILABLE = "1", "3", "24"


def _client(port: int, source: str) -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", port, timeout=HTTP_TIMEOUT, source_address=(source, 0))
    client.ehlo("client.example")
    return client


def _auth(port: int, source: str, user: str, password: str) -> str:
    with _client(port, source) as client:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        client.starttls(context=context)
        client.ehlo("client.example")
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        code, text = client.docmd("AUTH", f"PLAIN {token}")
    if code == 235:
        return "ok"
    if code == 535:
        return "wrong"
    assert (code, text[:5]) == (451, b"4.7.1"), (code, text)
    return "limited"


def _textsms(port: int, source: str, user_key: str, password: str) -> str:
    subject = f"UserKey={user_key},Password={password},Recipient=0041795555555"
    data = email(sender="client@client.example", to=[f"textsms@{ASP}"], subject=subject, text="hi")
    with _client(port, source) as client:
        try:
            client.sendmail("client@client.example", [f"textsms@{ASP}"], data)
        except smtplib.SMTPDataError as exc:
            text = exc.smtp_error.decode()
            if exc.smtp_code == 554 and "wrong user key or password" in text:
                return "wrong"
            assert exc.smtp_code == 451 and text.startswith("4.7.1 too many failed"), text
            return "limited"
    return "ok"


def _numbers_mail(port: int, source: str, sender: str) -> str:
    """An email to ``<00number>@`` whose envelope sender and From are ``sender``."""
    data = email(sender=sender, to=[NUMBER_ADDRESS], subject=None, text="hi")
    with _client(port, source) as client:
        try:
            client.sendmail(sender, [NUMBER_ADDRESS], data)
        except smtplib.SMTPDataError as exc:
            text = exc.smtp_error
            if exc.smtp_code == 554:
                assert b"not an authorised SMTP originator" in text, text
                return "wrong"
            assert exc.smtp_code == 451, text
            assert text.startswith(b"4.7.1 too many failed logins from this address"), text
            return "limited"
    return "ok"


def _xml(port: int, source: str, user_key: str, password: str) -> None:
    body = (
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n<aspsms>\n'
        f"  <Userkey>{user_key}</Userkey>\n  <Password>{password}</Password>\n"
        "  <Recipient><PhoneNumber>0041790000001</PhoneNumber></Recipient>\n"
        "  <MessageData>hi</MessageData>\n  <Action>SendTextSMS</Action>\n</aspsms>\n"
    )
    data = email(sender=XML_CLIENT, to=[f"xml@{ASP}"], subject=None, text=body)
    with _client(port, source) as client:
        # Taken either way: the verdict is in the XML reply mailed back.
        assert client.sendmail(XML_CLIENT, [f"xml@{ASP}"], data) == {}


async def _xml_replies(env: Env, count: int) -> Counter[str]:
    """The ASPSMS error codes of the first ``count`` XML replies mailed back."""
    await until(lambda: len(env.relay.received) >= count)
    codes: Counter[str] = Counter()
    for got in env.relay.received:
        parsed = message_from_bytes(got.data, policy=policy.default)
        text = parsed.get_body(("plain",))
        assert text is not None
        found = re.search(r"<ErrorCode>(\d+)</ErrorCode>", str(text.get_content()))
        assert found is not None
        codes[found.group(1)] += 1
    return codes


async def _attempts(call: Callable[[int], str], count: int) -> list[str]:
    return [await asyncio.to_thread(call, i) for i in range(count)]


async def test_smtp_auth(settings: Settings) -> None:
    async with smtp_gateway(settings) as env:
        answers = await _attempts(lambda i: _auth(env.port, A, USERNAME, f"guess-{i}"), FAILURES)
        checked = BUDGET.per_login
        assert answers == ["wrong"] * checked + ["limited"] * (FAILURES - checked)
        assert await asyncio.to_thread(_auth, env.port, B, USERNAME, PASSWORD) == "ok"
        assert await asyncio.to_thread(_auth, env.port, A, USERNAME, PASSWORD) == "limited"


async def test_aspsms_textsms_credentials(settings: Settings) -> None:
    async with smtp_gateway(settings) as env:
        # Failures named by the account id count against its username too.
        answers = await _attempts(
            lambda i: _textsms(env.port, A, env.account_id, f"guess-{i}"), FAILURES
        )
        checked = BUDGET.per_login
        assert answers == ["wrong"] * checked + ["limited"] * (FAILURES - checked)
        assert await asyncio.to_thread(_textsms, env.port, A, USERNAME, PASSWORD) == "limited"
        assert await env.messages() == []
        assert await asyncio.to_thread(_textsms, env.port, B, env.account_id, PASSWORD) == "ok"
        [sent] = await env.all_final(1)
        assert sent.recipient == "+41795555555"


async def test_aspsms_xml_credentials(settings: Settings) -> None:
    async with smtp_gateway(settings) as env:
        await _attempts(lambda i: _xml(env.port, A, env.account_id, f"guess-{i}"), FAILURES)
        checked = BUDGET.per_login
        assert await _xml_replies(env, FAILURES) == {
            XML_DENIED: checked,
            XML_UNAVAILABLE: FAILURES - checked,
        }
        await asyncio.to_thread(_xml, env.port, A, env.account_id, PASSWORD)
        replies = await _xml_replies(env, FAILURES + 1)
        assert replies[XML_UNAVAILABLE] == FAILURES - checked + 1
        await asyncio.to_thread(_xml, env.port, B, env.account_id, PASSWORD)
        assert (await _xml_replies(env, FAILURES + 2))[XML_OK] == 1
        [sent] = await env.all_final(1)
        assert sent.recipient == "+41790000001"


async def test_guessing_authorised_senders_is_deferred(settings: Settings) -> None:
    async with smtp_gateway(settings) as env:
        per_address = BUDGET.per_address
        answers = await _attempts(
            lambda i: _numbers_mail(env.port, A, f"guess{i}@client.example"), per_address + 5
        )
        assert answers == ["wrong"] * per_address + ["limited"] * 5
        # The address that guessed gets a temporary refusal even for the real sender; the
        # real sender elsewhere is accepted.
        assert await asyncio.to_thread(_numbers_mail, env.port, A, ORIGINATOR_ADDRESS) == "limited"
        assert await asyncio.to_thread(_numbers_mail, env.port, B, ORIGINATOR_ADDRESS) == "ok"
        # The guesses also count against A's logins (one budget per address).
        assert await asyncio.to_thread(_auth, env.port, A, USERNAME, PASSWORD) == "limited"
        assert await asyncio.to_thread(_auth, env.port, B, USERNAME, PASSWORD) == "ok"


async def test_one_count_for_smtp_auth_and_textsms(settings: Settings) -> None:
    """The same username's failures from one address add up across both email logins."""
    async with smtp_gateway(settings) as env:

        def fail(i: int) -> str:
            if i % 2:
                return _auth(env.port, A, USERNAME, f"guess-{i}")
            return _textsms(env.port, A, USERNAME, f"guess-{i}")

        answers = await _attempts(fail, BUDGET.per_login)
        assert answers == ["wrong"] * BUDGET.per_login
        assert await asyncio.to_thread(_auth, env.port, A, USERNAME, PASSWORD) == "limited"
        assert await asyncio.to_thread(_textsms, env.port, A, USERNAME, PASSWORD) == "limited"


async def test_a_successful_login_logs_no_warning(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """aiosmtpd warns of its own deprecated attribute at every successful AUTH; the
    operator's log must not fill with it."""
    caplog.set_level(logging.INFO)
    async with smtp_gateway(settings) as env:
        assert await asyncio.to_thread(_auth, env.port, A, USERNAME, PASSWORD) == "ok"
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [w for w in warnings if "login_data" in w], warnings
