"""The SMSC simulator's failure rules and query_sm, driven through real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.connectors.smpp.test_smsc import Esme, esme_of
from tests.support import WAIT
from textgate.connectors.smpp.constants import CommandStatus, MessageState, Tag
from textgate.connectors.smpp.pdus import QuerySm, QuerySmResp, SubmitSmResp
from textgate.connectors.smpp.receipts import parse_receipt
from textgate.connectors.smpp.smsc import Smsc, SmscOptions, SmscRule
from textgate.connectors.smpp.smsc_rules import (
    BadReceipt,
    SubmitAction,
    load_rules,
    parse_status,
)
from textgate.errors import ConnectorError

S = CommandStatus


async def _started(**options: Any) -> Smsc:
    smsc = Smsc(SmscOptions.from_mapping({"port": 0, "receipt_delay_ms": 0, **options}))
    await smsc.start()
    return smsc


@pytest.fixture
async def ruled() -> AsyncIterator[Smsc]:
    smsc = await _started(
        rules=[
            {"prefix": "1", "submit_status": "ESME_RTHROTTLED"},
            {"prefix": "+12", "submit_status": "RMSGQFUL"},
            {"prefix": "123", "submit_status": "0x0B"},
            {"prefix": "124", "submit_status": 8},
            {"prefix": "2", "action": "drop"},
            {"prefix": "3", "action": "ignore"},
            {"prefix": "4", "response_delay_ms": 1000},
            {"prefix": "5", "final_stat": "UNDELIV", "enroute_first": True},
            # Long enough for three more submits and their receipts on a busy machine.
            {"prefix": "6", "receipt_delay_ms": 2000},
            {"prefix": "7", "receipt_delay_ms": 3_600_000},
            {"prefix": "80", "bad_receipt": "garbled"},
            {"prefix": "81", "bad_receipt": "unknown_id"},
            {"prefix": "82", "bad_receipt": "non_ascii"},
            {"prefix": "83", "bad_receipt": "missing_fields"},
        ]
    )
    try:
        yield smsc
    finally:
        await smsc.stop()


def test_parse_status() -> None:
    assert parse_status("ESME_RTHROTTLED") == 0x58
    assert parse_status("rmsgqful") == 0x14
    assert parse_status("0x0B") == 0x0B
    assert parse_status(8) == 8
    for bad in ("ESME_NOPE", True, -1, 1.5):
        with pytest.raises(ValueError):
            parse_status(bad)


def test_rule_validation() -> None:
    rule = SmscRule.from_mapping({"prefix": "+49", "action": "drop", "bad_receipt": "garbled"})
    assert rule.prefix == "49" and rule.action is SubmitAction.DROP
    assert rule.bad_receipt is BadReceipt.GARBLED
    for bad in (
        {"prefix": "1", "final_stat": "LOST"},
        {"prefix": "1", "action": "explode"},
        {"prefix": "1", "receipt_delay_ms": -5},
        {"prefix": "1", "colour": "red"},
        {"prefix": 1},
    ):
        with pytest.raises(ValueError):
            SmscRule.from_mapping(bad)
    with pytest.raises(ValueError, match="list"):
        SmscOptions.from_mapping({"rules": {"prefix": "1"}})


def test_load_rules_json_and_toml(tmp_path: Path) -> None:
    toml = tmp_path / "rules.toml"
    toml.write_text(
        '[[rules]]\nprefix = "4915"\nsubmit_status = "ESME_RTHROTTLED"\n\n'
        '[[rules]]\nprefix = "491599"\nfinal_stat = "EXPIRED"\nenroute_first = true\n'
    )
    bare = tmp_path / "rules.json"
    bare.write_text('[{"prefix": "33", "action": "ignore"}]')
    assert load_rules(toml) == (
        SmscRule("4915", submit_status=0x58),
        SmscRule("491599", final_stat="EXPIRED", enroute_first=True),
    )
    assert load_rules(bare) == (SmscRule("33", action=SubmitAction.IGNORE),)
    bare.write_text('{"rule": []}')
    with pytest.raises(ValueError, match="unknown keys"):
        load_rules(bare)


def test_longest_prefix_wins() -> None:
    book = SmscOptions(
        final_stat="EXPIRED",
        rules=(SmscRule("49", submit_status=0x14), SmscRule("4915", final_stat="DELETED")),
    ).rule_book()
    assert book.match("+4915123").final_stat == "DELETED"
    assert book.match("4915123").submit_status == 0  # the longer rule does not inherit "49"
    assert book.match("4930").submit_status == 0x14
    assert book.match("4930").final_stat == "EXPIRED"  # unset fields fall back to options
    assert book.match("33").submit_status == 0


async def test_submit_status_per_destination(ruled: Smsc) -> None:
    async with esme_of(ruled) as esme:
        got = [(await esme.submit(d)).command_status for d in ("19", "129", "1234", "1245")]
        ok = await esme.submit("999")
    assert got == [S.ESME_RTHROTTLED, S.ESME_RMSGQFUL, S.ESME_RINVDSTADR, S.ESME_RSYSERR]
    assert ok.command_status == S.ESME_ROK
    assert (ruled.throttled, ruled.rejected, ruled.submitted) == (1, 3, 1)


async def test_drop_closes_the_connection(ruled: Smsc) -> None:
    async with esme_of(ruled) as esme:
        assert esme.session is not None
        with pytest.raises(ConnectorError):
            await esme.submit("2000")
        async with asyncio.timeout(WAIT):
            await esme.session.wait_closed()
    assert ruled.dropped == 1 and ruled.submitted == 0


async def test_ignore_never_answers(ruled: Smsc) -> None:
    async with esme_of(ruled) as esme:
        assert esme.session is not None
        swallowed = asyncio.ensure_future(esme.submit("3000"))
        answered = await esme.submit("999")  # the link still works
        assert answered.command_status == S.ESME_ROK
        assert ruled.ignored == 1
        assert not swallowed.done() and esme.session.outstanding == 1
        swallowed.cancel()


async def test_slow_answer_does_not_hold_up_the_link(ruled: Smsc) -> None:
    async with esme_of(ruled) as esme:
        slow = asyncio.ensure_future(esme.submit("4000"))
        fast = await esme.submit("999")
        assert fast.command_status == S.ESME_ROK
        assert not slow.done()
        resp = await slow
    assert isinstance(resp, SubmitSmResp) and resp.command_status == S.ESME_ROK


async def test_enroute_then_final_stat(ruled: Smsc) -> None:
    async with esme_of(ruled) as esme:
        resp = await esme.submit("5000")
        assert isinstance(resp, SubmitSmResp)
        first, final = await esme.wait_for(2)
    for receipt, stat, state in ((first, "ENROUTE", 1), (final, "UNDELIV", 5)):
        parsed = parse_receipt(receipt.short_message.decode())
        assert parsed is not None and parsed.message_id == resp.message_id
        assert parsed.stat == stat
        assert receipt.tlvs.get_int(Tag.MESSAGE_STATE) == state
        assert receipt.tlvs.get_str(Tag.RECEIPTED_MESSAGE_ID) == resp.message_id


async def test_receipt_delay_per_rule_orders_receipts(ruled: Smsc) -> None:
    async with esme_of(ruled) as esme:
        late = await esme.submit("6000")
        early = [await esme.submit(f"99{i}") for i in range(3)]
        receipts = await esme.wait_for(4)
    ids = [(parse_receipt(r.short_message.decode()) or pytest.fail()).message_id for r in receipts]
    assert isinstance(late, SubmitSmResp)
    assert ids[-1] == late.message_id
    assert ids[:3] == [r.message_id for r in early if isinstance(r, SubmitSmResp)]


async def test_failure_only_receipts() -> None:
    smsc = await _started(rules=[{"prefix": "5", "final_stat": "EXPIRED"}])
    try:
        async with esme_of(smsc) as esme:
            await esme.submit("999", registered_delivery=2)  # delivered: no receipt
            failed = await esme.submit("5000", registered_delivery=2)
            [receipt] = await esme.wait_for(1)
            await esme.submit("998", registered_delivery=0)
        parsed = parse_receipt(receipt.short_message.decode())
        assert isinstance(failed, SubmitSmResp) and parsed is not None
        assert (parsed.message_id, parsed.stat) == (failed.message_id, "EXPIRED")
    finally:
        await smsc.stop()


@pytest.mark.parametrize("prefix", ["80", "81", "82", "83"])
async def test_bad_receipts(ruled: Smsc, prefix: str) -> None:
    async with esme_of(ruled) as esme:
        resp = await esme.submit(prefix + "00")
        [receipt] = await esme.wait_for(1)
    assert isinstance(resp, SubmitSmResp) and receipt.is_delivery_receipt
    data = receipt.short_message
    parsed = parse_receipt(data.decode("latin-1"))
    if prefix == "81":  # well-formed, but about a message that does not exist
        assert parsed is not None
        assert resp.message_id not in parsed.id_candidates()
        assert receipt.tlvs.get_str(Tag.RECEIPTED_MESSAGE_ID) == parsed.message_id
        return
    assert Tag.RECEIPTED_MESSAGE_ID not in receipt.tlvs
    if prefix == "82":
        assert not data.isascii()
        assert parsed is None or resp.message_id not in parsed.id_candidates()
    else:
        assert parsed is None


async def _query(esme: Esme, message_id: str) -> QuerySmResp:
    assert esme.session is not None
    resp = await esme.session.request(QuerySm(sequence_number=0, message_id=message_id))
    assert isinstance(resp, QuerySmResp)
    return resp


async def test_query_sm(ruled: Smsc) -> None:
    async with esme_of(ruled) as esme:
        pending = await esme.submit("7000")
        done = await esme.submit("5000", registered_delivery=1)
        assert isinstance(pending, SubmitSmResp) and isinstance(done, SubmitSmResp)
        await esme.wait_for(2)  # ENROUTE and final receipts of "5000"
        enroute = await _query(esme, pending.message_id)
        final = await _query(esme, done.message_id)
        unknown = await _query(esme, "not-ours")
        forgotten = await _query(esme, done.message_id[:-8] + "ffffffff")
    assert enroute.command_status == 0
    assert (enroute.message_state, enroute.final_date) == (MessageState.ENROUTE, "")
    assert final.message_state == MessageState.UNDELIVERABLE and final.error_code == 1
    assert len(final.final_date) == 16 and final.final_date.endswith("000+")
    assert unknown.command_status == S.ESME_RINVMSGID
    assert forgotten.command_status == S.ESME_RQUERYFAIL
    assert ruled.queried == 2


async def test_query_sm_forgets_ids_of_an_earlier_run() -> None:
    first = await _started()
    async with esme_of(first) as esme:
        resp = await esme.submit("999", registered_delivery=0)
    await first.stop()
    assert isinstance(resp, SubmitSmResp)
    second = await _started()
    try:
        async with esme_of(second) as esme:
            answer = await _query(esme, resp.message_id)
        assert answer.command_status == S.ESME_RINVMSGID
    finally:
        await second.stop()
