"""Which connector carries a message (DESIGN section 3, step 4).

Routing is by the message's quality class (``core.message.Quality``, chosen by dialects
such as smsend's ``message_type``): an operator maps each class to a connector in config,
for instance premium routes with delivery reports for ``high`` and a cheaper link for
``low``. A class with no route, and a message with no class, take the default connector.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Routes"]


@dataclass(frozen=True, slots=True)
class Routes:
    default: str
    by_quality: Mapping[str, str] = field(default_factory=dict)

    def connector_for(self, quality: str | None) -> str:
        if quality is None:
            return self.default
        return self.by_quality.get(quality, self.default)

    def connectors(self) -> frozenset[str]:
        """Every connector a route names (each must exist)."""
        return frozenset({self.default, *self.by_quality.values()})
