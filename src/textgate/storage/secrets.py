"""Encryption at rest for secrets the gateway must read back (webhook signing secrets).

Passwords and API keys are stored as hashes because they are only ever checked; a signing
secret has to be used, so it is stored encrypted (Fernet: AES-128-CBC with an HMAC-SHA256
tag) under a key that lives outside the database: the ``secret_key`` setting, or a key file
made on first start in the data directory. A copy of the database alone then reveals no
secret. Values written before encryption existed (no prefix) are read as they are.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from textgate.errors import StorageUnavailable

__all__ = ["SecretBox", "load_key"]

_PREFIX = "enc1:"
KEY_FILE = "secret.key"


class SecretBox:
    def __init__(self, key: str) -> None:
        # Any passphrase works as a setting: the Fernet key is derived from it.
        digest = hashlib.sha256(key.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def seal(self, plain: str) -> str:
        return _PREFIX + self._fernet.encrypt(plain.encode()).decode()

    def open(self, stored: str) -> str:
        if not stored.startswith(_PREFIX):
            return stored
        try:
            return self._fernet.decrypt(stored.removeprefix(_PREFIX).encode()).decode()
        except InvalidToken as exc:
            raise StorageUnavailable(
                "a stored secret cannot be decrypted: is secret_key the one it was sealed with?"
            ) from exc


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
