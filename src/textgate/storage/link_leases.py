"""Which process holds which bind of a connector (``link_leases``, ``link_members``).

Every process that runs a connector renews, every few seconds, a membership row and the
leases of the binds it holds. The binds are shared out evenly: a process takes free binds
(never held, released, or whose lease ran out: a crashed holder's) up to its share,
``ceil(binds / live members)``; one that holds more than its share is told so and gives the
rest back (:meth:`OwnedLeases.release`) once it has unbound them. Times come from the
database's clock, so hosts whose clocks disagree still agree on when a lease ends.

Two processes that race for one free bind both try the same conditional upsert; the
database serialises them and only the first finds the lease free.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    cast,
    delete,
    extract,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from textgate.storage.db import Database
from textgate.storage.tables import link_leases, link_members

__all__ = ["LinkLeases", "OwnedLeases"]

_leases = link_leases.c
_members = link_members.c


def _now_ms(sqlite: bool) -> ColumnElement[Any]:
    """The database's clock in milliseconds since the epoch, as it is when the statement
    runs (clock_timestamp(), not the transaction's start, on PostgreSQL)."""
    if sqlite:
        julian_day = func.julianday(literal_column("'now'"))
        ms = (julian_day - literal_column("2440587.5")) * literal_column("86400000.0")
        return cast(ms, Integer)
    return cast(extract("epoch", func.clock_timestamp()) * literal_column("1000"), BigInteger)


class LinkLeases:
    def __init__(self, db: Database) -> None:
        self._db = db

    def owned_by(self, connector: str, owner: str) -> OwnedLeases:
        """The leases of ``connector`` as seen by the process named ``owner``."""
        return OwnedLeases(self._db, connector, owner)


class OwnedLeases:
    """One process's side of one connector's leases (the connector's ``BindLeases``)."""

    def __init__(self, db: Database, connector: str, owner: str) -> None:
        self._db = db
        self.connector = connector
        self.owner = owner
        self._insert = sqlite_insert if db.is_sqlite else pg_insert

    async def hold(self, binds: int, ttl_ms: int) -> tuple[frozenset[int], int]:
        """Renew this process's membership and leases, take free binds up to its share;
        return the bind indexes it holds (possibly more than its share: see the module
        docstring) and how many processes run the connector."""
        # Background work: on SQLite it takes its turn behind what clients wait for.
        async with self._db.write(urgent=False) as conn:
            return await self._hold(conn, binds, ttl_ms)

    async def _hold(
        self, conn: AsyncConnection, binds: int, ttl_ms: int
    ) -> tuple[frozenset[int], int]:
        me, name = self.owner, self.connector
        now = int((await conn.execute(select(_now_ms(self._db.is_sqlite)))).scalar_one())
        until = now + ttl_ms
        join = self._insert(link_members).values(connector=name, owner=me, expires_at=until)
        await conn.execute(
            join.on_conflict_do_update(
                index_elements=[_members.connector, _members.owner],
                set_={"expires_at": join.excluded.expires_at},
            )
        )
        await conn.execute(
            delete(link_members).where(_members.connector == name, _members.expires_at <= now)
        )
        count = select(func.count()).select_from(link_members).where(_members.connector == name)
        members = max(1, int((await conn.execute(count)).scalar_one()))
        # Still ours, even if it ran out meanwhile: nobody took it (taking changes the owner).
        renewed = await conn.execute(
            update(link_leases)
            .where(_leases.connector == name, _leases.owner == me, _leases.bind_index < binds)
            .values(expires_at=until)
            .returning(_leases.bind_index)
        )
        held = {int(index) for index in renewed.scalars()}
        share = -(-binds // members)
        if len(held) < share:
            live = await conn.execute(
                select(_leases.bind_index).where(
                    _leases.connector == name, _leases.expires_at > now
                )
            )
            busy = {int(index) for index in live.scalars()}
            for index in range(binds):
                if len(held) >= share:
                    break
                if index in busy or index in held:
                    continue
                if await self._take(conn, index, until, now):
                    held.add(index)
        return frozenset(held), members

    async def _take(self, conn: AsyncConnection, index: int, until: int, now: int) -> bool:
        """Take one bind if its lease is free. Only a free lease changes hands: an upsert
        that finds a live one does nothing (and returns no row)."""
        take = self._insert(link_leases).values(
            connector=self.connector, bind_index=index, owner=self.owner, expires_at=until
        )
        taken = await conn.execute(
            take.on_conflict_do_update(
                index_elements=[_leases.connector, _leases.bind_index],
                set_={"owner": take.excluded.owner, "expires_at": take.excluded.expires_at},
                where=_leases.expires_at <= now,
            ).returning(_leases.bind_index)
        )
        return taken.first() is not None

    async def release(self, indexes: Collection[int]) -> None:
        """Give these binds back (after unbinding them): others may take them at once."""
        if not indexes:
            return
        async with self._db.write(urgent=False) as conn:
            await conn.execute(
                delete(link_leases).where(
                    _leases.connector == self.connector,
                    _leases.owner == self.owner,
                    _leases.bind_index.in_(sorted(indexes)),
                )
            )

    async def leave(self) -> None:
        """Give back every bind and the membership (a process stopping)."""
        async with self._db.write(urgent=False) as conn:
            for c, table in ((_leases, link_leases), (_members, link_members)):
                await conn.execute(
                    delete(table).where(c.connector == self.connector, c.owner == self.owner)
                )
