"""What the HTTP upstream connectors' tests share: a gateway A that sends through a connector
of the test's choosing (on its own SQLite file, whatever database the suite runs on: two
gateways on one database would dispatch each other's messages), and a small HTTP server
written here that answers as the test scripts it, including the ways providers misbehave.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tests.support import Running, loopback_listener, until
from textgate.config import ConnectorSettings, DispatchSettings, InboundSettings, Settings
from textgate.core.message import FINAL, Message, Status

RECIPIENT = "+393471234567"


def a_settings(settings: Settings, connector: ConnectorSettings, **update: Any) -> Settings:
    a_dir = settings.data_dir / "gateway-a"
    a_dir.mkdir(exist_ok=True)
    fast = DispatchSettings(
        retry_base_seconds=0.05,
        retry_max_seconds=0.2,
        wait_min_seconds=0.05,
        wait_max_seconds=0.2,
    )
    return settings.model_copy(
        update={
            "data_dir": a_dir,
            "database_url": f"sqlite+aiosqlite:///{a_dir / 'textgate.db'}",
            "connectors": [connector],
            "dispatch": fast,
            **update,
        }
    )


@dataclass
class Client:
    running: Running
    account_id: str
    headers: dict[str, str]

    async def send(self, text: str = "Your code is 4821", sender: str | None = "ACME") -> str:
        body: dict[str, Any] = {"to": RECIPIENT, "text": text}
        if sender is not None:
            body["from"] = sender
        r = await self.running.client.post("/v1/messages", json=body, headers=self.headers)
        assert r.status_code == 202, r.text
        return str(r.json()["messages"][0]["id"])

    async def message(self, message_id: str) -> Message:
        return await self.running.gateway.services.messages.get(self.account_id, message_id)

    async def reaches(
        self, message_id: str, check: Callable[[Message], bool], what: str
    ) -> Message:
        found: Message | None = None

        async def holds() -> bool:
            nonlocal found
            found = await self.message(message_id)
            return check(found)

        await until(holds, f"{message_id}: {what}")
        assert found is not None
        return found

    async def final(self, message_id: str) -> Message:
        return await self.reaches(message_id, lambda m: m.status in FINAL, "a final status")

    async def held_by_refused_credentials(
        self, message_id: str, connector: str, secret: str
    ) -> Message:
        """The provider refused the connector's credentials: the message waits, stored
        queued with no attempt used, /readyz answers 503 with the connector's link
        ``auth_refused``, and ``secret`` appears nowhere in it. The waiting message."""
        waiting = await self.reaches(message_id, lambda m: m.error_code == "waiting", "waiting")
        assert (waiting.status, waiting.attempts) == (Status.QUEUED, 0)
        ready = await self.running.client.get("/readyz")
        assert ready.status_code == 503
        [link] = ready.json()["links"][connector]
        assert link["state"] == "auth_refused"
        assert secret not in ready.text
        return waiting


def replayed_provider(
    settings: Settings, name: str, base: str, ours: str, options: dict[str, Any]
) -> Settings:
    """The suite's gateway with one provider connector ``name`` (also its type) pointed at a
    replay server's ``base``, quick retries, and ``ours`` as the account ``client``'s
    number (its inbound messages go there)."""
    connector = ConnectorSettings(
        name=name, type=name, options={"base_url": base, "throttle_seconds": 0.5, **options}
    )
    fast = DispatchSettings(
        retry_base_seconds=0.05, retry_max_seconds=0.2, wait_min_seconds=0.05, wait_max_seconds=0.2
    )
    inbound = InboundSettings(numbers={ours: "client"})
    return settings.model_copy(
        update={"connectors": [connector], "dispatch": fast, "inbound": inbound}
    )


async def client_of(running: Running, name: str = "client") -> Client:
    accounts = running.gateway.services.accounts
    account = await accounts.create(name)
    key = (await accounts.issue_key(account.id)).token
    return Client(running, account.id, {"Authorization": f"Bearer {key}"})


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: str = '{"id": "ext-1"}'
    headers: dict[str, str] = field(default_factory=dict)


HANG = "hang"
"""Read the request, then never answer (until the client gives up)."""
DROP = "drop"
"""Read the request, then close the connection without a word."""

Behaviour = Answer | str


@dataclass
class Seen:
    at: float
    """time.monotonic() when the request had been read."""
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


class Misbehaving:
    """An HTTP/1.1 server on a loopback listener that answers the requests it reads with the
    script's behaviours in order (the last one again once the script is used up)."""

    def __init__(self, script: list[Behaviour], listener: socket.socket | None = None) -> None:
        self.script = list(script)
        self.listener = listener or loopback_listener()
        self.port = int(self.listener.getsockname()[1])
        self.seen: list[Seen] = []
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, sock=self.listener)

    async def stop(self) -> None:
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _next(self) -> Behaviour:
        return self.script.pop(0) if len(self.script) > 1 else self.script[0]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.seen.append(Seen(time.monotonic(), method, target, headers, body))
                behaviour = self._next()
                if behaviour == HANG:
                    await reader.read()  # until the client closes its end
                    return
                if behaviour == DROP or not isinstance(behaviour, Answer):
                    return
                payload = behaviour.body.encode()
                extra = "".join(f"{k}: {v}\r\n" for k, v in behaviour.headers.items())
                writer.write(
                    f"HTTP/1.1 {behaviour.status} X\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(payload)}\r\n{extra}\r\n".encode()
                    + payload
                )
                await writer.drain()
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


@contextlib.asynccontextmanager
async def misbehaving(script: list[Behaviour]) -> AsyncIterator[Misbehaving]:
    server = Misbehaving(script)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def until_seen(server: Misbehaving, count: int) -> None:
    await until(lambda: len(server.seen) >= count, f"{count} requests at the server")


Check = Callable[[], Awaitable[bool]]
