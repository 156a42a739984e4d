"""Reading what the account's phones sent and received (core.phone_sms), deleting received
SMS in bulk, and the bookkeeping of resent messages."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from textgate.core.clock import Clock, from_ms, system_clock
from textgate.core.message import Status
from textgate.core.phone_sms import (
    Conversation,
    ConversationLine,
    Origin,
    PhoneSent,
    ReceivedSms,
    SentSms,
    device_of_external_id,
)
from textgate.storage.db import Database
from textgate.storage.txn import Query, Txn

__all__ = ["PhoneSmsRepo", "ResendSource", "SentFilter"]

# The phone's states that mean the SMS left it (SMSGate app, spec section 4).
_SENT_STATES = ("Sent", "Delivered")
# Scanning more than this many rows for the phones' sent log is refused work, not a limit the
# client sees: seven days of one account's phones stay well below it.
_SCAN_LIMIT = 20_000


@dataclass(frozen=True, slots=True)
class SentFilter:
    guid: str | None = None
    before_ms: int | None = None
    before_id: str | None = None
    api_errors: bool = False
    phone_errors: bool = False
    keyword: str | None = None
    limit: int = 100


@dataclass(frozen=True, slots=True)
class ResendSource:
    """What to send again: the message the client knows (``root_id``) and its latest try."""

    root_id: str
    latest_id: str
    latest_status: Status
    attempts: int
    recipient: str
    text: str
    sender: str | None
    device_id: str | None
    sim_number: int | None


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _phone_sent_ms(states: str | None) -> int | None:
    history = json.loads(states) if states else {}
    for name in _SENT_STATES:
        if name in history:
            return int(history[name])
    return None


def _sent(r: Any) -> SentSms:
    state = r["phone_state"]
    sent_ms = _phone_sent_ms(r["states"]) if state in _SENT_STATES else None
    status = Status(r["status"])
    phone_error = r["phone_error"] if state == "Failed" else None
    api_error = None
    if r["device_id"] is None and status in (Status.REJECTED, Status.FAILED):
        api_error = r["reason"] or r["error_code"] or status.value
    return SentSms(
        id=r["id"],
        recipient=r["recipient"],
        text=r["text"],
        status=status,
        created_at=from_ms(r["created_at"]),
        device_id=r["device_id"] or r["chosen_device"],
        sim_number=r["sim_number"] if r["sim_number"] is not None else r["chosen_sim"],
        phone_sent_at=None if sent_ms is None else from_ms(sent_ms),
        phone_error=phone_error or None,
        api_error=api_error,
    )


_SENT_SQL = (
    "SELECT m.id, m.recipient, m.text, m.status, m.created_at, m.reason, m.error_code,"
    " md.device_id AS chosen_device, md.sim_number AS chosen_sim, dm.device_id,"
    " dm.sim_number, dm.state AS phone_state, dm.error AS phone_error, dm.states"
    " FROM messages m LEFT JOIN message_devices md ON md.message_id = m.id"
    " LEFT JOIN device_messages dm ON dm.id = (SELECT x.id FROM device_messages x"
    " WHERE x.message_id = m.id ORDER BY x.created_at DESC LIMIT 1)"
    " WHERE m.account_id = ?"
)


class PhoneSmsRepo:
    def __init__(self, db: Database, clock: Clock = system_clock) -> None:
        self._db = db
        self._clock = clock

    async def sent(self, account_id: str, flt: SentFilter) -> list[SentSms]:
        """Newest first."""
        sql = _SENT_SQL
        params: list[Any] = [account_id]
        if flt.guid is not None:
            # A resent message is listed under the id the client knows as well.
            sql += (
                " AND (m.id = ? OR m.id IN"
                " (SELECT message_id FROM message_resends WHERE original_id = ?))"
            )
            params += [flt.guid, flt.guid]
        if flt.before_ms is not None:
            sql += " AND m.created_at < ?"
            params.append(flt.before_ms)
        if flt.before_id is not None:
            sql += " AND m.id < ?"
            params.append(flt.before_id)
        if flt.api_errors:
            sql += " AND m.status IN ('rejected', 'failed') AND dm.id IS NULL"
        if flt.phone_errors:
            sql += " AND dm.state = 'Failed'"
        if flt.keyword:
            sql += " AND (m.recipient LIKE ? ESCAPE '\\' OR m.text LIKE ? ESCAPE '\\')"
            params += [_like(flt.keyword), _like(flt.keyword)]
        sql += f" ORDER BY m.id DESC LIMIT {int(flt.limit)}"

        def txn() -> Txn[list[SentSms]]:
            rows = yield Query(sql, tuple(params))
            return [_sent(r) for r in rows or ()]

        return await self._db.txn(txn)

    async def phone_sent(self, account_id: str, since_ms: int) -> list[PhoneSent]:
        """What the account's phones report having sent since ``since_ms`` (by report time,
        with a day's margin for phones whose clocks run behind)."""

        def txn() -> Txn[list[PhoneSent]]:
            rows = yield Query(
                "SELECT device_id, recipient, text, states, reported_at FROM device_messages"  # noqa: S608
                " WHERE account_id = ? AND state IN ('Sent', 'Delivered') AND reported_at >= ?"
                f" ORDER BY reported_at DESC LIMIT {_SCAN_LIMIT}",
                (account_id, since_ms - 86_400_000),
            )
            found = []
            for r in rows or ():
                sent_ms = _phone_sent_ms(r["states"]) or int(r["reported_at"])
                found.append(
                    PhoneSent(
                        r["device_id"],
                        r["recipient"],
                        r["text"],
                        sent_ms,
                        from_ms(r["reported_at"]),
                    )
                )
            return found

        return await self._db.txn(txn)

    async def received(
        self,
        account_id: str,
        *,
        device_id: str | None,
        after_ms: int | None,
        unread: bool,
        limit: int,
    ) -> list[ReceivedSms]:
        """Newest first."""
        sql = (
            "SELECT id, connector, external_id, sender, text, received_at, created_at, alias,"
            " read_at FROM inbound_messages WHERE account_id = ?"
        )
        params: list[Any] = [account_id]
        if device_id is not None:
            sql += " AND connector = 'android' AND substr(external_id, 1, ?) = ?"
            params += [len(device_id) + 1, f"{device_id}:"]
        if after_ms is not None:
            sql += " AND received_at > ?"
            params.append(after_ms)
        if unread:
            sql += " AND read_at IS NULL"
        sql += f" ORDER BY id DESC LIMIT {int(limit)}"

        def txn() -> Txn[list[ReceivedSms]]:
            rows = yield Query(sql, tuple(params))
            return [_received(r) for r in rows or ()]

        return await self._db.txn(txn)

    async def delete_received(
        self,
        account_id: str,
        *,
        inbound_id: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
    ) -> int:
        """Delete received SMS by id or by reception time (``until_ms`` exclusive)."""
        sql = "DELETE FROM inbound_messages WHERE account_id = ?"
        params: list[Any] = [account_id]
        if inbound_id is not None:
            sql += " AND id = ?"
            params.append(inbound_id)
        if since_ms is not None:
            sql += " AND received_at >= ?"
            params.append(since_ms)
        if until_ms is not None:
            sql += " AND received_at < ?"
            params.append(until_ms)

        def txn() -> Txn[int]:
            rows = yield Query(sql + " RETURNING id", tuple(params))
            return len(rows or ())

        return await self._db.txn(txn, urgent=True)

    async def conversations(
        self,
        account_id: str,
        *,
        origin: Origin,
        number: str | None,
        since_ms: int | None,
        until_ms: int | None,
        newest_first: bool,
        limit: int,
    ) -> list[Conversation]:
        in_range = ""
        range_params: list[Any] = []
        if since_ms is not None:
            in_range += " AND {at} >= ?"
            range_params.append(since_ms)
        if until_ms is not None:
            in_range += " AND {at} < ?"
            range_params.append(until_ms)
        order = "DESC" if newest_first else "ASC"
        if origin == "received":
            numbers_sql = (
                "SELECT sender AS number, MAX(received_at) AS at FROM inbound_messages"  # noqa: S608
                f" WHERE account_id = ?{in_range.format(at='received_at')}"
            )
        else:
            numbers_sql = (
                "SELECT recipient AS number, MAX(created_at) AS at FROM messages"  # noqa: S608
                f" WHERE account_id = ? AND status <> 'rejected'{in_range.format(at='created_at')}"
            )
        if number is not None:
            numbers_sql += " AND {col} = ?".format(
                col="sender" if origin == "received" else "recipient"
            )
        numbers_sql += f" GROUP BY number ORDER BY at {order}, number LIMIT {int(limit)}"
        ins_sql = (
            "SELECT id, connector, external_id, text, received_at AS at, alias"  # noqa: S608
            f" FROM inbound_messages WHERE account_id = ? AND sender = ?"
            f"{in_range.format(at='received_at')}"
        )
        outs_sql = (
            "SELECT m.id, m.text, m.created_at AS at, (SELECT x.device_id FROM"  # noqa: S608
            " device_messages x WHERE x.message_id = m.id ORDER BY x.created_at DESC LIMIT 1)"
            " AS device_id FROM messages m WHERE m.account_id = ? AND m.recipient = ?"
            f" AND m.status <> 'rejected'{in_range.format(at='m.created_at')}"
        )

        def txn() -> Txn[list[Conversation]]:
            params = [account_id, *range_params] + ([number] if number is not None else [])
            found = yield Query(numbers_sql, tuple(params))
            result = []
            for row in found or ():
                num = row["number"]
                ins = yield Query(ins_sql, (account_id, num, *range_params))
                outs = yield Query(outs_sql, (account_id, num, *range_params))
                lines = [
                    ConversationLine(
                        "incoming",
                        r["id"],
                        r["text"],
                        from_ms(r["at"]),
                        device_of_external_id(r["connector"], r["external_id"]),
                    )
                    for r in ins or ()
                ] + [
                    ConversationLine(
                        "outgoing", r["id"], r["text"], from_ms(r["at"]), r["device_id"]
                    )
                    for r in outs or ()
                ]
                lines.sort(key=lambda line: (line.at, line.id))
                aliases = [
                    r["alias"] for r in sorted(ins or (), key=lambda r: r["at"]) if r["alias"]
                ]
                result.append(Conversation(num, aliases[-1] if aliases else None, tuple(lines)))
            return result

        return await self._db.txn(txn)

    async def resend_source(self, account_id: str, guid: str) -> ResendSource | None:
        def txn() -> Txn[ResendSource | None]:
            rows = yield Query(
                "SELECT original_id FROM message_resends WHERE message_id = ?", (guid,)
            )
            root_id = rows[0]["original_id"] if rows else guid
            rows = yield Query(
                "SELECT m.id, m.recipient, m.text, m.sender, m.status, md.device_id,"
                " md.sim_number FROM messages m LEFT JOIN message_devices md"
                " ON md.message_id = m.id WHERE m.account_id = ? AND m.id = ?",
                (account_id, root_id),
            )
            if not rows:
                return None
            root = rows[0]
            tries = yield Query(
                "SELECT r.message_id, r.attempt, m.status FROM message_resends r"
                " JOIN messages m ON m.id = r.message_id WHERE r.original_id = ?"
                " ORDER BY r.attempt DESC LIMIT 1",
                (root_id,),
            )
            latest = tries[0] if tries else None
            return ResendSource(
                root_id=root_id,
                latest_id=root_id if latest is None else latest["message_id"],
                latest_status=Status(root["status"] if latest is None else latest["status"]),
                attempts=0 if latest is None else int(latest["attempt"]),
                recipient=root["recipient"],
                text=root["text"],
                sender=root["sender"],
                device_id=root["device_id"],
                sim_number=root["sim_number"],
            )

        return await self._db.txn(txn)

    async def record_resends(self, rows: Sequence[tuple[str, str, int]]) -> None:
        """(new message id, original id, attempt) rows."""
        now = self._clock()

        def txn() -> Txn[None]:
            for message_id, original_id, attempt in rows:
                yield Query(
                    "INSERT INTO message_resends (message_id, original_id, attempt, created_at)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (message_id, original_id, attempt, now),
                )

        await self._db.txn(txn, urgent=True)


def _received(r: Any) -> ReceivedSms:
    return ReceivedSms(
        id=r["id"],
        device_id=device_of_external_id(r["connector"], r["external_id"]),
        sender=r["sender"],
        text=r["text"],
        received_at=from_ms(r["received_at"]),
        stored_at=from_ms(r["created_at"]),
        alias=r["alias"],
        read=r["read_at"] is not None,
    )
