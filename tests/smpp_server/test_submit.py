"""submit_sm and data_sm through the SMPP server: what is stored (text, recipient, sender,
one message for a long one), the id in the response, and the refusals' command_status."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import smpplib.consts as c
import smpplib.gsm

from tests.smpp_server.harness import (
    NUMBER,
    Answer,
    Env,
    connected,
    smpp_gateway,
    udh_parts,
)
from tests.support import until
from textgate.config import Settings
from textgate.core.message import Message, Status

OK = c.SMPP_ESME_ROK
UDHI = 0x40


async def bound(env: Env, kind: str = "transmitter") -> Any:
    esme = await connected(env)
    assert (await esme.call("bind", kind)).status == OK
    return esme


async def only_message(env: Env, answer: Answer) -> Message:
    """The one stored message, which the answer names."""
    assert answer.status == OK, answer
    stored = await env.messages()
    assert len(stored) == 1, stored
    assert answer.message_id == stored[0].id
    return stored[0]


@dataclass(frozen=True)
class TextCase:
    label: str
    octets: bytes
    data_coding: int
    text: str
    encoding: str


TEXTS = [
    TextCase(
        "gsm default alphabet", smpplib.gsm.gsm_encode("Hi @ 5£ ¿ok?"), 0, "Hi @ 5£ ¿ok?", "gsm7"
    ),
    TextCase("ia5 ascii", b"plain ascii [x]", 1, "plain ascii [x]", "gsm7"),
    TextCase("latin-1", "caf\u00e9 d\u00e9j\u00e0 vu".encode("latin-1"), 3, "café déjà vu", "gsm7"),
    TextCase("ucs-2", "Привет, мир 👋".encode("utf-16-be"), 8, "Привет, мир 👋", "ucs2"),
    TextCase("ucs-2 of gsm text stays ucs-2", "hello".encode("utf-16-be"), 8, "hello", "ucs2"),
]


@pytest.mark.parametrize("case", TEXTS, ids=lambda case: case.label)
async def test_submit_sm_is_stored_as_sent(settings: Settings, case: TextCase) -> None:
    async with smpp_gateway(settings) as env:
        esme = await bound(env)
        answer = await esme.call("submit", short_message=case.octets, data_coding=case.data_coding)
        assert answer.command == "submit_sm_resp"
        message = await only_message(env, answer)
        assert message.text == case.text
        assert message.encoding == case.encoding
        assert message.recipient == NUMBER
        assert message.sender == "ACME"
        assert message.interface == "smpp"
        assert message.segments == 1


async def test_a_national_number_and_a_numeric_sender(settings: Settings) -> None:
    async with smpp_gateway(settings) as env:
        await env.services.accounts.update_settings(env.account_id, {"default_country": "FR"})
        esme = await bound(env, "transceiver")
        answer = await esme.call(
            "submit",
            dest_addr_ton=0,
            destination_addr="0612345678",
            source_addr_ton=1,
            source_addr="33700000001",
        )
        message = await only_message(env, answer)
        assert (message.recipient, message.sender) == (NUMBER, "33700000001")


LONG_GSM = "A long message in the GSM alphabet, " * 12
LONG_UCS2 = "Длинное сообщение в UCS-2, " * 8


@pytest.mark.parametrize(
    ("parts", "text", "encoding"),
    [
        pytest.param(
            smpplib.gsm.make_parts(LONG_GSM)[0], LONG_GSM, "gsm7", id="gsm, smpplib's split"
        ),
        pytest.param(
            udh_parts(LONG_UCS2.encode("utf-16-be"), 132, 0x1234, ref16=True),
            LONG_UCS2,
            "ucs2",
            id="ucs-2, 16-bit reference",
        ),
    ],
)
async def test_a_long_message_in_udh_parts_is_one_message(
    settings: Settings, parts: list[bytes], text: str, encoding: str
) -> None:
    async with smpp_gateway(settings) as env:
        esme = await bound(env)
        coding = 8 if encoding == "ucs2" else 0
        answers = await esme.call("submit_parts", parts, data_coding=coding)
        assert len(parts) >= 3
        assert [a.status for a in answers] == [OK] * len(parts)
        message = await only_message(env, answers[-1])
        assert message.text == text
        assert message.encoding == encoding
        assert message.segments == len(parts)
        assert message.recipient == NUMBER
        # Earlier parts were answered before the message existed: ids of their own.
        early = [a.message_id for a in answers[:-1]]
        assert len(set(early)) == len(early) and message.id not in early


async def test_parts_out_of_order_and_interleaved_messages(settings: Settings) -> None:
    async with smpp_gateway(settings) as env:
        esme = await bound(env)
        first = udh_parts(b"first message, part one/part two/part three", 15, 7)
        second = udh_parts(b"the second one: a/b", 10, 8)
        order = [first[2], second[1], first[0], second[0], first[1]]
        answers = await esme.call("submit_parts", order)
        assert [a.status for a in answers] == [OK] * 5
        stored = {m.text: m.id for m in await env.messages()}
        assert stored == {
            b"".join(p[6:] for p in first).decode(): answers[4].message_id,
            b"".join(p[6:] for p in second).decode(): answers[3].message_id,
        }


async def test_the_reassembly_buffer_is_bounded(settings: Settings) -> None:
    async with smpp_gateway(settings, smpp={"reassembly_max_parts": 2}) as env:
        esme = await bound(env)
        a, b, c_ = (udh_parts(b"x" * 20, 10, ref) for ref in (1, 2, 3))
        held = await esme.call("submit_parts", [a[0], b[0]])
        assert [x.status for x in held] == [OK, OK]
        [full] = await esme.call("submit_parts", [c_[0]])
        assert full.status == c.SMPP_ESME_RMSGQFUL
        assert await env.messages() == []
        # A part that completes a message needs no room, and frees its siblings'.
        [done] = await esme.call("submit_parts", [a[1]])
        assert done.status == OK
        assert [x.status for x in await esme.call("submit_parts", c_)] == [OK, OK]
        assert [m.text for m in await env.messages()] == ["x" * 20, "x" * 20]


async def test_parts_whose_siblings_never_come_are_sent_as_they_are(settings: Settings) -> None:
    async with smpp_gateway(settings, smpp={"reassembly_timeout_seconds": 0.3}) as env:
        esme = await bound(env)
        parts = udh_parts(b"one-two-three", 5, 9)
        answers = await esme.call("submit_parts", [parts[0], parts[2]])
        assert [a.status for a in answers] == [OK, OK]

        async def stored() -> bool:
            return len(await env.messages()) == 1

        await until(stored, "the incomplete message to be stored")
        assert [m.text for m in await env.messages()] == ["one-t" + "ree"]


@pytest.mark.parametrize("command", ["submit_sm", "data_sm"])
async def test_a_message_in_message_payload_is_one_message(
    settings: Settings, command: str
) -> None:
    text = "carried in message_payload, longer than one SMS could be: " * 3
    async with smpp_gateway(settings) as env:
        esme = await bound(env)
        answer = await esme.call(
            "request",
            command,
            source_addr_ton=5,
            source_addr="ACME",
            dest_addr_ton=1,
            destination_addr=NUMBER[1:],
            message_payload=smpplib.gsm.gsm_encode(text),
            **({"short_message": None} if command == "submit_sm" else {}),
        )
        assert answer.command == f"{command}_resp"
        message = await only_message(env, answer)
        assert message.text == text
        assert message.segments > 1


@dataclass(frozen=True)
class Refusal:
    label: str
    status: int
    submit: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    opted_out: tuple[str, ...] = ()
    accepted_before: int = 0
    bind: str = "transmitter"
    stored: int = 0


REFUSALS = [
    Refusal("not a number", c.SMPP_ESME_RINVDSTADR, {"destination_addr": "12ab"}),
    Refusal("empty destination", c.SMPP_ESME_RINVDSTADR, {"destination_addr": ""}),
    Refusal("sender too long", c.SMPP_ESME_RINVSRCADR, {"source_addr": "FAR TOO LONG A"}),
    Refusal(
        "sender not allowed",
        c.SMPP_ESME_RINVSRCADR,
        {"source_addr": "OTHER"},
        {"allowed_senders": ["ACME"]},
    ),
    Refusal("country blocked", c.SMPP_ESME_RINVDSTADR, settings={"countries_blocked": ["FR"]}),
    Refusal("opted out", c.SMPP_ESME_RINVDSTADR, opted_out=(NUMBER,)),
    Refusal(
        "daily limit",
        c.SMPP_ESME_RTHROTTLED,
        settings={"daily_limit": 1},
        accepted_before=1,
        stored=1,
    ),
    Refusal("no credit", c.SMPP_ESME_RSUBMITFAIL, settings={"price_default": "1"}),
    Refusal("empty text", c.SMPP_ESME_RINVMSGLEN, {"short_message": b""}),
    Refusal("binary data_coding", c.SMPP_ESME_RSUBMITFAIL, {"data_coding": 4}),
    Refusal("not an smpp time", c.SMPP_ESME_RINVSCHED, {"schedule_delivery_time": "991231"}),
    Refusal(
        "utc offset past 12 hours",
        c.SMPP_ESME_RINVSCHED,
        {"schedule_delivery_time": "991231235959049+"},
    ),
    Refusal("validity not an smpp time", c.SMPP_ESME_RINVEXPIRY, {"validity_period": "991231"}),
    Refusal("validity past", c.SMPP_ESME_RINVEXPIRY, {"validity_period": "200101000000000+"}),
    Refusal(
        "validity ending before the schedule",
        c.SMPP_ESME_RINVEXPIRY,
        {"schedule_delivery_time": "991231235959000+", "validity_period": "991230000000000+"},
    ),
    Refusal(
        "udh running past the message",
        c.SMPP_ESME_RINVMSGLEN,
        {"esm_class": UDHI, "short_message": b"\x09\x00\x03"},
    ),
    Refusal("receiver bind", c.SMPP_ESME_RINVBNDSTS, bind="receiver"),
]


@pytest.mark.parametrize("case", REFUSALS, ids=lambda case: case.label)
async def test_refusals(settings: Settings, case: Refusal) -> None:
    async with smpp_gateway(settings) as env:
        if case.settings:
            await env.services.accounts.update_settings(env.account_id, case.settings)
        if case.opted_out:
            account = await env.services.accounts.get(env.account_id)
            await env.services.accounts.add_opt_outs(account, list(case.opted_out))
        esme = await bound(env, case.bind)
        for _ in range(case.accepted_before):
            assert (await esme.call("submit")).status == OK
        answer = await esme.call("submit", **case.submit)
        assert (answer.command, answer.status) == ("submit_sm_resp", case.status)
        assert answer.message_id == ""
        assert len(await env.messages()) == case.stored
        # The bind goes on: a good submit is still taken.
        if case.bind != "receiver" and not case.settings and not case.opted_out:
            assert (await esme.call("submit")).status == OK


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # 7.1.1: 2099-12-31 23:59:59.0 at UTC+02:00 (8 quarter hours ahead).
        ("991231235959008+", datetime(2099, 12, 31, 21, 59, 59, tzinfo=UTC)),
        ("991231235959004-", datetime(2100, 1, 1, 0, 59, 59, tzinfo=UTC)),
        # Relative: one day, two hours and three seconds from now.
        ("000001020003000R", timedelta(days=1, hours=2, seconds=3)),
    ],
    ids=["absolute ahead of utc", "absolute behind utc", "relative"],
)
async def test_schedule_delivery_time_schedules_the_message(
    settings: Settings, value: str, expected: datetime | timedelta
) -> None:
    async with smpp_gateway(settings) as env:
        esme = await bound(env)
        before = datetime.now(UTC)
        answer = await esme.call("submit", schedule_delivery_time=value)
        after = datetime.now(UTC)
        message = await only_message(env, answer)
        assert message.status == Status.SCHEDULED
        assert message.scheduled_at is not None
        if isinstance(expected, datetime):
            assert message.scheduled_at == expected
        else:
            assert before + expected - timedelta(seconds=1) <= message.scheduled_at
            assert message.scheduled_at <= after + expected + timedelta(seconds=1)


@pytest.mark.parametrize(
    ("command", "fields", "expected"),
    [
        # 5.2.16, 7.1.1: absolute, 2099-12-31 23:59:59.0 at UTC+02:00.
        (
            "submit_sm",
            {"validity_period": "991231235959008+"},
            datetime(2099, 12, 31, 21, 59, 59, tzinfo=UTC),
        ),
        # Relative: five minutes from now.
        ("submit_sm", {"validity_period": "000000000500000R"}, timedelta(minutes=5)),
        # 5.3.2.17: a data_sm's time to live, in seconds.
        ("data_sm", {"qos_time_to_live": 300}, timedelta(seconds=300)),
    ],
    ids=["absolute", "relative", "data_sm time to live"],
)
async def test_validity_is_stored_with_the_message(
    settings: Settings, command: str, fields: dict[str, Any], expected: datetime | timedelta
) -> None:
    async with smpp_gateway(settings) as env:
        esme = await bound(env)
        before = datetime.now(UTC)
        payload = (
            {"message_payload": smpplib.gsm.gsm_encode("code 4711")}
            if command == "data_sm"
            else {"short_message": smpplib.gsm.gsm_encode("code 4711")}
        )
        answer = await esme.call(
            "request",
            command,
            source_addr_ton=5,
            source_addr="ACME",
            dest_addr_ton=1,
            destination_addr=NUMBER[1:],
            **payload,
            **fields,
        )
        after = datetime.now(UTC)
        assert answer.command == f"{command}_resp"
        message = await only_message(env, answer)
        assert message.valid_until is not None
        if isinstance(expected, datetime):
            assert message.valid_until == expected
        else:
            # Stored to the millisecond.
            assert before + expected - timedelta(seconds=1) <= message.valid_until
            assert message.valid_until <= after + expected + timedelta(seconds=1)
