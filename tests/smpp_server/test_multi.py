"""submit_multi through the SMPP server (SMPP 3.4 4.5): one order with a message per
recipient, the recipients refused one by one named in unsuccess_sme, distribution lists
refused, whole refusals, and receipts that carry the id the answer gave.

smpplib has no submit_multi, so the test writes the PDU and reads the answer itself, with
struct, from the layouts of 4.5.1 and 4.5.2 (not with textgate's codec)."""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field
from typing import Any

import pytest
import smpplib.consts as c

from tests.smpp_server.harness import NUMBER, Env, Esme, connected, smpp_gateway
from tests.support import until
from textgate.config import Settings, WebhookSettings
from textgate.connectors.smpp.receipts import parse_receipt
from textgate.core.message import Status

OK = c.SMPP_ESME_ROK
SUBMIT_MULTI, SUBMIT_MULTI_RESP, GENERIC_NACK = 0x00000021, 0x80000021, 0x80000000  # 5.1.2
SME, LIST = 1, 2  # dest_flag, 5.2.25
OTHER = "+4915123456789"
FAST = {"deliver": {"poll_seconds": 0.05, "retry_base_seconds": 0.1, "retry_max_seconds": 0.3}}


@dataclass(frozen=True)
class Dest:
    address: str
    flag: int = SME
    ton: int = 1
    npi: int = 1


@dataclass(frozen=True)
class MultiAnswer:
    command_id: int
    status: int
    message_id: str
    unsuccess: list[tuple[int, int, str, int]]
    """(ton, npi, destination_addr, error_status_code) of each refused destination."""


def _c(value: str) -> bytes:
    return value.encode("latin-1") + b"\0"


def submit_multi(
    esme: Esme, dests: list[Dest], text: bytes = b"hello all", **flags: int
) -> MultiAnswer:
    """One submit_multi (4.5.1) written out field by field; its answer read the same way."""
    body = b"\0" + bytes([5, 0]) + _c("ACME") + bytes([len(dests)])
    for d in dests:
        body += bytes([d.flag]) + (
            bytes([d.ton, d.npi]) + _c(d.address) if d.flag == SME else _c(d.address)
        )
    body += bytes([flags.get("esm_class", 0), 0, 0]) + b"\0\0"  # pid, priority, times
    body += bytes([flags.get("registered_delivery", 0), 0, flags.get("data_coding", 0), 0])
    body += bytes([len(text)]) + text
    client = esme.client
    assert client._socket is not None
    sequence = client.next_sequence()
    client._socket.sendall(struct.pack(">LLLL", 16 + len(body), SUBMIT_MULTI, 0, sequence) + body)
    length, command_id, status, answered = struct.unpack(">LLLL", esme._exactly(16))
    assert answered == sequence
    return _read_resp(command_id, status, esme._exactly(length - 16))


def _read_resp(command_id: int, status: int, body: bytes) -> MultiAnswer:
    """submit_multi_resp (4.5.2): message_id, no_unsuccess, then ton, npi, address and a
    4-octet error_status_code each."""
    if not body:
        return MultiAnswer(command_id, status, "", [])
    end = body.index(0)
    message_id, pos = body[:end].decode(), end + 1
    count, pos = body[pos], pos + 1
    unsuccess = []
    for _ in range(count):
        ton, npi = body[pos], body[pos + 1]
        end = body.index(0, pos + 2)
        address = body[pos + 2 : end].decode()
        (code,) = struct.unpack(">L", body[end + 1 : end + 5])
        unsuccess.append((ton, npi, address, code))
        pos = end + 5
    assert pos == len(body), "octets after the list"
    return MultiAnswer(command_id, status, message_id, unsuccess)


async def multi(esme: Esme, dests: list[Dest], *args: Any, **flags: int) -> MultiAnswer:
    return await asyncio.to_thread(submit_multi, esme, dests, *args, **flags)


async def bound(env: Env, kind: str = "transmitter") -> Esme:
    esme = await connected(env)
    assert (await esme.call("bind", kind)).status == OK
    return esme


async def test_one_order_a_message_per_recipient_and_the_refused_named(
    settings: Settings,
) -> None:
    async with smpp_gateway(settings) as env:
        await env.services.accounts.update_settings(env.account_id, {"default_country": "FR"})
        esme = await bound(env)
        dests = [
            Dest(NUMBER[1:]),
            Dest("0612345679", ton=0),  # national: the account's country
            Dest("12ab"),
            Dest("VIPS", flag=LIST),
            Dest(OTHER[1:]),
        ]
        answer = await multi(esme, dests)
        assert (answer.command_id, answer.status) == (SUBMIT_MULTI_RESP, OK)
        assert sorted(answer.unsuccess) == [
            (0, 0, "VIPS", c.SMPP_ESME_RINVDLNAME),
            (1, 1, "12ab", c.SMPP_ESME_RINVDSTADR),
        ]
        stored = await env.messages()
        by_recipient = {m.recipient: m for m in stored}
        assert set(by_recipient) == {NUMBER, "+33612345679", "+12ab", OTHER}
        assert len({m.order_id for m in stored}) == 1
        assert {m.client_ref for m in stored} == {answer.message_id}
        # One submit request taken, as /metrics and the connectors page count them.
        [open_bind] = env.server.bind_snapshot().binds
        assert open_bind.submits == 1
        assert by_recipient["+12ab"].status == Status.REJECTED
        for number in (NUMBER, "+33612345679", OTHER):
            message = by_recipient[number]
            assert message.status != Status.REJECTED
            assert (message.text, message.sender, message.interface) == (
                "hello all",
                "ACME",
                "smpp",
            )


@dataclass(frozen=True)
class Refusal:
    label: str
    dests: list[Dest]
    status: int
    unsuccess: list[tuple[int, int, str, int]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    opted_out: tuple[str, ...] = ()
    text: bytes = b"hello all"
    flags: dict[str, int] = field(default_factory=dict)
    bind: str = "transmitter"
    stored: int = 0
    rejected: int = 0
    """Of those stored, the messages stored as rejected."""


REFUSALS = [
    Refusal(
        "a blocked country and an opted-out number, one by one",
        [Dest(NUMBER[1:]), Dest(OTHER[1:]), Dest("33612345679")],
        OK,
        [
            (1, 1, "4915123456789", c.SMPP_ESME_RINVDSTADR),
            (1, 1, "33612345679", c.SMPP_ESME_RINVDSTADR),
        ],
        settings={"countries_blocked": ["DE"]},
        opted_out=("+33612345679",),
        stored=3,
        rejected=2,
    ),
    Refusal(
        # Refused before the submit service sees it: nothing stored for it.
        "an empty address",
        [Dest(""), Dest(NUMBER[1:])],
        OK,
        [(1, 1, "", c.SMPP_ESME_RINVDSTADR)],
        stored=1,
    ),
    Refusal("every address invalid", [Dest("12ab"), Dest("x")], c.SMPP_ESME_RINVDSTADR),
    Refusal(
        "only distribution lists",
        [Dest("A", flag=LIST), Dest("B", flag=LIST)],
        c.SMPP_ESME_RINVDLNAME,
    ),
    Refusal("no destination", [], c.SMPP_ESME_RINVNUMDESTS),
    Refusal("empty text", [Dest(NUMBER[1:])], c.SMPP_ESME_RINVMSGLEN, text=b""),
    Refusal(
        "a part of a long message",
        [Dest(NUMBER[1:])],
        c.SMPP_ESME_RSUBMITFAIL,
        text=bytes([5, 0, 3, 9, 2, 1]) + b"part one",
        flags={"esm_class": 0x40},
    ),
    Refusal(
        "more recipients than the batch limit",
        [Dest(NUMBER[1:]), Dest(OTHER[1:])],
        c.SMPP_ESME_RINVNUMDESTS,
        settings={"batch_limit": 1},
    ),
    Refusal("receiver bind", [Dest(NUMBER[1:])], c.SMPP_ESME_RINVBNDSTS, bind="receiver"),
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
        answer = await multi(esme, case.dests, case.text, **case.flags)
        assert (answer.command_id, answer.status) == (SUBMIT_MULTI_RESP, case.status)
        assert answer.unsuccess == case.unsuccess
        stored = await env.messages()
        assert len(stored) == case.stored
        if case.status != OK:
            assert answer.message_id == ""
            if case.bind != "receiver" and not case.settings:
                # The bind goes on: a good request is still taken.
                good = await multi(esme, [Dest(NUMBER[1:])])
                assert (good.status, good.unsuccess) == (OK, [])
        assert len([m for m in stored if m.status == Status.REJECTED]) == case.rejected


async def test_receipts_carry_the_id_the_answer_gave(settings: Settings) -> None:
    # The feed that queues receipts looked at often: the test waits for it.
    fast = settings.model_copy(
        update={"webhooks": WebhookSettings(poll_seconds=0.05, settle_seconds=0.05)}
    )
    async with smpp_gateway(fast, smpp=FAST) as env:
        esme = await bound(env, "transceiver")
        answer = await multi(esme, [Dest(NUMBER[1:]), Dest(OTHER[1:])], registered_delivery=1)
        assert (answer.status, answer.unsuccess) == (OK, [])
        got = [await esme.call("receive"), await esme.call("receive")]
        assert sorted(g.source_addr for g in got) == sorted([NUMBER[1:], OTHER[1:]])
        for receipt_sm in got:
            assert receipt_sm.esm_class == 0x04
            assert receipt_sm.destination_addr == "ACME"
            assert receipt_sm.receipted_message_id == answer.message_id
            receipt = parse_receipt(receipt_sm.short_message.decode("ascii"))
            assert receipt is not None
            assert (receipt.message_id, receipt.stat) == (answer.message_id, "DELIVRD")

        async def delivered() -> bool:
            return all(m.status == Status.DELIVERED for m in await env.messages())

        await until(delivered, "both messages to be delivered")


async def test_an_unreadable_destination_list_gets_generic_nack(settings: Settings) -> None:
    async with smpp_gateway(settings) as env:
        esme = await bound(env)
        # dest_flag 3 (5.2.25 has 1 and 2): the rest of the list cannot be read.
        answer = await multi(esme, [Dest("x", flag=3), Dest(NUMBER[1:])])
        assert (answer.command_id, answer.status) == (GENERIC_NACK, c.SMPP_ESME_RINVDESTFLAG)
        assert await env.messages() == []
        good = await multi(esme, [Dest(NUMBER[1:])])
        assert (good.status, good.unsuccess) == (OK, [])
