"""Request size limits of POST /v1/messages, over the real server."""

from __future__ import annotations

from collections.abc import AsyncIterator

from tests.support import Running
from textgate.dialects.native.routes import MAX_BODY_BYTES


async def test_an_oversized_body_is_refused_whether_declared_or_streamed(
    gateway: Running, auth: dict[str, str]
) -> None:
    big = b'{"to": "+33612345678", "text": "' + b"x" * MAX_BODY_BYTES + b'"}'
    r = await gateway.client.post("/v1/messages", content=big, headers=auth)
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "request_too_large"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked encoding
        for start in range(0, len(big), 256 * 1024):
            yield big[start : start + 256 * 1024]

    r = await gateway.client.post("/v1/messages", content=chunks(), headers=auth)
    assert r.status_code == 413, r.text
    # Nothing was stored.
    listed = await gateway.client.get("/v1/messages", headers=auth)
    assert listed.json()["data"] == []
    # A body within the limit still goes through.
    ok = await gateway.client.post(
        "/v1/messages", json={"to": "+33612345678", "text": "small"}, headers=auth
    )
    assert ok.status_code == 202, ok.text
