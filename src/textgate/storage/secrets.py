"""Encryption at rest for secrets the gateway must read back: webhook signing secrets, the
phones' signing keys, MailUp ListSecrets.

Passwords and API keys are stored as hashes because they are only ever checked; these have
to be used or shown again, so they are stored encrypted (Fernet: AES-128-CBC with an
HMAC-SHA256 tag) under a key that lives outside the database: the ``secret_key`` setting, or
a key file made on first start in the data directory. A copy of the database alone then
reveals no secret.

Stored values say how they were sealed:

- ``enc2:`` (current): the Fernet key is derived from ``secret_key`` with scrypt, so a
  ``secret_key`` that is a passphrase rather than random bytes is still slow to guess from a
  stolen database.
- ``enc1:``: the Fernet key was a single SHA-256 of ``secret_key``. Still read.
- no prefix: written before encryption existed. Still read.

Older forms are rewritten as ``enc2:`` when the gateway starts (``storage.reseal``), so
they do not linger; they stay readable for a process that meets one before that.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from textgate.errors import StorageUnavailable

__all__ = ["CURRENT", "DIGEST", "KEY_FILE", "SecretBox", "load_key"]

CURRENT = "enc2:"
LEGACY = "enc1:"
# A keyed digest (SecretBox.digest): a looked-up secret that is never read back.
DIGEST = "h1:"
KEY_FILE = "secret.key"
# scrypt's salt would normally be random per value; here one key is derived per process and
# used for every value, so the salt is fixed and names the format: it keeps this key apart
# from any other use of the same secret_key. Cost: about 0.1-0.2 s once per process.
_SALT = b"textgate secret box v2"
_N, _R, _P = 2**15, 8, 1


@functools.lru_cache(maxsize=4)
def _stretch(key: str) -> bytes:
    """The Fernet key derived from ``key``, once per process and key: the boxes of one
    process (the gateway's, a command's) share the derivation's cost."""
    return Scrypt(salt=_SALT, length=32, n=_N, r=_R, p=_P).derive(key.encode())


class SecretBox:
    """Seals and opens stored secrets. The key is derived on first use (or by
    :meth:`prepare`), so a process that never touches a secret never pays for it."""

    def __init__(self, key: str) -> None:
        self._key = key
        self._derived: bytes | None = None
        self._current: Fernet | None = None
        self._legacy: Fernet | None = None
        self._digest_key: bytes | None = None

    def prepare(self) -> None:
        """Derive the key now (blocking: call it in a thread from async code)."""
        self._fernet()

    @property
    def ready(self) -> bool:
        """The key is derived: sealing, opening and digests no longer block."""
        return self._derived is not None

    def _derive(self) -> bytes:
        if self._derived is None:
            self._derived = _stretch(self._key)
        return self._derived

    def _fernet(self) -> Fernet:
        if self._current is None:
            self._current = Fernet(base64.urlsafe_b64encode(self._derive()))
        return self._current

    def digest(self, value: str) -> str:
        """A keyed digest of a secret the gateway only looks up and never reads back, when
        the secret may be guessable (an email address): without the key, a stolen
        database does not tell which addresses are authorised, nor lets one test
        guesses against it. The same value always gives the same digest."""
        if self._digest_key is None:
            # Its own key, kept apart from the encryption key derived from the same secret.
            self._digest_key = hmac.new(self._derive(), b"textgate digest v1", "sha256").digest()
        return DIGEST + hmac.new(self._digest_key, value.encode(), "sha256").hexdigest()

    def _legacy_fernet(self) -> Fernet:
        if self._legacy is None:
            digest = hashlib.sha256(self._key.encode()).digest()
            self._legacy = Fernet(base64.urlsafe_b64encode(digest))
        return self._legacy

    def seal(self, plain: str) -> str:
        return CURRENT + self._fernet().encrypt(plain.encode()).decode()

    def open(self, stored: str) -> str:
        if stored.startswith(CURRENT):
            fernet, token = self._fernet(), stored.removeprefix(CURRENT)
        elif stored.startswith(LEGACY):
            fernet, token = self._legacy_fernet(), stored.removeprefix(LEGACY)
        else:
            return stored
        try:
            return fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise StorageUnavailable(
                "a stored secret cannot be decrypted: is secret_key the one it was sealed with?"
            ) from exc

    def open_optional(self, stored: str | None) -> str | None:
        return None if stored is None else self.open(stored)

    @staticmethod
    def is_current(stored: str) -> bool:
        return stored.startswith(CURRENT)


def load_key(data_dir: Path) -> str:
    """The key file in ``data_dir``, created (mode 0600) on first use."""
    path = data_dir / KEY_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    # Written whole under a name of its own, then linked into place: two processes starting
    # together keep whichever key was linked first, and neither can read a half-written file
    # (processes sharing a database must share the key, see textgate.startup).
    draft = data_dir / f".{KEY_FILE}.{os.getpid()}.{os.urandom(4).hex()}"
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(key + "\n")
        os.link(draft, path)
    except FileExistsError:
        return path.read_text().strip()
    finally:
        draft.unlink(missing_ok=True)
    return key
