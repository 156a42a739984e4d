"""A short link (``/s/{code}``) that stands for a URL in a sent text, and its clicks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["ShortLink"]


@dataclass(frozen=True, slots=True)
class ShortLink:
    code: str
    url: str
    clicks: int
    created_at: datetime
    last_click_at: datetime | None
