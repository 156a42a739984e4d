"""Outbound mail as interfaces use it: queue a mail (committed before the call returns),
list what was sent for an account, replay one. ``notify`` delivers the queue."""

from __future__ import annotations

from textgate.config import MailSettings
from textgate.core.clock import Clock, from_ms, system_clock
from textgate.core.mail import Email, OutboundMail, build, mail_address
from textgate.core.paging import Page, page_size
from textgate.errors import InvalidRequest
from textgate.storage.mail import MailRepo

__all__ = ["MailService"]

MAIL_STATUSES = ("pending", "sent", "dead")
MAX_PAGE = 1000


class MailService:
    """What interfaces use: queue a mail (committed before this returns), list, replay."""

    def __init__(self, repo: MailRepo, settings: MailSettings, clock: Clock = system_clock):
        self._repo = repo
        self._settings = settings
        self._clock = clock
        mail_address(settings.from_address, "mail.from_address")

    @property
    def from_address(self) -> str:
        return self._settings.from_address

    async def queue(
        self, email: Email, *, account_id: str | None, source: str, due_at: int | None = None
    ) -> str:
        """Build and queue ``email`` (sent from ``due_at``, in ms, if given: a scheduled
        mail); raises InvalidRequest when it cannot be built."""
        mail = build(email, now=from_ms(self._clock()))
        return await self._repo.enqueue(account_id, source, mail, due_at=due_at)

    async def of_account(
        self,
        account_id: str,
        *,
        status: str | None = None,
        before_id: str | None = None,
        limit: int = 100,
    ) -> Page[OutboundMail]:
        """Up to ``limit`` mails (at most ``MAX_PAGE``), newest first, and the ``before_id``
        of the next page."""
        if status is not None and status not in MAIL_STATUSES:
            raise InvalidRequest(f"status: one of {', '.join(MAIL_STATUSES)}")
        size = page_size(limit, MAX_PAGE)
        rows = await self._repo.of_account(
            account_id, status=status, before_id=before_id, limit=size + 1
        )
        return Page.cut(rows, size, lambda m: m.id)

    async def get(self, account_id: str | None, mail_id: str) -> OutboundMail:
        return await self._repo.get(account_id, mail_id)

    async def retry(self, account_id: str, mail_id: str) -> OutboundMail:
        return await self._repo.retry(account_id, mail_id)
