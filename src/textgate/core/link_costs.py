"""What a message part costs textgate upstream, per connector: the other side of
``core.pricing`` (what an account is charged). Least-cost routing orders connectors by it,
and each message records its upstream cost beside its charge, so margins can be summed.

Amounts are micro-credits per part, like prices. The price for a destination is the one of
its longest matching prefix, else of its country, else the table's default; a table that
says nothing about a destination leaves its cost unknown (None).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["CostTable"]


@dataclass(frozen=True, slots=True)
class CostTable:
    default: int | None = None
    by_country: Mapping[str, int] = field(default_factory=dict)
    """ISO 3166 alpha-2 country -> micro-credits per part."""
    by_prefix: Mapping[str, int] = field(default_factory=dict)
    """Leading digits of the E.164 number (country code first, no ``+``) -> per part."""
    _longest: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_longest", max(map(len, self.by_prefix), default=0))

    def price(self, digits: str, country: str | None) -> int | None:
        """Per part, to the number whose digits (no ``+``) are ``digits``."""
        if self._longest:
            prefixes = self.by_prefix
            for end in range(min(self._longest, len(digits)), 0, -1):
                found = prefixes.get(digits[:end])
                if found is not None:
                    return found
        if country is not None:
            found = self.by_country.get(country)
            if found is not None:
                return found
        return self.default
