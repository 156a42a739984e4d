"""The shared dialect harness: a case is a request in, a response and a stored effect out.

Each dialect declares ``CASES`` and a :class:`Profile` (how that dialect sends a message,
looks one up and authenticates); :func:`conformance` derives the cases every dialect must
pass from the profile and the interface-neutral :data:`SHARED_CASES` (the email interfaces
adapt the same table, ``tests/smtp/harness.py``), and :func:`run_case` runs any case
against the real server.

A case row holds everything the case expects and needs: account rules, state to arrange,
checks beyond the response and the stored messages. While a case runs, every log record is
collected and must not contain any secret the case used.

A profile's body routes are where ``tests/dialects/malformed.py`` sends what no client
should.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from tests.support import Running, ShiftedClock, until
from textgate.core.message import FINAL, Message
from textgate.core.pricing import parse_amount
from textgate.services.query import MessageFilter


@dataclass(frozen=True)
class Stored:
    """A message the case must leave in the database (compared field by field if given)."""

    to: str
    status: str | None = None
    encoding: str | None = None
    segments: int | None = None
    text: str | None = None
    sender: str | None = None
    valid_until: datetime | None = None


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    json: Any = None
    params: Mapping[str, str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes | None = None


Arrange = Callable[[Any], Awaitable[object]]
"""Brings the test's world (whatever the test file passes, the server by default) into the
state a case needs."""
Check = Callable[[Any, Any], Awaitable[None] | None]
"""An expectation beyond the case's fields, given the test's world and the response body."""


@dataclass(frozen=True)
class DialectCase:
    label: str
    request: Request | Callable[[Context], Request]
    auth: bool = True
    expect_status: int = 200
    expect_json: Mapping[str, Any] | None = None
    """Keys that must be present with these values (nested mappings compared the same way)."""
    expect_error_code: str | None = None
    expect_stored: tuple[Stored, ...] | None = None
    """Exactly the messages the account must hold afterwards (None: not checked)."""
    expect_looked_up: bool = False
    """The body reports the status of the account's one stored message, in the profile's
    words (``Profile.status_of`` of the body == ``Profile.status_word`` of the message)."""
    setup: tuple[Request, ...] = ()
    wait_final: bool = False
    """Wait for every stored message to reach a final status before the request."""
    rules: Mapping[str, Any] = field(default_factory=dict)
    """Account settings (public form) the case runs under, set before anything else."""
    credit: str | None = None
    """An amount credited to the account first."""
    opt_outs: tuple[str, ...] = ()
    """Numbers opted out of the account first."""
    arrange: Arrange | None = None
    """Further state, after the account rules and before the setup requests."""
    after_setup: Arrange | None = None
    """What happens between the setup requests and the request."""
    checks: tuple[Check, ...] = ()
    quiet: bool = False
    """Nothing is logged at ERROR or above while the case runs (an unforeseen failure is)."""


@dataclass
class Context:
    """What a case can refer to: ids created by setup requests."""

    setup_responses: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class Profile:
    name: str
    auth_headers: Callable[[str], dict[str, str]]
    send: Callable[[list[str], str], Request]
    lookup: Callable[[Any], Request]
    """Build the status-lookup request from a send response body."""
    status_of: Callable[[Any], str]
    """The status a lookup answer reports."""
    error_code_of: Callable[[Any], str]
    ok_status: int
    bad_request_status: int
    unauthorized_status: int
    status_word: Callable[[Message], str] | None = None
    """What a lookup must report for this stored message (None: the dialect looks up no
    status, so the shared lookup case is not one of its cases)."""
    invalid_number_status: int | None = None
    """The answer to a request whose only recipient is not a phone number (None: the same
    as any bad request)."""
    body_routes: tuple[BodyRoute, ...] = ()
    """Where the dialect reads a request body: each gets every malformed body."""
    malformed_code: str | None = None
    """What ``error_code_of`` says of a body that cannot be decoded (None: not checked)."""
    parse: Callable[[str], Any] = json.loads
    """Reads an answer body (the dialect's JSON, unless it answers in another format)."""
    blames_client: Callable[[Any], bool] | None = None
    """For a dialect whose refusals are not 4xx (a SOAP fault is HTTP 500, SOAP 1.1
    section 6.2): whether an answer says the client is at fault."""


@dataclass(frozen=True)
class BodyRoute:
    """A request that carries a body, the body left out."""

    method: str
    path: str
    content_type: str = "application/json"
    params: Mapping[str, str] | None = None
    setup: tuple[Request, ...] = ()
    headers: Callable[[Context], Mapping[str, str]] | None = None
    """Headers made of the setup requests' answers (a token they issued)."""

    def carrying(self, body: bytes) -> Callable[[Context], Request]:
        def build(ctx: Context) -> Request:
            extra = {} if self.headers is None else self.headers(ctx)
            headers = {"Content-Type": self.content_type, **extra}
            return Request(
                self.method, self.path, params=self.params, headers=headers, content=body
            )

        return build


# --- the interface-neutral conformance table ---------------------------------------------

LONG_TEXT = "a" * 161
UNICODE_TEXT = "Привет 😀"
NUMBER = "+33612345678"
NOT_A_NUMBER = "+999123456"
"""Written like a phone number, so every interface can carry it, but 999 is no country's
calling code."""


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    UNAUTHORIZED = "refused: credentials"
    BAD_REQUEST = "refused: request"
    INVALID_NUMBER = "refused: number"


@dataclass(frozen=True)
class SharedCase:
    """An expectation every interface meets, each in its own way (its profile says how)."""

    name: str
    to: tuple[str, ...]
    text: str
    outcome: Outcome
    stored: tuple[Stored, ...] = ()
    """Exactly what the account holds afterwards (nothing for a refusal)."""
    credentials: bool = True
    look_up: bool = False
    """After the submit, the status of the stored message is looked up."""


SHARED_CASES: tuple[SharedCase, ...] = (
    SharedCase(
        "valid submit",
        (NUMBER,),
        "Your code is 4711",
        Outcome.ACCEPTED,
        (Stored(NUMBER, encoding="gsm7", segments=1, text="Your code is 4711"),),
    ),
    SharedCase("bad auth", (NUMBER,), "hi", Outcome.UNAUTHORIZED, credentials=False),
    SharedCase("missing recipient", (), "hi", Outcome.BAD_REQUEST),
    SharedCase("invalid number", (NOT_A_NUMBER,), "hi", Outcome.INVALID_NUMBER),
    SharedCase(
        "unicode",
        (NUMBER,),
        UNICODE_TEXT,
        Outcome.ACCEPTED,
        (Stored(NUMBER, encoding="ucs2", segments=1, text=UNICODE_TEXT),),
    ),
    SharedCase(
        "long text",
        (NUMBER,),
        LONG_TEXT,
        Outcome.ACCEPTED,
        (Stored(NUMBER, encoding="gsm7", segments=2, text=LONG_TEXT),),
    ),
    SharedCase(
        "status lookup",
        (NUMBER,),
        "lookup me",
        Outcome.ACCEPTED,
        (Stored(NUMBER, text="lookup me"),),
        look_up=True,
    ),
)


def conformance(p: Profile) -> list[DialectCase]:
    """The shared cases, as requests of this HTTP dialect."""
    cases = []
    for shared in SHARED_CASES:
        label = f"{p.name}: {shared.name}"
        send = p.send(list(shared.to), shared.text)
        if shared.look_up:
            if p.status_word is None:
                continue
            cases.append(
                DialectCase(
                    label,
                    lambda ctx: p.lookup(ctx.setup_responses[0]),
                    setup=(send,),
                    wait_final=True,
                    expect_status=200,
                    expect_stored=shared.stored,
                    expect_looked_up=True,
                )
            )
            continue
        status = {
            Outcome.ACCEPTED: p.ok_status,
            Outcome.UNAUTHORIZED: p.unauthorized_status,
            Outcome.BAD_REQUEST: p.bad_request_status,
            Outcome.INVALID_NUMBER: p.invalid_number_status or p.bad_request_status,
        }[shared.outcome]
        cases.append(
            DialectCase(
                label,
                send,
                auth=shared.credentials,
                expect_status=status,
                expect_stored=shared.stored,
            )
        )
    return cases


# --- what the dialects' own cases check -------------------------------------------------


@dataclass
class AccountWorld:
    """What a dialect's cases are given: the server, and the account they run as."""

    running: Running
    account_id: str


def on_stored(check: Callable[[list[Message]], None]) -> Check:
    """A check of the messages the account holds after the request (``AccountWorld``)."""

    async def run(world: AccountWorld, body: Any) -> None:
        check(await stored_messages(world.running, world.account_id))

    return run


def valid_for(seconds: int) -> Check:
    """The one stored message waits at most ``seconds`` from when it was accepted."""

    def check(msgs: list[Message]) -> None:
        [m] = msgs
        assert m.valid_until is not None
        assert m.valid_until - m.created_at == timedelta(seconds=seconds)

    return on_stored(check)


# --- secrets never reach the logs --------------------------------------------------------

# The test's own HTTP client logs the URLs it requests (query-string API keys included);
# what is checked is what the gateway logs.
_CLIENT_LOGGERS = ("httpx", "httpcore")
_PLAIN_RECORD = frozenset(vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)))


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _record_text(record: logging.LogRecord) -> str:
    parts = [str(record.msg), repr(record.args)]
    with contextlib.suppress(Exception):  # a record whose arguments do not fit its format
        parts.append(record.getMessage())
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    parts.extend(str(x) for x in (record.exc_text, record.stack_info) if x)
    parts.extend(repr(v) for k, v in vars(record).items() if k not in _PLAIN_RECORD)
    return "\n".join(parts)


def secret_forms(secret: str) -> tuple[str, ...]:
    """The secret, and for an API key (``tg_<id>_<secret>``) its secret part alone."""
    if not secret:
        return ()
    head, sep, tail = secret.rpartition("_")
    if secret.startswith("tg_") and sep and head.count("_") == 1 and len(tail) >= 8:
        return (secret, tail)
    return (secret,)


@contextlib.contextmanager
def secrets_stay_out_of_logs(secrets: Iterable[str]) -> Iterator[list[logging.LogRecord]]:
    """Collect every log record (DEBUG up) while the block runs, then fail if one holds any
    of ``secrets``, in its message, its arguments, its extra fields or its exception."""
    wanted = sorted({form for s in secrets for form in secret_forms(s)})
    collector = _Collector()
    root = logging.getLogger()
    level = root.level
    # First in line: a handler's filter may rewrite the record in place (the redactor that
    # configure_logging installs), and the record as the code logged it is what counts.
    root.handlers.insert(0, collector)
    root.setLevel(logging.DEBUG)
    try:
        yield collector.records
    finally:
        root.removeHandler(collector)
        root.setLevel(level)
    leaks = [
        f"{r.name}: {r.getMessage()[:200]!r} holds {s[:4]}..."
        for r in collector.records
        if not r.name.startswith(_CLIENT_LOGGERS)
        for s in wanted
        if s in _record_text(r)
    ]
    assert not leaks, leaks


# --- running a case ------------------------------------------------------------------------


def _subset(expected: Mapping[str, Any], actual: Any, path: str = "") -> None:
    assert isinstance(actual, Mapping), f"{path or 'body'} is not an object: {actual!r}"
    for key, value in expected.items():
        assert key in actual, f"missing {path}{key} in {actual!r}"
        if isinstance(value, Mapping):
            _subset(value, actual[key], f"{path}{key}.")
        else:
            assert actual[key] == value, f"{path}{key}: {actual[key]!r} != {value!r}"


async def stored_messages(running: Running, account_id: str) -> list[Message]:
    msgs = await running.gateway.services.messages.search(account_id, MessageFilter(), limit=1000)
    return sorted(msgs, key=lambda m: (m.recipient, m.id))


async def all_final(running: Running, account_id: str) -> list[Message]:
    """The account's messages once every one of them (at least one) is final."""

    async def done() -> bool:
        msgs = await stored_messages(running, account_id)
        return bool(msgs) and all(m.status in FINAL for m in msgs)

    await until(done)
    return await stored_messages(running, account_id)


def compare_stored(wanted: tuple[Stored, ...], msgs: list[Message]) -> None:
    assert len(msgs) == len(wanted), [m.recipient for m in msgs]
    for want, got in zip(sorted(wanted, key=lambda s: s.to), msgs, strict=True):
        assert got.recipient == want.to
        for attr, actual in (
            ("status", got.status.value),
            ("encoding", got.encoding),
            ("segments", got.segments),
            ("text", got.text),
            ("sender", got.sender),
            ("valid_until", got.valid_until),
        ):
            expected = getattr(want, attr)
            if expected is not None:
                assert actual == expected, f"{want.to} {attr}: {actual!r} != {expected!r}"


async def _arrange(case: DialectCase, running: Running, account_id: str, world: Any) -> None:
    accounts = running.gateway.services.accounts
    if case.credit is not None:
        await accounts.credit(account_id, parse_amount(case.credit))
    if case.rules:
        await accounts.update_settings(account_id, dict(case.rules))
    if case.opt_outs:
        await accounts.add_opt_outs(await accounts.get(account_id), list(case.opt_outs))
    if case.arrange is not None:
        await case.arrange(world)


async def run_case(
    case: DialectCase,
    running: Running,
    profile: Profile,
    api_key: str,
    account_id: str,
    *,
    world: Any = None,
    secrets: Iterable[str] = (),
) -> Any:
    """Run ``case``; ``world`` is what its arrange steps and checks are given (the server
    if None); ``secrets``, with ``api_key``, must appear in no log record."""
    world = running if world is None else world
    with secrets_stay_out_of_logs((api_key, *secrets)) as records:
        body = await _run(case, running, profile, api_key, account_id, world)
    if case.quiet:
        loud = [
            f"{r.name}: {r.getMessage()[:200]}"
            for r in records
            if r.levelno >= logging.ERROR and not r.name.startswith(_CLIENT_LOGGERS)
        ]
        assert not loud, loud
    return body


async def _run(
    case: DialectCase,
    running: Running,
    profile: Profile,
    api_key: str,
    account_id: str,
    world: Any,
) -> Any:
    await _arrange(case, running, account_id, world)
    ctx = Context()
    headers = profile.auth_headers(api_key) if case.auth else {}
    for req in case.setup:
        r = await running.client.request(
            req.method,
            req.path,
            json=req.json,
            params=req.params,
            content=req.content,
            headers={**headers, **req.headers},
        )
        assert r.status_code < 300, f"setup failed: {r.status_code} {r.text}"
        ctx.setup_responses.append(r.json())
    if case.wait_final:
        await all_final(running, account_id)
    if case.after_setup is not None:
        await case.after_setup(world)
    req = case.request(ctx) if callable(case.request) else case.request
    r = await running.client.request(
        req.method,
        req.path,
        json=req.json,
        params=req.params,
        content=req.content,
        headers={**headers, **req.headers},
    )
    assert r.status_code == case.expect_status, f"{r.status_code}: {r.text[:500]}"
    body = profile.parse(r.text)
    if case.expect_json is not None:
        _subset(case.expect_json, body)
    if case.expect_error_code is not None:
        assert profile.error_code_of(body) == case.expect_error_code, body
    if case.expect_stored is not None:
        compare_stored(case.expect_stored, await stored_messages(running, account_id))
    if case.expect_looked_up:
        assert profile.status_word is not None, f"{profile.name} looks up no status"
        [msg] = await stored_messages(running, account_id)
        reported = profile.status_of(body)
        assert reported == profile.status_word(msg), (reported, msg.status, body)
    for check in case.checks:
        result = check(world, body)
        if inspect.isawaitable(result):
            await result
    return body


def passes(seconds: float) -> Arrange:
    """An ``after_setup`` step for a case about elapsed time (an idle limit passing): the
    case's world is the gateway's :class:`ShiftedClock`, moved on at once."""

    async def advance(clock: ShiftedClock) -> None:
        clock.advance(seconds)

    return advance
