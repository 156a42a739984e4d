"""Secrets the gateway reads back (webhook signing secrets, phones' signing keys, MailUp
ListSecrets) are sealed in the database under a key derived with scrypt, and values stored
the older ways (in clear, or ``enc1:`` under a single SHA-256 of the key) are sealed anew
when the gateway starts, without anything a client sees changing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from tests.android.conftest import PREFIX, phone_settings
from tests.support import Running, running_gateway
from textgate.config import Settings, WebhookSettings
from textgate.errors import StorageUnavailable
from textgate.storage.secrets import SecretBox
from textgate.storage.txn import Many, Query, Txn

USERNAME, PASSWORD = "m10001", "correct horse battery"
IT = "+393350000001"


def _enc1(key: str, plain: str) -> str:
    """A value as the previous release sealed it: Fernet under SHA-256(key)."""
    fernet = Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()))
    return "enc1:" + fernet.encrypt(plain.encode()).decode()


def test_the_box_reads_every_form_and_writes_the_current_one() -> None:
    box = SecretBox("a passphrase")
    sealed = box.seal("whsec_abc")
    assert sealed.startswith("enc2:") and "whsec_abc" not in sealed
    assert box.open(sealed) == "whsec_abc" and box.is_current(sealed)
    assert box.open(_enc1("a passphrase", "old")) == "old"
    assert box.open("written-before-encryption") == "written-before-encryption"
    # The new derivation is not the old one: an enc2 token does not open as enc1.
    with pytest.raises(StorageUnavailable):
        box.open("enc1:" + sealed.removeprefix("enc2:"))
    with pytest.raises(StorageUnavailable):
        SecretBox("another passphrase").open(sealed)


async def _column(running: Running, table: str, column: str) -> list[str]:
    def txn() -> Txn[list[str]]:
        rows = yield Query(f"SELECT {column} AS v FROM {table} WHERE {column} IS NOT NULL")  # noqa: S608
        return [r["v"] for r in rows or ()]

    return await running.gateway.db.txn(txn)


def _tuned(settings: Settings) -> Settings:
    """Phones on, and webhooks to loopback allowed but not sent (only their secrets matter)."""
    hooks = WebhookSettings(allow_private_targets=True, enabled=False)
    return phone_settings(settings).model_copy(update={"webhooks": hooks})


def _basic() -> dict[str, str]:
    token = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def _setup(running: Running) -> dict[str, Any]:
    """An account with an API key, a login, a MailUp list with its ListSecret, a webhook and
    a registered phone; returns what a client learnt of them."""
    services = running.gateway.services
    account = await services.accounts.create("acme")
    key = (await services.accounts.issue_key(account.id)).token
    await running.gateway.credentials.set_login(account.id, USERNAME, PASSWORD)
    mailing = await services.lists.create(
        account.id, "customers", default_prefix="39", sms_sender="ACME"
    )
    c = running.client
    made = await c.post(
        f"/api/v2.0/lists/{mailing.list_id}/listsecret",
        json={"ListGUID": mailing.guid},
        headers=_basic(),
    )
    assert made.status_code == 200, made.text
    hook = await c.post(
        "/v1/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "events": ["message.*"]},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert hook.status_code == 201, hook.text
    phone = await c.post(
        PREFIX + "/device", json={"name": "phone"}, headers={"Authorization": f"Bearer {key}"}
    )
    assert phone.status_code == 201, phone.text
    token = phone.json()["token"]
    got = await c.get(PREFIX + "/settings", headers={"Authorization": f"Bearer {token}"})
    return {
        "account_id": account.id,
        "list": mailing,
        "list_secret": made.json()["Data"]["ListSecret"],
        "webhook_secret": hook.json()["secret"],
        "device_id": phone.json()["id"],
        "device_token": token,
        "signing_key": got.json()["webhooks"]["signing_key"],
    }


async def _signed_webhook_status(running: Running, device_id: str, key: str) -> int:
    body = json.dumps(
        {
            "id": "evt1",
            "event": "sms:received",
            "deviceId": device_id,
            "payload": {
                "messageId": "m1",
                "message": "Hi",
                "sender": "+33698765432",
                "recipient": "+33600000002",
                "receivedAt": "2026-01-01T10:00:00.000+03:00",
            },
        }
    ).encode()
    stamp = str(int(time.time()))
    signature = hmac.new(key.encode(), body + stamp.encode(), hashlib.sha256).hexdigest()
    r = await running.client.post(
        f"{PREFIX}/received/{device_id}",
        content=body,
        headers={"X-Timestamp": stamp, "X-Signature": signature},
    )
    return r.status_code


async def _list_sms_status(running: Running, made: dict[str, Any], secret: str) -> int:
    r = await running.client.post(
        f"/api/v2.0/sms/10001/{made['list'].list_id}",
        json={
            "Content": "Hello",
            "ListGuid": made["list"].guid,
            "ListSecret": secret,
            "Recipient": IT,
        },
    )
    assert r.status_code in (200, 400), r.text
    return r.status_code


async def test_every_secret_read_back_is_sealed(settings: Settings) -> None:
    async with running_gateway(_tuned(settings)) as running:
        made = await _setup(running)
        stored = {
            "webhook_secret": await _column(running, "webhooks", "secret"),
            "signing_key": await _column(running, "devices", "signing_key"),
            "list_secret": await _column(running, "mailup_lists", "secret"),
        }
        for name, [value] in stored.items():
            assert value.startswith("enc2:"), name
            assert made[name] not in value, name
        # Sealed, they still work as before.
        assert await _signed_webhook_status(running, made["device_id"], "guess") == 401
        assert await _signed_webhook_status(running, made["device_id"], made["signing_key"]) == 204
        assert await _list_sms_status(running, made, made["list_secret"]) == 200
        shown = await running.client.get(
            f"/api/v2.0/lists/{made['list'].list_id}/listsecret", headers=_basic()
        )
        assert shown.json()["Data"]["ListSecret"] == made["list_secret"]


async def test_secrets_stored_the_old_ways_are_sealed_anew_at_start(settings: Settings) -> None:
    key = "the key of this database"
    tuned = _tuned(settings).model_copy(update={"secret_key": SecretStr(key)})
    old_signing_key = "legacy-signing-key-0123456789"
    old_list_secret = "0b7e0ed6-3c5a-4c1e-9f0a-2f51d7e3b1aa"
    async with running_gateway(tuned) as running:
        made = await _setup(running)
        old_webhook_secret = made["webhook_secret"]

        def downgrade() -> Txn[None]:
            yield Many("UPDATE devices SET signing_key = ?", [(old_signing_key,)])
            yield Many("UPDATE mailup_lists SET secret = ?", [(old_list_secret,)])
            yield Many("UPDATE webhooks SET secret = ?", [(_enc1(key, old_webhook_secret),)])

        await running.gateway.db.txn(downgrade)
    # The next start seals them the current way.
    async with running_gateway(tuned) as running:
        box = SecretBox(key)
        [signing] = await _column(running, "devices", "signing_key")
        [listed] = await _column(running, "mailup_lists", "secret")
        [hooked] = await _column(running, "webhooks", "secret")
        assert all(v.startswith("enc2:") for v in (signing, listed, hooked))
        assert box.open(signing) == old_signing_key
        assert box.open(listed) == old_list_secret
        assert box.open(hooked) == old_webhook_secret
        # Clients see the same secrets as before.
        got = await running.client.get(
            PREFIX + "/settings", headers={"Authorization": f"Bearer {made['device_token']}"}
        )
        assert got.json()["webhooks"]["signing_key"] == old_signing_key
        assert await _signed_webhook_status(running, made["device_id"], old_signing_key) == 204
        assert await _list_sms_status(running, made, old_list_secret) == 200
    # A second start finds nothing left to do and changes nothing.
    async with running_gateway(tuned) as running:
        assert await _column(running, "devices", "signing_key") == [signing]
        assert await _column(running, "webhooks", "secret") == [hooked]
