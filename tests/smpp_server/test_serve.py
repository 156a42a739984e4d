"""``textgate serve --demo`` with the SMPP server on (as ``make run`` starts it): the demo
account's printed SMPP credentials bind, and a submit_sm is stored and sent."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx
import pytest
import smpplib.consts as c
import smpplib.exceptions

from tests.smpp_server.harness import NUMBER, Esme
from tests.support import HTTP_TIMEOUT, WAIT, free_port, until


async def _line(proc: asyncio.subprocess.Process, prefix: bytes) -> str:
    assert proc.stdout is not None
    while True:
        line = await asyncio.wait_for(proc.stdout.readline(), WAIT)
        assert line, f"serve ended before printing {prefix!r}"
        if line.startswith(prefix):
            return line.decode().strip().split("=", 1)[1]


async def _bound(port: int, system_id: str, password: str) -> Esme:
    """A bound client; the credentials are printed while the server starts, so the first
    connections may come too early."""
    clients: list[Esme] = []

    async def listening() -> bool:
        esme = Esme(port)
        try:
            await esme.call("connect")
        except smpplib.exceptions.ConnectionError:
            return False
        clients.append(esme)
        return True

    await until(listening, "the SMPP server to listen")
    answer = await clients[0].call("bind", "transceiver", system_id, password)
    assert answer.status == c.SMPP_ESME_ROK, answer
    return clients[0]


@pytest.mark.slow
async def test_serve_demo_takes_smpp_binds(db_url: str, tmp_path: Path) -> None:
    smpp_port, http_port = free_port(), free_port()
    env = {
        "TEXTGATE_DATA_DIR": str(tmp_path),
        "TEXTGATE_DATABASE_URL": db_url,
        "TEXTGATE_LOG_LEVEL": "WARNING",
        "TEXTGATE_HTTP__PORT": str(http_port),
        "TEXTGATE_SMPP_SERVER__ENABLED": "true",
        "TEXTGATE_SMPP_SERVER__PORT": str(smpp_port),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "textgate",
        "serve",
        "--demo",
        env={**{k: v for k, v in os.environ.items() if not k.startswith("TEXTGATE_")}, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        api_key = await _line(proc, b"TEXTGATE_DEMO_API_KEY=")
        system_id, password = (await _line(proc, b"TEXTGATE_DEMO_SMPP=")).split(":", 1)
        assert system_id == "demo" and len(password) == 8
        esme = await _bound(smpp_port, system_id, password)
        answer = await esme.call("submit", destination_addr=NUMBER[1:])
        assert answer.status == c.SMPP_ESME_ROK and answer.message_id
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as client:
            stored = await client.get(
                f"http://127.0.0.1:{http_port}/v1/messages/{answer.message_id}",
                headers={"Authorization": f"Bearer {api_key}"},
            )
        assert stored.status_code == 200, stored.text
        assert (stored.json()["to"], stored.json()["text"]) == (NUMBER, "hello")
        bye = await esme.call("request", "unbind")
        assert bye.command == "unbind_resp"
        await esme.call("close")
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)
    assert proc.returncode in (0, -15)
