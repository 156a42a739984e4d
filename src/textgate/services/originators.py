"""Authorised SMTP originators (ASPSMS SMTP interface, seed 004): sender addresses whose
mail to ``<number>@<domain>`` is sent as SMS from an account.

The address is the only credential ("the sender email address is the secret", seed 004),
so it is compared case-insensitively, is unique across accounts, is never logged, and is
stored only as a keyed digest (``SecretBox.digest``); lists show it masked.
"""

from __future__ import annotations

import asyncio

from textgate.core.accounts import Account
from textgate.core.clock import Clock, system_clock
from textgate.core.mail import mail_address
from textgate.core.numbers import validate_sender
from textgate.errors import AuthenticationFailed, NotFound
from textgate.services.accounts import AccountService
from textgate.services.login_limiter import LoginLimiter
from textgate.storage.originators import OriginatorRepo, SmtpOriginator
from textgate.storage.secrets import SecretBox

__all__ = ["OriginatorService", "SmtpOriginator"]

# Refused sender addresses are counted with the failed logins, under a name no username
# can have (usernames have no ':').
LIMIT_PREFIX = "smtp-originator:"


def _key(address: str) -> str:
    return address.strip().lower()


def masked(address: str) -> str:
    """What lists show of an address: enough for its owner to recognise it
    (``j***@shop.example``), not enough to send with it."""
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}***@{domain}" if local else "***"


class OriginatorService:
    def __init__(
        self,
        repo: OriginatorRepo,
        accounts: AccountService,
        limiter: LoginLimiter,
        box: SecretBox,
        clock: Clock = system_clock,
    ) -> None:
        self._repo = repo
        self._accounts = accounts
        self._limiter = limiter
        self._box = box
        self._clock = clock

    async def _digest(self, address: str) -> str:
        if not self._box.ready:
            # Deriving the key takes a tenth of a second of CPU: not on the event loop.
            await asyncio.to_thread(self._box.prepare)
        return self._box.digest(_key(address))

    async def add(self, account_id: str, address: str, originator: str | None = None) -> None:
        """Authorise ``address``; ``originator`` is its default SMS sender."""
        addr = _key(mail_address(address, "address").addr_spec)
        sender = validate_sender(originator) if originator else None
        digest = await self._digest(addr)
        await self._repo.add(account_id, digest, masked(addr), sender, self._clock())

    async def remove(self, account_id: str, address: str) -> None:
        if not await self._repo.remove(account_id, await self._digest(address)):
            raise NotFound("no such authorised originator for this account")

    async def digest_stored(self) -> int:
        """Replace addresses stored in clear (before revision 0018) by their digests; run
        at start, after the migrations. Returns how many."""
        clear = await self._repo.undigested()
        for address in clear:
            await self._repo.digest_stored(address, await self._digest(address), masked(address))
        return len(clear)

    async def of_account(self, account_id: str) -> list[SmtpOriginator]:
        return await self._repo.of_account(account_id)

    async def admit(self, address: str, client_ip: str | None) -> tuple[Account, str | None]:
        """:meth:`resolve`, for a client that may be guessing: each address refused counts
        against the client's login budgets, and past them it is refused unchecked."""
        return await self._limiter.attempt(
            LIMIT_PREFIX + _key(address), client_ip, lambda: self.resolve(address)
        )

    async def resolve(self, address: str) -> tuple[Account, str | None]:
        """The account that authorised ``address`` and its default originator."""
        found = await self._repo.get(await self._digest(address)) if address else None
        if found is None:
            raise AuthenticationFailed("the sender address is not an authorised SMTP originator")
        try:
            account = await self._accounts.get(found.account_id)
        except NotFound as exc:
            raise AuthenticationFailed(
                "the sender address is not an authorised SMTP originator"
            ) from exc
        return account, found.originator
