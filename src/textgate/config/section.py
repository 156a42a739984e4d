"""The base of every settings table."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["Section"]


class Section(BaseModel):
    """A table of settings: a key it does not know is a typo, refused rather than ignored."""

    model_config = ConfigDict(extra="forbid")
