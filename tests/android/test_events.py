"""GET /events as the app's OkHttp SSE client reads it: content type, keep-alives, and the
four event names with their data (spec section 2)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx

from tests.android.conftest import PREFIX, Account, send, wait_status
from tests.android.test_device_api import bearer, register
from tests.support import HTTP_TIMEOUT, WAIT, Running


class Frames:
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.aiter_lines()

    async def next(self, within: float = WAIT) -> list[str]:
        """The lines of the next frame (comments count as frames of their own)."""
        lines: list[str] = []
        async with asyncio.timeout(within):
            async for line in self.lines:
                if line == "":
                    if lines:
                        return lines
                    continue
                lines.append(line)
                if line.startswith(":"):
                    return lines
        raise AssertionError("stream ended")

    async def event(self, within: float = WAIT, skip: tuple[str, ...] = ()) -> list[str]:
        """The next event frame, leaving out comments and the events named in ``skip``."""
        while True:
            frame = await self.next(within)
            if not frame[0].startswith(":") and frame[0].removeprefix("event: ") not in skip:
                return frame


@contextlib.asynccontextmanager
async def stream(running: Running, token: str) -> AsyncIterator[Frames]:
    async with (
        httpx.AsyncClient(base_url=running.base_url + PREFIX, timeout=HTTP_TIMEOUT) as c,
        c.stream("GET", "/events", headers=bearer(token)) as r,
    ):
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        frames = Frames(r)
        assert await frames.next() == [":connected"]
        yield frames


async def test_keepalive_and_message_enqueued(running: Running, account: Account) -> None:
    got = await register(running, account)
    async with stream(running, got["token"]) as frames:
        # Keep-alives every android.keepalive_seconds (0.5 s in these tests).
        assert await frames.next() == [":keepalive"]
        await send(running, account, "+33612345678")
        assert await frames.event() == ["event: MessageEnqueued", "data: {}"]


async def test_refresh_and_cancel_events(running: Running, account: Account) -> None:
    got = await register(running, account)
    message_id = await send(running, account, "+33612345678")
    await wait_status(running, account, message_id, "sent")
    async with (
        stream(running, got["token"]) as frames,
        httpx.AsyncClient(base_url=running.base_url, timeout=HTTP_TIMEOUT) as native,
    ):
        r = await native.post(f"/v1/devices/{got['id']}/refresh", headers=account.auth)
        assert r.json() == {"connected": True}
        # A message waits for this phone, so keep-alives may repeat MessageEnqueued.
        waiting = ("MessageEnqueued",)
        assert await frames.event(skip=waiting) == ["event: WebhooksUpdated", "data: {}"]
        assert await frames.event(skip=waiting) == ["event: SettingsUpdated", "data: {}"]
        async with httpx.AsyncClient(base_url=running.base_url + PREFIX, timeout=HTTP_TIMEOUT) as c:
            [item] = (await c.get("/message", headers=bearer(got["token"]))).json()
        r = await native.delete(f"/v1/devices/messages/{message_id}", headers=account.auth)
        assert r.status_code == 202
        assert r.json() == {
            "message_id": message_id,
            "device_id": got["id"],
            "status": "cancelling",
        }
        cancelled = await frames.event(skip=waiting)
        assert cancelled == ["event: MessageCancelled", f'data: {{"messageId":"{item["id"]}"}}']
        assert await frames.event() == ["event: MessageEnqueued", "data: {}"]


async def test_deleting_a_device_ends_its_stream(running: Running, account: Account) -> None:
    got = await register(running, account)
    async with stream(running, got["token"]) as frames:
        async with httpx.AsyncClient(base_url=running.base_url, timeout=HTTP_TIMEOUT) as native:
            r = await native.delete(f"/v1/devices/{got['id']}", headers=account.auth)
            assert r.status_code == 204
        async with asyncio.timeout(WAIT):
            rest = [line async for line in frames.lines]
        assert all(line.startswith(":") or line == "" for line in rest)
    async with httpx.AsyncClient(base_url=running.base_url + PREFIX, timeout=HTTP_TIMEOUT) as c:
        r = await c.get("/events", headers=bearer(got["token"]))
    assert r.status_code == 401
