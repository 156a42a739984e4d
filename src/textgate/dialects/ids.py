"""Numeric ids as the dialects take them from paths, query strings and bodies.

The gateway's numeric ids (MailUp consoles, lists, templates and deliveries, and the rows
numbered by the database) are 64-bit signed integers on every database, and never below 1.
A number outside that range names nothing: it is refused at the edge as bad input, in the
dialect's own format, before it reaches a query (where SQLite cannot bind it and PostgreSQL
refuses it, both as failures of the request rather than of the client).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

__all__ = ["MAX_ID", "RowId", "parse_id"]

MAX_ID = 2**63 - 1
"""The largest id a BIGINT (and SQLite's INTEGER) holds."""

_MAX_DIGITS = len(str(MAX_ID))

RowId = Annotated[int, Field(ge=1, le=MAX_ID)]
"""A numeric id in a FastAPI path or query parameter or a wire schema's field: out of range,
it fails validation, which every dialect renders as its own bad-input answer."""


def parse_id(text: str) -> int | None:
    """The id written in ``text`` (ASCII digits only), or None when it is not one."""
    # isdigit() alone also accepts other scripts' digits and superscripts, which int()
    # either reads as another number or refuses with an error.
    if not text.isascii() or not text.isdigit() or len(text) > _MAX_DIGITS:
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ID else None
