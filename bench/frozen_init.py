"""What building the hot path's frozen values costs, with ``core.frozen.quick_init``'s
``__init__`` and with the one dataclasses generated (kept as ``__init__.dataclass_init``).

Run from the repository root::

    .venv/bin/python bench/frozen_init.py

Each line: microseconds a construction (best of five rounds of 100,000), both ways.
"""

from __future__ import annotations

import timeit
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from textgate.connectors.base import Outcome, Submission
from textgate.connectors.smpp.pdutypes import DeliverSm, DeliverSmResp, SubmitSm, SubmitSmResp
from textgate.core.message import DeliveryReport, Message, Order, Status
from textgate.storage.outcomes import Claim

NOW = datetime(2026, 12, 7, tzinfo=UTC)

# (class, positional arguments, keyword arguments): shaped as the hot path builds them.
CASES: list[tuple[type[Any], tuple[Any, ...], dict[str, Any]]] = [
    (
        SubmitSm,
        (),
        {
            "sequence_number": 7,
            "destination_addr": "33620000000",
            "source_addr": "Shop",
            "short_message": b"hello",
            "registered_delivery": 1,
        },
    ),
    (SubmitSmResp, (), {"sequence_number": 7, "message_id": "abc123"}),
    (
        DeliverSm,
        (),
        {
            "sequence_number": 9,
            "source_addr": "33620000000",
            "esm_class": 4,
            "short_message": b"id:abc123 stat:DELIVRD",
        },
    ),
    (DeliverSmResp, (), {"sequence_number": 9}),
    (
        Message,
        ("m1", "o1", "a1", "+33620000000", "Shop", "hello", "gsm7", 1, Status.QUEUED, NOW, NOW),
        {"cost": 1, "country": "FR"},
    ),
    (
        Order,
        (),
        {
            "id": "o1",
            "account_id": "a1",
            "created_at": NOW,
            "interface": "native",
            "client_ref": None,
            "recipients": 1,
        },
    ),
    (
        DeliveryReport,
        (),
        {"connector": "smsc", "external_id": "abc123", "status": Status.DELIVERED, "at": NOW},
    ),
    (Claim, ("m1", "a1", "+33620000000", "Shop", "hello", "gsm7", 1, 1, False), {}),
    (Submission, ("m1", "+33620000000", "Shop", "hello", "gsm7", 1), {"valid_until": 1}),
    (Outcome, ("m1",), {"external_id": "abc123"}),
]


def best(make: Callable[[], object]) -> float:
    return min(timeit.repeat(make, number=100_000, repeat=5)) / 100_000 * 1e6


def main() -> None:
    print(f"{'class':<16} {'dataclasses µs':>15} {'quick_init µs':>14} {'saved':>6}")
    for cls, args, kwargs in CASES:
        original = cls.__init__.dataclass_init  # type: ignore[misc]

        def slow(
            cls: type[Any] = cls, original: Any = original, a: Any = args, k: Any = kwargs
        ) -> object:
            obj = object.__new__(cls)
            original(obj, *a, **k)
            return obj

        def quick(cls: type[Any] = cls, a: Any = args, k: Any = kwargs) -> object:
            return cls(*a, **k)

        assert slow() == quick()
        a, b = best(slow), best(quick)
        print(f"{cls.__name__:<16} {a:>15.2f} {b:>14.2f} {1 - b / a:>6.0%}")


if __name__ == "__main__":
    main()
