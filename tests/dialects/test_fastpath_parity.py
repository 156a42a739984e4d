"""``POST /v1/messages`` answers the same through the application's fast path as through the
routed handler behind every middleware: status, body, headers, stored messages and metrics,
for valid submits and every way of getting one wrong.

One server, one gateway: a request under ``/routed`` carries the ASGI ``root_path``
``/routed`` (as behind a proxy that mounts the gateway under a prefix), which the fast path's
exact path test does not match and the router strips, so it reaches the same route the
ordinary way. Each input goes to both, and the two answers are compared with message ids and
times masked.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families
from starlette.types import Receive, Scope, Send

from tests.dialects.harness import NUMBER
from tests.support import HTTP_TIMEOUT, QuickServer, loopback_listener, server_started
from textgate.app import create_app
from textgate.config import Settings
from textgate.dialects.native.routes import MAX_BODY_BYTES
from textgate.runtime import Gateway
from textgate.services.query import MessageFilter
from textgate.services.submit import SubmitService

ROUTED = "/routed"
FAST = ""
SUBMIT = "/v1/messages"
# The two histograms a request's time may land in: the fast path times native submits in
# the first, the router every other request in the second.
TIMINGS = ("textgate_submit_seconds", "textgate_http_request_seconds")


@dataclass
class Server:
    gateway: Gateway
    client: httpx.AsyncClient
    keys: dict[str, str] = field(default_factory=dict)
    accounts: dict[str, str] = field(default_factory=dict)


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[Server]:
    """The real application on uvicorn, reachable directly and under ``/routed``."""
    listener = loopback_listener()
    port = int(listener.getsockname()[1])
    # No dispatcher: stored messages stay as the submit left them, so the counts read from
    # the database at scrape time change only with the requests.
    settings = settings.model_copy(
        update={
            "http": settings.http.model_copy(update={"port": port}),
            "run_dispatcher": False,
        }
    )
    gateway = Gateway(settings)
    app = create_app(settings, gateway=gateway)

    async def both(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(ROUTED + "/"):
            scope = {**scope, "root_path": ROUTED}
        await app(scope, receive, send)

    server = QuickServer(
        uvicorn.Config(
            both,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            http="httptools",
            lifespan="on",
            access_log=False,
        )
    )
    task = asyncio.create_task(server.serve(sockets=[listener]))
    task.add_done_callback(lambda _: listener.close())
    try:
        await server_started(server, task)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=HTTP_TIMEOUT
        ) as client:
            yield Server(gateway, client)
    finally:
        server.stop()
        await task


# --- inputs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """One request: ``key`` names the account whose API key authenticates it (None: no
    Authorization header)."""

    json: Any = None
    content: bytes | Callable[[], AsyncIterator[bytes]] | None = None
    key: str | None = "acme"
    headers: dict[str, str] = field(default_factory=dict)
    query: str = ""


@dataclass(frozen=True)
class Input:
    label: str
    requests: Callable[[str], tuple[Sent, ...]]
    """The requests, given a tag unique to the path (idempotency keys must not collide); the
    last one's answer is compared."""
    fail_submit: bool = False
    """The submit service raises something unexpected."""
    timed: bool = True
    """Whether a submit handler sees the requests (and times them): a body declared over
    the gateway's limit is refused in front of both paths, neither of them times it."""


def one(sent: Sent) -> Callable[[str], tuple[Sent, ...]]:
    return lambda _: (sent,)


BIG = b'{"to": "' + NUMBER.encode() + b'", "text": "' + b"x" * MAX_BODY_BYTES + b'"}'


def _chunks() -> AsyncIterator[bytes]:
    async def gen() -> AsyncIterator[bytes]:  # no Content-Length: chunked encoding
        for start in range(0, len(BIG), 256 * 1024):
            yield BIG[start : start + 256 * 1024]

    return gen()


INPUTS = [
    Input("valid submit", one(Sent({"to": NUMBER, "text": "hello"}))),
    Input(
        "two recipients, one rejected, sender and reference",
        one(Sent({"to": [NUMBER, "0612345678"], "text": "x", "from": "ACME", "reference": "r1"})),
    ),
    Input("unicode", one(Sent({"to": NUMBER, "text": "Привет 😀"}))),
    Input(
        "scheduled",
        one(Sent({"to": NUMBER, "text": "later", "schedule_at": "2999-01-01T00:00:00Z"})),
    ),
    Input("query string", one(Sent({"to": NUMBER, "text": "q"}, query="?source=crm"))),
    Input(
        "text/plain content type",
        one(Sent(content=b'{"to": "+33612345678", "text": "t"}', headers={"Content-Type": "x"})),
    ),
    Input(
        "idempotency key, first time",
        lambda tag: (Sent({"to": NUMBER, "text": "once"}, headers={"Idempotency-Key": tag}),),
    ),
    Input(
        "idempotency key, replayed",
        lambda tag: (
            Sent({"to": NUMBER, "text": "twice"}, headers={"Idempotency-Key": tag}),
            Sent({"to": NUMBER, "text": "twice"}, headers={"Idempotency-Key": tag}),
        ),
    ),
    Input(
        "malformed JSON",
        one(Sent(content=b"{not json", headers={"Content-Type": "application/json"})),
    ),
    Input("empty body", one(Sent(content=b""))),
    Input("JSON that is not an object", one(Sent(content=b"[1, 2]"))),
    Input("unknown field", one(Sent({"to": NUMBER, "text": "x", "colour": "red"}))),
    Input("missing text", one(Sent({"to": NUMBER}))),
    Input("empty text", one(Sent({"to": NUMBER, "text": ""}))),
    Input("NUL in text", one(Sent({"to": NUMBER, "text": "a\x00b"}))),
    Input("not a number", one(Sent({"to": "ACME", "text": "x"}))),
    Input("sender too long", one(Sent({"to": NUMBER, "text": "x", "from": "ABCDEFGHIJKL"}))),
    Input("missing Authorization", one(Sent({"to": NUMBER, "text": "x"}, key=None))),
    Input(
        "not a Bearer scheme",
        one(Sent({"to": NUMBER, "text": "x"}, key=None, headers={"Authorization": "Basic eDp5"})),
    ),
    Input("unknown key", one(Sent({"to": NUMBER, "text": "x"}, key="nobody"))),
    Input(
        "daily limit reached",
        lambda _: (
            Sent({"to": NUMBER, "text": "first"}, key="capped"),
            Sent({"to": NUMBER, "text": "second"}, key="capped"),
        ),
    ),
    Input("no credit", one(Sent({"to": NUMBER, "text": "x"}, key="broke"))),
    Input("address not allowed", one(Sent({"to": NUMBER, "text": "x"}, key="fenced"))),
    Input("oversized body, declared", one(Sent(content=BIG)), timed=False),
    Input("oversized body, streamed", one(Sent(content=_chunks))),
    Input("unexpected failure", one(Sent({"to": NUMBER, "text": "x"})), fail_submit=True),
]

# A path's own account where a request changes what the next one meets (a name ending in
# the path's prefix is used instead of the bare name).
ACCOUNTS = {
    "acme": {},
    "capped": {"daily_limit": 1},
    f"capped{ROUTED}": {"daily_limit": 1},
    "broke": {"price_default": "0.05"},
    "fenced": {"allowed_ips": ["192.0.2.1"]},
}


# --- what is compared -----------------------------------------------------------------------

_ULID = re.compile(rb"\b[0-9A-HJKMNP-TV-Z]{26}\b")
_TIME = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


@dataclass(frozen=True)
class Answer:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    stored: tuple[tuple[Any, ...], ...]
    metrics: dict[tuple[str, frozenset[tuple[str, str]]], float]


def _masked(body: bytes) -> bytes:
    return _TIME.sub(b"<time>", _ULID.sub(b"<id>", body))


async def _metrics(server: Server) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    r = await server.client.get("/metrics")
    assert r.status_code == 200, r.text
    samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def _moved(
    before: dict[tuple[str, frozenset[tuple[str, str]]], float],
    after: dict[tuple[str, frozenset[tuple[str, str]]], float],
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """What the requests changed. Their time is counted once, in one of the two latency
    histograms (which one is the difference between the paths, and the durations differ):
    those become one count; scrapes of /metrics are left out."""
    moved: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    timed = 0.0
    for key in before.keys() | after.keys():
        name, labels = key
        delta = after.get(key, 0.0) - before.get(key, 0.0)
        if name.startswith(TIMINGS):
            if name.endswith("_count") and ("route", "/metrics") not in labels:
                timed += delta
            continue
        if delta:
            moved[key] = delta
    moved[("requests timed", frozenset())] = timed
    return moved


def _stored_view(msgs: list[Any]) -> tuple[tuple[Any, ...], ...]:
    return tuple(
        (
            m.recipient,
            m.text,
            m.sender,
            m.status.value,
            m.encoding,
            m.segments,
            m.interface,
            m.client_ref,
            m.scheduled_at,
            m.country,
            m.error_code,
            m.reason,
            m.cost,
        )
        for m in msgs
    )


async def _new_messages(server: Server, seen: set[str]) -> list[Any]:
    found = []
    for account_id in server.accounts.values():
        for m in await server.gateway.services.messages.search(account_id, MessageFilter()):
            if m.id not in seen:
                seen.add(m.id)
                found.append(m)
    return sorted(found, key=lambda m: (m.recipient, m.text))


async def _ask(server: Server, prefix: str, item: Input, seen: set[str]) -> Answer:
    before = await _metrics(server)
    response = None
    with pytest.MonkeyPatch.context() as patch:
        if item.fail_submit:

            async def broken(*args: Any, **kwargs: Any) -> Any:
                raise RuntimeError("the disk caught fire")

            patch.setattr(SubmitService, "submit", broken)
        for sent in item.requests(f"{item.label}{prefix}"):
            headers = dict(sent.headers)
            if sent.key is not None:
                key = server.keys.get(sent.key + prefix) or server.keys[sent.key]
                headers["Authorization"] = f"Bearer {key}"
            content = sent.content() if callable(sent.content) else sent.content
            response = await server.client.post(
                f"{prefix}{SUBMIT}{sent.query}", json=sent.json, content=content, headers=headers
            )
    assert response is not None
    assert int(response.headers["content-length"]) == len(response.content)
    stored = _stored_view(await _new_messages(server, seen))
    after = await _metrics(server)
    return Answer(
        status=response.status_code,
        # The body is compared masked; its length may vary with what the mask hides (ids,
        # times), so Content-Length is checked against the body rather than between the
        # two answers.
        headers=tuple(
            sorted(
                (k, v) for k, v in response.headers.items() if k not in ("date", "content-length")
            )
        ),
        body=_masked(response.content),
        stored=stored,
        metrics=_moved(before, after),
    )


async def test_fast_path_and_routed_handler_answer_alike(settings: Settings) -> None:
    async with serving(settings) as server:
        services = server.gateway.services
        for name, rules in ACCOUNTS.items():
            account = await services.accounts.create(name)
            server.accounts[name] = account.id
            server.keys[name] = (await services.accounts.issue_key(account.id)).token
            if rules:
                await services.accounts.update_settings(account.id, rules)
        server.keys["nobody"] = "tg_000000000000_notakey"
        seen: set[str] = set()
        answers = {}
        for item in INPUTS:
            fast = await _ask(server, FAST, item, seen)
            routed = await _ask(server, ROUTED, item, seen)
            assert fast == routed, item.label
            timings = len(item.requests("")) if item.timed else 0
            assert fast.metrics[("requests timed", frozenset())] == timings, item.label
            answers[item.label] = fast
    # The table covers what it says: refusals of each kind, and submits that stored.
    statuses = {label: a.status for label, a in answers.items()}
    assert {400, 401, 402, 403, 413, 500} <= set(statuses.values()), statuses
    assert answers["daily limit reached"].stored  # the first of the two went through
    assert statuses["valid submit"] == 202 and answers["valid submit"].stored
    assert ("idempotent-replayed", "true") in answers["idempotency key, replayed"].headers
    assert ("www-authenticate", "Bearer") in answers["missing Authorization"].headers
    assert not answers["malformed JSON"].stored
