"""The SMPP server's queue of deliver_sm to its customers, as the server sees it: claim the
rows of the accounts bound here, record each one's outcome (``storage.smpp_outbox`` says
what is queued and when)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from textgate.core.clock import Clock, system_clock
from textgate.storage.outbox import QueueOutcome
from textgate.storage.smpp_outbox import INBOUND, RECEIPT, DueDeliverSm, SmppOutboxRepo

__all__ = ["INBOUND", "RECEIPT", "DueDeliverSm", "SmppDeliveryService"]


class SmppDeliveryService:
    def __init__(self, repo: SmppOutboxRepo, clock: Clock = system_clock) -> None:
        self._repo = repo
        self._clock = clock

    async def claim(
        self, accounts: Collection[str], *, lease_ms: int, limit: int
    ) -> list[DueDeliverSm]:
        """Due rows of ``accounts``, leased for ``lease_ms``: sent again after that unless
        an outcome is recorded first."""
        return await self._repo.claim(accounts, now=self._clock(), lease_ms=lease_ms, limit=limit)

    async def record(self, outcomes: Sequence[QueueOutcome]) -> None:
        await self._repo.record(outcomes, now=self._clock())

    async def pending(self, account_id: str) -> int:
        """The account's deliver_sm not delivered yet."""
        return await self._repo.pending(account_id)

    async def pending_by_account(self, accounts: Collection[str]) -> dict[tuple[str, str], int]:
        """The deliver_sm not delivered yet of these accounts, by (account id, kind)."""
        return await self._repo.pending_by_account(accounts)

    async def purge(self, older_than_ms: int) -> None:
        await self._repo.purge(older_than_ms)
