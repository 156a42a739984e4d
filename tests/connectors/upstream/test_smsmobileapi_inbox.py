"""Two processes running the same smsmobileapi connector (as on PostgreSQL): the lease lets
one of them poll B's inbox, and the other takes over once the first stops."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence

from tests.connectors.upstream.test_smsmobileapi import HANDSET, OWN_NUMBER, gateway_b
from tests.support import until
from textgate.config import Settings
from textgate.connectors.kinds import ConnectorContext, build, parse_options
from textgate.connectors.smpp.bind_leases import BindLeases
from textgate.connectors.upstream.inbox import InboxConnector
from textgate.connectors.upstream.smsmobileapi import SmsmobileapiOptions
from textgate.core.inbound import InboundMessage
from textgate.core.message import DeliveryReport
from textgate.loops import LoopRegistry
from textgate.storage.db import Database
from textgate.storage.link_leases import LinkLeases

NAME = "phones-b"


class Process:
    """One process's connector: a sink that records (and holds its caller until released),
    and a count of its lease rounds that found the inbox not its own."""

    def __init__(self, db: Database, owner: str, base_url: str, key: str) -> None:
        self.taken: list[InboundMessage] = []
        self.release = asyncio.Event()
        self.passed = 0
        self.held = 0
        leases = LinkLeases(db).owned_by(NAME, owner)
        options = parse_options(
            SmsmobileapiOptions,
            {
                "base_url": base_url,
                "api_key": key,
                "inbound": "poll",
                "inbound_poll_seconds": 0.05,
                "phone_number": OWN_NUMBER,
            },
            "connectors[0].options",
            "smsmobileapi",
        )
        context = ConnectorContext(loops=LoopRegistry(), leases=lambda _: self._counted(leases))
        connector = build("smsmobileapi", NAME, options, context)
        assert isinstance(connector, InboxConnector)
        self.connector = connector

    def _counted(self, leases: BindLeases) -> BindLeases:
        process = self

        class Counted:
            async def hold(self, binds: int, ttl_ms: int) -> tuple[frozenset[int], int]:
                held, members = await leases.hold(binds, ttl_ms)
                if 0 in held:
                    process.held += 1
                else:
                    process.passed += 1
                return held, members

            async def release(self, indexes: Collection[int]) -> None:
                raise AssertionError("the inbox lease is never given back in part")

            async def leave(self) -> None:
                await leases.leave()

        return Counted()

    async def sink(self, items: Sequence[InboundMessage]) -> None:
        self.taken.extend(items)
        await self.release.wait()

    async def start(self) -> None:
        async def reports(_: Sequence[DeliveryReport]) -> None:
            return None

        await self.connector.start(reports, self.sink)


async def test_one_process_polls_and_another_takes_over(settings: Settings, db: Database) -> None:
    async with gateway_b(settings, own_number=OWN_NUMBER) as b:
        first = Process(db, "worker-1", b.running.base_url, b.account.key)
        second = Process(db, "worker-2", b.running.base_url, b.account.key)
        await first.start()
        await until(lambda: first.held > 0, "the first process to hold the inbox lease")
        await second.start()
        try:
            await until(lambda: second.passed > 0, "the second process to find the lease held")
            assert await b.phone.receive_sms(HANDSET, "one") == [204]
            # The first takes it and is held in its sink, the SMS not yet marked read: were
            # the second polling too, it would take the same SMS in its next rounds.
            await until(lambda: len(first.taken) == 1, "the first process to take the SMS")
            rounds = second.passed
            await until(lambda: second.passed >= rounds + 3, "three more rounds of the second")
            assert second.taken == []
            first.release.set()

            async def marked() -> bool:
                unread = await b.call("/getsms/", onlyunread="yes")
                return unread["result"]["sms"] == []

            await until(marked, "the SMS marked read")
            await first.connector.stop()  # gives the lease back

            second.release.set()
            assert await b.phone.receive_sms(HANDSET, "two") == [204]
            await until(lambda: len(second.taken) == 1, "the second process to take over")
            assert [m.text for m in first.taken + second.taken] == ["one", "two"]
        finally:
            first.release.set()
            second.release.set()
            await first.connector.stop()
            await second.connector.stop()
