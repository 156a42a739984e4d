"""The phones' storage against the database alone: a taken login, the sent log's keyword
search, a resend recorded twice, and a pull that a sweep cannot undo."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from textgate.config import Settings
from textgate.core.accounts import Account
from textgate.core.clock import system_clock
from textgate.core.devices import Outgoing, PlacementRules, SimCard
from textgate.errors import Conflict
from textgate.runtime import Gateway
from textgate.services.devices import RegistrationAuth
from textgate.services.submit import SubmitRequest
from textgate.storage.device_queue import DeviceQueue
from textgate.storage.devices import DeviceRepo, NewDevice
from textgate.storage.phone_sms import PhoneSmsRepo, SentFilter
from textgate.storage.secrets import SecretBox


@pytest.fixture
async def gw(settings: Settings) -> AsyncIterator[Gateway]:
    gateway = Gateway(settings)
    await gateway.start(dispatch=False, migrate=True)
    try:
        yield gateway
    finally:
        await gateway.stop()


def _device(account_id: str, n: int, login: str) -> NewDevice:
    return NewDevice(
        id=f"device-{n}",
        account_id=account_id,
        name=f"p{n}",
        token_hash=f"{n:064d}",
        login=login,
        password_hash="x",
        signing_key="key",
        push_token=None,
        sim_cards=[SimCard(slot_index=0, sim_number=1, phone_number="+33612345678")],
    )


async def test_a_taken_login_is_a_conflict(gw: Gateway) -> None:
    account = await gw.services.accounts.create("acme")
    repo = DeviceRepo(gw.db, SecretBox("a test key"))
    first = await repo.add(_device(account.id, 1, "ABCDEF"))
    assert first.sim_cards[0].phone_number == "+33612345678" and first.pending == 0
    with pytest.raises(Conflict):
        await repo.add(_device(account.id, 2, "ABCDEF"))
    assert [d.id for d in await repo.of_account(account.id)] == ["device-1"]
    found = await repo.signing_key("device-1")
    assert found is not None and found[1] == "key"


async def _submit(gw: Gateway, account: Account, text: str) -> str:
    result = await gw.services.submit.submit(
        SubmitRequest(account=account, recipients=["+33612345678"], text=text)
    )
    return result.messages[0].id


async def test_the_keyword_is_matched_literally(gw: Gateway) -> None:
    account = await gw.services.accounts.create("acme")
    percent = await _submit(gw, account, "50% off")
    await _submit(gw, account, "500 off")
    under = await _submit(gw, account, "a_b")
    await _submit(gw, account, "axb")
    repo = PhoneSmsRepo(gw.db)
    assert [s.id for s in await repo.sent(account.id, SentFilter(keyword="50%"))] == [percent]
    assert [s.id for s in await repo.sent(account.id, SentFilter(keyword="a_b"))] == [under]


async def test_a_resend_recorded_twice_is_kept_once(gw: Gateway) -> None:
    account = await gw.services.accounts.create("acme")
    root = await _submit(gw, account, "hi")
    again = await _submit(gw, account, "hi")
    repo = PhoneSmsRepo(gw.db)
    await repo.record_resends([(again, root, 1)])
    await repo.record_resends([(again, root, 1)])
    source = await repo.resend_source(account.id, again)
    assert source is not None
    assert (source.root_id, source.latest_id, source.attempts) == (root, again, 1)
    listed = await repo.sent(account.id, SentFilter(guid=root))
    assert {s.id for s in listed} == {root, again}


async def test_a_pulled_message_stays_with_its_phone(gw: Gateway) -> None:
    services = gw.services
    account = await services.accounts.create("acme")
    key = await services.accounts.issue_key(account.id)
    auth = RegistrationAuth(private_token=key.token)
    phone = await services.devices.register(auth, "p", push_token=None, sim_cards=[SimCard()])
    await _submit(gw, account, "one")
    await _submit(gw, account, "two")
    claims = await gw.queue.claim(now=system_clock(), lease_ms=60_000, limit=10)
    queue = DeviceQueue(gw.db)
    rules = PlacementRules(offline_after_seconds=30)
    [first, second] = [Outgoing(c.id, c.recipient, None, c.text) for c in claims]
    [taken] = await queue.place("phones", [first], rules, frozenset())
    assert [m.id for m in await queue.pull(phone.device.id, fifo=True)] == [taken.external_id]
    [left] = await queue.place("phones", [second], rules, frozenset())
    # A minute later the phone has gone quiet and another one is connected: the message it
    # never pulled fails over, the one it pulled stays with it.
    other = await services.devices.register(auth, "q", push_token=None, sim_cards=[SimCard()])
    later = DeviceQueue(gw.db, lambda: system_clock() + 60_000)
    swept = await later.sweep("phones", rules, frozenset({other.device.id}))
    assert swept.woken == frozenset({other.device.id})
    assert [m.id for m in await queue.pull(phone.device.id, fifo=False)] == [taken.external_id]
    assert [m.id for m in await queue.pull(other.device.id, fifo=True)] == [left.external_id]
