"""Rewrites stored secrets sealed the old ways (in clear, or ``enc1:``) as ``enc2:``.

Run by every process when it starts, after the migrations: the migrations cannot do it, as
they never see ``secret_key``. Each row is rewritten only if it still holds the value that
was read, so processes starting together, or a secret rotated meanwhile, lose nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from textgate.storage.db import Database
from textgate.storage.secrets import CURRENT, SecretBox
from textgate.storage.txn import Many, Query, Txn

__all__ = ["SEALED_COLUMNS", "SealedColumn", "reseal"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SealedColumn:
    """A column of sealed secrets, and the key columns of its table."""

    table: str
    keys: tuple[str, ...]
    column: str


SEALED_COLUMNS: Sequence[SealedColumn] = (
    SealedColumn("webhooks", ("id",), "secret"),
    SealedColumn("devices", ("id",), "signing_key"),
    SealedColumn("mailup_lists", ("account_id", "list_id"), "secret"),
)
"""Every stored secret the gateway reads back; all of them go through ``SecretBox``."""


async def reseal(
    db: Database, box: SecretBox, columns: Sequence[SealedColumn] = SEALED_COLUMNS
) -> int:
    """Rewrite every value of ``columns`` not sealed the current way; returns how many."""
    done = 0
    for col in columns:
        done += await _reseal_column(db, box, col)
    if done:
        log.info("re-encrypted %d stored secrets with the current key derivation", done)
    return done


async def _reseal_column(db: Database, box: SecretBox, col: SealedColumn) -> int:
    keys = ", ".join(col.keys)

    def read() -> Txn[list[Any]]:
        rows = yield Query(
            f"SELECT {keys}, {col.column} AS value FROM {col.table}"  # noqa: S608
            f" WHERE {col.column} IS NOT NULL AND {col.column} NOT LIKE ?",
            (CURRENT + "%",),
        )
        return list(rows or ())

    rows = await db.txn(read)
    if not rows:
        return 0

    def rewrite() -> list[tuple[Any, ...]]:
        return [
            (box.seal(box.open(r["value"])), *(r[k] for k in col.keys), r["value"]) for r in rows
        ]

    # Deriving the key and sealing are CPU work: off the event loop.
    params = await asyncio.to_thread(rewrite)
    match = " AND ".join(f"{k} = ?" for k in (*col.keys, col.column))

    def write() -> Txn[None]:
        yield Many(f"UPDATE {col.table} SET {col.column} = ? WHERE {match}", params)  # noqa: S608

    await db.txn(write)
    return len(params)
