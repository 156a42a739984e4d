"""The delivery contract over HTTP, against a provider written here that misbehaves on cue: a
gateway sends through a ``generic_http`` connector, and each case checks what the
gateway stored (status, error, attempts) and what reached the provider.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.connectors.upstream.harness import (
    DROP,
    HANG,
    RECIPIENT,
    Answer,
    Behaviour,
    Misbehaving,
    a_settings,
    client_of,
    misbehaving,
    until_seen,
)
from tests.support import SUITE_SECRET_KEY, running_gateway
from tests.test_secret_logs import _all_logs_at_debug
from textgate.config import ConnectorSettings, Settings
from textgate.connectors.kinds import callback_token
from textgate.connectors.upstream.replies import retry_after
from textgate.core.message import Status

API_KEY = "key-7f3a9c1e5b2d4a6f8e0c"


def generic(
    base: str, *, policy: dict[str, Any] | None = None, **options: Any
) -> ConnectorSettings:
    return ConnectorSettings(
        name="provider",
        type="generic_http",
        options={
            "url": f"{base}/send",
            "headers": {"Authorization": "Bearer {api_key}"},
            "body": {
                "to": "{recipient}",
                "from": "{sender}",
                "text": "{text}",
                "ref": "{message_id}",
            },
            "api_key": API_KEY,
            "id_path": "id",
            "connect_timeout": 5,
            "read_timeout": 0.5,
            **options,
        },
        **(policy or {}),
    )


async def test_a_refused_connection_waits_without_an_attempt(settings: Settings) -> None:
    """Nothing listens: the message waits (no attempt used, the link shows down), and goes
    out once the provider listens."""
    server = Misbehaving([Answer(200, '{"id": "ext-1"}')])  # bound, not listening yet
    try:
        async with running_gateway(a_settings(settings, generic(server.url))) as a:
            client = await client_of(a)
            mid = await client.send()
            waiting = await client.reaches(
                mid, lambda m: m.error_code == "waiting", "waiting for the provider"
            )
            assert waiting.status == Status.QUEUED
            assert waiting.attempts == 0
            assert "cannot reach the provider" in (waiting.reason or "")
            ready = await a.client.get("/readyz")
            assert ready.status_code == 503
            assert "connector provider: no link up" in ready.json()["reasons"]

            await server.start()
            sent = await client.reaches(mid, lambda m: m.status == Status.SENT, "sent")
            assert (sent.external_id, sent.attempts) == ("ext-1", 1)
            assert len(server.seen) == 1
            assert (await a.client.get("/readyz")).status_code == 200
    finally:
        await server.stop()


async def test_429_pauses_sending_until_retry_after(settings: Settings) -> None:
    """The provider says 429 with Retry-After: 1 to the first request: no request at all
    (that message's or the others') goes out before that second is over, and none of the
    messages uses an attempt for it. One request at a time, so that every later request
    was made after the 429 came back."""
    script: list[Behaviour] = [Answer(429, "{}", {"Retry-After": "1"}), Answer(200, '{"id": "x"}')]
    async with misbehaving(script) as server:
        connector = generic(server.url, max_concurrency=1)
        async with running_gateway(a_settings(settings, connector)) as a:
            client = await client_of(a)
            ids = [await client.send(text=f"n{i}") for i in range(3)]
            for mid in ids:
                sent = await client.reaches(mid, lambda m: m.status == Status.SENT, "sent")
                assert (sent.external_id, sent.attempts) == ("x", 1)  # throttling used none
    first, *later = sorted(server.seen, key=lambda s: s.at)
    assert len(later) == 3
    for seen in later:
        assert seen.at - first.at >= 1.0, "a request went out before Retry-After"


async def test_a_read_timeout_is_in_doubt_and_not_sent_again_under_fail(
    settings: Settings,
) -> None:
    async with misbehaving([HANG]) as server:
        connector = generic(server.url, policy={"in_doubt": "fail", "in_doubt_grace_seconds": 0})
        async with running_gateway(a_settings(settings, connector)) as a:
            client = await client_of(a)
            mid = await client.send()
            failed = await client.final(mid)
            assert (failed.status, failed.error_code) == (Status.FAILED, "in_doubt")
            assert len(server.seen) == 1


async def test_a_read_timeout_is_sent_again_after_the_grace_under_resend(
    settings: Settings,
) -> None:
    async with misbehaving([HANG, Answer(200, '{"id": "ext-3"}')]) as server:
        connector = generic(server.url, policy={"in_doubt_grace_seconds": 0.2})
        async with running_gateway(a_settings(settings, connector)) as a:
            client = await client_of(a)
            mid = await client.send()
            sent = await client.reaches(mid, lambda m: m.status == Status.SENT, "sent")
            assert sent.external_id == "ext-3"
            assert len(server.seen) == 2
            assert server.seen[0].body == server.seen[1].body
            details = [e.detail or "" for e in sent.events]
            assert any("no answer within read_timeout" in d for d in details), details


CASES: dict[
    str, tuple[list[Behaviour], dict[str, Any], dict[str, Any], Status, str | None, int, int]
] = {
    # script, connector options, link policy -> status, error_code, attempts, requests.
    # A message in doubt under in_doubt = "fail" is claimed once more to be failed (that
    # claim counts as an attempt; nothing is sent).
    "400 is a final refusal": (
        [Answer(400, '{"error": "invalid number"}')],
        {},
        {},
        Status.FAILED,
        "http_400",
        1,
        1,
    ),
    "500 is in doubt by default": (
        [Answer(500, "{}")],
        {},
        {"in_doubt": "fail", "in_doubt_grace_seconds": 0},
        Status.FAILED,
        "in_doubt",
        2,
        1,
    ),
    "500 the table calls retryable is tried again": (
        [Answer(500, "{}"), Answer(200, '{"id": "ext-4"}')],
        {"refused_retryable_statuses": [500]},
        {},
        Status.SENT,
        None,
        2,
        2,
    ),
    "503 with Retry-After waits": (
        [Answer(503, "{}", {"Retry-After": "0"}), Answer(200, '{"id": "ext-5"}')],
        {},
        {},
        Status.SENT,
        None,
        1,
        2,
    ),
    "a connection dropped after the request is in doubt": (
        [DROP],
        {},
        {"in_doubt": "fail", "in_doubt_grace_seconds": 0},
        Status.FAILED,
        "in_doubt",
        2,
        1,
    ),
    "an error word in a 200 answer is a refusal": (
        [Answer(200, '{"status": "REJECTED", "id": null}')],
        {"result_path": "status", "refused_final_values": ["REJECTED"]},
        {},
        Status.FAILED,
        "REJECTED",
        1,
        1,
    ),
    "a 200 answer without an id is in doubt": (
        [Answer(200, '{"status": "OK"}')],
        {},
        {"in_doubt": "fail", "in_doubt_grace_seconds": 0},
        Status.FAILED,
        "in_doubt",
        2,
        1,
    ),
    "401 waits for credentials, no attempt used": (
        [Answer(401, "{}"), Answer(200, '{"id": "ext-6"}')],
        {},
        {},
        Status.SENT,
        None,
        1,
        2,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_each_answer_has_its_outcome(case: str, settings: Settings) -> None:
    script, options, policy, status, error_code, attempts, requests = CASES[case]
    async with misbehaving(script) as server:
        connector = generic(server.url, policy=policy, **options)
        async with running_gateway(a_settings(settings, connector)) as a:
            client = await client_of(a)
            mid = await client.send()
            done = await client.reaches(mid, lambda m: m.status == status, status.value)
            assert (done.error_code, done.attempts) == (error_code, attempts), done
            await until_seen(server, requests)
            assert len(server.seen) == requests


async def test_values_are_escaped_for_where_they_go(settings: Settings) -> None:
    """A text with quotes, a line break, '&', '#', '/' and non-ASCII letters reaches the
    provider whole, in a JSON body, a form body and a URL."""
    text = 'Il a dit "oui" & #2/3\nMerci — ☺'
    answer = Answer(200, '{"id": "ext-7"}')
    for body_type, url_query in (("json", False), ("form", True)):
        async with misbehaving([answer]) as server:
            options: dict[str, Any] = {"body_type": body_type}
            if url_query:
                options["url"] = server.url + "/send/{recipient}?msg={text}&id={message_id}"
            if body_type == "form":
                options["body"] = {"to": "{recipient}", "text": "{text}"}
            connector = generic(server.url, **options)
            async with running_gateway(a_settings(settings, connector)) as a:
                client = await client_of(a, f"client-{body_type}")
                mid = await client.send(text=text, sender=None)
                await client.reaches(mid, lambda m: m.status == Status.SENT, "sent")
            [seen] = server.seen
            assert seen.headers["authorization"] == f"Bearer {API_KEY}"
            if body_type == "json":
                assert seen.headers["content-type"] == "application/json"
                assert json.loads(seen.body) == {
                    "to": RECIPIENT,
                    "from": None,
                    "text": text,
                    "ref": mid,
                }
            else:
                assert parse_qs(seen.body.decode()) == {"to": [RECIPIENT], "text": [text]}
                parts = urlsplit(seen.target)
                assert parts.path == "/send/%2B393471234567"
                assert parse_qs(parts.query) == {"msg": [text], "id": [mid]}


async def test_the_clients_validity_fills_its_placeholders(settings: Settings) -> None:
    """{valid_until} (RFC 3339 UTC) and {validity_seconds} (the whole seconds left) carry the
    validity a client asked for; null in JSON when it asked for none."""
    answer = Answer(200, '{"id": "ext-8"}')
    async with misbehaving([answer, answer]) as server:
        body = {"to": "{recipient}", "until": "{valid_until}", "ttl": "{validity_seconds}"}
        connector = generic(server.url, body=body)
        async with running_gateway(a_settings(settings, connector)) as a:
            client = await client_of(a)
            for extra in ({"valid_until": "2099-12-31T23:59:59Z"}, {}):
                r = await a.client.post(
                    "/v1/messages",
                    json={"to": RECIPIENT, "text": "code 4711", **extra},
                    headers=client.headers,
                )
                assert r.status_code == 202, r.text
                mid = r.json()["messages"][0]["id"]
                await client.reaches(mid, lambda m: m.status == Status.SENT, "sent")
        asked, plain = (json.loads(seen.body) for seen in server.seen)
    assert asked["until"] == "2099-12-31T23:59:59Z"
    left = datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC) - datetime.now(UTC)
    assert abs(int(asked["ttl"]) - left.total_seconds()) < 600
    assert plain == {"to": RECIPIENT, "until": None, "ttl": None}


async def test_max_concurrency_bounds_requests_in_flight(settings: Settings) -> None:
    """With max_concurrency = 2 and a provider that holds every answer, no more than two
    requests are ever open; the others wait their turn (and are not in doubt for it)."""
    async with misbehaving([HANG]) as server:
        connector = generic(
            server.url,
            policy={"in_doubt": "fail", "in_doubt_grace_seconds": 0},
            max_concurrency=2,
            read_timeout=1.0,
        )
        async with running_gateway(a_settings(settings, connector)) as a:
            client = await client_of(a)
            ids = [await client.send(text=f"n{i}") for i in range(5)]
            await until_seen(server, 2)
            for mid in ids:
                await client.final(mid)
            # Each request hung for read_timeout (1 s); with at most two at once, a request
            # starts only once one of the two before it timed out.
            starts = sorted(s.at for s in server.seen)
            assert len(starts) == 5
            for i in range(2, 5):
                assert starts[i] - starts[i - 2] >= 0.8, starts


async def test_requests_keep_to_max_rate(settings: Settings) -> None:
    async with misbehaving([Answer(200, '{"id": "x"}')]) as server:
        connector = generic(server.url, max_rate=5, rate_burst=1)
        async with running_gateway(a_settings(settings, connector)) as a:
            client = await client_of(a)
            ids = [await client.send(text=f"n{i}") for i in range(4)]
            for mid in ids:
                await client.reaches(mid, lambda m: m.status == Status.SENT, "sent")
        starts = sorted(s.at for s in server.seen)
        # 5 per second with no burst: the fourth request 0.6 s after the first (less what
        # the first one's connection set-up delayed it at the server).
        assert starts[3] - starts[0] >= 0.45, starts


@pytest.mark.parametrize(
    "value, seconds",
    [("7", 7.0), ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0), ("soon", None), ("-3", None)],
)
def test_retry_after_in_seconds_or_as_a_date(value: str, seconds: float | None) -> None:
    """RFC 9110 section 10.2.3: delay-seconds or an HTTP-date (read against a fixed now)."""
    now = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    response = httpx.Response(429, headers={"Retry-After": value})
    assert retry_after(response, now=now) == seconds


async def test_credentials_in_urls_reach_no_log_record(settings: Settings) -> None:
    """A template that puts the key, the password and the callback URL (with its token) in
    the URL: every logger at DEBUG, none of them appears in a record, nor on /readyz."""
    password = "pw-hunter2-0a9b8c"
    async with misbehaving([Answer(200, '{"id": "ext-8"}')]) as server:
        connector = generic(
            server.url,
            url=server.url + "/send/{password}",
            query={"key": "{api_key}", "notify": "{callback_url}"},
            password=password,
            callback_base_url="https://sms.example.com/",
            status_callback={"id_field": "id", "status_field": "s", "statuses": {"D": "delivered"}},
        )
        with _all_logs_at_debug() as logs:
            async with running_gateway(a_settings(settings, connector)) as a:
                logging.getLogger("httpx").setLevel(logging.DEBUG)
                client = await client_of(a)
                mid = await client.send()
                await client.reaches(mid, lambda m: m.status == Status.SENT, "sent")
                ready = await a.client.get("/readyz")
                token = callback_token(SUITE_SECRET_KEY.get_secret_value(), "provider")
    [seen] = server.seen
    query = parse_qs(urlsplit(seen.target).query)
    assert query["key"] == [API_KEY]
    assert query["notify"] == [f"https://sms.example.com/callbacks/provider/{token}/status"]
    assert urlsplit(seen.target).path == f"/send/{password}"
    lines = [t for _, t in logs.records if "HTTP Request: POST" in t and "/send/" in t]
    assert lines and "key=***" in lines[0], lines
    for secret in (API_KEY, password, token):
        leaks = [t for _, t in logs.records if secret in t]
        assert not leaks, leaks[0][:300]
        assert secret not in ready.text
