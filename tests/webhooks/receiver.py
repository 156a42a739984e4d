"""A real HTTP receiver on 127.0.0.1 that records what it is sent and can be told to fail."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tests.support import serving

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Hit:
    headers: dict[str, str]
    body: str
    answered: int

    @property
    def event_id(self) -> str:
        return self.headers["textgate-event-id"]

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Receiver:
    url: str = ""
    answer: int = 200
    hits: list[Hit] = field(default_factory=list)

    def accepted(self) -> dict[str, Hit]:
        """Event id -> the first request answered with 2xx."""
        out: dict[str, Hit] = {}
        for hit in self.hits:
            if 200 <= hit.answered < 300:
                out.setdefault(hit.event_id, hit)
        return out

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the sender went away mid-request (killed): nothing was received
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        status = self.answer
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.hits.append(Hit(headers, b"".join(chunks).decode(), status))
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


@contextlib.asynccontextmanager
async def running_receiver(host: str = "127.0.0.1") -> AsyncIterator[Receiver]:
    receiver = Receiver()
    async with serving(receiver, host) as base:
        receiver.url = f"{base}/hook"
        yield receiver
