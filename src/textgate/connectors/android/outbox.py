"""What the android connector needs from the rest of the gateway, as a protocol.

The connector knows phones only as device ids behind a :class:`DeviceOutbox`: the gateway
implements it over its storage (which knows accounts and devices) and passes it in. Reports
of the phones come back through the device API, not through the connector.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Protocol

from textgate.connectors.base import Submission
from textgate.core.devices import Placement, PlacementRules, Swept

__all__ = ["AndroidOptions", "DeviceOutbox", "Placement", "Swept"]


@dataclasses.dataclass(frozen=True, slots=True)
class AndroidOptions:
    """``[[connectors]] type = "android"`` options: the placement rules (see
    ``core.devices.PlacementRules``) and how often waiting messages are checked."""

    rules: PlacementRules = dataclasses.field(default_factory=PlacementRules)
    sweep_seconds: float = 5.0

    @classmethod
    def from_mapping(cls, options: dict[str, Any]) -> AndroidOptions:
        rule_names = {f.name for f in dataclasses.fields(PlacementRules)}
        unknown = set(options) - rule_names - {"sweep_seconds"}
        if unknown:
            raise ValueError(f"unknown android options: {', '.join(sorted(unknown))}")
        rules = PlacementRules(**{k: v for k, v in options.items() if k in rule_names})
        if rules.sim_number is not None and not 1 <= rules.sim_number <= 3:
            raise ValueError("android sim_number must be 1, 2 or 3")
        if rules.failover not in ("reroute", "fail"):
            raise ValueError("android failover must be 'reroute' or 'fail'")
        # The app stores a message's priority in a signed byte (spec, "priority": int8;
        # 100 and more skip its send delays), so anything else could not reach it.
        if isinstance(rules.high_priority, bool) or not isinstance(rules.high_priority, int):
            raise ValueError("android high_priority must be a whole number from 0 to 127")
        if not 0 <= rules.high_priority <= 127:
            raise ValueError("android high_priority must be from 0 to 127")
        return cls(rules, float(options.get("sweep_seconds", 5.0)))


class DeviceOutbox(Protocol):
    async def place(
        self,
        connector: str,
        batch: Sequence[Submission],
        rules: PlacementRules,
        connected: frozenset[str],
    ) -> list[Placement]:
        """Queue each submission for a device of its account; one placement each, in order.

        ``connected`` are the devices with an open event stream here (online whatever
        their last-seen time says)."""
        ...

    async def sweep(
        self, connector: str, rules: PlacementRules, connected: frozenset[str]
    ) -> Swept:
        """End messages past their validity, and fail over the messages offline devices
        have not pulled (never one a device pulled or one pinned to its device)."""
        ...
