"""LabsMobile MailSMS (seed 000) through the real SMTP server: its case table and the shared
conformance cases."""

from __future__ import annotations

from typing import Any

import pytest

from tests.dialects.harness import Outcome
from tests.smtp.harness import (
    LABS,
    USERNAME,
    Env,
    MailCase,
    MailProfile,
    Refusal,
    Stored,
    conformance,
    email,
    malformed,
    run_case,
    send,
    smtp_gateway,
)
from textgate.config import Settings
from textgate.dialects.labsmobile.mailsms import DEFAULT_SENDER

WRONG_TOKEN = "lUHia713N5aByua79fU5s1Nlb6ItZ9ioVu"


def _raw(env: Env, content_type: str, body: str) -> bytes:
    """An email written as a mail program writes it (here: its plain-text format)."""
    return (
        f"From: {USERNAME}\r\nTo: 34609033162@{LABS}\r\nSubject: {env.api_key}\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: {content_type}\r\n"
        f"Content-Transfer-Encoding: 8bit\r\n\r\n{body}"
    ).encode()


def labs(
    label: str,
    rcpt: tuple[str, ...],
    *,
    sender: str = USERNAME,
    token: str | None = None,
    text: str = "Your verification code is 123",
    **expect: Any,
) -> MailCase:
    """A case: the email the seed describes (From = username, Subject = API token)."""

    def build(env: Env) -> bytes:
        return email(
            sender=sender, to=rcpt, subject=env.api_key if token is None else token, text=text
        )

    return MailCase(label, "anyone@client.example", rcpt, build, **expect)


CASES = [
    labs(
        "one recipient, the seed's example",
        (f"12015550123@{LABS}",),
        expect_stored=(Stored("+12015550123", text="Your verification code is 123"),),
    ),
    labs(
        "several To addresses are several recipients",
        (f"12015550123@{LABS}", f"12015550124@{LABS}", f"12015550125@{LABS}"),
        text="Don't miss our Sale! Use code XXXX123 for 20% off.",
        expect_stored=(
            Stored("+12015550123", text="Don't miss our Sale! Use code XXXX123 for 20% off."),
            Stored("+12015550124"),
            Stored("+12015550125"),
        ),
    ),
    labs(
        "From display name is the alphanumeric sender",
        (f"34609033162@{LABS}",),
        sender=f"MyBrand <{USERNAME}>",
        expect_stored=(Stored("+34609033162", sender="MyBrand"),),
    ),
    labs(
        "From display name is a numeric sender of up to 16 digits",
        (f"34609033162@{LABS}",),
        sender=f"1234567890123456 <{USERNAME}>",
        expect_stored=(Stored("+34609033162", sender="1234567890123456"),),
    ),
    labs(
        "a display name over 11 characters gives the default sender",
        (f"34609033162@{LABS}",),
        sender=f"MyBrandIsTooLong <{USERNAME}>",
        expect_stored=(Stored("+34609033162", sender=DEFAULT_SENDER),),
    ),
    labs(
        "a person's name in From gives the seed's default sender LABSMOBILE",
        (f"34609033162@{LABS}",),
        sender=f"Jonathan Smith <{USERNAME}>",
        expect_stored=(Stored("+34609033162", sender="LABSMOBILE"),),
    ),
    labs(
        "a name with a hyphen gives the default sender",
        (f"34609033162@{LABS}",),
        sender=f"ACME-Shop <{USERNAME}>",
        expect_stored=(Stored("+34609033162", sender="LABSMOBILE"),),
    ),
    labs(
        "a quoted name with a comma gives the default sender",
        (f"34609033162@{LABS}",),
        sender=f'"Smith, John" <{USERNAME}>',
        expect_stored=(Stored("+34609033162", sender="LABSMOBILE"),),
    ),
    labs(
        "a non-ASCII name (RFC 2047 encoded) gives the default sender, never a 500",
        (f"34609033162@{LABS}",),
        sender=f"José García <{USERNAME}>",
        expect_stored=(Stored("+34609033162", sender="LABSMOBILE"),),
    ),
    labs(
        "no display name: the default sender",
        (f"34609033162@{LABS}",),
        expect_stored=(Stored("+34609033162", sender="LABSMOBILE"),),
    ),
    MailCase(
        "text and HTML alternatives (what mail programs send): the plain part",
        "anyone@client.example",
        (f"34609033162@{LABS}",),
        lambda e: email(
            sender=USERNAME,
            to=[f"34609033162@{LABS}"],
            subject=e.api_key,
            text="Your code is 123",
            html="<div dir='ltr'>Your code is <b>123</b></div>",
        ),
        expect_stored=(Stored("+34609033162", text="Your code is 123"),),
    ),
    MailCase(
        "HTML only: converted to text, line breaks kept",
        "anyone@client.example",
        (f"34609033162@{LABS}",),
        lambda e: email(
            sender=USERNAME,
            to=[f"34609033162@{LABS}"],
            subject=e.api_key,
            html=(
                "<html><head><style>p {color: red}</style></head><body>"
                "<p>Hello&nbsp;Ana,</p><p>your code is <b>123</b><br>valid 5 min</p>"
                "<script>track()</script></body></html>"
            ),
        ),
        expect_stored=(Stored("+34609033162", text="Hello Ana,\n\nyour code is 123\nvalid 5 min"),),
    ),
    MailCase(
        "format=flowed is unwrapped (RFC 3676)",
        "anyone@client.example",
        (f"34609033162@{LABS}",),
        lambda e: _raw(
            e,
            "text/plain; charset=utf-8; format=flowed",
            "Your appointment is confirmed for \r\nMonday at 10:00. Reply STOP to \r\n"
            " From now on \r\nno more messages.\r\n",
        ),
        expect_stored=(
            Stored(
                "+34609033162",
                text="Your appointment is confirmed for Monday at 10:00. Reply STOP to "
                "From now on no more messages.",
            ),
        ),
    ),
    MailCase(
        "format=flowed with DelSp=yes: the space before a soft break is removed",
        "anyone@client.example",
        (f"34609033162@{LABS}",),
        lambda e: _raw(
            e,
            "text/plain; charset=utf-8; format=flowed; delsp=yes",
            "Verifica \r\ntion code: 12 \r\n34\r\nSecond line\r\n",
        ),
        expect_stored=(Stored("+34609033162", text="Verification code: 1234\nSecond line"),),
    ),
    labs(
        "username matched without regard to case",
        (f"34609033162@{LABS}",),
        sender=USERNAME.upper(),
        expect_stored=(Stored("+34609033162"),),
    ),
    labs(
        "the account name also identifies it (seed: email or username)",
        (f"34609033162@{LABS}",),
        sender="acme",
        expect_stored=(Stored("+34609033162"),),
    ),
    labs(
        "wrong token",
        (f"34609033162@{LABS}",),
        token=WRONG_TOKEN,
        expect_code=554,
        expect_text="wrong username or API token",
    ),
    labs(
        "right token, other username",
        (f"34609033162@{LABS}",),
        sender="someone@else.example",
        expect_code=554,
        expect_text="wrong username or API token",
    ),
    labs(
        "malformed number refused at RCPT, the other recipient goes",
        (f"12015550123@{LABS}", f"12015550125s@{LABS}"),
        expect_refused=(f"12015550125s@{LABS}",),
        expect_stored=(Stored("+12015550123"),),
    ),
    labs(
        "a number that is not valid is refused at RCPT",
        (f"999@{LABS}",),
        expect_code=550,
        expect_text="not a phone number",
        expect_refused=(f"999@{LABS}",),
    ),
    labs(
        "unknown domain refused at RCPT",
        ("12015550123@example.com",),
        expect_code=550,
        expect_text="is not accepted here",
        expect_refused=("12015550123@example.com",),
    ),
    labs(
        "the same over STARTTLS",
        (f"12015550123@{LABS}",),
        starttls=True,
        expect_stored=(Stored("+12015550123"),),
    ),
]


def _addresses(numbers: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"{n.lstrip('+')}@{LABS}" for n in numbers)


LABSMOBILE = MailProfile(
    name="labsmobile",
    mail_from=lambda _: "anyone@client.example",
    rcpt=_addresses,
    message=lambda env, to, text, right: email(
        sender=USERNAME,
        to=_addresses(to),
        subject=env.api_key if right else WRONG_TOKEN,
        text=text,
    ),
    refusals={
        Outcome.UNAUTHORIZED: Refusal(554, "wrong username or API token"),
        Outcome.INVALID_NUMBER: Refusal(550, "invalid phone number", at_rcpt=True),
    },
)


@pytest.mark.parametrize(
    "case", [*CASES, *conformance(LABSMOBILE), *malformed(LABSMOBILE)], ids=lambda c: c.label
)
async def test_labsmobile(case: MailCase, settings: Settings) -> None:
    async with smtp_gateway(settings) as env:
        await run_case(case, env)


async def test_ip_allowlist_is_checked_against_the_smtp_client(settings: Settings) -> None:
    async with smtp_gateway(settings) as env:
        accounts = env.services.accounts
        await accounts.update_settings(env.account_id, {"allowed_ips": ["192.0.2.0/24"]})
        data = email(sender=USERNAME, to=[f"34609033162@{LABS}"], subject=env.api_key, text="hi")
        out = await send(env, "x@client.example", [f"34609033162@{LABS}"], data)
        assert out.code == 554 and "127.0.0.1" in out.text
        assert await env.messages() == []
        await accounts.update_settings(env.account_id, {"allowed_ips": ["127.0.0.0/8"]})
        out = await send(env, "x@client.example", [f"34609033162@{LABS}"], data)
        assert out.code == 250, out.text
        [msg] = await env.all_final(1)
        assert msg.interface == "labsmobile-mail"


async def test_account_country_filter_refuses(settings: Settings) -> None:
    async with smtp_gateway(settings) as env:
        await env.services.accounts.update_settings(env.account_id, {"countries_allowed": ["ES"]})
        data = email(sender=USERNAME, to=[f"12015550123@{LABS}"], subject=env.api_key, text="hi")
        out = await send(env, "x@client.example", [f"12015550123@{LABS}"], data)
        assert out.code == 554 and "country" in out.text


async def test_the_accounts_default_sender_comes_before_the_seeds(settings: Settings) -> None:
    async with smtp_gateway(settings) as env:
        await env.services.accounts.update_settings(env.account_id, {"default_sender": "AcmeShop"})
        data = email(
            sender=f"Jonathan Smith <{USERNAME}>",
            to=[f"34609033162@{LABS}"],
            subject=env.api_key,
            text="hi",
        )
        out = await send(env, "x@client.example", [f"34609033162@{LABS}"], data)
        assert out.code == 250, out.text
        [msg] = await env.all_final(1)
        assert msg.sender == "AcmeShop"
