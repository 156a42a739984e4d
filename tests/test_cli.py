"""The CLI: accounts, keys, send (one, CSV in batches, JSON), migrate, and `serve` as a new
user runs it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tests.support import HTTP_TIMEOUT, free_port, until
from textgate.cli import app
from textgate.config import Settings
from textgate.core.message import Message
from textgate.errors import NotFound
from textgate.runtime import Gateway
from textgate.services.query import MessageFilter
from textgate.storage.orders import OrderWriter

NUMBER = "+33612345678"


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


async def _messages(env: dict[str, str], account: str) -> list[Message]:
    gw = Gateway(
        Settings(data_dir=Path(env["TEXTGATE_DATA_DIR"]), database_url=env["TEXTGATE_DATABASE_URL"])
    )
    await gw.start(dispatch=False, migrate=True)
    try:
        acc = await gw.services.accounts.by_name(account)
        return await gw.services.messages.search(acc.id, MessageFilter(), limit=100)
    finally:
        await gw.stop()


async def _stored(env: dict[str, str], account: str) -> list[tuple[str, str]]:
    return sorted((m.recipient, m.text) for m in await _messages(env, account))


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


def test_send_json_one(env: dict[str, str]) -> None:
    _invoke(env, "account", "create", "shop")
    out = _invoke(env, "send", "--account", "shop", "--to", NUMBER, "--text", "hi", "--json")
    answer = json.loads(out)  # stdout is the JSON object alone
    assert answer["accepted"] == 1 and answer["refused"] == 0
    [entry] = answer["results"]
    [stored] = asyncio.run(_messages(env, "shop"))
    assert entry == {
        "line": None,
        "to": NUMBER,
        "status": "queued",
        "id": stored.id,
        "order_id": stored.order_id,
        "recipient": NUMBER,
        "encoding": "gsm7",
        "segments": 1,
    }


def test_send_json_refused(env: dict[str, str]) -> None:
    _invoke(env, "account", "create", "shop")
    result = CliRunner().invoke(
        app, ["send", "--account", "shop", "--to", "ACME", "--text", "hi", "--json"], env=env
    )
    assert result.exit_code == 1, result.output
    answer = json.loads(result.stdout)
    assert answer["accepted"] == 0 and answer["refused"] == 1
    [entry] = answer["results"]
    assert entry["status"] == "refused" and entry["code"] == "invalid_number"
    assert entry["to"] == "ACME" and "ACME" in entry["error"]
    assert asyncio.run(_stored(env, "shop")) == []


def _bulk_csv(path: Path, rows: int) -> list[tuple[str, str]]:
    """A CSV of ``rows`` rows after a header; the numbers and texts written."""
    written = [(f"+336000000{i:02d}", f"row {i}") for i in range(1, rows + 1)]
    lines = ["number,text", *(f"{number},{text}" for number, text in written)]
    path.write_text("\n".join(lines) + "\n")
    return written


def test_csv_send_commits_in_batches(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _invoke(env, "account", "create", "shop")
    _invoke(env, "account", "opt-out", "shop", "+33600000003")
    csv_file = tmp_path / "bulk.csv"
    written = _bulk_csv(csv_file, 25)
    # Row 5 is no number (refused before storage), row 12 has no text, row 3 is opted out
    # (refused in the transaction that stores its neighbours).
    lines = csv_file.read_text().splitlines()
    lines[5] = "not-a-number,row 5"
    lines[12] = "+33600000012"
    csv_file.write_text("\n".join(lines) + "\n")

    transactions: list[int] = []
    write = OrderWriter._write

    async def counted(self: OrderWriter, batch: list[Any]) -> Any:
        transactions.append(len(batch))
        return await write(self, batch)

    monkeypatch.setattr(OrderWriter, "_write", counted)
    result = CliRunner().invoke(
        app,
        ["send", "--account", "shop", "--csv", str(csv_file), "--batch-size", "10", "--json"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    # Three batches of rows, one transaction each (rows refused before storage not in it).
    assert transactions == [9, 9, 5]
    answer = json.loads(result.stdout)
    assert (answer["accepted"], answer["refused"]) == (22, 3)
    refused = {e["line"]: e["code"] for e in answer["results"] if e["status"] == "refused"}
    assert refused == {4: "opted_out", 6: "invalid_number", 13: "missing_text"}
    assert [e["line"] for e in answer["results"]] == list(range(2, 27))
    assert "sending" not in result.stderr  # no progress bar off a terminal
    expected = sorted(w for i, w in enumerate(written, 1) if i not in (3, 5, 12))
    assert asyncio.run(_stored(env, "shop")) == expected


def _on_a_terminal(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """Run the CLI with its standard error on a pseudo-terminal: (exit status, stdout, what
    the terminal showed)."""
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "textgate", *args],
            env={**os.environ, **env, "TERM": "xterm-256color", "COLUMNS": "120", "NO_COLOR": "1"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=terminal,
        )
    finally:
        os.close(terminal)
    shown = bytearray()
    try:
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the child closed the terminal: it has ended
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(controller)
    stdout, _ = proc.communicate(timeout=120)
    return proc.returncode, stdout.decode(), shown.decode(errors="replace")


@pytest.mark.slow
def test_csv_send_shows_progress_on_a_terminal_only(env: dict[str, str], tmp_path: Path) -> None:
    _invoke(env, "account", "create", "shop")
    csv_file = tmp_path / "bulk.csv"
    _bulk_csv(csv_file, 30)
    send = ("send", "--account", "shop", "--csv", str(csv_file), "--batch-size", "7")
    code, _, shown = _on_a_terminal(env, *send)
    assert code == 0, shown
    assert "sending" in shown and "100%" in shown, shown
    assert "accepted 30, refused 0" in shown
    code, stdout, shown = _on_a_terminal(env, *send, "--json")
    assert code == 0, shown
    assert json.loads(stdout)["accepted"] == 30
    assert "sending" not in shown and "accepted" not in shown, shown
    assert len(asyncio.run(_messages(env, "shop"))) == 60


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
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=HTTP_TIMEOUT
        ) as client:

            async def healthy() -> bool:
                assert proc.returncode is None, "serve exited"
                with contextlib.suppress(httpx.TransportError):
                    return (await client.get("/healthz")).status_code == 200
                return False

            await until(healthy, "serve to listen")
            r = await client.post(
                "/v1/messages",
                headers=headers,
                json={"to": "+33612345678", "text": "Hello from textgate"},
            )
            assert r.status_code == 202, r.text
            mid = r.json()["messages"][0]["id"]
            detail: dict[str, Any] = {}

            async def delivered() -> bool:
                nonlocal detail
                detail = (await client.get(f"/v1/messages/{mid}", headers=headers)).json()
                return bool(detail["status"] == "delivered")

            await until(delivered, "the message to be delivered")
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
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=HTTP_TIMEOUT
        ) as client:

            async def healthy() -> bool:
                assert proc.returncode is None, "serve exited"
                with contextlib.suppress(httpx.TransportError):
                    return (await client.get("/healthz")).status_code == 200
                return False

            await until(healthy, "serve to listen", timeout=120)
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
