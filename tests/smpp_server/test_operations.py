"""query_sm, cancel_sm and replace_sm through the SMPP server, against the stored messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import smpplib.consts as c

from tests.smpp_server.harness import (
    CANCEL_SM_RESP,
    REPLACE_SM_RESP,
    Env,
    connected,
    smpp_gateway,
)
from tests.support import until
from textgate.config import Settings
from textgate.connectors.smpp.constants import MessageState
from textgate.connectors.smpp.times import parse_time
from textgate.core.message import Status

OK = c.SMPP_ESME_ROK
LATER = "991231235959000+"  # 7.1.1: 2099-12-31 23:59:59 UTC


async def status_of(env: Env, message_id: str) -> Status:
    return (await env.services.messages.get(env.account_id, message_id)).status


async def test_query_sm_answers_from_storage(settings: Settings) -> None:
    async with smpp_gateway(settings) as env:
        esme = await connected(env)
        assert (await esme.call("bind", "transceiver")).status == OK
        sent = await esme.call("submit")
        waiting = await esme.call("submit", schedule_delivery_time=LATER)

        async def delivered() -> bool:
            return await status_of(env, sent.message_id) == Status.DELIVERED

        await until(delivered, "the message to be delivered")
        command, status, state, final_date, error = await esme.call("query", sent.message_id)
        assert (command, status, state, error) == ("query_sm_resp", OK, MessageState.DELIVERED, 0)
        stored = await env.services.messages.get(env.account_id, sent.message_id)
        when = parse_time(final_date, datetime.now(UTC))
        assert when is not None
        assert abs(when - stored.updated_at) < timedelta(seconds=1)
        assert await esme.call("query", waiting.message_id) == (
            "query_sm_resp",
            OK,
            MessageState.ENROUTE,
            "",
            0,
        )
        unknown = await esme.call("query", "01ZZZZZZZZZZZZZZZZZZZZZZZZ")
        assert unknown[:2] == ("query_sm_resp", c.SMPP_ESME_RINVMSGID)


async def test_cancel_sm_cancels_what_has_not_left(settings: Settings) -> None:
    async with smpp_gateway(settings) as env:
        esme = await connected(env)
        assert (await esme.call("bind", "transmitter")).status == OK
        waiting = await esme.call("submit", schedule_delivery_time=LATER)
        assert await esme.call("cancel", waiting.message_id) == (CANCEL_SM_RESP, OK)
        assert await status_of(env, waiting.message_id) == Status.CANCELLED
        state = await esme.call("query", waiting.message_id)
        assert state[2] == MessageState.DELETED and state[3] != ""
        again = await esme.call("cancel", waiting.message_id)
        assert again == (CANCEL_SM_RESP, c.SMPP_ESME_RCANCELFAIL)
        unknown = await esme.call("cancel", "01ZZZZZZZZZZZZZZZZZZZZZZZZ")
        assert unknown == (CANCEL_SM_RESP, c.SMPP_ESME_RINVMSGID)
        every = await esme.call("cancel", "")
        assert every == (CANCEL_SM_RESP, c.SMPP_ESME_RCANCELFAIL)


async def test_replace_sm_refuses_a_nul_as_a_submit_does(settings: Settings) -> None:
    async with smpp_gateway(settings) as env:
        esme = await connected(env)
        assert (await esme.call("bind", "transmitter")).status == OK
        waiting = await esme.call(
            "submit",
            schedule_delivery_time=LATER,
            data_coding=8,
            short_message="été".encode("utf-16-be"),
        )
        # replace_sm has no data coding: its text is read in the message's own (UCS-2).
        answer = await esme.call("replace", waiting.message_id, "a\x00b".encode("utf-16-be"))
        assert answer == (REPLACE_SM_RESP, c.SMPP_ESME_RREPLACEFAIL)
        stored = await env.services.messages.get(env.account_id, waiting.message_id)
        assert (stored.text, stored.status) == ("été", Status.SCHEDULED)


async def test_replace_sm_applies_the_duplicate_filter(settings: Settings) -> None:
    """A new text is checked as a submit's is: one that went to the same recipient within
    the account's duplicate window is refused; the message keeps its own."""
    async with smpp_gateway(settings) as env:
        await env.services.accounts.update_settings(env.account_id, {"dedupe": True})
        esme = await connected(env)
        assert (await esme.call("bind", "transmitter")).status == OK
        sent = await esme.call("submit", short_message=b"your code is 1234")
        assert sent.status == OK
        waiting = await esme.call("submit", schedule_delivery_time=LATER, short_message=b"later")
        assert waiting.status == OK
        mid = waiting.message_id
        answer = await esme.call("replace", mid, b"your code is 1234")
        assert answer == (REPLACE_SM_RESP, c.SMPP_ESME_RREPLACEFAIL)
        assert (await env.services.messages.get(env.account_id, mid)).text == "later"
        # Its own text again is no duplicate of itself; another text is free.
        assert await esme.call("replace", mid, b"later") == (REPLACE_SM_RESP, OK)
        assert await esme.call("replace", mid, b"fresh") == (REPLACE_SM_RESP, OK)
        assert (await env.services.messages.get(env.account_id, mid)).text == "fresh"


async def test_a_receiver_bind_may_not_query_or_cancel(settings: Settings) -> None:
    async with smpp_gateway(settings) as env:
        sender = await connected(env)
        assert (await sender.call("bind", "transmitter")).status == OK
        waiting = await sender.call("submit", schedule_delivery_time=LATER)
        receiver = await connected(env)
        assert (await receiver.call("bind", "receiver")).status == OK
        query = await receiver.call("query", waiting.message_id)
        assert query[:2] == ("query_sm_resp", c.SMPP_ESME_RINVBNDSTS)
        cancel = await receiver.call("cancel", waiting.message_id)
        assert cancel == (CANCEL_SM_RESP, c.SMPP_ESME_RINVBNDSTS)
        replace = await receiver.call("replace", waiting.message_id, b"other")
        assert replace == (REPLACE_SM_RESP, c.SMPP_ESME_RINVBNDSTS)
        assert await status_of(env, waiting.message_id) == Status.SCHEDULED


async def test_replace_sm_replaces_what_has_not_left(settings: Settings) -> None:
    earlier = "991230000000000+"  # 2099-12-30 00:00:00 UTC
    async with smpp_gateway(settings) as env:
        esme = await connected(env)
        assert (await esme.call("bind", "transceiver")).status == OK
        waiting = await esme.call("submit", schedule_delivery_time=LATER)
        mid = waiting.message_id
        # New text, an earlier schedule, a validity and a receipt request.
        answer = await esme.call(
            "replace", mid, b"hallo", schedule=earlier, validity=LATER, registered_delivery=1
        )
        assert answer == (REPLACE_SM_RESP, OK)
        stored = await env.services.messages.get(env.account_id, mid)
        assert (stored.text, stored.status, stored.receipt) == ("hallo", Status.SCHEDULED, "always")
        assert stored.scheduled_at == datetime(2099, 12, 30, tzinfo=UTC)
        assert stored.valid_until == datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC)
        assert [e.status for e in stored.events] == [Status.SCHEDULED]
        # What it cannot be: longer (a second part, not paid for), valid only before its
        # schedule, a canned message, or a message that does not exist.
        assert await esme.call("replace", mid, b"x" * 200) == (
            REPLACE_SM_RESP,
            c.SMPP_ESME_RREPLACEFAIL,
        )
        assert await esme.call("replace", mid, validity="991229000000000+") == (
            REPLACE_SM_RESP,
            c.SMPP_ESME_RINVEXPIRY,
        )
        assert await esme.call("replace", mid, validity="not a time") == (
            REPLACE_SM_RESP,
            c.SMPP_ESME_RINVEXPIRY,
        )
        # Octets above 0x7F under data coding 0 are Latin-1: no GSM-7 text.
        assert await esme.call("replace", mid, "ça".encode("latin-1")) == (
            REPLACE_SM_RESP,
            c.SMPP_ESME_RREPLACEFAIL,
        )
        assert await esme.call("replace", mid, default_msg_id=3) == (
            REPLACE_SM_RESP,
            c.SMPP_ESME_RINVDFTMSGID,
        )
        assert await esme.call("replace", "01ZZZZZZZZZZZZZZZZZZZZZZZZ", b"x") == (
            REPLACE_SM_RESP,
            c.SMPP_ESME_RINVMSGID,
        )
        assert (await env.services.messages.get(env.account_id, mid)).text == "hallo"
        # Due now (a relative schedule of nothing): queued, sent with its new text.
        due_now = "000000000000000R"
        assert await esme.call("replace", mid, b"hello again", schedule=due_now) == (
            REPLACE_SM_RESP,
            OK,
        )

        async def delivered() -> bool:
            return await status_of(env, mid) == Status.DELIVERED

        await until(delivered, "the replaced message to be delivered")
        sent = await env.services.messages.get(env.account_id, mid)
        assert sent.text == "hello again"
        assert sent.events[1].status == Status.QUEUED and sent.events[1].detail == "replaced"
        # It has left: nothing to replace any more.
        assert await esme.call("replace", mid, b"too late") == (
            REPLACE_SM_RESP,
            c.SMPP_ESME_RREPLACEFAIL,
        )
