"""The whole loop through an emulated phone: send, wake, pull, report, receive."""

from __future__ import annotations

import time

from tests.android.conftest import Account, PhoneFactory, send, wait_status
from tests.support import Running


async def test_a_message_reaches_the_phone_and_is_delivered(
    running: Running, account: Account, phone: PhoneFactory
) -> None:
    async with phone() as p:
        started = time.monotonic()
        message_id = await send(running, account, "+33612345678")
        await p.wait_for(lambda: any(m.state == "Delivered" for m in p.messages.values()))
        assert time.monotonic() - started < 1.0
        body = await wait_status(running, account, message_id, "delivered")
        assert [e["status"] for e in body["history"]][-1] == "delivered"
        [local] = p.messages.values()
        assert local.phone_numbers == ["+33612345678"]
        assert local.text == "hello"
