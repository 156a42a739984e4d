"""Open event streams of phones, by device: how a phone is woken up.

A phone that has no push token keeps ``GET /events`` open (spec section 3); the device API
subscribes each such stream here and the connector publishes to it. The hub lives in one
process; a phone whose stream is held by another process learns of new messages from that
process's periodic check (see ``dialects.android.events``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from textgate.core.devices import DeviceEvent

__all__ = ["EventStream", "WakeHub"]

# A stream that stopped reading keeps at most this many events; the phone pulls everything
# pending on its next (re)connect anyway.
_MAX_BACKLOG = 100


class EventStream:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[DeviceEvent | None] = asyncio.Queue(_MAX_BACKLOG)

    def put(self, event: DeviceEvent | None) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(event)

    async def next(self) -> DeviceEvent | None:
        """The next event; None: the stream must end."""
        return await self.queue.get()


class WakeHub:
    def __init__(self) -> None:
        self._streams: dict[str, set[EventStream]] = {}
        self._shut = False

    @contextlib.contextmanager
    def subscribe(self, device_id: str) -> Iterator[EventStream]:
        stream = EventStream()
        if self._shut:
            stream.put(None)  # the server is stopping: the phone comes back to another one
        self._streams.setdefault(device_id, set()).add(stream)
        try:
            yield stream
        finally:
            streams = self._streams.get(device_id)
            if streams is not None:
                streams.discard(stream)
                if not streams:
                    del self._streams[device_id]

    def publish(self, device_id: str, event: DeviceEvent) -> bool:
        """Send an event to every open stream of the device; whether it had one."""
        streams = self._streams.get(device_id, ())
        for stream in streams:
            stream.put(event)
        return bool(streams)

    def close(self, device_id: str) -> None:
        """End the device's streams (its token was revoked)."""
        for stream in self._streams.get(device_id, ()):
            stream.put(None)

    def close_all(self) -> None:
        for device_id in list(self._streams):
            self.close(device_id)

    def shut(self) -> None:
        """End every stream, and those opened from now on (the server is stopping)."""
        self._shut = True
        self.close_all()

    def connected(self) -> frozenset[str]:
        return frozenset(self._streams)
