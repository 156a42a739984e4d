"""The single submit path for every interface (DESIGN section 3, steps 1-3).

A dialect turns its wire request into a :class:`SubmitRequest`; this module normalises,
checks, prices and persists it, and returns ids. Nothing is acknowledged before the
order and one message per recipient are committed.

The account's rules apply here in two steps: everything decidable from the request alone
(IP allowlist, batch size, sender, numbers, destination country) before storage; the rules
that depend on counters (opt-outs, duplicates, daily limit, balance) inside the transaction
that stores the order, against counters read under lock (``storage.orders``), so they hold
under any concurrency.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from textgate.core.accounts import Account
from textgate.core.clock import Clock, from_ms, system_clock, to_ms
from textgate.core.encoding import Encoding, Segmentation, segment
from textgate.core.ids import IdGenerator
from textgate.core.message import Message, Order, Quality, Status
from textgate.core.numbers import normalize_with_country, validate_sender
from textgate.core.policy import (
    REASON_TEXT,
    Reason,
    check_destination,
    check_request,
    local_day,
    refusal,
    resolve_sender,
)
from textgate.core.pricing import PriceTable
from textgate.errors import GatewayError, InvalidNumber, InvalidRequest, KeyReused
from textgate.storage.messages import MessageRepo
from textgate.storage.orders import CommitResult, OrderWrite, OrderWriter

__all__ = [
    "MAX_SEGMENTS",
    "Notify",
    "SubmitCounts",
    "SubmitRequest",
    "SubmitResult",
    "SubmitService",
]

# A concatenated SMS carries its part count in one octet (3GPP TS 23.040 9.2.3.24.1).
MAX_SEGMENTS = 255
MAX_RECIPIENTS = 10_000
MAX_KEY_LENGTH = 255
MAX_REFERENCE_LENGTH = 200
# The code counted for a submit that failed on something other than a GatewayError.
INTERNAL_ERROR = "internal_error"
# Stored width of a recipient column; a refused input longer than this is kept truncated.
RECIPIENT_WIDTH = 32


@dataclass(frozen=True, slots=True)
class Notify:
    """A per-message notification target: an http(s) callback URL (a submit's
    ``callback_url``) or a ``mailto:`` address (an email interface's ``Notify=``)."""

    url: str
    events: tuple[str, ...] = ("message.*",)


TargetResolver = Callable[[str, str, Sequence[str]], Awaitable[str]]
"""(account id, url, events) -> the id of the message-scoped target (services.webhooks)."""


@dataclass(frozen=True, slots=True)
class SubmitRequest:
    account: Account
    recipients: Sequence[str]
    text: str
    sender: str | None = None
    schedule_at: datetime | None = None
    client_ref: str | None = None
    idempotency_key: str | None = None
    interface: str = "native"
    encoding: Encoding | None = None
    client_ip: str | None = None
    """Address the request came from, checked against the account's allowlist. None only
    for the operator's local interfaces (the CLI), which the allowlist does not cover."""
    quality: Quality | None = None
    invalid_number_fails_request: bool = False
    """Refuse the whole request if one recipient is not a number (some providers' default),
    instead of storing that recipient as rejected and sending to the others."""
    notify: Sequence[Notify] = ()
    """Who to tell about these messages' status changes, besides the account's webhooks."""
    device_id: str | None = None
    """Send through this phone of the account (android connector), whatever the sender."""
    sim_number: int | None = None
    """Send from this SIM of the phone (1-based, as the SMSGate app counts them)."""


@dataclass(frozen=True, slots=True)
class SubmitResult:
    order_id: str
    messages: Sequence[Message]
    replayed: bool = False

    @property
    def accepted(self) -> int:
        return sum(1 for m in self.messages if m.status != Status.REJECTED)


class SubmitCounts(Protocol):
    """Where submits are counted for metrics (``observability.counts``)."""

    def submitted(self, interface: str, messages: Sequence[Message]) -> None: ...

    def submit_refused(self, interface: str, code: str) -> None: ...


class SubmitService:
    def __init__(
        self,
        writer: OrderWriter,
        messages: MessageRepo,
        *,
        prices: PriceTable | None = None,
        targets: TargetResolver | None = None,
        clock: Clock = system_clock,
        counts: SubmitCounts | None = None,
    ) -> None:
        self._counts = counts
        self._targets = targets
        self._writer = writer
        self._messages = messages
        self._prices = prices or PriceTable(default=0)
        self._clock = clock
        self._ids = IdGenerator()

    async def submit(self, req: SubmitRequest) -> SubmitResult:
        if self._counts is None:
            return await self._submit(req)
        try:
            result = await self._submit(req)
        except Exception as exc:
            _count(self._counts, req, exc)
            raise
        _count(self._counts, req, result)
        return result

    async def _submit(self, req: SubmitRequest) -> SubmitResult:
        write = await self._prepare(req)
        return await self._result(req, write, await self._writer.commit(write))

    async def submit_many(
        self, requests: Sequence[SubmitRequest]
    ) -> list[SubmitResult | GatewayError]:
        """Submit independent requests (a bulk send: one order each), committed together in
        as few transactions as the order writer's batch allows. A refused request is
        answered by its error, in its place; the others go on."""
        answers: list[SubmitResult | GatewayError | None] = [None] * len(requests)
        prepared: list[tuple[int, OrderWrite]] = []
        for i, req in enumerate(requests):
            try:
                prepared.append((i, await self._prepare(req)))
            except GatewayError as exc:
                answers[i] = exc
        outcomes = await self._writer.commit_many([write for _, write in prepared])
        for (i, write), outcome in zip(prepared, outcomes, strict=True):
            try:
                answers[i] = await self._result(requests[i], write, outcome)
            except GatewayError as exc:
                answers[i] = exc
        done = [a for a in answers if a is not None]
        if self._counts is not None:
            for req, answer in zip(requests, done, strict=True):
                _count(self._counts, req, answer)
        return done

    async def _prepare(self, req: SubmitRequest) -> OrderWrite:
        """Check the request against everything decidable before storage; the order to write."""
        rules = req.account.rules
        check_request(rules, client_ip=req.client_ip, recipients=len(req.recipients))
        seg = self._check(req)
        now = self._clock()
        order_id = self._ids(now)
        status = Status.QUEUED
        scheduled_at: datetime | None = None
        if req.schedule_at is not None and to_ms(req.schedule_at) > now:
            status = Status.SCHEDULED
            scheduled_at = req.schedule_at
        sender = resolve_sender(rules, req.sender)
        sender = validate_sender(sender) if sender else None
        prices = rules.price_table(self._prices)
        created = from_ms(now)
        msgs: list[Message] = []
        first_error: GatewayError | None = None
        ids = self._ids
        default_country = rules.default_country
        common: dict[str, Any] = {
            "order_id": order_id,
            "account_id": req.account.id,
            "sender": sender,
            "text": req.text,
            "encoding": seg.encoding.value,
            "segments": seg.count,
            "created_at": created,
            "updated_at": created,
            "interface": req.interface,
            "client_ref": req.client_ref,
            "quality": None if req.quality is None else req.quality.value,
        }
        for raw in req.recipients:
            try:
                number, country = normalize_with_country(raw, default_country)
            except InvalidNumber as exc:
                if req.invalid_number_fails_request:
                    raise
                first_error = first_error or exc
                msgs.append(
                    _rejected(
                        ids(now),
                        raw[:RECIPIENT_WIDTH],
                        Reason.INVALID_NUMBER,
                        exc.message,
                        None,
                        common,
                    )
                )
                continue
            blocked = check_destination(rules, country)
            if blocked is not None:
                first_error = first_error or refusal(blocked)
                msgs.append(
                    _rejected(ids(now), number, blocked, REASON_TEXT[blocked], country, common)
                )
                continue
            msgs.append(
                Message(
                    id=ids(now),
                    recipient=number,
                    status=status,
                    scheduled_at=scheduled_at,
                    country=country,
                    cost=prices.cost(country, seg.count),
                    **common,
                )
            )
        if first_error is not None and all(m.status == Status.REJECTED for m in msgs):
            raise first_error
        order = Order(
            id=order_id,
            account_id=req.account.id,
            created_at=created,
            interface=req.interface,
            client_ref=req.client_ref,
            recipients=len(msgs),
        )
        targets = await self._resolve(req)
        return OrderWrite(
            order,
            msgs,
            req.idempotency_key,
            rules,
            local_day(rules, created),
            targets,
            device=None
            if req.device_id is None and req.sim_number is None
            else (req.device_id, req.sim_number),
        )

    async def _result(
        self, req: SubmitRequest, write: OrderWrite, outcome: CommitResult
    ) -> SubmitResult:
        if outcome.replayed:
            original = await self._messages.order_messages(req.account.id, outcome.order_id)
            if _content(original) != _content(write.messages):
                raise KeyReused(
                    "this idempotency key (order id) was used for another message;"
                    " use a new one for a new message"
                )
            return SubmitResult(outcome.order_id, original, replayed=True)
        if outcome.refused is not None:
            raise refusal(outcome.refused)
        return SubmitResult(write.order.id, outcome.messages)

    async def _resolve(self, req: SubmitRequest) -> tuple[str, ...]:
        if not req.notify:
            return ()
        if self._targets is None:
            raise InvalidRequest("notifications are not available on this gateway")
        found = [await self._targets(req.account.id, n.url, n.events) for n in req.notify]
        return tuple(dict.fromkeys(found))

    def _check(self, req: SubmitRequest) -> Segmentation:
        if not req.recipients:
            raise InvalidRequest("at least one recipient is required", code="missing_recipient")
        if len(req.recipients) > MAX_RECIPIENTS:
            raise InvalidRequest(f"at most {MAX_RECIPIENTS} recipients per request")
        if not req.text:
            raise InvalidRequest("the message text is empty", code="missing_text")
        if "\x00" in req.text:
            raise InvalidRequest("the message text contains a NUL character")
        if req.client_ref is not None and len(req.client_ref) > MAX_REFERENCE_LENGTH:
            raise InvalidRequest(f"a reference has at most {MAX_REFERENCE_LENGTH} characters")
        if req.idempotency_key is not None and not 0 < len(req.idempotency_key) <= MAX_KEY_LENGTH:
            raise InvalidRequest(f"an idempotency key has 1 to {MAX_KEY_LENGTH} characters")
        seg = segment(req.text, req.encoding)
        if seg.count > MAX_SEGMENTS:
            raise InvalidRequest(
                f"the text needs {seg.count} parts; at most {MAX_SEGMENTS} are possible",
                code="text_too_long",
            )
        return seg


def _content(messages: Sequence[Message]) -> list[tuple[str, str]]:
    """What makes two submits the same request, whatever became of the first since (not
    the sender: an account's default sender may have changed between a request and its
    retry)."""
    return sorted((m.recipient, m.text) for m in messages)


def _rejected(
    message_id: str,
    recipient: str,
    reason: Reason,
    text: str,
    country: str | None,
    common: dict[str, Any],
) -> Message:
    return Message(
        id=message_id,
        recipient=recipient,
        status=Status.REJECTED,
        reason=text,
        error_code=reason.value,
        country=country,
        **common,
    )


def _count(counts: SubmitCounts, req: SubmitRequest, answer: SubmitResult | Exception) -> None:
    if isinstance(answer, SubmitResult):
        counts.submitted(req.interface, () if answer.replayed else answer.messages)
    elif isinstance(answer, GatewayError):
        counts.submit_refused(req.interface, answer.code)
    else:  # a bug or a foreign error: the interface answers a server error
        counts.submit_refused(req.interface, INTERNAL_ERROR)
