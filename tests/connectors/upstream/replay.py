"""A provider played back from its public documentation, for the provider connectors'
end-to-end tests: each test module writes the provider's routes (checking each request as
the provider would and answering with its documented example bodies); this runs them on a
loopback listener in the test's own loop, keeps what was asked, and plays the provider's
callbacks to the gateway the way the provider would: after it answered, and to the
gateway's address while signing the public URL it was given (a proxy in between).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from tests.support import HTTP_TIMEOUT, serving


@dataclass(frozen=True)
class Asked:
    """One request the provider read."""

    at: float
    """time.monotonic() when it had been read."""
    method: str
    path: str
    headers: dict[str, str]
    """Lower-case names."""
    query: dict[str, str]
    form: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Played:
    """One callback the provider made, and the gateway's answer."""

    url: str
    fields: dict[str, str]
    status: int
    body: str
    content_type: str


class Replay:
    def __init__(self) -> None:
        self.asked: list[Asked] = []
        self.played: list[Played] = []
        self.gateway: str | None = None
        """Where the gateway listens (``http://127.0.0.1:port``): callbacks addressed to
        the public URL go there."""
        self.public = ""
        """The gateway's public base URL (``callback_base_url``): the proxy in front of
        the gateway takes it off."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._client = httpx.AsyncClient(timeout=HTTP_TIMEOUT)

    def routes(self) -> list[Route]:
        raise NotImplementedError

    async def read(self, request: Request) -> Asked:
        """The request as asked (recorded); its form fields when it has a form body."""
        body = await request.body()
        form: dict[str, str] = {}
        if "form-urlencoded" in request.headers.get("content-type", ""):
            form = dict(parse_qsl(body.decode(), keep_blank_values=True))
        asked = Asked(
            time.monotonic(),
            request.method,
            request.url.path,
            {k.lower(): v for k, v in request.headers.items()},
            dict(request.query_params),
            form,
            body,
        )
        self.asked.append(asked)
        return asked

    def later(self, play: Coroutine[Any, Any, None]) -> None:
        """Play callbacks once the current answer is on its way."""
        task = asyncio.get_running_loop().create_task(play)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def local(self, public_url: str) -> str:
        """The gateway's own address for a URL under its public base URL."""
        assert self.gateway is not None, "the test did not say where the gateway listens"
        if self.public and public_url.startswith(self.public + "/"):
            return self.gateway + public_url.removeprefix(self.public)
        parts = urlsplit(public_url)
        return self.gateway + parts.path + (f"?{parts.query}" if parts.query else "")

    async def call(
        self,
        public_url: str,
        fields: dict[str, str],
        *,
        method: str = "POST",
        headers: dict[str, str] | None = None,
        json_body: bool = False,
    ) -> Played:
        """Call the gateway at ``public_url`` (sent to its local address) with ``fields``
        as a form, a query string (GET) or a JSON object."""
        url = self.local(public_url)
        if method == "GET":
            r = await self._client.get(url, params=fields, headers=headers)
        elif json_body:
            r = await self._client.post(url, json=fields, headers=headers)
        else:
            r = await self._client.post(url, data=fields, headers=headers)
        played = Played(
            public_url, fields, r.status_code, r.text, r.headers.get("content-type", "")
        )
        self.played.append(played)
        return played

    async def settled(self) -> None:
        """Every callback scheduled so far has been played."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks))

    async def close(self) -> None:
        await self.settled()
        await self._client.aclose()


@contextlib.asynccontextmanager
async def replaying(replay: Replay) -> AsyncIterator[str]:
    """Serve the replay's routes on a loopback listener; yields its base URL."""
    app = Starlette(routes=replay.routes())
    async with serving(app, access_log=False) as base:
        try:
            yield base
        finally:
            await replay.close()
