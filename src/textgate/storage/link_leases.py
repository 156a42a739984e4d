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
from typing import Final

from textgate.storage.db import Database
from textgate.storage.txn import Query, Txn, in_list

__all__ = ["LinkLeases", "OwnedLeases"]

_NOW: Final = "SELECT CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER) AS now"
_PG_NOW: Final = "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now"

_JOIN: Final = (
    "INSERT INTO link_members (connector, owner, expires_at) VALUES (?, ?, ?)"
    " ON CONFLICT (connector, owner) DO UPDATE SET expires_at = excluded.expires_at"
)
# Only a free lease changes hands: an upsert that finds a live one does nothing.
_TAKE: Final = (
    "INSERT INTO link_leases (connector, bind_index, owner, expires_at) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (connector, bind_index) DO UPDATE SET owner = excluded.owner,"
    " expires_at = excluded.expires_at WHERE link_leases.expires_at <= ?"
    " RETURNING bind_index"
)


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

    async def hold(self, binds: int, ttl_ms: int) -> tuple[frozenset[int], int]:
        """Renew this process's membership and leases, take free binds up to its share;
        return the bind indexes it holds (possibly more than its share: see the module
        docstring) and how many processes run the connector."""
        return await self._db.txn(lambda: self._hold(binds, ttl_ms))

    def _hold(self, binds: int, ttl_ms: int) -> Txn[tuple[frozenset[int], int]]:
        me, name = self.owner, self.connector
        rows = yield Query(_NOW, pg_sql=_PG_NOW)
        now = int((rows or [])[0]["now"])
        until = now + ttl_ms
        yield Query(_JOIN, (name, me, until))
        yield Query("DELETE FROM link_members WHERE connector = ? AND expires_at <= ?", (name, now))
        rows = yield Query("SELECT COUNT(*) AS n FROM link_members WHERE connector = ?", (name,))
        members = max(1, int((rows or [])[0]["n"]))
        # Still ours, even if it ran out meanwhile: nobody took it (taking changes the owner).
        rows = yield Query(
            "UPDATE link_leases SET expires_at = ? WHERE connector = ? AND owner = ?"
            " AND bind_index < ? RETURNING bind_index",
            (until, name, me, binds),
        )
        held = {int(r["bind_index"]) for r in rows or ()}
        share = -(-binds // members)
        if len(held) < share:
            rows = yield Query(
                "SELECT bind_index FROM link_leases WHERE connector = ? AND expires_at > ?",
                (name, now),
            )
            busy = {int(r["bind_index"]) for r in rows or ()}
            for index in range(binds):
                if len(held) >= share:
                    break
                if index in busy or index in held:
                    continue
                taken = yield Query(_TAKE, (name, index, me, until, now))
                if taken:
                    held.add(index)
        return frozenset(held), members

    async def release(self, indexes: Collection[int]) -> None:
        """Give these binds back (after unbinding them): others may take them at once."""
        if not indexes:
            return

        def txn() -> Txn[None]:
            yield in_list(
                "DELETE FROM link_leases WHERE connector = ? AND owner = ? AND bind_index IN {in}",
                sorted(indexes),
                before=(self.connector, self.owner),
            )

        await self._db.txn(txn)

    async def leave(self) -> None:
        """Give back every bind and the membership (a process stopping)."""

        def txn() -> Txn[None]:
            for table in ("link_leases", "link_members"):
                yield Query(
                    f"DELETE FROM {table} WHERE connector = ? AND owner = ?",  # noqa: S608
                    (self.connector, self.owner),
                )

        await self._db.txn(txn)
