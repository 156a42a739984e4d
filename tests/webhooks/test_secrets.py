"""Signing secrets are stored encrypted, under a key kept outside the database."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tests.support import running_gateway, until
from tests.webhooks.receiver import running_receiver
from tests.webhooks.test_webhooks import FAST, SECRET, _account, _check_signatures, _subscribe
from textgate.config import Settings
from textgate.errors import StorageUnavailable
from textgate.storage.secrets import KEY_FILE, SecretBox, load_key
from textgate.storage.txn import Query, Txn


def test_sealed_secrets_open_only_with_their_key() -> None:
    box = SecretBox("one key")
    sealed = box.seal("whsec_abc")
    assert sealed.startswith("enc2:") and "whsec_abc" not in sealed
    assert box.open(sealed) == "whsec_abc"
    assert box.seal("whsec_abc") != sealed  # a fresh IV each time
    with pytest.raises(StorageUnavailable):
        SecretBox("another key").open(sealed)
    assert box.open("written-before-encryption") == "written-before-encryption"


def test_the_key_file_is_made_once_and_private(tmp_path: Path) -> None:
    key = load_key(tmp_path / "data")
    assert load_key(tmp_path / "data") == key
    mode = (tmp_path / "data" / KEY_FILE).stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


async def test_the_database_holds_no_secret_in_clear(settings: Settings) -> None:
    async with (
        running_receiver() as receiver,
        running_gateway(settings.model_copy(update={"webhooks": FAST})) as running,
    ):
        auth = await _account(running)
        await _subscribe(running, auth, receiver.url, ["message.*"])

        def txn() -> Txn[list[str]]:
            rows = yield Query("SELECT secret FROM webhooks")
            return [r["secret"] for r in rows or ()]

        [stored] = await running.gateway.db.txn(txn)
        assert SECRET not in stored and stored.startswith("enc2:")
        r = await running.client.post(
            "/v1/messages", json={"to": "+33612345601", "text": "hi"}, headers=auth
        )
        assert r.status_code == 202
        await until(lambda: len(receiver.accepted()) >= 3)
        _check_signatures(receiver)
