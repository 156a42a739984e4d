"""Transactional SMS deliveries (numeric ids) and campaign statistics.

Statistics are read from the messages themselves (status and cost), joined through the
deliveries, so they follow delivery reports without counters for the dispatcher to keep.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, insert, select, text, update

from textgate.core.clock import Clock, system_clock
from textgate.core.lists import CampaignStats, Delivery
from textgate.core.message import Status
from textgate.storage.db import Database
from textgate.storage.tables import mailup_campaigns, mailup_deliveries, messages

__all__ = ["CampaignRepo"]

_FAILED = (
    Status.UNDELIVERED.value,
    Status.FAILED.value,
    Status.EXPIRED.value,
    Status.REJECTED.value,
    Status.CANCELLED.value,
)
_ADD_CAMPAIGN = text(
    "INSERT INTO mailup_campaigns (account_id, code, name, emails, created_at)"
    " VALUES (:account_id, :code, :name, 0, :now) ON CONFLICT DO NOTHING"
)


def _delivery(r: Any) -> Delivery:
    return Delivery(r.id, r.account_id, r.list_id, r.message_id, r.campaign)


class CampaignRepo:
    def __init__(self, db: Database, clock: Clock = system_clock) -> None:
        self._db = db
        self._clock = clock

    async def add_delivery(
        self, account_id: str, list_id: int, message_id: str, campaign: str | None
    ) -> int:
        """Record a sent SMS (and its campaign, made if new); its numeric delivery id."""
        now = self._clock()
        async with self._db.write() as conn:
            if campaign is not None:
                await conn.execute(
                    _ADD_CAMPAIGN,
                    {"account_id": account_id, "code": campaign, "name": campaign, "now": now},
                )
            result = await conn.execute(
                insert(mailup_deliveries)
                .values(
                    account_id=account_id,
                    list_id=list_id,
                    message_id=message_id,
                    campaign=campaign,
                    created_at=now,
                )
                .returning(mailup_deliveries.c.id)
            )
            return int(result.scalar_one())

    async def delivery(self, account_id: str, delivery_id: int) -> Delivery | None:
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(mailup_deliveries).where(
                        mailup_deliveries.c.id == delivery_id,
                        mailup_deliveries.c.account_id == account_id,
                    )
                )
            ).first()
        return None if row is None else _delivery(row)

    async def count_email(self, account_id: str, code: str, name: str | None, count: int) -> None:
        """Count ``count`` emails queued under a campaign (made if new; a name given renames
        it)."""
        async with self._db.write() as conn:
            await conn.execute(
                _ADD_CAMPAIGN,
                {
                    "account_id": account_id,
                    "code": code,
                    "name": name or code,
                    "now": self._clock(),
                },
            )
            values: dict[str, Any] = {"emails": mailup_campaigns.c.emails + count}
            if name:
                values["name"] = name
            await conn.execute(
                update(mailup_campaigns)
                .where(mailup_campaigns.c.account_id == account_id, mailup_campaigns.c.code == code)
                .values(**values)
            )

    async def stats(self, account_id: str, code: str | None = None) -> list[CampaignStats]:
        """Statistics of the account's campaigns (or of one), by code."""
        status = messages.c.status
        sms = (
            select(
                mailup_deliveries.c.campaign.label("code"),
                func.count().label("messages"),
                func.coalesce(func.sum(messages.c.cost), 0).label("cost"),
                func.sum(case((status == Status.DELIVERED.value, 1), else_=0)).label("delivered"),
                func.sum(case((status.in_(_FAILED), 1), else_=0)).label("failed"),
            )
            .join(messages, messages.c.id == mailup_deliveries.c.message_id)
            .where(
                mailup_deliveries.c.account_id == account_id,
                mailup_deliveries.c.campaign.is_not(None),
            )
            .group_by(mailup_deliveries.c.campaign)
        )
        named = select(mailup_campaigns).where(mailup_campaigns.c.account_id == account_id)
        if code is not None:
            sms = sms.where(mailup_deliveries.c.campaign == code)
            named = named.where(mailup_campaigns.c.code == code)
        async with self._db.read() as conn:
            counts = {r.code: r for r in await conn.execute(sms)}
            campaigns = list(await conn.execute(named.order_by(mailup_campaigns.c.code)))
        out = []
        for c in campaigns:
            r = counts.get(c.code)
            total = 0 if r is None else int(r.messages)
            delivered = 0 if r is None else int(r.delivered or 0)
            failed = 0 if r is None else int(r.failed or 0)
            out.append(
                CampaignStats(
                    code=c.code,
                    name=c.name,
                    messages=total,
                    cost=0 if r is None else int(r.cost or 0),
                    delivered=delivered,
                    failed=failed,
                    pending=total - delivered - failed,
                    emails=int(c.emails),
                )
            )
        return out
