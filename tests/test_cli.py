"""The CLI: accounts, keys, send (one and CSV), migrate, and `serve` as a new user runs it."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.support import free_port
from textgate.cli import app
from textgate.config import Settings
from textgate.errors import NotFound
from textgate.runtime import Gateway
from textgate.services.query import MessageFilter


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "TEXTGATE_DATA_DIR": str(tmp_path),
        "TEXTGATE_DATABASE_URL": db_url,
        "TEXTGATE_LOG_LEVEL": "WARNING",
    }


def _invoke(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


async def _stored(env: dict[str, str], account: str) -> list[tuple[str, str]]:
    gw = Gateway(
        Settings(data_dir=Path(env["TEXTGATE_DATA_DIR"]), database_url=env["TEXTGATE_DATABASE_URL"])
    )
    await gw.start(dispatch=False, migrate=True)
    try:
        acc = await gw.services.accounts.by_name(account)
        msgs = await gw.services.messages.search(acc.id, MessageFilter(), limit=100)
        return sorted((m.recipient, m.text) for m in msgs)
    finally:
        await gw.stop()


def test_account_create_json_and_key(env: dict[str, str]) -> None:
    _invoke(env, "migrate")
    created = json.loads(_invoke(env, "account", "create", "shop", "--json"))
    assert set(created) == {"id", "name", "api_key"}
    assert created["name"] == "shop" and created["api_key"].startswith("tg_")
    another = _invoke(env, "account", "key", "shop")
    assert "tg_" in another and created["api_key"] not in another
    again = CliRunner().invoke(app, ["account", "create", "shop"], env=env)
    assert again.exit_code == 1 and "already exists" in again.output


def test_send_one_and_csv(env: dict[str, str], tmp_path: Path) -> None:
    _invoke(env, "account", "create", "shop")
    out = _invoke(env, "send", "--account", "shop", "--to", "+33612345678", "--text", "hi")
    assert "+33612345678 queued gsm7 1 part(s)" in out
    csv_file = tmp_path / "bulk.csv"
    csv_file.write_text("number,text\n+33698765432,one\nnot-a-number,two\n+447400123456,three\n")
    result = CliRunner().invoke(app, ["send", "--account", "shop", "--csv", str(csv_file)], env=env)
    assert result.exit_code == 0, result.output
    assert "accepted 2, refused 1" in result.output
    stored = asyncio.run(_stored(env, "shop"))
    assert stored == [("+33612345678", "hi"), ("+33698765432", "one"), ("+447400123456", "three")]


def test_send_needs_something_to_send(env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["send", "--to", "+33612345678"], env=env)
    assert result.exit_code == 2


def _serve_env(env: dict[str, str], port: int) -> dict[str, str]:
    """The parent's environment without the test suite's TEXTGATE_* variables."""
    parent = {k: v for k, v in os.environ.items() if not k.upper().startswith("TEXTGATE_")}
    return {**parent, **env, "TEXTGATE_HTTP__PORT": str(port)}


@pytest.mark.slow
async def test_serve_as_a_new_user(env: dict[str, str], tmp_path: Path) -> None:
    """The README's quick start (`make run` is `serve --demo`): serve prints a demo key; a
    curl-like POST reaches delivered."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "textgate",
        "serve",
        "--demo",
        env=_serve_env(env, port),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert line.startswith(b"TEXTGATE_DEMO_API_KEY="), line
        key = line.decode().strip().split("=", 1)[1]
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for _ in range(100):
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            r = await client.post(
                "/v1/messages",
                headers=headers,
                json={"to": "+33612345678", "text": "Hello from textgate"},
            )
            assert r.status_code == 202, r.text
            mid = r.json()["messages"][0]["id"]
            for _ in range(100):
                detail = (await client.get(f"/v1/messages/{mid}", headers=headers)).json()
                if detail["status"] == "delivered":
                    break
                await asyncio.sleep(0.1)
            assert [e["status"] for e in detail["history"]] == [
                "queued",
                "sending",
                "sent",
                "delivered",
            ]
            docs = await client.get("/docs")
            assert docs.status_code == 200
            spec = (await client.get("/openapi.json")).json()
            assert "/v1/messages" in spec["paths"]
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)
    # uvicorn re-raises SIGTERM after its graceful shutdown, so -15 is a clean exit too.
    assert proc.returncode in (0, -15)


@pytest.mark.slow
async def test_a_plain_serve_makes_no_demo_account_and_prints_no_credentials(
    env: dict[str, str],
) -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "textgate",
        "serve",
        env=_serve_env({**env, "TEXTGATE_LOG_LEVEL": "INFO"}, port),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            deadline = asyncio.get_running_loop().time() + 120
            while True:
                assert proc.returncode is None, "serve exited"
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert asyncio.get_running_loop().time() < deadline, "serve never listened"
                await asyncio.sleep(0.1)
    finally:
        proc.terminate()
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode in (0, -15)
    output = (stdout + stderr).decode()
    assert "listening on" in output  # the announcement is there, without the credentials
    for credentials in ("TEXTGATE_DEMO", "demo account", "demo API key", "demo login", "tg_"):
        assert credentials not in output
    gw = Gateway(
        Settings(data_dir=Path(env["TEXTGATE_DATA_DIR"]), database_url=env["TEXTGATE_DATABASE_URL"])
    )
    await gw.start(dispatch=False, migrate=False)
    try:
        with pytest.raises(NotFound):
            await gw.services.accounts.by_name("demo")
    finally:
        await gw.stop()
