"""Password hashing: salted scrypt with its parameters in the stored string."""

from __future__ import annotations

import pytest

from textgate.core.passwords import (
    DEFAULT_PARAMS,
    MAX_PASSWORD_BYTES,
    ScryptParams,
    hash_password,
    needs_rehash,
    verify_password,
)

FAST = ScryptParams(log2_n=10, r=8, p=1)


def test_round_trip() -> None:
    stored = hash_password("correct horse", FAST)
    assert verify_password("correct horse", stored)
    assert not verify_password("correct horsE", stored)
    assert not verify_password("", stored)


def test_salted_and_self_describing() -> None:
    a, b = hash_password("same", FAST), hash_password("same", FAST)
    assert a != b
    scheme, log2_n, r, p, salt, digest = a.split("$")
    assert (scheme, log2_n, r, p) == ("scrypt", "10", "8", "1")
    assert salt and digest and "same" not in a


def test_default_parameters_are_memory_hard() -> None:
    stored = hash_password("pw-default")
    assert stored.startswith("scrypt$14$8$1$")
    assert DEFAULT_PARAMS.maxmem > 16 * 1024 * 1024
    assert verify_password("pw-default", stored)


@pytest.mark.parametrize(
    "stored",
    [None, "", "plain", "bcrypt$x", "scrypt$99$8$1$AAAA$AAAA", "scrypt$a$b$c$d$e"],
    ids=["none", "empty", "plain", "other-scheme", "hostile-cost", "garbage"],
)
def test_unusable_stored_values_never_match(stored: str | None) -> None:
    assert not verify_password("anything", stored)


def test_rehash_when_parameters_change() -> None:
    assert needs_rehash(hash_password("x", FAST))
    assert not needs_rehash(hash_password("x", FAST), FAST)
    assert needs_rehash("garbage")


def test_overlong_passwords() -> None:
    with pytest.raises(ValueError, match="at most"):
        hash_password("x" * (MAX_PASSWORD_BYTES + 1), FAST)
    stored = hash_password("x" * MAX_PASSWORD_BYTES, FAST)
    assert not verify_password("x" * (MAX_PASSWORD_BYTES + 1), stored)
