"""API-key verdicts: cached, and looked up once for concurrent requests."""

from __future__ import annotations

import asyncio

from textgate.errors import AuthenticationFailed
from textgate.services.accounts import AccountService
from textgate.storage.accounts import AccountRepo
from textgate.storage.credits import CreditRepo
from textgate.storage.db import Database


class CountingRepo(AccountRepo):
    lookups = 0

    async def key_hash(self, key_id: str) -> tuple[str, str] | None:
        self.lookups += 1
        await asyncio.sleep(0.01)  # a lookup that takes a while, as under load
        return await super().key_hash(key_id)


async def test_concurrent_requests_share_one_lookup(db: Database) -> None:
    repo = CountingRepo(db)
    service = AccountService(repo, CreditRepo(db), cache_seconds=60)
    account = await service.create("acme")
    token = (await service.issue_key(account.id)).token
    found = await asyncio.gather(*(service.authenticate(token) for _ in range(20)))
    assert {a.id for a in found} == {account.id}
    assert repo.lookups == 1
    await service.authenticate(token)  # cached
    assert repo.lookups == 1
    # A bad key fails every concurrent caller, and is not cached as good.
    bad = token[:-4] + "xxxx"
    results = await asyncio.gather(
        *(service.authenticate(bad) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, AuthenticationFailed) for r in results)
    assert repo.lookups == 2
