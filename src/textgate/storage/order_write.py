"""What storing one order takes: the order, its messages and what the account's rules need.

Its own module because both the order writer (``storage.orders``) and the rules applied in
its transaction (``storage.admission``) work on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from textgate.core.frozen import quick_init
from textgate.core.message import Message, Order
from textgate.core.policy import AccountRules

__all__ = ["OrderWrite"]


@quick_init
@dataclass(frozen=True, slots=True)
class OrderWrite:
    order: Order
    messages: Sequence[Message]
    idempotency_key: str | None = None
    rules: AccountRules = field(default_factory=AccountRules)
    day: str = ""
    """The account's local day of the order (the daily limit's counter)."""
    targets: Sequence[str] = ()
    """Message-scoped notification targets (``webhooks`` ids) linked to every message."""
    device: tuple[str | None, int | None] | None = None
    """The phone and SIM the client chose for every message (``message_devices``)."""
