"""``textgate serve`` as a user starts it, and a client written exactly as the seed's Python
example, with only its base URL and the printed demo login changed: result OK, delivered."""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support import HTTP_TIMEOUT, WAIT, free_port

MESSAGE_HIGH_QUALITY = "N"


def json_serial(obj: Any) -> str:
    """JSON serializer for objects not serializable by default json code"""
    if isinstance(obj, datetime.datetime):
        return obj.isoformat()
    raise TypeError("Type not serializable")


def login(baseurl: str, username: str, password: str) -> tuple[str, str] | None:
    r = requests.get(
        f"{baseurl}login?username={username}&password={password}", timeout=HTTP_TIMEOUT
    )
    if r.status_code != 200:
        return None
    user_key, session_key = r.text.split(";")
    return user_key, session_key


def send_sms(baseurl: str, auth: tuple[str, str], sendsms: dict[str, Any]) -> Any:
    headers = {"user_key": auth[0], "Session_key": auth[1], "Content-type": "application/json"}
    r = requests.post(
        f"{baseurl}sms",
        headers=headers,
        data=json.dumps(sendsms, default=json_serial),
        timeout=HTTP_TIMEOUT,
    )
    if r.status_code != 201:
        return None
    return json.loads(r.text)


def wait_delivered(baseurl: str, auth: tuple[str, str], order_id: str) -> list[str]:
    statuses: list[str] = []
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        r = requests.get(
            f"{baseurl}sms/{order_id}",
            headers={"user_key": auth[0], "Session_key": auth[1]},
            timeout=HTTP_TIMEOUT,
        )
        statuses = [x["status"] for x in r.json()["recipients"]]
        if statuses == ["DLVRD"]:
            break
        time.sleep(0.1)  # the poll's pace, in this thread of the seed's blocking client
    return statuses


def seed_script(baseurl: str, username: str, password: str) -> tuple[Any, list[str]]:
    auth = login(baseurl, username, password)
    assert auth, "Unable to login.."
    sent = send_sms(
        baseurl,
        auth,
        {
            "message": "Hello world!",
            "message_type": MESSAGE_HIGH_QUALITY,
            "returnCredits": False,
            "recipient": ["+393491234567"],
            "sender": None,
        },
    )
    assert sent is not None
    return sent, wait_delivered(baseurl, auth, sent["order_id"])


def wait_listening(base: str) -> None:
    # The demo login is printed while the server starts; it listens a moment later.
    deadline = time.monotonic() + WAIT
    while True:
        try:
            requests.get(f"{base}/healthz", timeout=HTTP_TIMEOUT)
            return
        except requests.ConnectionError:
            assert time.monotonic() < deadline, "serve never listened"
            time.sleep(0.05)


@pytest.mark.slow
async def test_seed_client_against_serve(db_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {
        "TEXTGATE_DATA_DIR": str(tmp_path),
        "TEXTGATE_DATABASE_URL": db_url,
        "TEXTGATE_LOG_LEVEL": "WARNING",
        "TEXTGATE_HTTP__PORT": str(port),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "textgate",
        "serve",
        "--demo",
        # The test suite's own TEXTGATE_* variables are no settings: the gateway would refuse.
        env={**{k: v for k, v in os.environ.items() if not k.startswith("TEXTGATE_")}, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        key_line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert key_line.startswith(b"TEXTGATE_DEMO_API_KEY="), key_line
        login_line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert login_line.startswith(b"TEXTGATE_DEMO_LOGIN="), login_line
        username, password = login_line.decode().strip().split("=", 1)[1].split(":", 1)
        baseurl = f"http://127.0.0.1:{port}/API/v1.0/REST/"
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, wait_listening, f"http://127.0.0.1:{port}")
        sent, statuses = await loop.run_in_executor(None, seed_script, baseurl, username, password)
        assert sent["result"] == "OK"
        assert statuses == ["DLVRD"]
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)
    assert proc.returncode in (0, -15)
