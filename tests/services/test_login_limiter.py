"""The login limiter's decisions, on a clock the tests move: budgets per username and
address and per address, windows, concurrent guesses, bounded memory."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from textgate.core.login_limits import UNKNOWN_ADDRESS, LoginBudget, network_of, refusal
from textgate.errors import AuthenticationFailed, RateLimited, StorageUnavailable
from textgate.services.login_limiter import LoginLimiter

A = "198.51.100.7"
B = "203.0.113.9"
U = "integrator"
BUDGET = LoginBudget()


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000_000

    def __call__(self) -> int:
        return self.now


class Accounts:
    """Checks a password and counts how many checks really ran."""

    def __init__(self) -> None:
        self.checks = 0

    def check(self, password: str) -> Callable[[], Awaitable[str]]:
        async def run() -> str:
            self.checks += 1
            if password != "right":
                raise AuthenticationFailed("wrong username or password")
            return "account"

        return run


async def _try(
    limiter: LoginLimiter, accounts: Accounts, user: str, address: str | None, password: str
) -> str:
    """'ok', 'wrong' or 'limited'."""
    try:
        await limiter.attempt(user, address, accounts.check(password))
    except AuthenticationFailed:
        return "wrong"
    except RateLimited:
        return "limited"
    return "ok"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def limiter(clock: Clock) -> LoginLimiter:
    return LoginLimiter(clock=clock)


async def test_fifty_failures_from_one_address_leave_the_owner_in_elsewhere(
    limiter: LoginLimiter,
) -> None:
    accounts = Accounts()
    answers = [await _try(limiter, accounts, U, A, "guess") for _ in range(50)]
    # The first ten are checked; the rest are refused without a password check.
    assert answers == ["wrong"] * BUDGET.per_login + ["limited"] * (50 - BUDGET.per_login)
    assert accounts.checks == BUDGET.per_login
    assert await _try(limiter, accounts, U, B, "right") == "ok"
    # The address that guessed is refused even with the right password, unchecked.
    assert await _try(limiter, accounts, U, A, "right") == "limited"
    assert accounts.checks == BUDGET.per_login + 1


async def test_other_usernames_from_the_guessing_address_still_get_checked(
    limiter: LoginLimiter,
) -> None:
    accounts = Accounts()
    for _ in range(BUDGET.per_login):
        await _try(limiter, accounts, U, A, "guess")
    assert await _try(limiter, accounts, U, A, "right") == "limited"
    assert await _try(limiter, accounts, "someone-else", A, "right") == "ok"


async def test_an_address_trying_many_usernames_is_limited(limiter: LoginLimiter) -> None:
    accounts = Accounts()
    answers = [await _try(limiter, accounts, f"user{i}", A, "guess") for i in range(60)]
    assert answers == ["wrong"] * BUDGET.per_address + ["limited"] * (60 - BUDGET.per_address)
    assert await _try(limiter, accounts, "fresh", A, "right") == "limited"
    assert await _try(limiter, accounts, "fresh", B, "right") == "ok"
    assert limiter.failures("user0", A) == (1, BUDGET.per_address)


async def test_counts_are_forgotten_a_window_after_the_last_failure(
    limiter: LoginLimiter, clock: Clock
) -> None:
    accounts = Accounts()
    for _ in range(BUDGET.per_login):
        await _try(limiter, accounts, U, A, "guess")
        clock.now += 60_000
    last_failure = clock.now - 60_000
    # Refused attempts meanwhile do not push the end of the block back.
    for _ in range(5):
        clock.now += 60_000
        assert await _try(limiter, accounts, U, A, "right") == "limited"
    clock.now = last_failure + BUDGET.window_ms - 1
    assert await _try(limiter, accounts, U, A, "right") == "limited"
    clock.now = last_failure + BUDGET.window_ms + 1
    assert await _try(limiter, accounts, U, A, "right") == "ok"
    assert limiter.failures(U, A) == (0, 0)


async def test_a_success_clears_its_username_but_not_the_address(limiter: LoginLimiter) -> None:
    accounts = Accounts()
    for _ in range(BUDGET.per_login - 1):
        await _try(limiter, accounts, U, A, "guess")
    await _try(limiter, accounts, "other", A, "guess")
    assert limiter.failures(U, A) == (BUDGET.per_login - 1, BUDGET.per_login)
    assert await _try(limiter, accounts, U, A, "right") == "ok"
    assert limiter.failures(U, A) == (0, BUDGET.per_login)


async def test_errors_that_are_not_wrong_credentials_are_not_counted(
    limiter: LoginLimiter,
) -> None:
    async def down() -> None:
        raise StorageUnavailable("the database could not be reached")

    for _ in range(BUDGET.per_address + 5):
        with pytest.raises(StorageUnavailable):
            await limiter.attempt(U, A, down)
    assert limiter.failures(U, A) == (0, 0)


async def test_guesses_sent_at_once_get_no_more_checks_than_the_budget(
    limiter: LoginLimiter,
) -> None:
    gate = asyncio.Event()
    checks = 0

    async def slow_wrong() -> None:
        nonlocal checks
        checks += 1
        await gate.wait()
        raise AuthenticationFailed("wrong username or password")

    tasks = [asyncio.create_task(limiter.attempt(U, A, slow_wrong)) for _ in range(40)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert checks == BUDGET.per_login
    assert sum(isinstance(r, RateLimited) for r in results) == 40 - BUDGET.per_login
    assert sum(isinstance(r, AuthenticationFailed) for r in results) == BUDGET.per_login


async def test_a_new_password_lifts_the_username_block_everywhere(limiter: LoginLimiter) -> None:
    accounts = Accounts()
    for address in (A, B):
        for _ in range(BUDGET.per_login):
            await _try(limiter, accounts, U, address, "guess")
    limiter.forget(U)
    assert await _try(limiter, accounts, U, A, "right") == "ok"
    assert await _try(limiter, accounts, U, B, "right") == "ok"


async def test_memory_stays_bounded_however_many_names_and_addresses(clock: Clock) -> None:
    limiter = LoginLimiter(clock=clock, max_logins=100, max_addresses=20)
    accounts = Accounts()
    for i in range(500):
        await _try(limiter, accounts, f"user{i}" * 50, f"10.0.{i // 250}.{i % 250}", "guess")
    logins, addresses = limiter.tracked()
    assert logins <= 100 and addresses <= 20
    # The newest counts are the ones kept.
    assert limiter.failures("user499" * 50, "10.0.1.249") == (1, 1)


async def test_odd_usernames_are_counted_not_refused(limiter: LoginLimiter) -> None:
    accounts = Accounts()
    for name in ("\ud800", "", "x" * 100_000, "nul\x00"):
        assert await _try(limiter, accounts, name, A, "guess") == "wrong"
        assert limiter.failures(name, A)[0] == 1


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("198.51.100.7", "198.51.100.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("fe80::1%eth0", "fe80::/64"),
        (None, UNKNOWN_ADDRESS),
        ("", UNKNOWN_ADDRESS),
        ("testclient", "testclient"),
    ],
)
def test_network_of(address: str | None, network: str) -> None:
    assert network_of(address) == network


async def test_one_ipv6_subscriber_shares_one_budget(limiter: LoginLimiter) -> None:
    accounts = Accounts()
    for i in range(BUDGET.per_login):
        await _try(limiter, accounts, U, f"2001:db8:0:7::{i + 1:x}", "guess")
    assert await _try(limiter, accounts, U, "2001:db8:0:7::ffff", "right") == "limited"
    assert await _try(limiter, accounts, U, "2001:db8:0:8::1", "right") == "ok"


def test_refusal_names_the_budget_that_ran_out() -> None:
    assert refusal(BUDGET, 0, 0) is None
    assert refusal(BUDGET, BUDGET.per_login - 1, BUDGET.per_address - 1) is None
    assert "for this username" in (refusal(BUDGET, BUDGET.per_login, 0) or "")
    assert "from this address" in (refusal(BUDGET, 0, BUDGET.per_address) or "")
    with pytest.raises(ValueError):
        LoginBudget(per_login=0)
