"""The one limiter of failed logins, shared by every interface that checks a secret a
client could guess: usernames and passwords (smsend, MailUp, SMTP AUTH, ASPSMS, the
dashboard, phones), OAuth2 client credentials, and ASPSMS's authorised sender addresses.

Budgets are in :mod:`textgate.core.login_limits`. Counts live in this process's memory, in
bounded caches that forget each count a window after its last failure; a restart, or
another process of a cluster, starts afresh (scrypt still slows every guess).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

from cachetools import TTLCache

from textgate.core.clock import Clock, system_clock
from textgate.core.login_limits import LoginBudget, network_of, refusal
from textgate.errors import AuthenticationFailed, RateLimited

__all__ = ["MAX_TRACKED_ADDRESSES", "MAX_TRACKED_LOGINS", "LoginLimiter"]

T = TypeVar("T")

# Past these, expired counts go first, then the least recently used. One network cannot
# fill the login cache with usernames: it hits its own budget long before (50 << 100,000).
MAX_TRACKED_LOGINS = 100_000
MAX_TRACKED_ADDRESSES = 50_000


def _name(username: str) -> bytes:
    # A digest: a fixed 16 bytes however long the name a client sends, and no secret (an
    # authorised sender address) kept in clear. Lone surrogates are hashed, not refused.
    return hashlib.blake2b(username.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class _Count:
    """A mutable count: a success lowers it without renewing its expiry (re-storing an
    entry in a TTL cache would)."""

    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        self.n = n


class LoginLimiter:
    def __init__(
        self,
        budget: LoginBudget | None = None,
        *,
        clock: Clock = system_clock,
        max_logins: int = MAX_TRACKED_LOGINS,
        max_addresses: int = MAX_TRACKED_ADDRESSES,
    ) -> None:
        self.budget = budget or LoginBudget()
        ttl = self.budget.window_ms
        self._logins: TTLCache[tuple[bytes, str], _Count, int] = TTLCache(max_logins, ttl, clock)
        self._addresses: TTLCache[str, _Count, int] = TTLCache(max_addresses, ttl, clock)

    async def attempt(
        self, username: str, address: str | None, check: Callable[[], Awaitable[T]]
    ) -> T:
        """Run ``check`` (which raises ``AuthenticationFailed`` for wrong credentials) if
        ``username`` from ``address`` is within its budgets, else raise ``RateLimited``."""
        network = network_of(address)
        pair = (_name(username), network)
        login = self._logins.get(pair)
        net = self._addresses.get(network)
        refused = refusal(self.budget, login.n if login else 0, net.n if net else 0)
        if refused is not None:
            # Refused attempts are not counted: the block ends a window after the last
            # failure that was checked, however long the guessing goes on.
            raise RateLimited(refused)
        # Counted as failed before the check, which takes a while (scrypt): guesses sent
        # at once cannot all pass the budget before the first of them fails.
        self._logins[pair] = _Count(login.n + 1 if login else 1)
        self._addresses[network] = _Count(net.n + 1 if net else 1)
        try:
            result = await check()
        except AuthenticationFailed:
            raise
        except BaseException:
            # Not a verdict on the credentials (the database is down, the client left).
            self._undo(pair, network)
            raise
        # A success clears its username's count here; the network's other failures stand.
        self._logins.pop(pair, None)
        self._undo(None, network)
        return result

    def failures(self, username: str, address: str | None) -> tuple[int, int]:
        """The failures counted for ``username`` from ``address``, and from that address."""
        network = network_of(address)
        login = self._logins.get((_name(username), network))
        net = self._addresses.get(network)
        return (login.n if login else 0, net.n if net else 0)

    def tracked(self) -> tuple[int, int]:
        """How many (username, address) and address counts are held."""
        return len(self._logins), len(self._addresses)

    def forget(self, username: str) -> None:
        """Drop the username's counts from every address (it has a new password)."""
        name = _name(username)
        for key in [k for k in self._logins if k[0] == name]:
            self._logins.pop(key, None)

    def _undo(self, pair: tuple[bytes, str] | None, network: str) -> None:
        counts = [self._addresses.get(network)]
        if pair is not None:
            counts.append(self._logins.get(pair))
        for count in counts:
            if count is not None:
                count.n = max(0, count.n - 1)
