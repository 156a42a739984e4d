"""The credentials an account binds to the SMPP server with (``smpp_server/``).

An SMPP bind carries a system_id and a password (SMPP 3.4 4.1.1), C-Octet Strings of at
most 16 and 9 octets with their terminating NUL: 15 and 8 ASCII characters. Each account has
at most one pair; the password is stored as a salted scrypt hash (``core.passwords``), and
failed binds count against the same budgets as every other login (``LoginLimiter``).
"""

from __future__ import annotations

import asyncio
import hashlib

from textgate.core.accounts import Account
from textgate.core.clock import Clock, from_ms, system_clock
from textgate.core.passwords import hash_password, verify_password
from textgate.core.policy import check_request
from textgate.errors import AuthenticationFailed, InvalidRequest, NotFound, PolicyDenied
from textgate.services.accounts import AccountService
from textgate.services.login_limiter import LoginLimiter
from textgate.storage.smpp_logins import SmppLogin, SmppLoginRepo

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "MAX_SYSTEM_ID_LENGTH",
    "UNKNOWN_SYSTEM_ID",
    "WRONG_PASSWORD",
    "SmppLogin",
    "SmppLoginService",
]

# SMPP 3.4 4.1.1 (bind_transmitter): system_id Var. max 16, password Var. max 9, both
# C-Octet Strings, so the NUL that ends each takes one octet.
MAX_SYSTEM_ID_LENGTH = 15
MAX_PASSWORD_LENGTH = 8
# AuthenticationFailed codes: which half of the credentials was wrong (see verify).
UNKNOWN_SYSTEM_ID = "unknown_system_id"
WRONG_PASSWORD = "wrong_password"  # noqa: S105 (an error code, not a secret)


def _check_c_string(what: str, value: str, longest: int) -> None:
    # 3.1 (data type definitions): a C-Octet String is ASCII; a NUL would end it early.
    if not 0 < len(value) <= longest:
        raise InvalidRequest(
            f"an SMPP {what} has 1 to {longest} characters (SMPP 3.4 4.1.1); "
            f"this one has {len(value)}"
        )
    if not all(" " < c <= "~" for c in value):
        raise InvalidRequest(f"an SMPP {what} is printable ASCII without spaces")


class SmppLoginService:
    def __init__(
        self,
        repo: SmppLoginRepo,
        accounts: AccountService,
        *,
        limiter: LoginLimiter,
        clock: Clock = system_clock,
    ) -> None:
        self._repo = repo
        self._accounts = accounts
        self._limiter = limiter
        self._clock = clock

    async def set_login(self, account_id: str, system_id: str, password: str) -> SmppLogin:
        """Give the account a system_id and password (replacing any it had). New binds need
        the new pair; binds open with the old one end at their next recheck
        (``smpp_server.login_recheck_seconds``)."""
        _check_c_string("system_id", system_id, MAX_SYSTEM_ID_LENGTH)
        _check_c_string("password", password, MAX_PASSWORD_LENGTH)
        # scrypt takes tens of milliseconds of CPU on purpose: off the event loop.
        stored = await asyncio.to_thread(hash_password, password)
        now = self._clock()
        await self._repo.set_login(account_id, system_id, stored, now)
        self._limiter.forget(system_id)
        return SmppLogin(system_id, from_ms(now))

    async def system_id(self, account_id: str) -> str | None:
        return await self._repo.system_id(account_id)

    async def of_account(self, account_id: str) -> list[SmppLogin]:
        """The account's system_ids (an account has one at most), never their passwords."""
        return await self._repo.of_account(account_id)

    async def remove(self, account_id: str, system_id: str) -> None:
        """Delete the account's login of this system_id: new binds with it are refused, and
        binds open with it end at their next recheck. NotFound if the account has no such
        login."""
        if not await self._repo.remove(account_id, system_id):
            raise NotFound(f"no SMPP login {system_id!r}")

    async def bind(self, system_id: str, password: str, *, client_ip: str | None) -> Account:
        """The account of :meth:`bind_login`."""
        account, _ = await self.bind_login(system_id, password, client_ip=client_ip)
        return account

    async def recheck(self, system_id: str, login: str, *, client_ip: str | None) -> Account | None:
        """The account as it is now, for a bind made with ``login`` (what
        :meth:`bind_login` returned): None if the login was removed or set again since, or
        its account is gone or no longer admits ``client_ip``."""
        found = await self._repo.login(system_id)
        if found is None or _fingerprint(found[1]) != login:
            return None
        try:
            account = await self._accounts.get(found[0])
            check_request(account.rules, client_ip=client_ip, recipients=0)
        except (NotFound, PolicyDenied):
            return None
        return account

    async def bind_login(
        self, system_id: str, password: str, *, client_ip: str | None
    ) -> tuple[Account, str]:
        """The account a bind's credentials name, if it may bind from ``client_ip``, and a
        name of the login as it is set now (for :meth:`recheck`).

        Raises AuthenticationFailed with code UNKNOWN_SYSTEM_ID or WRONG_PASSWORD (the
        SMPP server answers each with its own command_status), RateLimited past the failed
        login budget, PolicyDenied when the account's IP allowlist does not cover
        ``client_ip``.
        """
        account, login = await self._limiter.attempt(
            system_id, client_ip, lambda: self._check(system_id, password)
        )
        check_request(account.rules, client_ip=client_ip, recipients=0)
        return account, login

    async def _check(self, system_id: str, password: str) -> tuple[Account, str]:
        found = await self._repo.login(system_id) if system_id else None
        # An unknown system_id is hashed too, so the answer takes as long either way.
        ok = await asyncio.to_thread(verify_password, password, None if found is None else found[1])
        if found is None:
            raise AuthenticationFailed("unknown system_id", code=UNKNOWN_SYSTEM_ID)
        if not ok:
            raise AuthenticationFailed("wrong password", code=WRONG_PASSWORD)
        try:
            return await self._accounts.get(found[0]), _fingerprint(found[1])
        except NotFound as exc:
            raise AuthenticationFailed("unknown system_id", code=UNKNOWN_SYSTEM_ID) from exc


def _fingerprint(password_hash: str) -> str:
    """Names one setting of a login (a new password, or the same one set again, hashes
    with a new salt) without a bind keeping the hash itself."""
    return hashlib.sha256(password_hash.encode()).hexdigest()
