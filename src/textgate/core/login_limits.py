"""When a login attempt is refused unchecked: the budgets of failed attempts.

Failures are counted twice: per (username, client network) and per client network alone.
A username is never blocked everywhere at once, so a stranger who guesses wrong cannot lock
its owner out: only the network the guesses come from is refused. The second count stops
one network from trying many usernames (or many secret sender addresses) instead.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

__all__ = ["IPV6_PREFIX", "UNKNOWN_ADDRESS", "LoginBudget", "network_of", "refusal"]

IPV6_PREFIX = 64
"""One IPv6 subscriber usually holds a whole /64: its addresses count as one."""
UNKNOWN_ADDRESS = "unknown"
"""The network of attempts whose client address is not known (they share one budget)."""


@dataclass(frozen=True, slots=True)
class LoginBudget:
    per_login: int = 10
    """Failed attempts for one username from one network before that pair is refused."""
    per_address: int = 50
    """Failed attempts from one network, whatever the username, before it is refused."""
    window_ms: int = 15 * 60 * 1000
    """A count is forgotten this long after its last failure."""

    def __post_init__(self) -> None:
        if self.per_login < 1 or self.per_address < 1 or self.window_ms < 1:
            raise ValueError("login budgets and their window are positive")


def network_of(address: str | None) -> str:
    """The key a client address is counted under: an IPv4 address itself (IPv4-mapped IPv6
    included), an IPv6 address's /64, and anything that is not an IP address as written."""
    if not address:
        return UNKNOWN_ADDRESS
    try:
        ip = ipaddress.ip_address(address.strip().split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_PREFIX), strict=False))
    return str(ip)


def refusal(budget: LoginBudget, login_failures: int, address_failures: int) -> str | None:
    """Why the next attempt is refused unchecked, or None when it may be checked."""
    if address_failures >= budget.per_address:
        return "too many failed logins from this address; try again later"
    if login_failures >= budget.per_login:
        return "too many failed logins for this username from this address; try again later"
    return None
