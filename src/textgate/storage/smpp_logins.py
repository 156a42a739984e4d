"""The system_id and password hash each account binds to the SMPP server with."""

from __future__ import annotations

from textgate.storage.db import Database
from textgate.storage.logins import NamedLogins
from textgate.storage.tables import smpp_logins

__all__ = ["SmppLoginRepo"]


class SmppLoginRepo(NamedLogins):
    def __init__(self, db: Database) -> None:
        super().__init__(db, smpp_logins, "system_id")

    async def system_id(self, account_id: str) -> str | None:
        return await self.name_of(account_id)
