"""Claiming due messages (see ``storage.queue``): each claimed message is leased to the
worker and, when the worker routes (``Router``), stored with the connector chosen for it.
Hot-path SQL, run through ``storage.txn``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from textgate.core.message import Status
from textgate.storage.credits import refund_failed
from textgate.storage.outcomes import WAITING, Claim
from textgate.storage.reports import INSERT_EVENT
from textgate.storage.txn import Many, Query, Txn, in_list

__all__ = ["INSERT_ROUTED_EVENT", "VALIDITY", "Router", "claim_due"]

_SENDING = Status.SENDING.value
VALIDITY = "validity"
"""error_code of a message whose validity ended before it could be sent."""
INSERT_ROUTED_EVENT = (
    "INSERT INTO message_events (message_id, status, at, detail, connector, route)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
_CLAIM = (
    "UPDATE messages SET status = ?, next_attempt_at = ?, attempts = attempts + 1,"
    " claimed_by = ?, updated_at = ? WHERE id IN {in}"
)
# Claimed with the connector chosen for it (see Router): written at once, so that a message
# a crash leaves in doubt comes back to the connector it may have reached.
_CLAIM_ROUTED = (
    "UPDATE messages SET status = ?, next_attempt_at = ?, attempts = attempts + 1,"
    " claimed_by = ?, updated_at = ?, handoff_to = ?, route = ? WHERE id IN {in}"
)
_ACCOUNT_NAMES = "SELECT id, name FROM accounts WHERE id IN {in}"


class Router(Protocol):
    """Chooses the connector of each claimed message, in memory, inside the claim."""

    def unknown_accounts(self, account_ids: Iterable[str]) -> list[str]:
        """Accounts whose names routing needs and does not know yet."""
        ...

    def learn_accounts(self, names: Mapping[str, str]) -> None:
        """Account names by id."""
        ...

    def choose(self, claim: Claim) -> Claim:
        """``claim`` with its ``connector``, ``route`` and ``candidates`` set."""
        ...


def claim_due(
    worker_id: str, now: int, lease_ms: int, limit: int, validity_ms: int, router: Router | None
) -> Txn[list[Claim]]:
    """Due messages, leased to ``worker_id`` (see ``DispatchQueue.claim``)."""
    select = (
        "SELECT id, account_id, recipient, sender, text, encoding, segments, attempts,"
        " status, quality, error_code, reason, valid_until, scheduled_at, created_at,"
        " handoff_state, country, interface, handoff_to, tried, route"
        " FROM messages WHERE next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?"
    )
    rows = yield Query(select, (now, limit), pg_sql=select + " FOR UPDATE SKIP LOCKED")
    if not rows:
        return []
    claims: list[Claim] = []
    ended: list[Claim] = []
    reasons: dict[str, str | None] = {}
    for r in rows:
        due_at = r["scheduled_at"] or r["created_at"]
        valid_until = r["valid_until"]
        if valid_until is None:
            valid_until = due_at + validity_ms
        claim = Claim(
            r["id"],
            r["account_id"],
            r["recipient"],
            r["sender"],
            r["text"],
            r["encoding"],
            r["segments"],
            r["attempts"] + 1,
            r["status"] == _SENDING,
            r["quality"],
            r["error_code"],
            valid_until,
            due_at,
            r["handoff_state"],
            r["country"],
            r["interface"],
            r["handoff_to"],
            r["tried"],
            r["route"],
            asked_until=r["valid_until"],
        )
        if valid_until <= now:
            ended.append(claim)
            reasons[claim.id] = r["reason"]
        else:
            claims.append(claim)
    if ended:
        yield from _expire(ended, reasons, now)
    if not claims:
        return []
    lease = (_SENDING, now + lease_ms, worker_id, now)
    if router is None:
        yield in_list(_CLAIM, [c.id for c in claims], before=lease)
        yield Many(
            INSERT_EVENT,
            [_claimed_event(c, now) for c in claims if c.previous != WAITING or c.recovered],
        )
        return claims
    unknown = router.unknown_accounts({c.account_id for c in claims})
    if unknown:
        named = yield in_list(_ACCOUNT_NAMES, unknown)
        router.learn_accounts({r["id"]: r["name"] for r in named or ()})
    claims = [router.choose(c) for c in claims]
    groups: dict[tuple[str, str | None], list[str]] = {}
    for c in claims:
        groups.setdefault((c.connector, c.route), []).append(c.id)
    for (connector, route), ids in groups.items():
        yield in_list(_CLAIM_ROUTED, ids, before=(*lease, connector, route))
    yield Many(
        INSERT_ROUTED_EVENT,
        [(*_claimed_event(c, now), c.connector, c.route) for c in claims if _announced(c)],
    )
    return claims


def _expire(ended: list[Claim], reasons: dict[str, str | None], now: int) -> Txn[None]:
    yield in_list(
        "UPDATE messages SET status = 'expired', next_attempt_at = NULL, claimed_by = NULL,"
        " error_code = ?, updated_at = ? WHERE id IN {in}",
        [c.id for c in ended],
        before=(VALIDITY, now),
    )
    yield Many(
        INSERT_EVENT,
        [
            (
                c.id,
                Status.EXPIRED.value,
                now,
                "validity ended before it could be sent"
                + (f" (last: {reasons[c.id]})" if reasons.get(c.id) else ""),
            )
            for c in ended
        ],
    )
    # Never handed off: the charge goes back. One that may have gone out keeps it.
    yield from refund_failed(
        [c.id for c in ended if not c.in_doubt],
        now,
        "not sent: validity",
        statuses=("expired",),
    )


def _announced(c: Claim) -> bool:
    """Whether claiming ``c`` adds a line to its history. A message that only waited for
    its link was announced as sending already: it gets no new line each time it looks
    again, unless it now goes to another connector (failover)."""
    return c.previous != WAITING or c.recovered or c.connector != (c.last_connector or "")


def _claimed_event(c: Claim, now: int) -> tuple[Any, ...]:
    if c.recovered:
        detail: str | None = "recovered after lease expiry"
    elif c.last_connector and c.connector and c.connector != c.last_connector:
        detail = f"failover from {c.last_connector}"
    else:
        detail = None
    return (c.id, _SENDING, now, detail)
