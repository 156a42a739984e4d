"""query_sm and cancel_sm through the SMPP server, answered from the stored messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import smpplib.consts as c

from tests.smpp_server.harness import CANCEL_SM_RESP, Env, connected, smpp_gateway
from tests.support import until
from textgate.config import Settings
from textgate.connectors.smpp.constants import MessageState
from textgate.core.message import Status
from textgate.connectors.smpp.times import parse_time

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
        assert await status_of(env, waiting.message_id) == Status.SCHEDULED
