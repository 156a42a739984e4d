"""The email-interface harness: a gateway with its SMTP server on a free loopback port, a
real smtplib client (in a thread, the server shares the test's loop), and a case table
runner that checks the SMTP replies and what was stored, and that no secret reached a log.

The shared conformance cases (``tests/dialects/harness.py``) run here too: a
:class:`MailProfile` says how an email interface carries each of them; and so do bad emails
(:data:`BAD_MAIL`), which every interface refuses for good (5.6.x), not for now (4xx)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import smtplib
import ssl
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from typing import Any

from tests.dialects import harness as shared
from tests.dialects.harness import SHARED_CASES, secrets_stay_out_of_logs
from tests.support import HTTP_TIMEOUT, Running, running_gateway, until
from tests.webhooks.relay import Relay, running_relay
from tests.webhooks.test_webhooks import FAST
from textgate.config import ConnectorSettings, MailSettings, Settings, SmtpSettings
from textgate.core.message import Message, Status
from textgate.services.query import MessageFilter

LABS = "api.labsmobile.com"
ASP = "smtp.aspsms.com"
USERNAME = "ops@acme.example"
PASSWORD = "correct horse battery"
ORIGINATOR_ADDRESS = "c4ca423@client.example"
DEFAULT_ORIGINATOR = "ACME"
GATEWAY_FROM = "gateway@textgate.test"
FINAL = {Status.DELIVERED, Status.UNDELIVERED, Status.FAILED, Status.EXPIRED, Status.REJECTED}


@dataclass
class Env:
    running: Running
    port: int
    relay: Relay
    account_id: str
    api_key: str

    @property
    def services(self) -> Any:
        return self.running.gateway.services

    async def messages(self) -> list[Message]:
        found = await self.services.messages.search(self.account_id, MessageFilter(), limit=1000)
        return sorted(found, key=lambda m: (m.recipient, m.id))

    async def all_final(self, count: int) -> list[Message]:
        async def done() -> bool:
            msgs = await self.messages()
            return len(msgs) == count and all(m.status in FINAL for m in msgs)

        await until(done)
        return await self.messages()


@contextlib.asynccontextmanager
async def smtp_gateway(
    settings: Settings,
    *,
    smtp: Mapping[str, Any] | None = None,
    simulator: Mapping[str, Any] | None = None,
) -> AsyncIterator[Env]:
    """A gateway with the SMTP server on, an account ``acme`` with an API key, a login
    (USERNAME / PASSWORD) and an authorised originator; outbound mail goes to a relay."""
    with running_relay() as relay:
        # Port 0: the server takes a free port when it binds (a port picked beforehand could
        # be taken by another process in between).
        changes: dict[str, Any] = {
            "smtp": SmtpSettings(
                **({"enabled": True, "port": 0, "hostname": "localhost"} | dict(smtp or {}))
            ),
            "webhooks": FAST,
            "mail": MailSettings(
                from_address=GATEWAY_FROM,
                transport="smtp",
                smtp_host="127.0.0.1",
                smtp_port=relay.port,
                poll_seconds=0.05,
                retry_base_seconds=0.05,
                retry_max_seconds=0.3,
                timeout_seconds=HTTP_TIMEOUT,
            ),
        }
        if simulator is not None:
            options = {"report_delay_ms": 50} | dict(simulator)
            changes["connectors"] = [ConnectorSettings(name="sim", options=options)]
        async with running_gateway(settings.model_copy(update=changes)) as running:
            services = running.gateway.services
            account = await services.accounts.create("acme")
            key = (await services.accounts.issue_key(account.id)).token
            await services.credentials.set_login(account.id, USERNAME, PASSWORD)
            await services.originators.add(account.id, ORIGINATOR_ADDRESS, DEFAULT_ORIGINATOR)
            assert running.gateway.smtp is not None
            yield Env(running, running.gateway.smtp.port, relay, account.id, key)


def email(
    *,
    sender: str | None,
    to: Sequence[str],
    subject: str | None,
    text: str | None = None,
    charset: str = "utf-8",
    cte: str | None = None,
    html: str | None = None,
) -> bytes:
    msg = EmailMessage(policy=SMTP_POLICY)
    if sender is not None:
        msg["From"] = sender
    msg["To"] = ", ".join(to)
    if subject is not None:
        msg["Subject"] = subject
    if text is not None:
        msg.set_content(text, charset=charset, cte=cte)
    if html is not None:
        if text is None:
            msg.set_content(html, subtype="html")
        else:
            msg.add_alternative(html, subtype="html")
    return msg.as_bytes()


@dataclass
class Outcome:
    code: int
    text: str
    refused: dict[str, tuple[int, bytes]] = field(default_factory=dict)


def _send(
    port: int,
    mail_from: str,
    rcpt: Sequence[str],
    data: bytes,
    *,
    starttls: bool,
    login: tuple[str, str] | None,
) -> Outcome:
    with smtplib.SMTP("127.0.0.1", port, timeout=HTTP_TIMEOUT) as client:
        client.ehlo("client.example")
        if starttls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            client.starttls(context=context)
            client.ehlo("client.example")
        if login is not None:
            client.login(*login)
        try:
            refused = client.sendmail(mail_from, list(rcpt), data)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            return Outcome(code, text.decode(), dict(exc.recipients))
        except smtplib.SMTPResponseException as exc:
            return Outcome(exc.smtp_code, exc.smtp_error.decode(errors="replace"))
        return Outcome(250, "", dict(refused))


async def send(
    env: Env,
    mail_from: str,
    rcpt: Sequence[str],
    data: bytes,
    *,
    starttls: bool = False,
    login: tuple[str, str] | None = None,
) -> Outcome:
    return await asyncio.to_thread(
        _send, env.port, mail_from, rcpt, data, starttls=starttls, login=login
    )


@dataclass(frozen=True)
class Stored:
    to: str
    text: str | None = None
    sender: str | None = None
    status: Status | None = Status.DELIVERED
    encoding: str | None = None
    segments: int | None = None


@dataclass(frozen=True)
class MailCase:
    label: str
    mail_from: str
    rcpt: tuple[str, ...]
    build: Callable[[Env], bytes]
    expect_code: int = 250
    expect_text: str = ""
    expect_refused: tuple[str, ...] = ()
    """Recipients refused at RCPT (the others accepted)."""
    expect_stored: tuple[Stored, ...] = ()
    starttls: bool = False
    quiet: bool = False
    """Nothing is logged at ERROR or above while the case runs (an unforeseen failure is)."""


async def run_case(case: MailCase, env: Env) -> None:
    """Run ``case``; neither the login's password nor the API key may reach a log record."""
    with secrets_stay_out_of_logs((PASSWORD, env.api_key)) as records:
        await _run(case, env)
    if case.quiet:
        loud = [f"{r.name}: {r.getMessage()[:200]}" for r in records if r.levelno >= logging.ERROR]
        assert not loud, loud


async def _run(case: MailCase, env: Env) -> None:
    out = await send(env, case.mail_from, case.rcpt, case.build(env), starttls=case.starttls)
    assert out.code == case.expect_code, f"{out.code} {out.text}"
    assert case.expect_text in out.text, out.text
    assert sorted(out.refused) == sorted(case.expect_refused), out.refused
    if not case.expect_stored:
        assert await env.messages() == []
        return
    msgs = await env.all_final(len(case.expect_stored))
    assert len(msgs) == len(case.expect_stored)
    for want, got in zip(sorted(case.expect_stored, key=lambda s: s.to), msgs, strict=True):
        assert got.recipient == want.to
        if want.text is not None:
            assert got.text == want.text
        if want.sender is not None:
            assert got.sender == want.sender
        if want.status is not None:
            assert got.status == want.status, (got.status, got.reason)
        if want.encoding is not None:
            assert got.encoding == want.encoding
        if want.segments is not None:
            assert got.segments == want.segments


# --- the shared conformance cases over email -----------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """How an email interface refuses: the SMTP reply, and whether at RCPT (the recipients
    refused) or after the message."""

    code: int
    text: str
    at_rcpt: bool = False


@dataclass(frozen=True)
class MailProfile:
    name: str
    mail_from: Callable[[bool], str]
    """The envelope sender, with right (True) or wrong credentials."""
    rcpt: Callable[[tuple[str, ...]], tuple[str, ...]]
    """The envelope recipients for these phone numbers."""
    message: Callable[[Env, tuple[str, ...], str, bool], bytes]
    """The email sending ``text`` to the numbers, with right or wrong credentials."""
    refusals: Mapping[shared.Outcome, Refusal]
    """How each refusal of the shared table looks; one that is missing cannot be asked by
    email (no RCPT means no email), so it is not one of the interface's cases."""


def conformance(p: MailProfile) -> list[MailCase]:
    """The shared cases, as emails to this interface. None of the email interfaces looks a
    status up, so the lookup case is not among them."""
    cases = []
    for case in SHARED_CASES:
        if case.look_up:
            continue
        rcpt = p.rcpt(case.to)
        if not rcpt:
            continue
        expect: dict[str, Any] = {}
        if case.outcome is shared.Outcome.ACCEPTED:
            expect["expect_stored"] = tuple(_stored(s) for s in case.stored)
        else:
            refusal = p.refusals.get(case.outcome)
            if refusal is None:
                continue
            expect["expect_code"] = refusal.code
            expect["expect_text"] = refusal.text
            expect["expect_refused"] = rcpt if refusal.at_rcpt else ()

        def build(env: Env, case: shared.SharedCase = case) -> bytes:
            return p.message(env, case.to, case.text, case.credentials)

        cases.append(
            MailCase(f"{p.name}: {case.name}", p.mail_from(case.credentials), rcpt, build, **expect)
        )
    return cases


def _stored(want: shared.Stored) -> Stored:
    assert want.status is None, "an email case waits for its messages to be delivered"
    return Stored(
        want.to, text=want.text, sender=want.sender, encoding=want.encoding, segments=want.segments
    )


# --- bad emails ------------------------------------------------------------------------------

_MIME_DEPTH = 2000


def _nested(depth: int) -> bytes:
    """A text part inside ``depth`` nested multipart/mixed parts."""
    opening = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(depth)
    )
    closing = b"".join(b"\r\n--b%d--\r\n" % i for i in reversed(range(depth)))
    return opening + b"Content-Type: text/plain\r\n\r\nhello" + closing


def _multipart(*parts: bytes) -> bytes:
    inner = b"".join(b"--p\r\n" + part + b"\r\n" for part in parts)
    return b'Content-Type: multipart/mixed; boundary="p"\r\n\r\n' + inner + b"--p--\r\n"


@dataclass(frozen=True)
class BadMail:
    name: str
    content: bytes
    """The email's content headers and body (the interface's own headers come first)."""
    status: str
    """The enhanced status of the refusal (RFC 3463)."""


# HTML-only mail is not here: what it gets differs by provider (LabsMobile reads it as text,
# ASPSMS takes plain text only), so each provider's own cases say it.
BAD_MAIL: tuple[BadMail, ...] = (
    BadMail(f"parts nested {_MIME_DEPTH:,} deep", _nested(_MIME_DEPTH), "5.6.1"),
    BadMail(
        "text that is not the UTF-8 it says it is",
        b"Content-Type: text/plain; charset=utf-8\r\n\r\ncaf\xe9 \xff\xfe\r\n",
        "5.6.3",
    ),
    BadMail(
        "an unknown charset",
        b"Content-Type: text/plain; charset=x-klingon\r\n\r\nhello\r\n",
        "5.6.3",
    ),
    BadMail(
        "broken base64",
        b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!###\r\n",
        "5.6.1",
    ),
    BadMail(
        "an unknown transfer encoding",
        b"Content-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nhi\r\n",
        "5.6.1",
    ),
    BadMail(
        "an attachment",
        _multipart(
            b"Content-Type: text/plain\r\n\r\nhello",
            b"Content-Type: application/octet-stream\r\n"
            b"Content-Disposition: attachment\r\n\r\n\x00\x01",
        ),
        "5.6.1",
    ),
    BadMail("no text part", _multipart(), "5.6.1"),
    BadMail(
        "too many parts",
        _multipart(*(b"Content-Type: text/plain\r\n\r\nhi" for _ in range(50))),
        "5.6.1",
    ),
    BadMail("control characters", b"Content-Type: text/plain\r\n\r\nhi\x07\x1b[2J\r\n", "5.6.0"),
)

# The headers an interface's own email has that say what its content is.
_CONTENT_HEADER = re.compile(rb"^(content-[a-z-]+|mime-version):", re.IGNORECASE)


def malformed(p: MailProfile) -> list[MailCase]:
    """Each bad email, with the headers the interface needs (its credentials), sent with
    its envelope: refused with a 5xx and the email's enhanced status, nothing stored."""
    rcpt = p.rcpt((shared.NUMBER,))
    cases = []
    for bad in BAD_MAIL:

        def build(env: Env, bad: BadMail = bad) -> bytes:
            good = p.message(env, (shared.NUMBER,), "hello", True)
            head = good.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
            kept = [line for line in head if not _CONTENT_HEADER.match(line)]
            return b"\r\n".join([*kept, b"MIME-Version: 1.0", bad.content])

        cases.append(
            MailCase(
                f"{p.name}: {bad.name}",
                p.mail_from(True),
                rcpt,
                build,
                expect_code=554,
                expect_text=bad.status,
                quiet=True,
            )
        )
    return cases
