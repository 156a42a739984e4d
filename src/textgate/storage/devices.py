"""Registered phones: their credentials (as digests; the signing key, which must be read
back, sealed by ``storage.secrets``), SIM cards, labels and last-seen times."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, Select, Update, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from textgate.core.clock import Clock, from_ms, system_clock
from textgate.core.devices import Device, ProcessingState, SimCard
from textgate.errors import Conflict, NotFound
from textgate.storage.db import Database
from textgate.storage.secrets import SecretBox
from textgate.storage.tables import device_messages, devices

__all__ = [
    "WAITING",
    "DeviceRepo",
    "NewDevice",
    "StoredLogin",
    "decode_sims",
    "encode_sims",
    "pending_count",
]

_d = devices.c
# The states of a message handed to a phone that has not reported on it yet: it is still
# offered to the phone (a Cancelling one, to be cancelled).
WAITING = (ProcessingState.PENDING.value, ProcessingState.CANCELLING.value)
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


def pending_count() -> ScalarSelect[int]:
    """Messages handed to the device of the enclosing query (on ``devices``) that it has
    not reported on yet: its load."""
    m = device_messages.c
    return (
        select(func.count())
        .select_from(device_messages)
        .where(m.device_id == _d.id, m.state.in_(WAITING))
        .correlate(devices)
        .scalar_subquery()
    )


def _device_query() -> Select[Any]:
    return select(
        _d.id,
        _d.account_id,
        _d.name,
        _d.label,
        _d.phone_number,
        _d.push_token,
        _d.sim_cards,
        _d.created_at,
        _d.updated_at,
        _d.last_seen_at,
        pending_count().label("pending"),
    )


async def _one(conn: AsyncConnection, *where: ColumnElement[bool]) -> Device | None:
    row = (await conn.execute(_device_query().where(*where))).mappings().first()
    return None if row is None else to_device(row)


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
        """Conflict if the id, the token or the login is taken (or the account is gone)."""
        now = self._clock()
        try:
            async with self._db.write(urgent=True) as conn:
                await conn.execute(
                    insert(devices).values(
                        id=new.id,
                        account_id=new.account_id,
                        name=new.name,
                        token_hash=new.token_hash,
                        login=new.login,
                        password_hash=new.password_hash,
                        push_token=new.push_token,
                        sim_cards=encode_sims(new.sim_cards),
                        signing_key=self._box.seal(new.signing_key),
                        created_at=now,
                        updated_at=now,
                        last_seen_at=now,
                    )
                )
                device = await _one(conn, _d.id == new.id)
        except IntegrityError as exc:
            # The caller draws another login on a clash.
            raise Conflict(f"conflicting write: {exc.orig}") from exc
        assert device is not None
        return device

    async def by_token(self, token_hash: str) -> Device | None:
        """The device a token belongs to (marking it seen), or None for an unknown token."""
        now = self._clock()
        async with self._db.write(urgent=True) as conn:
            device_id = (
                await conn.execute(select(_d.id).where(_d.token_hash == token_hash))
            ).scalar_one_or_none()
            if device_id is None:
                return None
            await conn.execute(_touch(device_id, now))
            return await _one(conn, _d.id == device_id)

    async def touch(self, device_id: str) -> None:
        now = self._clock()
        async with self._db.write(urgent=False) as conn:
            await conn.execute(_touch(device_id, now))

    async def login(self, login: str) -> StoredLogin | None:
        async with self._db.read() as conn:
            row = (
                await conn.execute(select(_d.account_id, _d.password_hash).where(_d.login == login))
            ).first()
        return None if row is None else StoredLogin(row.account_id, row.password_hash)

    async def password_hash(self, device_id: str) -> str | None:
        async with self._db.read() as conn:
            found = (
                await conn.execute(select(_d.password_hash).where(_d.id == device_id))
            ).scalar_one_or_none()
        return None if found is None else str(found)

    async def set_password_hash(self, device_id: str, password_hash: str) -> None:
        now = self._clock()
        async with self._db.write(urgent=False) as conn:
            await conn.execute(
                update(devices)
                .where(_d.id == device_id)
                .values(password_hash=password_hash, updated_at=now)
            )

    async def signing_key(self, device_id: str) -> tuple[Device, str] | None:
        async with self._db.read() as conn:
            row = (
                (
                    await conn.execute(
                        _device_query().add_columns(_d.signing_key).where(_d.id == device_id)
                    )
                )
                .mappings()
                .first()
            )
        return None if row is None else (to_device(row), self._box.open(row["signing_key"]))

    async def update_from_phone(
        self, device_id: str, *, push_token: str | None, sim_cards: Sequence[SimCard] | None
    ) -> None:
        """What ``PATCH /device`` says. A missing push token means the phone now keeps an
        event stream open instead (the app drops its token when it switches to SSE)."""
        now = self._clock()
        values: dict[str, Any] = {"push_token": push_token, "updated_at": now, "last_seen_at": now}
        if sim_cards is not None:
            values["sim_cards"] = encode_sims(sim_cards)
        async with self._db.write(urgent=False) as conn:
            await conn.execute(update(devices).where(_d.id == device_id).values(values))

    async def of_account(self, account_id: str) -> list[Device]:
        async with self._db.read() as conn:
            rows = await conn.execute(
                _device_query().where(_d.account_id == account_id).order_by(_d.created_at, _d.id)
            )
            return [to_device(r) for r in rows.mappings()]

    async def get(self, account_id: str, device_id: str) -> Device:
        async with self._db.read() as conn:
            found = await _one(conn, _d.account_id == account_id, _d.id == device_id)
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
        values: dict[str, Any] = {"updated_at": now}
        if label is not None or clear_label:
            values["label"] = label or None
        if phone_number is not None or clear_phone_number:
            values["phone_number"] = phone_number or None
        mine = (_d.account_id == account_id, _d.id == device_id)
        async with self._db.write(urgent=False) as conn:
            await conn.execute(update(devices).where(*mine).values(values))
            found = await _one(conn, *mine)
        if found is None:
            raise NotFound("no such device")
        return found


def _touch(device_id: str, now: int) -> Update:
    """Last-seen times are written at most every ``_TOUCH_EVERY_MS`` for one device."""
    return (
        update(devices)
        .where(_d.id == device_id, _d.last_seen_at < now - _TOUCH_EVERY_MS)
        .values(last_seen_at=now)
    )
