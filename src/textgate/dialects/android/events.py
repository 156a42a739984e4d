"""GET /events: server-sent events for a phone that keeps its stream open (spec section 2).

Frames are ``event: <Name>\\ndata: <JSON>\\n\\n`` (OkHttp's SSE client drops frames without
a ``data:`` line) and a ``:keepalive`` comment every ``keepalive_seconds``. Each keep-alive
also marks the phone seen and, when messages wait for it, repeats ``MessageEnqueued``: a
message placed by a worker in another process has no way into this process's hub.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from textgate.core.devices import Device, DeviceEvent, EventName
from textgate.services.devices import DeviceService

__all__ = ["event_frames", "frame"]

KEEPALIVE = b":keepalive\n\n"


def frame(event: DeviceEvent) -> bytes:
    data = json.dumps(dict(event.data), separators=(",", ":"))
    return f"event: {event.name.value}\ndata: {data}\n\n".encode()


async def event_frames(
    devices: DeviceService,
    device: Device,
    *,
    keepalive_seconds: float,
    max_seconds: float,
) -> AsyncIterator[bytes]:
    """The stream of one phone, until it goes away, its token is revoked, or ``max_seconds``
    pass (the app reconnects within seconds, and pulls on every connect; a bounded stream
    lets the server shut down without waiting for phones)."""
    enqueued = frame(DeviceEvent(EventName.MESSAGE_ENQUEUED))
    deadline = time.monotonic() + max_seconds
    with devices.events(device) as stream:
        # Subscribed: from now on nothing published for this phone is missed.
        yield b":connected\n\n"
        while True:
            wait = min(keepalive_seconds, deadline - time.monotonic())
            if wait <= 0:
                return
            try:
                event = await asyncio.wait_for(stream.next(), wait)
            except TimeoutError:
                yield KEEPALIVE
                await devices.touch(device)
                if await devices.has_pending(device):
                    yield enqueued
                continue
            if event is None:
                return
            yield frame(event)
