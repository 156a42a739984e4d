"""The system_id and password hash each account binds to the SMPP server with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from textgate.core.clock import from_ms
from textgate.storage.db import Database
from textgate.storage.logins import NamedLogins
from textgate.storage.tables import smpp_logins

__all__ = ["SmppLogin", "SmppLoginRepo"]


@dataclass(frozen=True, slots=True)
class SmppLogin:
    """A system_id an account binds with (its password is only stored as a hash)."""

    system_id: str
    created_at: datetime
    """When this system_id and password were set (setting them again replaces the pair)."""


class SmppLoginRepo(NamedLogins):
    def __init__(self, db: Database) -> None:
        super().__init__(db, smpp_logins, "system_id")

    async def system_id(self, account_id: str) -> str | None:
        return await self.name_of(account_id)

    async def of_account(self, account_id: str) -> list[SmppLogin]:
        return [SmppLogin(name, from_ms(at)) for name, at in await self.names(account_id)]
