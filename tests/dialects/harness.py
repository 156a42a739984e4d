"""The shared dialect harness: a case is a request in, a response and a stored effect out.

Each dialect declares ``CASES`` and a :class:`Profile` (how that dialect sends a message,
looks one up and authenticates); :func:`conformance` derives the cases every dialect must
pass from the profile, and :func:`run_case` runs any case against the real server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.support import Running
from textgate.core.message import Message
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


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    json: Any = None
    params: Mapping[str, str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes | None = None


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
    setup: tuple[Request, ...] = ()
    wait_final: bool = False


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
    error_code_of: Callable[[Any], str]
    ok_status: int
    bad_request_status: int
    unauthorized_status: int


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


async def run_case(
    case: DialectCase, running: Running, profile: Profile, api_key: str, account_id: str
) -> Any:
    ctx = Context()
    headers = profile.auth_headers(api_key) if case.auth else {}
    for req in case.setup:
        r = await running.client.request(
            req.method,
            req.path,
            json=req.json,
            params=req.params,
            headers={**headers, **req.headers},
        )
        assert r.status_code < 300, f"setup failed: {r.status_code} {r.text}"
        ctx.setup_responses.append(r.json())
    if case.wait_final:
        await asyncio.sleep(0.3)
    req = case.request(ctx) if callable(case.request) else case.request
    r = await running.client.request(
        req.method,
        req.path,
        json=req.json,
        params=req.params,
        content=req.content,
        headers={**headers, **req.headers},
    )
    assert r.status_code == case.expect_status, f"{r.status_code}: {r.text}"
    body = r.json()
    if case.expect_json is not None:
        _subset(case.expect_json, body)
    if case.expect_error_code is not None:
        assert profile.error_code_of(body) == case.expect_error_code, body
    if case.expect_stored is not None:
        msgs = await stored_messages(running, account_id)
        assert len(msgs) == len(case.expect_stored), [m.recipient for m in msgs]
        for want, got in zip(sorted(case.expect_stored, key=lambda s: s.to), msgs, strict=True):
            assert got.recipient == want.to
            for attr, actual in (
                ("status", got.status.value),
                ("encoding", got.encoding),
                ("segments", got.segments),
                ("text", got.text),
                ("sender", got.sender),
            ):
                expected = getattr(want, attr)
                if expected is not None:
                    assert actual == expected, f"{want.to} {attr}: {actual!r} != {expected!r}"
    return body


LONG_TEXT = "a" * 161
UNICODE_TEXT = "Привет 😀"
NUMBER = "+33612345678"


def conformance(p: Profile) -> list[DialectCase]:
    """The cases every dialect must pass."""
    return [
        DialectCase(
            f"{p.name}: bad auth",
            p.send([NUMBER], "hi"),
            auth=False,
            expect_status=p.unauthorized_status,
            expect_stored=(),
        ),
        DialectCase(
            f"{p.name}: missing recipient",
            p.send([], "hi"),
            expect_status=p.bad_request_status,
            expect_stored=(),
        ),
        DialectCase(
            f"{p.name}: unicode",
            p.send([NUMBER], UNICODE_TEXT),
            expect_status=p.ok_status,
            expect_stored=(Stored(NUMBER, encoding="ucs2", segments=1, text=UNICODE_TEXT),),
        ),
        DialectCase(
            f"{p.name}: long text",
            p.send([NUMBER], LONG_TEXT),
            expect_status=p.ok_status,
            expect_stored=(Stored(NUMBER, encoding="gsm7", segments=2, text=LONG_TEXT),),
        ),
        DialectCase(
            f"{p.name}: status lookup",
            lambda ctx: p.lookup(ctx.setup_responses[0]),
            setup=(p.send([NUMBER], "lookup me"),),
            wait_final=True,
            expect_status=200,
        ),
    ]
