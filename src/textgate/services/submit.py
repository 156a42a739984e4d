"""The single submit path for every interface (DESIGN section 3, steps 1-3).

A dialect turns its wire request into a :class:`SubmitRequest`; this module normalises,
checks, prices and persists it, and returns ids. Nothing is acknowledged before the
order and one message per recipient are committed.

Every account rule is decided here, the same for every interface; a dialect only words the
decision in its provider's terms. What an interface knows that the account does not (a
MailUp list's opt-outs, a provider's text length) comes in as part of the request
(:attr:`SubmitRequest.opted_out`, :attr:`SubmitRequest.truncate_to`) and is decided here
too. The rules apply in two steps: everything decidable from the request alone (IP
allowlist, batch size, sender, numbers, destination country, the interface's opt-outs)
before storage; the rules that depend on counters (opt-outs, duplicates, daily limit,
balance) inside the transaction that stores the order, against counters read under lock
(``storage.orders``), so they hold under any concurrency.

One request is one decision, however its interface groups it:

- Its recipients are counted once each: a number given twice (in any spelling that
  normalises to the same E.164 number) is one recipient and one message. The batch limit
  counts these distinct recipients over the whole request (an ASPSMS ``xml@`` request
  with several ``TransRefNumber`` is one request, its references kept per message).
- A rule about the request itself (credentials, IP allowlist, batch limit, sender rules, a
  malformed request, an invalid number where the interface refuses the request for one)
  refuses it whole: nothing of it is stored.
- A rule about one recipient (invalid number, country filter, opt-outs, duplicate filter,
  daily limit, credit) refuses that recipient: while at least one recipient is accepted,
  the refused ones are stored as ``rejected`` messages with the reason, and the answer is
  a success that counts them. When no recipient is accepted, the request is refused whole
  with the first recipient's reason and nothing is stored (a refused request leaves no
  order; a retry with the same idempotency key is decided anew).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from textgate.core.clock import Clock, from_ms, system_clock, to_ms
from textgate.core.encoding import Segmentation, segment
from textgate.core.frozen import quick_init
from textgate.core.ids import IdGenerator
from textgate.core.message import Message, Order, Status
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
from textgate.services.submit_request import (
    INTERNAL_ERROR,
    INVALID_VALIDITY,
    MAX_KEY_LENGTH,
    MAX_RECIPIENTS,
    MAX_REFERENCE_LENGTH,
    MAX_SEGMENTS,
    RECIPIENT_WIDTH,
    SENDER_MISSING,
    TEXT_TOO_LONG,
    Notify,
    SubmitRequest,
    SubmitResult,
    TargetResolver,
    check_no_nul,
    check_validity,
    validity_end,
)
from textgate.storage.messages import MessageRepo
from textgate.storage.orders import CommitResult, OrderWrite, OrderWriter

__all__ = [
    "INVALID_VALIDITY",
    "MAX_SEGMENTS",
    "SENDER_MISSING",
    "Notify",
    "SubmitCounts",
    "SubmitRequest",
    "SubmitResult",
    "SubmitService",
]


class SubmitCounts(Protocol):
    """Where submits are counted for metrics (``observability.counts``)."""

    def submitted(self, interface: str, messages: Sequence[Message]) -> None: ...

    def submit_refused(self, interface: str, code: str) -> None: ...


PhoneCheck = Callable[[str, str], Awaitable[object]]
"""(account id, device id) -> raises NotFound unless that phone is the account's
(services.devices)."""


class SubmitService:
    def __init__(
        self,
        writer: OrderWriter,
        messages: MessageRepo,
        *,
        prices: PriceTable | None = None,
        targets: TargetResolver | None = None,
        phones: PhoneCheck | None = None,
        clock: Clock = system_clock,
        counts: SubmitCounts | None = None,
    ) -> None:
        self._counts = counts
        self._phones = phones
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
        if len(req.recipients) > MAX_RECIPIENTS * 10:
            # Far past any batch limit: refused before the numbers are read.
            raise InvalidRequest(f"at most {MAX_RECIPIENTS} recipients per request")
        if req.references is not None and len(req.references) != len(req.recipients):
            raise InvalidRequest("one reference per recipient is needed")
        if req.device_id is not None and self._phones is not None:
            # A phone the request names must be the account's (NotFound otherwise), for
            # every interface that lets a client name one.
            await self._phones(req.account.id, req.device_id)
        entries = _distinct(req, rules.default_country or req.dialing_country)
        check_request(
            rules, client_ip=req.client_ip, recipients=len(entries), operator=req.operator
        )
        text = req.text if req.truncate_to is None else req.text[: req.truncate_to]
        seg = self._check(req, text)
        if req.invalid_number_fails_request:
            for entry in entries:
                if isinstance(entry.found, InvalidNumber):
                    raise entry.found
        now = self._clock()
        order_id = self._ids(now)
        status = Status.QUEUED
        scheduled_at: datetime | None = None
        if req.schedule_at is not None and to_ms(req.schedule_at) > now:
            status = Status.SCHEDULED
            scheduled_at = req.schedule_at
        valid_until = validity_end(req, now)
        check_validity(valid_until, req.schedule_at, now)
        sender = resolve_sender(rules, req.sender)
        sender = validate_sender(sender) if sender else None
        if sender is None and req.sender_required:
            raise InvalidRequest(
                "no sender: name one, or set the account's default sender", code=SENDER_MISSING
            )
        prices = rules.price_table(self._prices)
        created = from_ms(now)
        msgs: list[Message] = []
        first_error: GatewayError | None = None
        ids = self._ids
        opted_out = frozenset(req.opted_out)
        common: dict[str, Any] = {
            "order_id": order_id,
            "account_id": req.account.id,
            "sender": sender,
            "text": text,
            "encoding": seg.encoding.value,
            "segments": seg.count,
            "created_at": created,
            "updated_at": created,
            "interface": req.interface,
            "client_ref": req.client_ref,
            "quality": None if req.quality is None else req.quality.value,
            "receipt": None if req.receipt is None else req.receipt.value,
            "valid_until": valid_until,
        }
        for entry in entries:
            mine = common if req.references is None else {**common, "client_ref": entry.ref}
            if isinstance(entry.found, InvalidNumber):
                exc = entry.found
                first_error = first_error or exc
                msgs.append(
                    _rejected(
                        ids(now),
                        entry.raw[:RECIPIENT_WIDTH],
                        Reason.INVALID_NUMBER,
                        exc.message,
                        None,
                        mine,
                    )
                )
                continue
            number, country = entry.found
            blocked = check_destination(rules, country)
            if blocked is None and number in opted_out:
                blocked = Reason.OPTED_OUT
            if blocked is not None:
                first_error = first_error or refusal(blocked, recipient=number, country=country)
                msgs.append(
                    _rejected(ids(now), number, blocked, REASON_TEXT[blocked], country, mine)
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
                    **mine,
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
        found = [
            await self._targets(req.account.id, n.url, n.events, n.format, n.secret)
            for n in req.notify
        ]
        return tuple(dict.fromkeys(found))

    def _check(self, req: SubmitRequest, text: str) -> Segmentation:
        if not req.recipients:
            raise InvalidRequest("at least one recipient is required", code="missing_recipient")
        if len(req.recipients) > MAX_RECIPIENTS:
            raise InvalidRequest(f"at most {MAX_RECIPIENTS} recipients per request")
        if not text:
            raise InvalidRequest("the message text is empty", code="missing_text")
        check_no_nul(text)
        refs = (req.client_ref, *(req.references or ()))
        if any(ref is not None and len(ref) > MAX_REFERENCE_LENGTH for ref in refs):
            raise InvalidRequest(f"a reference has at most {MAX_REFERENCE_LENGTH} characters")
        if req.idempotency_key is not None and not 0 < len(req.idempotency_key) <= MAX_KEY_LENGTH:
            raise InvalidRequest(f"an idempotency key has 1 to {MAX_KEY_LENGTH} characters")
        seg = segment(text, req.encoding)
        if seg.count > MAX_SEGMENTS:
            raise InvalidRequest(
                f"the text needs {seg.count} parts; at most {MAX_SEGMENTS} are possible",
                code=TEXT_TOO_LONG,
            )
        if req.max_parts is not None and seg.count > req.max_parts:
            raise InvalidRequest(
                f"the text needs {seg.count} parts; this request allows {req.max_parts}",
                code=TEXT_TOO_LONG,
            )
        return seg


def _content(messages: Sequence[Message]) -> list[tuple[str, str]]:
    """What makes two submits the same request, whatever became of the first since (not
    the sender: an account's default sender may have changed between a request and its
    retry)."""
    return sorted((m.recipient, m.text) for m in messages)


@quick_init
@dataclass(frozen=True, slots=True)
class _Entry:
    raw: str
    found: tuple[str, str | None] | InvalidNumber
    """The number (E.164) and its country, or why the input is not a number."""
    ref: str | None


def _distinct(req: SubmitRequest, default_country: str | None) -> list[_Entry]:
    """The request's recipients, each once (the first spelling and reference kept)."""
    refs = req.references or [req.client_ref] * len(req.recipients)
    seen: dict[str, _Entry] = {}
    for raw, ref in zip(req.recipients, refs, strict=True):
        found: tuple[str, str | None] | InvalidNumber
        try:
            found = normalize_with_country(raw, default_country)
            key = found[0]
        except InvalidNumber as exc:
            found, key = exc, raw.strip()
        seen.setdefault(key, _Entry(raw, found, ref))
    return list(seen.values())


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
