"""Money: credits as integer micro-units, prices per destination country.

Amounts are integers of 1/1,000,000 credit so that sums are exact on every database and
no float ever touches a balance. They are written as decimal strings at the edges
("0.045", "12.5").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from textgate.errors import InvalidRequest

__all__ = ["MAX_AMOUNT", "MICRO", "PriceTable", "format_amount", "parse_amount"]

MICRO = 1_000_000
# 10^12 credits: far beyond any real balance, and sums of such amounts still fit the
# 64-bit integers both databases store them in.
MAX_AMOUNT = 10**12 * MICRO


def parse_amount(value: str | int | float | Decimal) -> int:
    """A credit amount in micro-units; at most six decimals."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise InvalidRequest(f"not an amount: {value!r}") from exc
    if not amount.is_finite():
        raise InvalidRequest(f"not an amount: {value!r}")
    if abs(amount) > MAX_AMOUNT // MICRO:
        raise InvalidRequest(f"amount too large: {value!r}")
    micro = amount * MICRO
    if micro != micro.to_integral_value():
        raise InvalidRequest(f"at most six decimals: {value!r}")
    return int(micro)


def format_amount(micro: int) -> str:
    """'12.5', '0.045', '-3' (no trailing zeros, no exponent)."""
    text = format(Decimal(micro) / MICRO, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


@dataclass(frozen=True, slots=True)
class PriceTable:
    """Price of one SMS part per destination country (ISO 3166 alpha-2), with a default."""

    default: int = MICRO
    by_country: Mapping[str, int] = field(default_factory=dict)

    def price(self, country: str | None) -> int:
        if country is None:
            return self.default
        return self.by_country.get(country, self.default)

    def cost(self, country: str | None, parts: int) -> int:
        return self.price(country) * parts

    def with_overrides(self, default: int | None, by_country: Mapping[str, int]) -> PriceTable:
        """This table with an account's own prices on top."""
        if default is None and not by_country:
            return self
        return PriceTable(
            self.default if default is None else default, {**self.by_country, **by_country}
        )
