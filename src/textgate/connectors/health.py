"""What a connector tells operators about each of its links (SMPP binds and the like).

A connector with links exposes ``links()``: one :class:`LinkHealth` per link, a snapshot
that the caller may keep (frozen). Readiness checks, metrics and the dashboard read it; the
dispatcher does not (it learns a link is down from ``submit``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

__all__ = ["HasLinks", "LinkHealth", "LinkState"]


class LinkState(StrEnum):
    BOUND = "bound"
    """Up: carries messages."""
    BINDING = "binding"
    """Connecting or waiting for the bind response, nothing having failed yet."""
    DOWN = "down"
    """Not bound: lost, or the last attempt failed (``last_error`` says why); retried with
    backoff. A link stays down while a new attempt is under way."""
    AUTH_REFUSED = "auth_refused"
    """The far end refused the credentials; retried, but rarely, so as not to lock the
    account. Needs an operator unless the far end was at fault."""


@dataclass(frozen=True, slots=True)
class LinkHealth:
    name: str
    state: LinkState
    since: datetime
    """When the link entered ``state`` (UTC)."""
    last_error: str | None = None
    """Why the last attempt failed or the link was lost; kept after it binds again."""
    retry_at: datetime | None = None
    """When the next bind attempt is due, while one is scheduled (UTC)."""

    @property
    def up(self) -> bool:
        return self.state is LinkState.BOUND


@runtime_checkable
class HasLinks(Protocol):
    """A connector that reports its links one by one."""

    def links(self) -> Sequence[LinkHealth]: ...
