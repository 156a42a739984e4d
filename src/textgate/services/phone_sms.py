"""The account's phones as an SMS log: what was sent through them and what they report, what
they received, conversations, and sending an unsent message again (core.phone_sms)."""

from __future__ import annotations

from collections.abc import Callable

from textgate.core.accounts import Account
from textgate.core.clock import Clock, system_clock
from textgate.core.phone_sms import (
    HISTORY_DAYS,
    RESENDABLE,
    Conversation,
    Origin,
    PhoneSent,
    PhoneSentQuery,
    ReceivedSms,
    SentSms,
    select_phone_sent,
)
from textgate.errors import Conflict, NotFound
from textgate.services.submit import SubmitRequest, SubmitService
from textgate.storage.phone_sms import PhoneSmsRepo, SentFilter

__all__ = ["MAX_LIST", "PhoneSmsService", "SentFilter"]

MAX_LIST = 1000
_DAY_MS = 86_400_000


class PhoneSmsService:
    def __init__(
        self, repo: PhoneSmsRepo, submit: SubmitService, clock: Clock = system_clock
    ) -> None:
        self._repo = repo
        self._submit = submit
        self._clock = clock

    async def sent(self, account_id: str, flt: SentFilter) -> list[SentSms]:
        return await self._repo.sent(account_id, flt)

    async def phone_sent(
        self,
        account_id: str,
        query: PhoneSentQuery,
        formatted: Callable[[PhoneSent], tuple[str, str]],
    ) -> list[PhoneSent]:
        """The phones' sent log, never older than the history limit."""
        oldest = self._clock() - HISTORY_DAYS * _DAY_MS
        rows = await self._repo.phone_sent(account_id, oldest)
        since = max(query.since_ms, oldest)
        return select_phone_sent(
            rows,
            PhoneSentQuery(
                since_ms=since,
                until_ms=query.until_ms,
                number=query.number,
                device_id=query.device_id,
                message=query.message,
                search=query.search,
                sort_by=query.sort_by,
                descending=query.descending,
                limit=query.limit,
            ),
            formatted,
        )

    async def received(
        self,
        account_id: str,
        *,
        device_id: str | None = None,
        after_ms: int | None = None,
        unread: bool = False,
        limit: int = MAX_LIST,
    ) -> list[ReceivedSms]:
        return await self._repo.received(
            account_id,
            device_id=device_id,
            after_ms=after_ms,
            unread=unread,
            limit=max(1, min(limit, MAX_LIST)),
        )

    async def delete_received(
        self,
        account_id: str,
        *,
        inbound_id: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
    ) -> int:
        return await self._repo.delete_received(
            account_id, inbound_id=inbound_id, since_ms=since_ms, until_ms=until_ms
        )

    async def conversations(
        self,
        account_id: str,
        *,
        origin: Origin,
        number: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        newest_first: bool = True,
        limit: int = 20,
    ) -> list[Conversation]:
        return await self._repo.conversations(
            account_id,
            origin=origin,
            number=number,
            since_ms=since_ms,
            until_ms=until_ms,
            newest_first=newest_first,
            limit=max(1, min(limit, MAX_LIST)),
        )

    async def resend(
        self, account: Account, guid: str, *, interface: str, client_ip: str | None
    ) -> int:
        """Send a message again as a new message (charged and checked like any other) while
        its latest attempt is in an error status; returns the attempt number."""
        source = await self._repo.resend_source(account.id, guid)
        if source is None:
            raise NotFound(f"no message {guid}")
        if source.latest_status not in RESENDABLE:
            raise Conflict(f"the message is {source.latest_status.value}, not in error")
        attempt = source.attempts + 1
        result = await self._submit.submit(
            SubmitRequest(
                account=account,
                recipients=[source.recipient],
                text=source.text,
                sender=source.sender,
                interface=interface,
                client_ip=client_ip,
                # Two resend requests racing for one attempt make one message.
                idempotency_key=f"{interface}:resend:{source.root_id}:{attempt}",
                invalid_number_fails_request=True,
                device_id=source.device_id,
                sim_number=source.sim_number,
            )
        )
        await self._repo.record_resends([(m.id, source.root_id, attempt) for m in result.messages])
        return attempt
