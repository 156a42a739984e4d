"""Encrypted messages (SMSmobileAPI ``encrypt_message=yes``, seed 003): the recipient gets a
link to a page that shows the text once the key is entered; the sender gets the key.

Each message has its own random key, returned to the sender and never stored. The text is
kept encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under a key derived from the message
key with scrypt and a per-message salt, so the database alone reveals nothing and guessing
keys offline is slow. Online guessing is cut off after ``MAX_FAILURES`` wrong keys.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets

from cryptography.fernet import Fernet, InvalidToken

from textgate.errors import AuthenticationFailed, Forbidden, NotFound
from textgate.storage.sealed_messages import SealedMessageRepo

__all__ = ["KEY_LENGTH", "MAX_FAILURES", "SealedMessage", "SealedMessageService"]

KEY_LENGTH = 12
MAX_FAILURES = 10
# Letters and digits a person reads off a screen and types without confusing them.
_KEY_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
_CODE_BYTES = 16


def _fernet(key: str, salt: bytes) -> Fernet:
    derived = hashlib.scrypt(key.strip().upper().encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return Fernet(base64.urlsafe_b64encode(derived))


def _seal(text: str, key: str) -> tuple[str, str]:
    salt = secrets.token_bytes(16)
    token = _fernet(key, salt).encrypt(text.encode()).decode()
    return salt.hex(), token


def _open(ciphertext: str, key: str, salt: str) -> str | None:
    try:
        return _fernet(key, bytes.fromhex(salt)).decrypt(ciphertext.encode()).decode()
    except (InvalidToken, ValueError):
        return None


class SealedMessage:
    """A sealed text's link code and its key (the key is shown to the sender only)."""

    __slots__ = ("code", "key")

    def __init__(self, code: str, key: str) -> None:
        self.code = code
        self.key = key

    def __repr__(self) -> str:
        return f"SealedMessage(code={self.code!r}, key=***)"


class SealedMessageService:
    def __init__(self, repo: SealedMessageRepo) -> None:
        self._repo = repo

    async def seal(self, account_id: str, text: str) -> SealedMessage:
        key = "".join(secrets.choice(_KEY_ALPHABET) for _ in range(KEY_LENGTH))
        code = secrets.token_urlsafe(_CODE_BYTES)
        salt, ciphertext = await asyncio.to_thread(_seal, text, key)
        await self._repo.add(code, account_id, salt, ciphertext)
        return SealedMessage(code, key)

    async def exists(self, code: str) -> bool:
        return await self._repo.get(code) is not None

    async def open(self, code: str, key: str) -> str:
        stored = await self._repo.get(code)
        if stored is None:
            raise NotFound("no such message")
        if stored.failures >= MAX_FAILURES:
            raise Forbidden("too many wrong keys: this message is locked")
        text = await asyncio.to_thread(_open, stored.ciphertext, key, stored.salt)
        if text is None:
            await self._repo.failed(code)
            raise AuthenticationFailed("wrong key")
        await self._repo.opened(code)
        return text
