"""Accounts and their API keys.

An API key is shown once, at creation: ``tg_<key id>_<secret>``. Only a SHA-256 digest of
the secret is stored. API keys carry 160 random bits, so a fast hash is safe for them (a
memory-hard hash is for low-entropy passwords, which accounts get elsewhere).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from textgate.core.policy import AccountRules

__all__ = ["Account", "ApiKey", "NewApiKey", "generate_api_key", "hash_secret", "parse_api_key"]

KEY_PREFIX = "tg"


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    name: str
    created_at: datetime
    rules: AccountRules = field(default_factory=AccountRules)

    @property
    def default_country(self) -> str | None:
        return self.rules.default_country


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    account_id: str
    created_at: datetime
    revoked_at: datetime | None = None
    label: str | None = None


@dataclass(frozen=True, slots=True)
class NewApiKey:
    """A freshly made key: ``token`` is the only copy of the secret and is never stored."""

    id: str
    token: str
    secret_hash: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def generate_api_key() -> NewApiKey:
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(20)
    return NewApiKey(
        id=key_id, token=f"{KEY_PREFIX}_{key_id}_{secret}", secret_hash=hash_secret(secret)
    )


def parse_api_key(token: str) -> tuple[str, str] | None:
    """Split a presented token into (key id, secret), or None if it is not one of ours."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
