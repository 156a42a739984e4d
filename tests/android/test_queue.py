"""The device queue against the database alone: what a fast phone's early report does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from textgate.config import Settings
from textgate.core.clock import system_clock
from textgate.core.devices import (
    Outgoing,
    PhoneReport,
    PlacementRules,
    ProcessingState,
    RecipientState,
    SimCard,
)
from textgate.runtime import Gateway
from textgate.services.devices import RegistrationAuth
from textgate.services.submit import SubmitRequest
from textgate.storage.device_queue import DeviceQueue
from textgate.storage.queue import Sent


@pytest.fixture
async def gw(settings: Settings) -> AsyncIterator[Gateway]:
    gateway = Gateway(settings)
    await gateway.start(dispatch=False, migrate=True)
    try:
        yield gateway
    finally:
        await gateway.stop()


async def test_a_report_before_the_id_is_recorded_is_applied_when_it_is(gw: Gateway) -> None:
    services = gw.services
    account = await services.accounts.create("acme")
    key = await services.accounts.issue_key(account.id)
    phone = await services.devices.register(
        RegistrationAuth(private_token=key.token), "p", push_token=None, sim_cards=[SimCard()]
    )
    result = await services.submit.submit(
        SubmitRequest(account=account, recipients=["+33612345678"], text="hi")
    )
    [message] = result.messages
    [claim] = await gw.queue.claim(now=system_clock(), lease_ms=60_000, limit=10)
    queue = DeviceQueue(gw.db)
    [placed] = await queue.place(
        "phones",
        [Outgoing(claim.id, claim.recipient, claim.sender, claim.text)],
        PlacementRules(),
        frozenset(),
    )
    assert placed.device_id == phone.device.id and placed.external_id
    # The phone pulls and reports delivery before the dispatcher has recorded "sent".
    report = PhoneReport(
        placed.external_id,
        ProcessingState.DELIVERED,
        (RecipientState("+33612345678", ProcessingState.DELIVERED),),
        ((ProcessingState.DELIVERED, datetime(2026, 1, 1, tzinfo=UTC)),),
    )
    await queue.report(phone.device.id, [report])
    assert (await services.messages.get(account.id, message.id)).status.value == "sending"
    await gw.queue.record(
        now=system_clock(),
        sent=[Sent(claim, "phones", placed.external_id)],
        retries=[],
        failures=[],
    )
    assert (await services.messages.get(account.id, message.id)).status.value == "delivered"
