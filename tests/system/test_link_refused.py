"""``textgate serve`` whose only SMSC refuses the bind keeps running (DESIGN 3: a link that
cannot connect never stops the gateway): no crash loop under a supervisor, no burst of bad
binds that could lock the carrier account."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.support import HTTP_TIMEOUT, free_port
from tests.system.procs import CLEAN_EXITS, Processes, gateway_env, wait_healthy
from textgate.connectors.smpp.smsc import Smsc, SmscOptions

pytestmark = pytest.mark.slow


async def test_serve_stays_up_while_its_smsc_refuses_the_bind(db_url: str, tmp_path: Path) -> None:
    async with Smsc(SmscOptions(port=0)) as smsc:
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        carrier = {
            "name": "carrier",
            "type": "smpp",
            "options": {
                "host": "127.0.0.1",
                "port": smsc.port,
                "system_id": "textgate",
                "password": "wrong",
            },
        }
        env = gateway_env(
            db_url,
            tmp_path,
            {"TEXTGATE_HTTP__PORT": str(port), "TEXTGATE_CONNECTORS": json.dumps([carrier])},
        )
        async with Processes(tmp_path / "logs") as procs:
            server = await procs.start("serve", ["serve"], env)
            await wait_healthy(server, base_url)
            async with httpx.AsyncClient(base_url=base_url, timeout=HTTP_TIMEOUT) as client:
                ready = await client.get("/readyz")
                assert ready.status_code == 503  # up, but nothing can carry messages
                [link] = ready.json()["links"]["carrier"]
                assert link["state"] == "auth_refused", link
                assert link["last_error"] == "bind refused: ESME_RINVPASWD"
                assert (await client.get("/healthz")).status_code == 200
            assert server.returncode is None
            assert await server.stop() in CLEAN_EXITS, server.log_tail()
        # One refusal, logged once: the next try waits reconnect_auth_min (60 s).
        assert server.log_text().count("bind refused: ESME_RINVPASWD") == 1, server.log_tail()
        assert smsc.bound_sessions == 0
