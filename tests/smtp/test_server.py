"""The SMTP server itself: STARTTLS, AUTH, size limit, malformed input and random emails
never stop it, and the originator CLI."""

from __future__ import annotations

import asyncio
import logging
import random
import smtplib
import ssl
from pathlib import Path

import pytest
from typer.testing import CliRunner

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
from tests.support import HTTP_TIMEOUT, WAIT
from textgate.cli import app
from textgate.config import Settings
from textgate.core.message import Status

TO = f"0041790000000@{ASP}"


def _no_verify() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _ehlo_features(port: int, *, tls: bool) -> tuple[dict[str, str], str]:
    with smtplib.SMTP("127.0.0.1", port, timeout=HTTP_TIMEOUT) as client:
        client.ehlo("client.example")
        if tls:
            client.starttls(context=_no_verify())
            client.ehlo("client.example")
            assert isinstance(client.sock, ssl.SSLSocket)
            cipher = client.sock.version() or ""
        else:
            cipher = ""
        return dict(client.esmtp_features), cipher


async def _works(env: Env) -> None:
    """The server still takes a good email (after whatever a test threw at it)."""
    before = len(await env.messages())
    data = email(sender=ORIGINATOR_ADDRESS, to=[TO], subject=None, text="still here")
    out = await send(env, ORIGINATOR_ADDRESS, [TO], data)
    assert out.code == 250, out.text
    assert len(await env.messages()) == before + 1


async def test_starttls_with_the_development_certificate(
    settings: Settings, tmp_path: Path
) -> None:
    async with smtp_gateway(settings) as env:
        features, _ = await asyncio.to_thread(_ehlo_features, env.port, tls=False)
        assert "starttls" in features
        assert "auth" not in features  # passwords only over TLS
        assert int(features["size"]) == 1024 * 1024
        features, version = await asyncio.to_thread(_ehlo_features, env.port, tls=True)
        assert version.startswith("TLS")
        assert "starttls" not in features and "PLAIN" in features["auth"]
        out = await send(
            env,
            ORIGINATOR_ADDRESS,
            [TO],
            email(sender=ORIGINATOR_ADDRESS, to=[TO], subject=None, text="over TLS"),
            starttls=True,
        )
        assert out.code == 250, out.text
        [msg] = await env.all_final(1)
        assert msg.status == Status.DELIVERED and msg.text == "over TLS"
    cert = tmp_path / "smtp" / "dev-cert.pem"
    assert cert.exists() and (tmp_path / "smtp" / "dev-key.pem").stat().st_mode & 0o077 == 0


async def test_auth_required(settings: Settings) -> None:
    async with smtp_gateway(settings, smtp={"auth_required": True}) as env:
        data = email(sender=ORIGINATOR_ADDRESS, to=[TO], subject=None, text="hi")
        out = await send(env, ORIGINATOR_ADDRESS, [TO], data, starttls=True)
        assert out.code == 530, out.text
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            await send(env, ORIGINATOR_ADDRESS, [TO], data, starttls=True, login=(USERNAME, "nope"))
        assert refused.value.smtp_code == 535
        assert await env.messages() == []
        out = await send(
            env, ORIGINATOR_ADDRESS, [TO], data, starttls=True, login=(USERNAME, PASSWORD)
        )
        assert out.code == 250, out.text
        assert len(await env.all_final(1)) == 1


def _auth_login(port: int) -> int:
    with smtplib.SMTP("127.0.0.1", port, timeout=HTTP_TIMEOUT) as client:
        client.ehlo("client.example")
        client.starttls(context=_no_verify())
        client.ehlo("client.example")
        client.user, client.password = USERNAME, PASSWORD
        code, _ = client.auth("LOGIN", client.auth_login, initial_response_ok=False)
        return code


async def test_auth_login_mechanism(settings: Settings) -> None:
    async with smtp_gateway(settings, smtp={"auth_required": True}) as env:
        assert await asyncio.to_thread(_auth_login, env.port) == 235


async def test_ten_megabytes_are_refused_and_the_server_goes_on(settings: Settings) -> None:
    async with smtp_gateway(settings) as env:
        big = email(sender=ORIGINATOR_ADDRESS, to=[TO], subject=None, text="x" * 900 + "\n")
        big = big + (b"y" * 998 + b"\r\n") * (10 * 1024 * 1024 // 1000)
        out = await send(env, ORIGINATOR_ADDRESS, [TO], big)
        assert out.code == 552, out.text
        assert await env.messages() == []
        await _works(env)


MALFORMED = [
    ("binary garbage", b"\r\n".join([bytes(range(14, 256))] * 40), 554),
    ("binary garbage with overlong lines", bytes(range(14, 256)) * 40, 500),
    ("no header separator", b"this is not an email at all\r\njust text", 554),
    (
        "broken multipart",
        b"From: a@b.example\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="zz"\r\n\r\n--zz\r\nContent-Type: text/plain\r\n'
        b"\r\nhello\r\n--zz\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"iVBORw0KGgo=\r\n",
        554,
    ),
    (
        "huge subject",
        b"From: a@b.example\r\nSubject: " + b"Sss \r\n " * 1000 + b"\r\n\r\nbody\r\n",
        554,
    ),
    (
        "unknown charset",
        b"From: a@b.example\r\nContent-Type: text/plain; charset=x-klingon\r\n\r\nbody\r\n",
        554,
    ),
    (
        "broken base64",
        b"From: a@b.example\r\nContent-Type: text/plain\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n!!!not-base64###\r\n",
        554,
    ),
    (
        "unknown transfer encoding",
        b"From: a@b.example\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode"
        b"\r\n\r\nbody\r\n",
        554,
    ),
    ("empty body", b"From: a@b.example\r\nSubject: x\r\n\r\n", 554),
]


@pytest.mark.parametrize(
    ("data", "code"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
async def test_malformed_email(data: bytes, code: int, settings: Settings) -> None:
    async with smtp_gateway(settings) as env:
        out = await send(env, ORIGINATOR_ADDRESS, [TO], data)
        assert out.code == code, out.text
        assert await env.messages() == []
        await _works(env)


def _random_email(rng: random.Random) -> bytes:
    parts = [
        b"From: " + rng.choice([ORIGINATOR_ADDRESS.encode(), b"", b"\xff\xfe", b"<>"]),
        b"Subject: " + bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300))),
        rng.choice(
            [
                b"Content-Type: text/plain; charset=" + rng.choice([b"utf-8", b"latin1", b"?"]),
                b"Content-Type: multipart/alternative; boundary=" + rng.choice([b"", b"b"]),
                b"Content-Type: text/html",
                b"Content-Transfer-Encoding: " + rng.choice([b"base64", b"quoted-printable"]),
            ]
        ),
    ]
    rng.shuffle(parts)
    body = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 4000)))
    raw = b"\r\n".join(parts) + b"\r\n\r\n" + body
    # SMTP lines are at most 1000 octets; the rest is the client's business.
    return b"\r\n".join(raw[i : i + 900] for i in range(0, len(raw), 900))


async def test_random_emails_never_stop_the_server(settings: Settings) -> None:
    rng = random.Random(20261122)
    async with smtp_gateway(settings) as env:
        for _ in range(60):
            rcpt = rng.choice([[TO], [f"textsms@{ASP}"], [f"xml@{ASP}"], [f"12015550123@{LABS}"]])
            out = await send(env, ORIGINATOR_ADDRESS, rcpt, _random_email(rng))
            # Random input is refused for a reason (5xx), never an internal error (451).
            assert out.code in (250, 550, 552, 553, 554), (out.code, out.text)
        await _works(env)


def test_cli_manages_authorised_originators(db_url: str, tmp_path: Path) -> None:
    env = {
        "TEXTGATE_DATA_DIR": str(tmp_path),
        "TEXTGATE_DATABASE_URL": db_url,
        "TEXTGATE_LOG_LEVEL": "WARNING",
    }
    runner = CliRunner()
    assert runner.invoke(app, ["account", "create", "shop"], env=env).exit_code == 0
    added = runner.invoke(
        app,
        ["account", "smtp-originator", "shop", "Box@Client.example", "-o", "+41760000000"],
        env=env,
    )
    assert added.exit_code == 0, added.output
    # Listed masked: the address is the credential, stored only as a keyed digest.
    assert added.stdout.strip() == "b***@client.example\t+41760000000"
    again = runner.invoke(
        app, ["account", "smtp-originator", "shop", "box@client.example"], env=env
    )
    assert again.exit_code == 1 and "already" in again.output
    bad = runner.invoke(
        app, ["account", "smtp-originator", "shop", "x@y.example", "-o", "TOOLONGSENDER"], env=env
    )
    assert bad.exit_code == 1 and "too long" in bad.output
    removed = runner.invoke(
        app, ["account", "smtp-originator", "shop", "box@client.example", "--remove"], env=env
    )
    assert removed.exit_code == 0 and removed.stdout.strip() == ""


async def test_configured_domains(settings: Settings) -> None:
    domains = {
        "labsmobile_domains": ["sms.example.com"],
        "aspsms_domains": ["a.example", "b.example"],
    }
    async with smtp_gateway(settings, smtp=domains) as env:
        old = f"34609033162@{LABS}"
        data = email(sender=USERNAME, to=[old], subject=env.api_key, text="hi")
        out = await send(env, "x@client.example", [old], data)
        assert out.code == 550 and "is not accepted here" in out.text
        new = "34609033162@SMS.Example.COM"
        data = email(sender=USERNAME, to=[new], subject=env.api_key, text="hi")
        assert (await send(env, "x@client.example", [new], data)).code == 250
        for domain in ("a.example", "b.example"):
            to = f"0041790000000@{domain}"
            data = email(sender=ORIGINATOR_ADDRESS, to=[to], subject=None, text=domain)
            assert (await send(env, ORIGINATOR_ADDRESS, [to], data)).code == 250
        msgs = await env.all_final(3)
        assert sorted(m.text for m in msgs) == ["a.example", "b.example", "hi"]
        assert all(m.status == Status.DELIVERED for m in msgs)


async def test_batch_limit_refuses_the_email(settings: Settings) -> None:
    async with smtp_gateway(settings) as env:
        await env.services.accounts.update_settings(env.account_id, {"batch_limit": 2})
        rcpt = [f"3460903316{i}@{LABS}" for i in range(3)]
        data = email(sender=USERNAME, to=rcpt, subject=env.api_key, text="hi")
        out = await send(env, "x@client.example", rcpt, data)
        assert out.code == 554 and "allows 2 per request" in out.text, out.text
        assert await env.messages() == []


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


async def test_credentials_are_not_logged(settings: Settings) -> None:
    root = logging.getLogger()
    records, level = _Records(), root.level
    root.addHandler(records)
    # INFO, the level a gateway logs at (third-party DEBUG output echoes SQL parameters).
    root.setLevel(logging.INFO)
    try:
        async with smtp_gateway(settings) as env:
            textsms = f"textsms@{ASP}"
            subject = f"U={env.account_id},P={PASSWORD},R=0041795555555"
            data = email(sender="c@client.example", to=[textsms], subject=subject, text="hi")
            assert (await send(env, "c@client.example", [textsms], data)).code == 250
            data = email(sender=ORIGINATOR_ADDRESS, to=[TO], subject=None, text="hi")
            assert (await send(env, ORIGINATOR_ADDRESS, [TO], data)).code == 250
            await env.all_final(2)
    finally:
        root.removeHandler(records)
        root.setLevel(level)
    assert any("SMTP server listening" in line for line in records.lines)
    logged = "\n".join(records.lines)
    assert PASSWORD not in logged and ORIGINATOR_ADDRESS not in logged


async def test_stopping_closes_idle_connections(settings: Settings) -> None:
    loop = asyncio.get_running_loop()
    async with smtp_gateway(settings) as env:
        reader, writer = await asyncio.open_connection("127.0.0.1", env.port)
        assert (await reader.readline()).startswith(b"220 ")
        writer.write(b"EHLO idle.example\r\n")
        await writer.drain()
        assert (await reader.readline()).startswith(b"250")
        started = loop.time()
    # The gateway stopped although the client never said QUIT; the client sees the close.
    assert loop.time() - started < 10
    await asyncio.wait_for(reader.read(), WAIT)
    writer.close()
