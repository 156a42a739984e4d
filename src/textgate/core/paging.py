"""One page of a list read newest first, and the cursor to the next (older) one.

Services read one row more than the page holds: that row only says whether there is a next
page, so a page of the largest size still knows it has a successor (asking the store for
``limit + 1`` rows and then capping ``limit`` at the largest page loses exactly that row).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Page", "page_size"]

T = TypeVar("T")


def page_size(asked: int, largest: int) -> int:
    """``asked`` brought into 1..``largest``."""
    return max(1, min(asked, largest))


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    next_cursor: str | None
    """The cursor of the next (older) page; None on the last page."""

    @classmethod
    def cut(cls, rows: Sequence[T], size: int, cursor: Callable[[T], str]) -> Page[T]:
        """The page made of ``rows`` (read with ``size + 1`` as their limit): ``size`` rows,
        and a next cursor (the last row's, as ``cursor`` gives it) when the extra row came."""
        items = tuple(rows[:size])
        more = len(rows) > size and bool(items)
        return cls(items, cursor(items[-1]) if more else None)
