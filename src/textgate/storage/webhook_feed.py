"""The webhook feed: turns committed event rows into queued deliveries, notification mail
and the SMPP server's deliver_sm (receipts, inbound messages: ``storage.smpp_outbox``).

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

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

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
from textgate.storage.mail import insert_mails, mail_row
from textgate.storage.outbox import PENDING, insert_new, writing
from textgate.storage.smpp_outbox import SmppRows, smpp_accounts
from textgate.storage.tables import (
    inbound_messages,
    message_events,
    message_targets,
    messages,
    webhook_cursors,
    webhook_deliveries,
    webhooks,
)
from textgate.storage.webhooks import ACCOUNT_SCOPE, MESSAGE_SCOPE

__all__ = ["FeedState", "WebhookFeed"]

log = logging.getLogger(__name__)

EVENTS, INBOUND = "message_events", "inbound_messages"
NOTIFICATION_SOURCE = "notification"
_MAX_GAPS = 10_000
"""Beyond this many missing ids in one jump, the rest are not tracked (a sequence reset)."""

_e, _m, _in, _w = message_events.c, messages.c, inbound_messages.c, webhooks.c
_cursor = webhook_cursors.c
_EVENTS = select(
    _e.id,
    _e.message_id,
    _e.status,
    _e.at,
    _e.detail,
    _m.account_id,
    _m.recipient,
    _m.sender,
    _m.client_ref,
    _m.receipt,
    _m.error_code,
    _m.text,
    _m.created_at.label("submitted_at"),
).select_from(message_events.outerjoin(messages, _m.id == _e.message_id))
_ENDS = select(
    select(func.coalesce(func.max(_e.id), 0)).scalar_subquery().label("events"),
    select(func.coalesce(func.max(_in.id), "")).scalar_subquery().label("inbound"),
)
"""The current end of both sources."""
_CURSORS = select(_cursor.source, _cursor.position).order_by(_cursor.source).with_for_update()
"""The cursors, locked on PostgreSQL: one feeder at a time."""


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
        self.deliveries: list[dict[str, Any]] = []
        self.mails: list[dict[str, Any]] = []

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
                {
                    "id": self._ids(now),
                    "webhook_id": target.id,
                    "event_id": event_id,
                    "event_type": kind,
                    "payload": rendered.body,
                    "status": PENDING,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
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
    """Feeds the outbound queues: webhook deliveries (http targets), notification mail
    (mailto: targets) and deliver_sm for the SMPP server's customers."""

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
        # Background work: on SQLite it yields the write turn to what clients wait for.
        async with writing(self._db, urgent=False) as conn:
            new_state, read = await self._feed(
                conn, self.state, now, batch, gap_grace_ms, settle_ms
            )
        self.state = new_state
        return read

    async def _feed(
        self,
        conn: AsyncConnection,
        state: FeedState,
        now: int,
        batch: int,
        gap_grace_ms: int,
        settle_ms: int,
    ) -> tuple[FeedState, int]:
        cursors = await _cursors(conn, now)
        rows = await conn.execute(
            select(_w.id, _w.account_id, _w.url, _w.events, _w.format).where(
                _w.scope == ACCOUNT_SCOPE
            )
        )
        subs: dict[str, list[_Target]] = {}
        for r in rows:
            subs.setdefault(r.account_id, []).append(_target(r))
        scoped = (
            await conn.execute(select(_w.id).where(_w.scope == MESSAGE_SCOPE).limit(1))
        ).first() is not None
        # The SMPP server's customers hear of events too: receipts of the messages they
        # asked one for, their inbound messages (storage.smpp_outbox).
        smpp = await smpp_accounts(conn)
        if not subs and not scoped and not smpp:
            # Nobody to tell: move to the end of both sources without reading them (a
            # gateway without webhooks would otherwise read every event it writes).
            ends = (await conn.execute(_ENDS)).one()
            end = int(ends.events)
            await _advance(conn, EVENTS, int(cursors[EVENTS]), end, now)
            if ends.inbound > cursors[INBOUND]:
                await _move(conn, INBOUND, ends.inbound, now)
            return FeedState(max(end, state.high)), 0
        out = _Batch(self._ids, now, self._mail_sender, self._formats)
        smpp_out = SmppRows(self._ids, now)

        start = max(state.high, int(cursors[EVENTS]))
        events = list(await conn.execute(_EVENTS.where(_e.id > start).order_by(_e.id).limit(batch)))
        gaps = {g: t for g, t in state.gaps.items() if g > int(cursors[EVENTS])}
        if gaps:
            events += list(await conn.execute(_EVENTS.where(_e.id.in_(sorted(gaps)))))
        linked: dict[str, list[_Target]] = {}
        if scoped and events:
            tc = message_targets.c
            found = await conn.execute(
                select(tc.message_id, _w.id, _w.account_id, _w.url, _w.events, _w.format)
                .select_from(message_targets.join(webhooks, _w.id == tc.target_id))
                .where(tc.message_id.in_(list({e.message_id for e in events})))
            )
            for link in found:
                linked.setdefault(link.message_id, []).append(_target(link))
        for e in events:
            gaps.pop(e.id, None)
            if e.account_id is None:
                continue
            if e.receipt is not None:
                smpp_out.receipt(message_event_id(e.id), e)
            targets = subs.get(e.account_id, []) + linked.get(e.message_id, [])
            if targets:
                out.add(
                    targets,
                    message_event_id(e.id),
                    message_event_type(e.status),
                    e.at,
                    {
                        "message_id": e.message_id,
                        "account_id": e.account_id,
                        "status": e.status,
                        "to": e.recipient,
                        "from": e.sender,
                        "reference": e.client_ref,
                        "detail": e.detail,
                    },
                )
        high = start
        for seen in sorted(r.id for r in events if r.id > start):
            for missing in range(high + 1, min(seen, high + 1 + _MAX_GAPS)):
                gaps[missing] = now
            high = seen
        gaps = {g: t for g, t in gaps.items() if now - t < gap_grace_ms}
        events_position = (min(gaps) - 1) if gaps else high

        inbound = list(
            await conn.execute(
                select(
                    _in.id,
                    _in.account_id,
                    _in.sender,
                    _in.recipient,
                    _in.text,
                    _in.parts,
                    _in.total_parts,
                    _in.received_at,
                )
                .where(_in.id > cursors[INBOUND], _in.created_at <= now - settle_ms)
                .order_by(_in.id)
                .limit(batch)
            )
        )
        inbound_position = cursors[INBOUND]
        for m in inbound:
            inbound_position = m.id
            if m.account_id in smpp:
                smpp_out.inbound(inbound_event_id(m.id), m)
            # Nobody owns the number (account_id NULL): no subscription can want it.
            targets = subs.get(m.account_id, [])
            if targets:
                out.add(
                    targets,
                    inbound_event_id(m.id),
                    INBOUND_RECEIVED,
                    m.received_at,
                    {
                        "inbound_id": m.id,
                        "account_id": m.account_id,
                        "from": m.sender,
                        "to": m.recipient,
                        "text": m.text,
                        "parts": m.parts,
                        "complete": m.parts >= m.total_parts,
                    },
                )

        if out.deliveries:
            # A (subscription, event) pair fed before (a replay after a crash) is skipped.
            await conn.execute(insert_new(conn, webhook_deliveries), out.deliveries)
        await insert_mails(conn, out.mails)
        await smpp_out.insert(conn)
        await _advance(conn, EVENTS, int(cursors[EVENTS]), events_position, now)
        if inbound_position != cursors[INBOUND]:
            await _move(conn, INBOUND, inbound_position, now)
        return FeedState(high, gaps), len(events) + len(inbound)


def _target(r: Any) -> _Target:
    return _Target(r.id, r.account_id, r.url, tuple(r.events.split(",")), r.format)


async def _cursors(conn: AsyncConnection, now: int) -> dict[str, str]:
    """The feed's cursors, locked (one feeder at a time on PostgreSQL); created on first use
    at the current end of each source, so history from before webhooks existed is not sent."""
    found = {r.source: r.position for r in await conn.execute(_CURSORS)}
    if len(found) < 2:
        ends = (await conn.execute(_ENDS)).one()
        initial = {EVENTS: str(ends.events), INBOUND: str(ends.inbound)}
        await conn.execute(
            insert_new(conn, webhook_cursors),
            [
                {"source": s, "position": p, "updated_at": now}
                for s, p in initial.items()
                if s not in found
            ],
        )
        found = {r.source: r.position for r in await conn.execute(_CURSORS)}
    return found


async def _advance(conn: AsyncConnection, source: str, old: int, new: int, now: int) -> None:
    # Never backwards: another process may have moved it further meanwhile.
    if new > old:
        await _move(conn, source, str(new), now)


async def _move(conn: AsyncConnection, source: str, position: str, now: int) -> None:
    await conn.execute(
        update(webhook_cursors)
        .where(_cursor.source == source)
        .values(position=position, updated_at=now)
    )
