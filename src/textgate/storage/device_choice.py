"""Which of an account's phones sends a message.

The sender decides first: a message whose sender is a device's label, name or id, or the
phone number of the device or of one of its SIM cards, goes through that device (and that
SIM). Then the connector's ``device`` option. Otherwise the least busy online device takes
it (fewest messages waiting on it; the most recently seen on a tie).

A message that went to a phone because the client, the sender or the ``device`` option named
it is *pinned* to that phone: it waits for it and never fails over to another.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from textgate.core.devices import PlacementRules
from textgate.errors import ConnectorError
from textgate.storage.devices import decode_sims, pending_count
from textgate.storage.tables import devices

__all__ = ["Candidate", "Choice", "candidates", "choose", "load_candidates"]

# The chosen phone was deleted: the message cannot leave from it.
REMOVED = "the chosen phone was removed"


@dataclass(slots=True)
class Candidate:
    id: str
    names: frozenset[str]
    """Label, name and id: what a sender or the ``device`` option may call it."""
    numbers: dict[str, int | None]
    """Digits of its phone numbers -> SIM number (None: the device's own number)."""
    last_seen_at: int
    online: bool
    pending: int

    def load_key(self) -> tuple[int, int]:
        return self.pending, -self.last_seen_at


class Choice(NamedTuple):
    device: Candidate
    sim: int | None
    """The SIM the sender named; None: the rules' or the phone's."""
    pinned: bool
    """The phone was named (by the client, the sender or the ``device`` option)."""


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


async def load_candidates(
    conn: AsyncConnection,
    account_ids: Sequence[str],
    connected: frozenset[str],
    now: int,
    rules: PlacementRules,
) -> dict[str, list[Candidate]]:
    """The phones of these accounts, by account, with their load."""
    if not account_ids:
        return {}
    d = devices.c
    rows = await conn.execute(
        select(
            d.id,
            d.account_id,
            d.name,
            d.label,
            d.phone_number,
            d.sim_cards,
            d.last_seen_at,
            pending_count().label("pending"),
        )
        .where(d.account_id.in_(account_ids))
        .order_by(d.created_at, d.id)
    )
    return candidates(rows.mappings(), connected, now, rules)


def candidates(
    rows: Iterable[Any], connected: frozenset[str], now: int, rules: PlacementRules
) -> dict[str, list[Candidate]]:
    """Candidates by account from rows of ``load_candidates``'s columns (indexed by name)."""
    seen_after = now - int(rules.offline_after_seconds * 1000)
    found: dict[str, list[Candidate]] = {}
    for r in rows:
        numbers: dict[str, int | None] = {}
        for sim in decode_sims(r["sim_cards"]):
            # The app redacts SIM numbers to their last 4 characters; those match nothing.
            if sim.phone_number and "*" not in sim.phone_number and _digits(sim.phone_number):
                numbers[_digits(sim.phone_number)] = sim.sim_number
        if r["phone_number"] and _digits(r["phone_number"]):
            numbers[_digits(r["phone_number"])] = None
        found.setdefault(r["account_id"], []).append(
            Candidate(
                id=r["id"],
                names=frozenset(n for n in (r["id"], r["name"], r["label"]) if n),
                numbers=numbers,
                last_seen_at=r["last_seen_at"],
                online=r["id"] in connected or r["last_seen_at"] >= seen_after,
                pending=int(r["pending"]),
            )
        )
    return found


def _named(devices: Sequence[Candidate], name: str) -> tuple[Candidate, int | None] | None:
    for device in devices:
        if name in device.names:
            return device, None
    digits = _digits(name)
    if digits and (name.startswith("+") or digits == name):
        for device in devices:
            if digits in device.numbers:
                return device, device.numbers[digits]
    return None


def choose(
    devices: Sequence[Candidate],
    sender: str | None,
    rules: PlacementRules,
    device_id: str | None = None,
) -> Choice | ConnectorError:
    """The device (and SIM number, if the sender chose one) for a message, or the error
    when none can take it now. ``device_id``, the phone the client chose for this message,
    comes before everything else. An offline phone has not been handed anything: those
    errors are "not sent" (the message waits, no attempt used)."""
    if device_id is not None:
        chosen = next((d for d in devices if d.id == device_id), None)
        if chosen is None:
            return ConnectorError(REMOVED, retryable=False, code="device-removed")
        if not chosen.online:
            return ConnectorError.not_sent("the chosen device is offline", code="offline")
        return Choice(chosen, None, True)
    named = _named(devices, sender) if sender else None
    if named is None and rules.device:
        named = _named(devices, rules.device)
        if named is None:
            return ConnectorError(
                f"no device called {rules.device!r}", retryable=True, code="no-device"
            )
    if named is not None:
        if not named[0].online:
            return ConnectorError.not_sent("the chosen device is offline", code="offline")
        return Choice(named[0], named[1], True)
    online = [d for d in devices if d.online]
    if not online:
        return ConnectorError.not_sent("no online device for this account", code="offline")
    return Choice(min(online, key=Candidate.load_key), None, False)
