"""Conversations: the messages exchanged with one remote number, both ways, in time order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

__all__ = ["Direction", "Thread", "ThreadItem"]

Direction = Literal["in", "out"]


@dataclass(frozen=True, slots=True)
class ThreadItem:
    """One message of a conversation: an outbound message or an inbound one."""

    direction: Direction
    id: str
    text: str
    at: datetime
    status: str | None = None
    """Outbound: the message's status."""
    read: bool | None = None
    """Inbound: whether it was marked read."""


@dataclass(frozen=True, slots=True)
class Thread:
    """A conversation's summary: its latest message and counts."""

    number: str
    last: ThreadItem
    messages: int
    unread: int
