"""ASPSMS SMTP interface (seed 004) through the real SMTP server: its case table and the
shared conformance cases, for both ways of addressing (``textsms@`` and ``<00number>@``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.dialects.harness import Outcome
from tests.smtp.harness import (
    ASP,
    DEFAULT_ORIGINATOR,
    ORIGINATOR_ADDRESS,
    PASSWORD,
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
from tests.support import until
from textgate.config import Settings
from textgate.dialects.aspsms.addresses import MAX_SUBJECT_RECIPIENTS

TEXT = "Hello world!"


def _textsms(subject: Callable[[Env], str], **kwargs: str | None) -> Callable[[Env], bytes]:
    def build(env: Env) -> bytes:
        return email(
            sender="client@client.example",
            to=[f"textsms@{ASP}"],
            subject=subject(env),
            text=kwargs.get("text") or TEXT,
        )

    return build


def _numbers(subject: str | None, text: str = TEXT) -> Callable[[Env], bytes]:
    def build(env: Env) -> bytes:
        return email(
            sender=ORIGINATOR_ADDRESS, to=[f"0041790000000@{ASP}"], subject=subject, text=text
        )

    return build


def text_case(label: str, subject: Callable[[Env], str], **expect: Any) -> MailCase:
    return MailCase(
        label, "client@client.example", (f"textsms@{ASP}",), _textsms(subject), **expect
    )


CASES = [
    text_case(
        "textsms@ with long keys; no originator: the seed's default SMS",
        lambda e: f"UserKey={e.account_id},Password={PASSWORD},Recipient=0041795555555",
        expect_stored=(Stored("+41795555555", text=TEXT, sender="SMS"),),
    ),
    text_case(
        "textsms@ with a non-ASCII originator: 553 in ASCII, never a 500",
        lambda e: f"U={e.account_id},P={PASSWORD},R=0041795555555,Originator=Zürich",
        expect_code=553,
        expect_text="Z\\xfcrich",
    ),
    text_case(
        "textsms@ with short keys and an originator",
        lambda e: f"U={e.account_id},P={PASSWORD},R=0041795555555,O=MYORIGINATOR",
        expect_code=553,
        expect_text="too long",
    ),
    text_case(
        "textsms@ short keys, originator, keys in any case and order",
        lambda e: f"r=0041795555555, o=MyShop, u={e.account_id}, p={PASSWORD}",
        expect_stored=(Stored("+41795555555", sender="MyShop"),),
    ),
    text_case(
        "textsms@ several recipients separated by ;",
        lambda e: f"U={e.account_id},P={PASSWORD},R=0041795555555;0041795555556;0041795555557",
        expect_stored=(Stored("+41795555555"), Stored("+41795555556"), Stored("+41795555557")),
    ),
    text_case(
        "textsms@ with the login username as UserKey and Notify=NONE",
        lambda e: (
            f"UserKey=ops@acme.example,Password={PASSWORD},Recipient=0041795555555,Notify=NONE"
        ),
        expect_stored=(Stored("+41795555555"),),
    ),
    text_case(
        "textsms@ wrong password",
        lambda e: f"UserKey={e.account_id},Password=wrong-pass,Recipient=0041795555555",
        expect_code=554,
        expect_text="wrong user key or password",
    ),
    text_case(
        "textsms@ unknown user key",
        lambda e: f"UserKey=ABCD12345678,Password={PASSWORD},Recipient=0041795555555",
        expect_code=554,
        expect_text="wrong user key or password",
    ),
    text_case(
        "textsms@ without recipient",
        lambda e: f"UserKey={e.account_id},Password={PASSWORD}",
        expect_code=554,
        expect_text="Recipient is required",
    ),
    text_case(
        "textsms@ with an unknown key",
        lambda e: f"UserKey={e.account_id},Password={PASSWORD},R=0041795555555,Flash=1",
        expect_code=554,
        expect_text="'Flash' is not one of",
    ),
    text_case(
        "textsms@ with a bad Notify value",
        lambda e: f"U={e.account_id},P={PASSWORD},R=0041795555555,Notify=SOMETIMES",
        expect_code=554,
        expect_text="Notify is ALWAYS, NONE, FAILED or empty",
    ),
    text_case(
        "textsms@ with a recipient that is not a number",
        lambda e: f"U={e.account_id},P={PASSWORD},R=hello",
        expect_code=550,
    ),
    MailCase(
        "<00number>@ from an authorised originator uses its default originator",
        ORIGINATOR_ADDRESS,
        (f"0041790000000@{ASP}",),
        _numbers(None),
        expect_stored=(Stored("+41790000000", text=TEXT, sender=DEFAULT_ORIGINATOR),),
    ),
    MailCase(
        "<00number>@ with Originator= in the subject",
        ORIGINATOR_ADDRESS.upper(),
        (f"0041790000000@{ASP}", f"0041790000001@{ASP}"),
        _numbers("Originator=+41760000000"),
        expect_stored=(
            Stored("+41790000000", sender="+41760000000"),
            Stored("+41790000001", sender="+41760000000"),
        ),
    ),
    MailCase(
        "<00number>@ with a free-text subject (ignored)",
        ORIGINATOR_ADDRESS,
        (f"0041790000000@{ASP}",),
        _numbers("Your one-time code"),
        expect_stored=(Stored("+41790000000", sender=DEFAULT_ORIGINATOR),),
    ),
    MailCase(
        "<+number>@ is refused at RCPT",
        ORIGINATOR_ADDRESS,
        (f"+41790000000@{ASP}",),
        _numbers(None),
        expect_code=550,
        expect_text="the + sign is not accepted",
        expect_refused=(f"+41790000000@{ASP}",),
    ),
    MailCase(
        "a number without 00 is refused at RCPT",
        ORIGINATOR_ADDRESS,
        (f"41790000000@{ASP}",),
        _numbers(None),
        expect_code=550,
        expect_text="starting with 00",
        expect_refused=(f"41790000000@{ASP}",),
    ),
    MailCase(
        "<00number>@ from a sender that is not authorised (envelope and From) is refused",
        "intruder@client.example",
        (f"0041790000000@{ASP}",),
        lambda e: email(
            sender="intruder@client.example", to=[f"0041790000000@{ASP}"], subject=None, text=TEXT
        ),
        expect_code=554,
        expect_text="not an authorised SMTP originator",
    ),
    MailCase(
        "<00number>@ sent through a relay: its envelope sender, the app's authorised From",
        "bounces+1234@relay.example",
        (f"0041790000000@{ASP}",),
        _numbers(None),
        expect_stored=(Stored("+41790000000", text=TEXT, sender=DEFAULT_ORIGINATOR),),
    ),
    MailCase(
        "<00number>@ with an authorised envelope sender and another From",
        ORIGINATOR_ADDRESS,
        (f"0041790000000@{ASP}",),
        lambda e: email(
            sender="App <noreply@client.example>",
            to=[f"0041790000000@{ASP}"],
            subject=None,
            text=TEXT,
        ),
        expect_stored=(Stored("+41790000000", sender=DEFAULT_ORIGINATOR),),
    ),
    MailCase(
        "<00number>@ with an empty envelope sender and no authorised From is refused",
        "",
        (f"0041790000000@{ASP}",),
        lambda e: email(
            sender="intruder@client.example", to=[f"0041790000000@{ASP}"], subject=None, text=TEXT
        ),
        expect_code=554,
        expect_text="not an authorised SMTP originator",
    ),
    MailCase(
        "textsms@ and a number in one email: the second kind is deferred (452)",
        ORIGINATOR_ADDRESS,
        (f"0041790000000@{ASP}", f"textsms@{ASP}"),
        _numbers(None),
        expect_refused=(f"textsms@{ASP}",),
        expect_stored=(Stored("+41790000000"),),
    ),
    MailCase(
        "HTML is refused with a reason",
        ORIGINATOR_ADDRESS,
        (f"0041790000000@{ASP}",),
        lambda e: email(
            sender=ORIGINATOR_ADDRESS,
            to=[f"0041790000000@{ASP}"],
            subject=None,
            text=TEXT,
            html="<p>Hello <b>world</b></p>",
        ),
        expect_code=554,
        expect_text="HTML is not accepted",
    ),
    MailCase(
        "HTML only is refused with a reason (seed 004: plain text only)",
        "client@client.example",
        (f"textsms@{ASP}",),
        lambda e: email(
            sender="client@client.example",
            to=[f"textsms@{ASP}"],
            subject=f"U={e.account_id},P={PASSWORD},R=0041795555555",
            html="<p>Hello <b>world</b></p>",
        ),
        expect_code=554,
        expect_text="HTML is not accepted",
    ),
    MailCase(
        "<00number>@ with Subject Originator=Zürich: 553 in ASCII, never a 500",
        ORIGINATOR_ADDRESS,
        (f"0041790000000@{ASP}",),
        _numbers("Originator=Zürich"),
        expect_code=553,
        expect_text="Z\\xfcrich",
    ),
    MailCase(
        "ISO-8859-1 quoted-printable with accents",
        ORIGINATOR_ADDRESS,
        (f"0041790000000@{ASP}",),
        lambda e: email(
            sender=ORIGINATOR_ADDRESS,
            to=[f"0041790000000@{ASP}"],
            subject=None,
            text="Grüezi! Café à 5 CHF, ½ prix",
            charset="iso-8859-1",
            cte="quoted-printable",
        ),
        expect_stored=(Stored("+41790000000", text="Grüezi! Café à 5 CHF, ½ prix"),),
    ),
    MailCase(
        "ISO-8859-1 as Windows writes it: the euro sign at 0x80",
        ORIGINATOR_ADDRESS,
        (f"0041790000000@{ASP}",),
        lambda e: (
            f"From: {ORIGINATOR_ADDRESS}\r\nTo: 0041790000000@{ASP}\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=ISO-8859-1\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
            "Caf=E9 cr=E8me: 5 =80, d=E9j=E0 pay=E9\r\n"
        ).encode(),
        expect_stored=(Stored("+41790000000", text="Café crème: 5 €, déjà payé"),),
    ),
    MailCase(
        "ISO-8859-15 base64 with the euro sign",
        ORIGINATOR_ADDRESS,
        (f"0041790000000@{ASP}",),
        lambda e: email(
            sender=ORIGINATOR_ADDRESS,
            to=[f"0041790000000@{ASP}"],
            subject=None,
            text="Prix: 5 € (été)",
            charset="iso-8859-15",
            cte="base64",
        ),
        expect_stored=(Stored("+41790000000", text="Prix: 5 € (été)"),),
    ),
    MailCase(
        "windows-1252 8bit with the euro sign",
        ORIGINATOR_ADDRESS,
        (f"0041790000000@{ASP}",),
        lambda e: email(
            sender=ORIGINATOR_ADDRESS,
            to=[f"0041790000000@{ASP}"],
            subject=None,
            text="Total 12 € \u2013 merci",
            charset="windows-1252",
            cte="8bit",
        ),
        expect_stored=(Stored("+41790000000", text="Total 12 € \u2013 merci"),),
    ),
    MailCase(
        "over STARTTLS",
        ORIGINATOR_ADDRESS,
        (f"0041790000000@{ASP}",),
        _numbers(None),
        starttls=True,
        expect_stored=(Stored("+41790000000"),),
    ),
]


def _zeros(number: str) -> str:
    """A number as ASPSMS writes it: international, with 00 for the +."""
    return "00" + number.lstrip("+")


def _textsms_subject(env: Env, to: tuple[str, ...], right: bool) -> str:
    keys = [f"UserKey={env.account_id}", f"Password={PASSWORD if right else 'wrong-pass'}"]
    if to:
        keys.append("Recipient=" + ";".join(_zeros(n) for n in to))
    return ",".join(keys)


TEXTSMS = MailProfile(
    name="aspsms textsms@",
    mail_from=lambda _: "client@client.example",
    rcpt=lambda _: (f"textsms@{ASP}",),
    message=lambda env, to, text, right: email(
        sender="client@client.example",
        to=[f"textsms@{ASP}"],
        subject=_textsms_subject(env, to, right),
        text=text,
    ),
    refusals={
        Outcome.UNAUTHORIZED: Refusal(554, "wrong user key or password"),
        Outcome.BAD_REQUEST: Refusal(554, "Recipient is required"),
        Outcome.INVALID_NUMBER: Refusal(550, "invalid phone number"),
    },
)


def _number_addresses(numbers: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"{_zeros(n)}@{ASP}" for n in numbers)


NUMBERS = MailProfile(
    name="aspsms <00number>@",
    # The sender address is the credential: an authorised SMTP originator.
    mail_from=lambda right: ORIGINATOR_ADDRESS if right else "intruder@client.example",
    rcpt=_number_addresses,
    message=lambda env, to, text, right: email(
        sender=ORIGINATOR_ADDRESS if right else "intruder@client.example",
        to=_number_addresses(to),
        subject=None,
        text=text,
    ),
    refusals={
        Outcome.UNAUTHORIZED: Refusal(554, "not an authorised SMTP originator"),
        Outcome.INVALID_NUMBER: Refusal(550, "invalid phone number", at_rcpt=True),
    },
)


@pytest.mark.parametrize(
    "case",
    [
        *CASES,
        *conformance(TEXTSMS),
        *conformance(NUMBERS),
        *malformed(TEXTSMS),
        *malformed(NUMBERS),
    ],
    ids=lambda c: c.label,
)
async def test_aspsms(case: MailCase, settings: Settings) -> None:
    async with smtp_gateway(settings) as env:
        await run_case(case, env)


async def test_a_long_subject_reaches_the_recipient_limit(settings: Settings) -> None:
    """textsms@ carries its recipients in the subject: all 1,000 of them fit (the header
    folded, RFC 5322 section 2.2.3)."""
    numbers = [f"00417955{i:05d}" for i in range(MAX_SUBJECT_RECIPIENTS)]
    async with smtp_gateway(settings) as env:
        subject = f"U={env.account_id},P={PASSWORD},R=" + "; ".join(numbers)
        assert len(subject) > 15_000
        data = email(
            sender="client@client.example", to=[f"textsms@{ASP}"], subject=subject, text=TEXT
        )
        out = await send(env, "client@client.example", [f"textsms@{ASP}"], data)
        assert out.code == 250, out.text

        async def stored() -> bool:
            return len(await env.messages()) == MAX_SUBJECT_RECIPIENTS

        await until(stored)
        msgs = await env.messages()
        assert {m.recipient for m in msgs} == {"+" + n[2:] for n in numbers}
        # One more is refused, with the reason.
        data = email(
            sender="client@client.example",
            to=[f"textsms@{ASP}"],
            subject=subject + "; 0041799999999",
            text=TEXT,
        )
        out = await send(env, "client@client.example", [f"textsms@{ASP}"], data)
        assert out.code == 554 and "at most 1000 recipients" in out.text, out.text


async def test_an_originator_address_without_default_gives_sms(settings: Settings) -> None:
    async with smtp_gateway(settings) as env:
        await env.services.originators.add(env.account_id, "appliance@client.example", None)
        data = email(
            sender="appliance@client.example", to=[f"0041790000000@{ASP}"], subject=None, text=TEXT
        )
        out = await send(env, "appliance@client.example", [f"0041790000000@{ASP}"], data)
        assert out.code == 250, out.text
        [msg] = await env.all_final(1)
        assert msg.sender == "SMS"
