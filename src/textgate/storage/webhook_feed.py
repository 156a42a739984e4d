"""The webhook feed: turns committed event rows into queued deliveries and notification mail.

Webhooks are fed from the rows that record what happened (``message_events`` and
``inbound_messages``), never from in-memory notifications: a change that was rolled back
was never written, so it is never announced, and what was committed stays in its table
until the feed has read it, so a crash loses nothing. The feed inserts the deliveries and
moves its cursor in one transaction; a feed replayed after a crash inserts the same
(subscription, event) pairs again, which the unique key turns into no-ops.

Reading "rows after the cursor" needs care on PostgreSQL, where ids are handed out when a
row is inserted but become visible when its transaction commits, in any order:

* ``message_events`` ids come from a sequence. When the feed sees ids 7 and 9 but not 8,
  8 may belong to a transaction still running (or to one rolled back: sequences never give
  numbers back). The feed delivers 9 at once, remembers 8 as a gap and looks for it again
  on every pass; the stored cursor stays below the oldest open gap, so a restart reads the
  gap's neighbourhood again. A gap still empty after ``gap_grace_ms`` is taken to be a
  rollback and given up (transactions here last milliseconds; the grace is generous).
* ``inbound_messages`` ids are ULIDs made by each process before its commit. The feed only
  takes rows created at least ``settle_ms`` ago, by which time any transaction that made
  an earlier id has committed.

On SQLite one writer commits in id order, so neither case arises and the same code just
finds no gaps.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from textgate.core.clock import from_ms
from textgate.core.ids import IdGenerator
from textgate.core.mail import build, notification_email
from textgate.core.webhook_formats import TEXTGATE, Rendered, WebhookFormats
from textgate.core.webhooks import (
    INBOUND_RECEIVED,
    MAILTO,
    inbound_event_id,
    iso_time,
    matches,
    message_event_id,
    message_event_type,
)
from textgate.errors import InvalidRequest
from textgate.storage.db import Database
from textgate.storage.mail import INSERT_MAIL, mail_row
from textgate.storage.txn import Many, Query, Txn, in_list
from textgate.storage.webhooks import ACCOUNT_SCOPE, MESSAGE_SCOPE

__all__ = ["FeedState", "WebhookFeed"]

log = logging.getLogger(__name__)

EVENTS, INBOUND = "message_events", "inbound_messages"
NOTIFICATION_SOURCE = "notification"
_MAX_GAPS = 10_000
"""Beyond this many missing ids in one jump, the rest are not tracked (a sequence reset)."""

_INSERT = (
    "INSERT INTO webhook_deliveries (id, webhook_id, event_id, event_type, payload, status,"
    " attempts, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?)"
    " ON CONFLICT DO NOTHING"
)
_EVENTS_SELECT = (
    "SELECT e.id, e.message_id, e.status, e.at, e.detail, m.account_id, m.recipient,"
    " m.sender, m.client_ref FROM message_events e LEFT JOIN messages m ON m.id = e.message_id"
)


@dataclass(frozen=True, slots=True)
class FeedState:
    """What one process remembers between passes (rebuilt from the cursor after a restart)."""

    high: int = 0
    """Highest event id read."""
    gaps: dict[int, int] = field(default_factory=dict)
    """Event ids not seen yet below ``high`` -> when first missed (ms)."""


@dataclass(frozen=True, slots=True)
class _Target:
    id: str
    account_id: str
    url: str
    events: tuple[str, ...]
    format: str = TEXTGATE
    """Payload shape (core.webhook_formats)."""


class _Batch:
    """The deliveries and mails one pass makes."""

    def __init__(
        self, ids: IdGenerator, now: int, mail_sender: str, formats: WebhookFormats
    ) -> None:
        self._ids = ids
        self._formats = formats
        self._now = now
        self._sender = mail_sender
        self.deliveries: list[tuple[Any, ...]] = []
        self.mails: list[tuple[Any, ...]] = []

    def add(
        self,
        targets: Sequence[_Target],
        event_id: str,
        kind: str,
        at: int,
        data: dict[str, Any],
    ) -> None:
        bodies: dict[str, Rendered | None] = {}
        now = self._now
        for target in targets:
            if not matches(target.events, kind):
                continue
            if target.url.startswith(MAILTO):
                self._mail(target, event_id, kind, at, data)
                continue
            if target.format not in bodies:
                bodies[target.format] = self._formats.render(
                    target.format, event_id, kind, at, data
                )
            rendered = bodies[target.format]
            if rendered is None:
                continue  # this format does not carry this kind of event
            self.deliveries.append(
                (self._ids(now), target.id, event_id, kind, rendered.body, now, now)
            )

    def _mail(
        self, target: _Target, event_id: str, kind: str, at: int, data: dict[str, Any]
    ) -> None:
        address = target.url.removeprefix(MAILTO)
        try:
            mail = build(
                notification_email(self._sender, address, kind, iso_time(at), data),
                now=from_ms(self._now),
            )
        except InvalidRequest:
            # Addresses are checked when a target is made; one that still cannot be written
            # (an operator's from address changed to nonsense) is logged, not retried forever.
            log.warning("notification for target %s could not be built", target.id)
            return
        self.mails.append(
            mail_row(
                self._ids(self._now),
                target.account_id,
                NOTIFICATION_SOURCE,
                mail,
                self._now,
                dedup_key=f"{target.id}:{event_id}",
            )
        )


class WebhookFeed:
    """Feeds both outbound queues: webhook deliveries (http targets) and notification mail
    (mailto: targets)."""

    def __init__(
        self,
        db: Database,
        *,
        mail_sender: str = "textgate@localhost",
        formats: WebhookFormats | None = None,
    ) -> None:
        """``formats``: the payload formats subscriptions may name (textgate's own only when
        none are given)."""
        self._db = db
        self._formats = formats or WebhookFormats()
        self._ids = IdGenerator()
        self._mail_sender = mail_sender
        self.state = FeedState()

    async def run_once(self, *, now: int, batch: int, gap_grace_ms: int, settle_ms: int) -> int:
        """One pass; returns how many rows it read (0: caught up)."""
        state = self.state
        new_state, read = await self._db.txn(
            lambda: self._feed(state, now, batch, gap_grace_ms, settle_ms)
        )
        self.state = new_state
        return read

    def _feed(
        self, state: FeedState, now: int, batch: int, gap_grace_ms: int, settle_ms: int
    ) -> Txn[tuple[FeedState, int]]:
        cursors = yield from _cursors(now)
        rows = yield Query(
            "SELECT id, account_id, url, events, format FROM webhooks WHERE scope = ?",
            (ACCOUNT_SCOPE,),
        )
        subs: dict[str, list[_Target]] = {}
        for r in rows or ():
            subs.setdefault(r["account_id"], []).append(_target(r))
        scoped = yield Query("SELECT 1 FROM webhooks WHERE scope = ? LIMIT 1", (MESSAGE_SCOPE,))
        if not subs and not scoped:
            # Nobody to tell: move to the end of both sources without reading them (a
            # gateway without webhooks would otherwise read every event it writes).
            ends = yield Query(
                "SELECT (SELECT COALESCE(MAX(id), 0) FROM message_events) AS events,"
                " (SELECT COALESCE(MAX(id), '') FROM inbound_messages) AS inbound"
            )
            assert ends
            end = int(ends[0]["events"])
            yield from _advance(EVENTS, int(cursors[EVENTS]), end, now)
            if ends[0]["inbound"] > cursors[INBOUND]:
                yield Many(
                    "UPDATE webhook_cursors SET position = ?, updated_at = ? WHERE source = ?",
                    [(ends[0]["inbound"], now, INBOUND)],
                )
            return FeedState(max(end, state.high)), 0
        out = _Batch(self._ids, now, self._mail_sender, self._formats)

        start = max(state.high, int(cursors[EVENTS]))
        events = list(
            (yield Query(_EVENTS_SELECT + " WHERE e.id > ? ORDER BY e.id LIMIT ?", (start, batch)))
            or ()
        )
        gaps = {g: t for g, t in state.gaps.items() if g > int(cursors[EVENTS])}
        if gaps:
            late = yield in_list(_EVENTS_SELECT + " WHERE e.id IN {in}", sorted(gaps))
            events += list(late or ())
        linked: dict[str, list[_Target]] = {}
        if scoped and events:
            found = yield in_list(
                "SELECT t.message_id, w.id, w.account_id, w.url, w.events, w.format"
                " FROM message_targets t"
                " JOIN webhooks w ON w.id = t.target_id WHERE t.message_id IN {in}",
                list({e["message_id"] for e in events}),
            )
            for r in found or ():
                linked.setdefault(r["message_id"], []).append(_target(r))
        for e in events:
            gaps.pop(e["id"], None)
            if e["account_id"] is None:
                continue
            targets = subs.get(e["account_id"], []) + linked.get(e["message_id"], [])
            if targets:
                out.add(
                    targets,
                    message_event_id(e["id"]),
                    message_event_type(e["status"]),
                    e["at"],
                    {
                        "message_id": e["message_id"],
                        "status": e["status"],
                        "to": e["recipient"],
                        "from": e["sender"],
                        "reference": e["client_ref"],
                        "detail": e["detail"],
                    },
                )
        high = start
        for e in sorted(r["id"] for r in events if r["id"] > start):
            for missing in range(high + 1, min(e, high + 1 + _MAX_GAPS)):
                gaps[missing] = now
            high = e
        gaps = {g: t for g, t in gaps.items() if now - t < gap_grace_ms}
        events_position = (min(gaps) - 1) if gaps else high

        inbound = yield Query(
            "SELECT id, account_id, sender, recipient, text, parts, total_parts, received_at"
            " FROM inbound_messages WHERE id > ? AND created_at <= ? ORDER BY id LIMIT ?",
            (cursors[INBOUND], now - settle_ms, batch),
        )
        inbound_position = cursors[INBOUND]
        for m in inbound or ():
            inbound_position = m["id"]
            # Nobody owns the number (account_id NULL): no subscription can want it.
            targets = subs.get(m["account_id"], [])
            if targets:
                out.add(
                    targets,
                    inbound_event_id(m["id"]),
                    INBOUND_RECEIVED,
                    m["received_at"],
                    {
                        "inbound_id": m["id"],
                        "from": m["sender"],
                        "to": m["recipient"],
                        "text": m["text"],
                        "parts": m["parts"],
                        "complete": m["parts"] >= m["total_parts"],
                    },
                )

        yield Many(_INSERT, out.deliveries)
        yield Many(INSERT_MAIL, out.mails)
        yield from _advance(EVENTS, int(cursors[EVENTS]), events_position, now)
        if inbound_position != cursors[INBOUND]:
            yield Many(
                "UPDATE webhook_cursors SET position = ?, updated_at = ? WHERE source = ?",
                [(inbound_position, now, INBOUND)],
            )
        return FeedState(high, gaps), len(events) + len(inbound or ())


def _target(r: Any) -> _Target:
    return _Target(r["id"], r["account_id"], r["url"], tuple(r["events"].split(",")), r["format"])


def _cursors(now: int) -> Txn[dict[str, str]]:
    """The feed's cursors, locked (one feeder at a time on PostgreSQL); created on first use
    at the current end of each source, so history from before webhooks existed is not sent."""
    select = "SELECT source, position FROM webhook_cursors"
    rows = yield Query(select, pg_sql=select + " ORDER BY source FOR UPDATE")
    found = {r["source"]: r["position"] for r in rows or ()}
    if len(found) < 2:
        ends = yield Query(
            "SELECT (SELECT COALESCE(MAX(id), 0) FROM message_events) AS events,"
            " (SELECT COALESCE(MAX(id), '') FROM inbound_messages) AS inbound"
        )
        assert ends
        initial = {EVENTS: str(ends[0]["events"]), INBOUND: str(ends[0]["inbound"])}
        yield Many(
            "INSERT INTO webhook_cursors (source, position, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            [(s, p, now) for s, p in initial.items() if s not in found],
        )
        rows = yield Query(select, pg_sql=select + " ORDER BY source FOR UPDATE")
        found = {r["source"]: r["position"] for r in rows or ()}
    return found


def _advance(source: str, old: int, new: int, now: int) -> Txn[None]:
    # Never backwards: another process may have moved it further meanwhile.
    if new > old:
        yield Many(
            "UPDATE webhook_cursors SET position = ?, updated_at = ? WHERE source = ?",
            [(str(new), now, source)],
        )
