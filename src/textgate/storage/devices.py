"""Registered phones: their credentials (as digests; the signing key, which must be read
back, sealed by ``storage.secrets``), SIM cards, labels and last-seen times."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from textgate.core.clock import Clock, from_ms, system_clock
from textgate.core.devices import Device, SimCard
from textgate.errors import NotFound
from textgate.storage.db import Database
from textgate.storage.secrets import SecretBox
from textgate.storage.txn import Query, Rows, Txn

__all__ = ["DeviceRepo", "NewDevice", "StoredLogin", "decode_sims", "encode_sims"]

_COLUMNS = (
    "d.id, d.account_id, d.name, d.label, d.phone_number, d.push_token, d.sim_cards,"
    " d.created_at, d.updated_at, d.last_seen_at"
)
# Messages handed to a device that it has not reported on yet (its load).
_PENDING = (
    "(SELECT COUNT(*) FROM device_messages m WHERE m.device_id = d.id"
    " AND m.state IN ('Pending', 'Cancelling')) AS pending"
)
# Last-seen times are written at most this often for one device (every call is a sighting).
_TOUCH_EVERY_MS = 5_000


@dataclass(frozen=True, slots=True)
class NewDevice:
    id: str
    account_id: str
    name: str
    token_hash: str
    login: str
    password_hash: str
    signing_key: str
    push_token: str | None
    sim_cards: Sequence[SimCard]


@dataclass(frozen=True, slots=True)
class StoredLogin:
    account_id: str
    password_hash: str


def encode_sims(sims: Sequence[SimCard]) -> str | None:
    if not sims:
        return None
    return json.dumps(
        [
            {
                "slotIndex": s.slot_index,
                "simNumber": s.sim_number,
                "phoneNumber": s.phone_number,
                "carrierName": s.carrier_name,
                "iccid": s.iccid,
            }
            for s in sims
        ]
    )


def decode_sims(raw: str | None) -> tuple[SimCard, ...]:
    if not raw:
        return ()
    return tuple(
        SimCard(
            slot_index=s.get("slotIndex"),
            sim_number=s.get("simNumber"),
            phone_number=s.get("phoneNumber"),
            carrier_name=s.get("carrierName"),
            iccid=s.get("iccid"),
        )
        for s in json.loads(raw)
    )


def to_device(row: Any) -> Device:
    return Device(
        id=row["id"],
        account_id=row["account_id"],
        name=row["name"],
        label=row["label"],
        phone_number=row["phone_number"],
        push_token=row["push_token"],
        sim_cards=decode_sims(row["sim_cards"]),
        created_at=from_ms(row["created_at"]),
        updated_at=from_ms(row["updated_at"]),
        last_seen_at=from_ms(row["last_seen_at"]),
        pending=int(row["pending"]),
    )


class DeviceRepo:
    def __init__(self, db: Database, box: SecretBox, clock: Clock = system_clock) -> None:
        self._db = db
        self._box = box
        self._clock = clock

    async def add(self, new: NewDevice) -> Device:
        now = self._clock()
        signing_key = self._box.seal(new.signing_key)

        def txn() -> Txn[Device]:
            yield Query(
                "INSERT INTO devices (id, account_id, name, token_hash, login, password_hash,"
                " push_token, sim_cards, signing_key, created_at, updated_at, last_seen_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    new.id,
                    new.account_id,
                    new.name,
                    new.token_hash,
                    new.login,
                    new.password_hash,
                    new.push_token,
                    encode_sims(new.sim_cards),
                    signing_key,
                    now,
                    now,
                    now,
                ),
            )
            device = yield from _one("d.id = ?", (new.id,))
            assert device is not None
            return device

        return await self._db.txn(txn, urgent=True)

    async def by_token(self, token_hash: str) -> Device | None:
        """The device a token belongs to (marking it seen), or None for an unknown token."""
        now = self._clock()

        def txn() -> Txn[Device | None]:
            rows = yield Query("SELECT id FROM devices WHERE token_hash = ?", (token_hash,))
            if not rows:
                return None
            yield Query(
                "UPDATE devices SET last_seen_at = ? WHERE id = ? AND last_seen_at < ?",
                (now, rows[0]["id"], now - _TOUCH_EVERY_MS),
            )
            return (yield from _one("d.id = ?", (rows[0]["id"],)))

        return await self._db.txn(txn, urgent=True)

    async def touch(self, device_id: str) -> None:
        now = self._clock()
        await self._db.txn(
            lambda: _run(
                Query(
                    "UPDATE devices SET last_seen_at = ? WHERE id = ? AND last_seen_at < ?",
                    (now, device_id, now - _TOUCH_EVERY_MS),
                )
            )
        )

    async def login(self, login: str) -> StoredLogin | None:
        rows = await self._db.txn(
            lambda: _run(
                Query("SELECT account_id, password_hash FROM devices WHERE login = ?", (login,))
            )
        )
        return StoredLogin(rows[0]["account_id"], rows[0]["password_hash"]) if rows else None

    async def password_hash(self, device_id: str) -> str | None:
        rows = await self._db.txn(
            lambda: _run(Query("SELECT password_hash FROM devices WHERE id = ?", (device_id,)))
        )
        return str(rows[0]["password_hash"]) if rows else None

    async def set_password_hash(self, device_id: str, password_hash: str) -> None:
        now = self._clock()
        await self._db.txn(
            lambda: _run(
                Query(
                    "UPDATE devices SET password_hash = ?, updated_at = ? WHERE id = ?",
                    (password_hash, now, device_id),
                )
            )
        )

    async def signing_key(self, device_id: str) -> tuple[Device, str] | None:
        def txn() -> Txn[tuple[Device, str] | None]:
            rows = yield Query("SELECT signing_key FROM devices WHERE id = ?", (device_id,))
            if not rows:
                return None
            device = yield from _one("d.id = ?", (device_id,))
            return None if device is None else (device, rows[0]["signing_key"])

        found = await self._db.txn(txn)
        return None if found is None else (found[0], self._box.open(found[1]))

    async def update_from_phone(
        self, device_id: str, *, push_token: str | None, sim_cards: Sequence[SimCard] | None
    ) -> None:
        """What ``PATCH /device`` says. A missing push token means the phone now keeps an
        event stream open instead (the app drops its token when it switches to SSE)."""
        now = self._clock()
        sims = None if sim_cards is None else encode_sims(sim_cards)
        sql = "UPDATE devices SET push_token = ?, updated_at = ?, last_seen_at = ?"
        params: tuple[Any, ...] = (push_token, now, now)
        if sim_cards is not None:
            sql += ", sim_cards = ?"
            params += (sims,)
        await self._db.txn(lambda: _run(Query(sql + " WHERE id = ?", (*params, device_id))))

    async def of_account(self, account_id: str) -> list[Device]:
        rows = await self._db.txn(
            lambda: _run(
                Query(
                    f"SELECT {_COLUMNS}, {_PENDING} FROM devices d"  # noqa: S608
                    " WHERE d.account_id = ? ORDER BY d.created_at, d.id",
                    (account_id,),
                )
            )
        )
        return [to_device(r) for r in rows]

    async def get(self, account_id: str, device_id: str) -> Device:
        found = await self._db.txn(
            lambda: _one("d.account_id = ? AND d.id = ?", (account_id, device_id))
        )
        if found is None:
            raise NotFound("no such device")
        return found

    async def set_labels(
        self,
        account_id: str,
        device_id: str,
        *,
        label: str | None,
        phone_number: str | None,
        clear_label: bool = False,
        clear_phone_number: bool = False,
    ) -> Device:
        now = self._clock()

        def txn() -> Txn[Device | None]:
            sets, params = ["updated_at = ?"], [now]
            if label is not None or clear_label:
                sets.append("label = ?")
                params.append(label or None)  # type: ignore[arg-type]
            if phone_number is not None or clear_phone_number:
                sets.append("phone_number = ?")
                params.append(phone_number or None)  # type: ignore[arg-type]
            yield Query(
                f"UPDATE devices SET {', '.join(sets)} WHERE account_id = ? AND id = ?",  # noqa: S608
                (*params, account_id, device_id),
            )
            return (yield from _one("d.account_id = ? AND d.id = ?", (account_id, device_id)))

        found = await self._db.txn(txn)
        if found is None:
            raise NotFound("no such device")
        return found


def _run(query: Query) -> Txn[Rows]:
    rows = yield query
    return rows or []


def _one(where: str, params: tuple[Any, ...]) -> Txn[Device | None]:
    rows = yield Query(
        f"SELECT {_COLUMNS}, {_PENDING} FROM devices d WHERE {where}",  # noqa: S608
        params,
    )
    return to_device(rows[0]) if rows else None
