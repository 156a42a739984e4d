"""Inbound messages sent again under their id: found among recent ones, stored once
(``storage.inbound`` calls it inside the transaction that stores them)."""

from __future__ import annotations

import hashlib
from typing import TypeVar

from sqlalchemy import BigInteger, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from textgate.core.inbound import InboundMessage
from textgate.storage.tables import inbound_messages

__all__ = ["REPEAT_WINDOW_MS", "unseen"]

REPEAT_WINDOW_MS = 48 * 3_600_000
"""How long a message's (connector, external id) makes a repeat of it a duplicate."""

T = TypeVar("T")
_m = inbound_messages.c


async def unseen(
    conn: AsyncConnection, whole: list[tuple[T, InboundMessage]], now: int, *, pg: bool
) -> list[tuple[T, InboundMessage]]:
    """The whole messages not stored already under their (connector, external id) in
    the last ``REPEAT_WINDOW_MS``: one sent again (its answer was lost, a webhook
    retried) is stored once, and is not completed again (no second webhook or
    notification for it). Only recent ones: some ids are short hashes (an SMSGate
    phone's messageId is its message's 32-bit hashCode), which two messages months
    apart may share; retries come within hours."""
    named = sorted({(i.connector, i.external_id) for _, i in whole if i.external_id})
    if not named:
        return whole
    if pg:
        # Two processes storing the same message at once must not both miss the other's
        # row: the keys are locked first, in order (SQLite has one writer).
        for key in named:
            lock = func.pg_advisory_xact_lock(literal(_id_lock_key(key), BigInteger))
            await conn.execute(select(lock))
    seen: set[tuple[str, str | None]] = set()
    for connector in sorted({c for c, _ in named}):
        ids = [x for c, x in named if c == connector]
        rows = await conn.execute(
            select(_m.external_id).where(
                _m.connector == connector,
                _m.external_id.in_(ids),
                _m.created_at >= now - REPEAT_WINDOW_MS,
            )
        )
        seen.update((connector, r.external_id) for r in rows)
    fresh = []
    for stored, item in whole:
        ident = (item.connector, item.external_id)
        if item.external_id and ident in seen:
            continue
        if item.external_id:
            seen.add(ident)  # the same message twice in one batch
        fresh.append((stored, item))
    return fresh


def _id_lock_key(key: tuple[str, str | None]) -> int:
    digest = hashlib.blake2b(repr(("inbound-id", *key)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
