"""``textgate phone`` as a separate process against a running gateway, and ``textgate device``."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import httpx
from typer.testing import CliRunner

from tests.android.conftest import PREFIX, Account, send, wait_status
from tests.support import HTTP_TIMEOUT, WAIT, Running
from textgate.cli import app
from textgate.config import Settings
from textgate.core.devices import SimCard
from textgate.runtime import Gateway
from textgate.services.devices import RegistrationAuth


async def _line(proc: asyncio.subprocess.Process, needle: str, seen: list[str]) -> str:
    assert proc.stdout is not None
    async with asyncio.timeout(WAIT):
        while True:
            raw = await proc.stdout.readline()
            if not raw:
                raise AssertionError(f"phone exited; said {seen}")
            line = raw.decode().strip()
            seen.append(line)
            if needle in line:
                return line


async def _phone(
    running: Running, account: Account, state: Path, *extra: str
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "textgate",
        "phone",
        "--url",
        running.base_url + PREFIX,
        "--state",
        str(state),
        "--own-number",
        "+33600000009",
        *extra,
        env={"TEXTGATE_PHONE_TOKEN": account.key, "PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE,
    )


async def _stop(proc: asyncio.subprocess.Process) -> None:
    proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(WAIT):
        assert await proc.wait() == 0


async def test_textgate_phone_process(running: Running, account: Account, tmp_path: Path) -> None:
    state = tmp_path / "phone.json"
    seen: list[str] = []
    proc = await _phone(running, account, state, "--receive", "+33698765432:Bonjour")
    try:
        registered = await _line(proc, "registered", seen)
        device_id = registered.split()[1]
        await _line(proc, "connected", seen)
        await _line(proc, "webhook 204", seen)
        message_id = await send(running, account, "+33612345678")
        await wait_status(running, account, message_id, "delivered")
        await _line(proc, "Delivered", seen)
    finally:
        await _stop(proc)
    # The token is kept in the state file only, never printed.
    saved = json.loads(state.read_text())
    assert saved["id"] == device_id and not any(saved["token"] in line for line in seen)
    async with httpx.AsyncClient(base_url=running.base_url, timeout=HTTP_TIMEOUT) as c:
        inbox = (await c.get("/v1/inbound", headers=account.auth)).json()["data"]
    assert [(m["from"], m["text"]) for m in inbox] == [("+33698765432", "Bonjour")]
    # Started again with its state file, the phone updates its registration (PATCH /device).
    seen = []
    proc = await _phone(running, account, state)
    try:
        assert await _line(proc, "updated", seen) == f"updated {device_id}"
        await _line(proc, "connected", seen)
    finally:
        await _stop(proc)


def test_device_commands(db_url: str, tmp_path: Path) -> None:
    env = {
        "TEXTGATE_DATA_DIR": str(tmp_path),
        "TEXTGATE_DATABASE_URL": db_url,
        "TEXTGATE_LOG_LEVEL": "WARNING",
    }
    runner = CliRunner()
    created = runner.invoke(app, ["account", "create", "shop", "--json"], env=env)
    assert created.exit_code == 0, created.output
    key = json.loads(created.stdout)["api_key"]

    async def register() -> str:
        gw = Gateway(Settings(data_dir=tmp_path, database_url=db_url))
        await gw.start(dispatch=False, migrate=True)
        try:
            done = await gw.services.devices.register(
                RegistrationAuth(private_token=key),
                "Google/Pixel",
                push_token=None,
                sim_cards=[SimCard(0, 1, "+33600000001", "Orange")],
            )
            return done.device.id
        finally:
            await gw.stop()

    device_id = asyncio.run(register())
    listed = runner.invoke(app, ["device", "list", "--account", "shop", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    [device] = json.loads(listed.stdout)
    assert device["id"] == device_id and device["sim_cards"][0]["phone_number"] == "+33600000001"
    labelled = runner.invoke(
        app,
        [
            "device",
            "label",
            device_id,
            "--account",
            "shop",
            "--label",
            "Shop",
            "--phone-number",
            "+33600000001",
        ],
        env=env,
    )
    assert labelled.exit_code == 0, labelled.output
    assert json.loads(labelled.stdout)["label"] == "Shop"
    table = runner.invoke(app, ["device", "list", "--account", "shop"], env=env)
    assert "Shop" in table.stdout
    deleted = runner.invoke(app, ["device", "delete", device_id, "--account", "shop"], env=env)
    assert deleted.exit_code == 0, deleted.output
    again = runner.invoke(app, ["device", "delete", device_id, "--account", "shop"], env=env)
    assert again.exit_code == 1
    listed = runner.invoke(app, ["device", "list", "--account", "shop", "--json"], env=env)
    assert json.loads(listed.stdout) == []
