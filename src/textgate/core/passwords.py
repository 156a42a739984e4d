"""Account passwords: salted scrypt (memory-hard), parameters kept in the stored string.

Stored form: ``scrypt$<log2 n>$<r>$<p>$<salt b64>$<hash b64>``. Keeping the parameters with
each hash lets the defaults grow later without invalidating stored passwords. Passwords are
low-entropy secrets, unlike API keys and session keys (random, hashed with SHA-256), so
they get a hash that is deliberately expensive in memory and time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

__all__ = ["ScryptParams", "hash_password", "needs_rehash", "verify_password"]

_SCHEME = "scrypt"
_SALT_BYTES = 16
_HASH_BYTES = 32
MAX_PASSWORD_BYTES = 1024
"""Longer input is refused before hashing: it only costs the server time."""


@dataclass(frozen=True, slots=True)
class ScryptParams:
    # 2**14 x 8 x 128 bytes = 16 MiB per hash: OWASP's scrypt baseline.
    log2_n: int = 14
    r: int = 8
    p: int = 1

    @property
    def maxmem(self) -> int:
        return 2 * 128 * self.r * (1 << self.log2_n) * self.p + 1024 * 1024


DEFAULT_PARAMS = ScryptParams()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def _derive(password: str, salt: bytes, params: ScryptParams) -> bytes:
    return hashlib.scrypt(
        password.encode(),
        salt=salt,
        n=1 << params.log2_n,
        r=params.r,
        p=params.p,
        maxmem=params.maxmem,
        dklen=_HASH_BYTES,
    )


def hash_password(password: str, params: ScryptParams = DEFAULT_PARAMS) -> str:
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise ValueError(f"a password has at most {MAX_PASSWORD_BYTES} bytes")
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _derive(password, salt, params)
    return f"{_SCHEME}${params.log2_n}${params.r}${params.p}${_b64(salt)}${_b64(digest)}"


def _parse(stored: str) -> tuple[ScryptParams, bytes, bytes] | None:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != _SCHEME:
        return None
    try:
        params = ScryptParams(int(parts[1]), int(parts[2]), int(parts[3]))
        salt, digest = _unb64(parts[4]), _unb64(parts[5])
    except ValueError:
        return None
    if not (1 <= params.log2_n <= 20 and 1 <= params.r <= 32 and 1 <= params.p <= 16):
        return None  # a corrupt or hostile row must not make the server allocate gigabytes
    return params, salt, digest


def verify_password(password: str, stored: str | None) -> bool:
    """Whether ``password`` matches ``stored``. With ``stored`` None (unknown user) a hash is
    still computed, so the answer takes as long as for a known user with a wrong password."""
    parsed = None if stored is None else _parse(stored)
    if parsed is None or len(password.encode()) > MAX_PASSWORD_BYTES:
        _derive(password[:MAX_PASSWORD_BYTES], b"\x00" * _SALT_BYTES, DEFAULT_PARAMS)
        return False
    params, salt, digest = parsed
    return hmac.compare_digest(_derive(password, salt, params), digest)


def needs_rehash(stored: str, params: ScryptParams = DEFAULT_PARAMS) -> bool:
    parsed = _parse(stored)
    return parsed is None or parsed[0] != params
