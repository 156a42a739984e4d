"""The metadata every table belongs to, and the column types they share.

Times are integer milliseconds since the Unix epoch (UTC) on every database: comparisons in
the claim query stay index-friendly and identical on SQLite and PostgreSQL, and repos turn
them into aware datetimes for core objects.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, MetaData, String

__all__ = ["AutoId", "Id", "Ms", "NumberId", "metadata"]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL wants BIGINT for event ids.
AutoId = BigInteger().with_variant(Integer(), "sqlite")
# Numbers handed out as ids that clients see and send back (MailUp consoles, lists and
# templates), and the columns referring to them: 64-bit like the rows' own ids, so that any id
# the edge accepts (dialects.ids) fits. SQLite's INTEGER is 64-bit already.
NumberId = BigInteger().with_variant(Integer(), "sqlite")
Ms = BigInteger
# Our own ids: ULIDs, 26 characters (core.ids).
Id = String(26)
