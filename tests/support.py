"""Test helpers shared by the suite: free ports, a real server, database URLs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn

from textgate.app import create_app
from textgate.config import Settings
from textgate.runtime import Gateway
from textgate.services.webhooks import TargetChecker

PG_ENV = "TEXTGATE_TEST_DATABASE_URL"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def postgres_url() -> str | None:
    return os.environ.get(PG_ENV) or None


def database_url(tmp_path: Path) -> str:
    """The database the suite runs on: PostgreSQL when configured, else a fresh SQLite file."""
    return postgres_url() or f"sqlite+aiosqlite:///{tmp_path / 'textgate.db'}"


@dataclass
class Running:
    gateway: Gateway
    base_url: str
    client: httpx.AsyncClient


@contextlib.asynccontextmanager
async def running_gateway(
    settings: Settings, *, target_checker: TargetChecker | None = None
) -> AsyncIterator[Running]:
    """Start the real HTTP server (uvicorn, httptools) on a free loopback port."""
    # Bound before the lifespan runs: a port picked and released here could otherwise be
    # taken by the gateway's own outgoing connections (SMPP binds) before uvicorn binds it.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = int(listener.getsockname()[1])
    settings = settings.model_copy(update={"http": settings.http.model_copy(update={"port": port})})
    gateway = Gateway(settings, target_checker=target_checker)
    app = create_app(settings, gateway=gateway)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        http="httptools",
        lifespan="on",
        access_log=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[listener]))
    task.add_done_callback(lambda _: listener.close())  # also when the lifespan failed
    for _ in range(500):
        if server.started:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            yield Running(gateway, base, client)
    finally:
        server.should_exit = True
        await task
