"""The request-body limit over the real server: a declared length over it is refused before
any of the body is sent, a chunked body is cut off once it passes it; the answer is 413 in
the format of the route's dialect, nothing is stored, and the server goes on serving."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.android.conftest import PREFIX, phone_settings
from tests.support import Running, running_gateway
from textgate.config import HttpSettings, Settings
from textgate.dialects.android.routes import MAX_WEBHOOK_BYTES
from textgate.services.query import MessageFilter

LIMIT = 256 * 1024
IT = "+393350000001"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


@pytest.fixture
async def running(settings: Settings) -> AsyncIterator[Running]:
    tuned = phone_settings(settings).model_copy(
        update={"http": HttpSettings(max_body_bytes=LIMIT), "run_dispatcher": False}
    )
    async with running_gateway(tuned) as r:
        yield r


async def _raw(running: Running, head: str, chunks: list[bytes] | None = None) -> Answer:
    """Send a request head (and, chunked, ``chunks`` without the closing chunk) on a raw
    connection and read the answer. Sending no body at all for a declared length shows the
    answer did not wait for one."""
    url = urlsplit(running.base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(head.encode())
        for chunk in chunks or ():
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        await writer.drain()
        raw_head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
        status_line, *lines = raw_head.decode().strip().split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = await asyncio.wait_for(reader.readexactly(length), timeout=10)
    finally:
        writer.close()
    return Answer(int(status_line.split()[1]), headers, json.loads(body) if body else None)


def _head(method: str, path: str, *, length: int | None, extra: str = "") -> str:
    framing = "Transfer-Encoding: chunked" if length is None else f"Content-Length: {length}"
    return (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"{extra}{framing}\r\n\r\n"
    )


def _chunks(total: int, size: int = 16 * 1024) -> list[bytes]:
    return [b" " * min(size, total - i) for i in range(0, total, size)]


async def _account(running: Running) -> tuple[str, str]:
    services = running.gateway.services
    account = await services.accounts.create("acme")
    return account.id, (await services.accounts.issue_key(account.id)).token


async def _stored(running: Running, account_id: str) -> int:
    found = await running.gateway.services.messages.search(account_id, MessageFilter(), limit=10)
    return len(found)


async def _healthy(running: Running, key: str) -> None:
    """The server still answers, and a request of normal size still goes through."""
    assert (await running.client.get("/healthz")).status_code == 200
    r = await running.client.post(
        "/v1/messages",
        json={"to": "+33612345678", "text": "still here"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert r.status_code == 202, r.text


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_native_route_refuses_an_oversized_body(running: Running, chunked: bool) -> None:
    account_id, key = await _account(running)
    auth = f"Authorization: Bearer {key}\r\n"
    # POST /v1/messages is a fast path, below the framework's routing: the limit holds there.
    if chunked:
        answer = await _raw(
            running,
            _head("POST", "/v1/messages", length=None, extra=auth),
            [b'{"to": "+33612345678", "text": "', *_chunks(LIMIT + 1024)],
        )
    else:
        answer = await _raw(running, _head("POST", "/v1/messages", length=50 << 20, extra=auth))
    assert answer.status == 413, answer.body
    assert "error" in answer.body, answer.body
    assert answer.body["error"]["code"] and str(LIMIT) in answer.body["error"]["message"]
    assert await _stored(running, account_id) == 0
    await _healthy(running, key)
    assert await _stored(running, account_id) == 1


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_provider_route_answers_in_its_own_format(running: Running, chunked: bool) -> None:
    account_id, key = await _account(running)
    mailing = await running.gateway.services.lists.create(account_id, "l", sms_sender="ACME")
    secret = await running.gateway.services.lists.create_secret(account_id, 1, mailing.guid)
    path = f"/api/v2.0/sms/10001/{mailing.list_id}"
    start = json.dumps({"ListGuid": mailing.guid, "ListSecret": secret, "Recipient": IT})
    body = start[:-1].encode() + b', "Content": "'
    if chunked:
        answer = await _raw(running, _head("POST", path, length=None), [body, *_chunks(LIMIT)])
    else:
        answer = await _raw(running, _head("POST", path, length=LIMIT + 1))
    assert answer.status == 413, answer.body
    assert answer.body["State"] == "ERROR" and answer.body["Code"]
    assert await _stored(running, account_id) == 0
    await _healthy(running, key)


async def _device(running: Running, key: str) -> tuple[str, str]:
    c = running.client
    phone = await c.post(
        PREFIX + "/device", json={"name": "phone"}, headers={"Authorization": f"Bearer {key}"}
    )
    assert phone.status_code == 201, phone.text
    token = phone.json()["token"]
    got = await c.get(PREFIX + "/settings", headers={"Authorization": f"Bearer {token}"})
    return phone.json()["id"], got.json()["webhooks"]["signing_key"]


def _signature(key: str, body: bytes, stamp: str) -> str:
    return hmac.new(key.encode(), body + stamp.encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_android_webhook_refuses_an_oversized_body(running: Running, chunked: bool) -> None:
    account_id, key = await _account(running)
    device_id, signing_key = await _device(running, key)
    stamp = str(int(time.time()))
    chunks = _chunks(LIMIT + 1024)
    # Signed as the phone would sign it: the size alone is refused.
    signed = _signature(signing_key, b"".join(chunks), stamp)
    extra = f"X-Timestamp: {stamp}\r\nX-Signature: {signed}\r\n"
    path = f"{PREFIX}/received/{device_id}"
    if chunked:
        answer = await _raw(running, _head("POST", path, length=None, extra=extra), chunks)
    else:
        answer = await _raw(running, _head("POST", path, length=LIMIT + 1024, extra=extra))
    assert answer.status == 413, answer.body
    assert "message" in answer.body, answer.body
    inbox = await running.client.get("/v1/inbound", headers={"Authorization": f"Bearer {key}"})
    assert inbox.json()["data"] == []
    await _healthy(running, key)
    assert await _stored(running, account_id) == 1


async def test_android_webhook_reads_little_before_the_signature(running: Running) -> None:
    """Under the global limit, the phone webhook reads at most its own cap, and only once the
    device and signature headers check out: an unknown device or a stale timestamp is
    refused with the body unsent."""
    _, key = await _account(running)
    device_id, signing_key = await _device(running, key)
    stamp = str(int(time.time()))
    path = f"{PREFIX}/received/{device_id}"
    stale = f"X-Timestamp: {int(stamp) - 7200}\r\nX-Signature: {'0' * 64}\r\n"
    answer = await _raw(running, _head("POST", path, length=1000, extra=stale))
    assert answer.status == 401
    unknown = f"X-Timestamp: {stamp}\r\nX-Signature: {'0' * 64}\r\n"
    answer = await _raw(
        running, _head("POST", f"{PREFIX}/received/nobody", length=1000, extra=unknown)
    )
    assert answer.status == 401
    big = b" " * (MAX_WEBHOOK_BYTES + 1)  # under the global limit, over the webhook's own
    assert len(big) < LIMIT
    headers = {"X-Timestamp": stamp, "X-Signature": _signature(signing_key, big, stamp)}
    r = await running.client.post(path, content=big, headers=headers)
    assert r.status_code == 413, r.text
    assert r.json()["code"] == "request_too_large"


async def test_routes_of_no_dialect_answer_plain_json(running: Running) -> None:
    answer = await _raw(running, _head("POST", "/healthz", length=LIMIT + 1))
    assert answer.status == 413 and str(LIMIT) in answer.body["detail"]
