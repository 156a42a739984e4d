"""Operating a gateway: readiness against migrations and required links, metrics counters,
a prompt stop with phones connected, and one log format, through real servers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support import (
    HTTP_TIMEOUT,
    WAIT,
    Running,
    free_port,
    loopback_listener,
    postgres_url,
    running_gateway,
    server_started,
    until,
)
from tests.system.procs import Processes, create_account, gateway_env, run_cli, wait_healthy
from textgate.app import create_app
from textgate.config import ConnectorSettings, Settings
from textgate.connectors.smpp.smsc import Smsc, SmscOptions
from textgate.connectors.smpp.smsc_rules import SmscRule, SubmitAction
from textgate.phone.emulator import PhoneConfig, PhoneEmulator
from textgate.runtime import Gateway
from textgate.services.submit import SubmitRequest
from textgate.storage.db import Database
from textgate.storage.migrate import SchemaState, head_revision, upgrade

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _samples(body: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


# --- readiness: migrations ----------------------------------------------------------------


@contextlib.asynccontextmanager
async def _empty_database(tmp_path: Path) -> AsyncIterator[str]:
    """A database with no schema at all: a new SQLite file, or a new PostgreSQL database
    beside the suite's (dropped afterwards)."""
    suite = postgres_url()
    if suite is None:
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    url = make_url(suite)
    name = f"{url.database}_empty_{secrets.token_hex(4)}"
    admin = create_async_engine(suite, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


class _NoMigrationAtStart(Gateway):
    """As ``serve`` runs on PostgreSQL: the schema is the operator's (``textgate migrate``).
    On SQLite ``serve`` migrates at start; this one does not, whatever the database."""

    async def start(
        self,
        *,
        dispatch: bool,
        migrate: bool | None = None,
        smtp: bool = False,
        smpp: bool = False,
    ) -> None:
        await super().start(dispatch=dispatch, migrate=False, smtp=smtp, smpp=smpp)


@contextlib.asynccontextmanager
async def _serving(settings: Settings, gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    """``create_app`` with this gateway, under uvicorn on a free loopback port."""
    listener = loopback_listener()
    port = int(listener.getsockname()[1])
    config = uvicorn.Config(
        create_app(settings, gateway=gateway), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[listener]))
    task.add_done_callback(lambda _: listener.close())

    try:
        await server_started(server, task)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=HTTP_TIMEOUT
        ) as client:
            yield client
    finally:
        server.should_exit = True
        await task


async def test_readyz_is_not_ready_until_the_migrations_are_applied(
    settings: Settings, tmp_path: Path
) -> None:
    newest = head_revision()
    assert newest is not None and newest != "0013"
    async with _empty_database(tmp_path) as url:
        # An API-only process: the dispatcher's own loops would fail on the missing tables
        # too (and be named in "failing_loops"); this shows the migrations alone.
        unmigrated = settings.model_copy(update={"database_url": url, "run_dispatcher": False})
        gateway = _NoMigrationAtStart(unmigrated)
        async with _serving(unmigrated, gateway) as client:
            r = await client.get("/readyz")
            assert r.status_code == 503, r.text
            body = r.json()
            assert body["migrations"] == {"applied": None, "newest": newest, "behind": True}
            assert body["reasons"] == [
                f"migrations: the database has no schema, this code needs {newest};"
                " run `textgate migrate`"
            ]
            # Alive all the same: the database answers.
            assert (await client.get("/healthz")).status_code == 200

            db = Database(url)
            try:
                await upgrade(db, "0013")
            finally:
                await db.dispose()
            r = await client.get("/readyz")
            assert r.status_code == 503
            assert r.json()["migrations"] == {"applied": "0013", "newest": newest, "behind": True}
            assert r.json()["reasons"][0].startswith("migrations: the database is at 0013, ")

            # The operator's remedy, as documented; no restart needed.
            await run_cli(["migrate"], gateway_env(url, tmp_path))
            r = await client.get("/readyz")
            assert r.status_code == 200, r.text
            assert r.json()["migrations"] == {"applied": newest, "newest": newest, "behind": False}
            assert r.json()["reasons"] == []

            accounts = gateway.services.accounts
            account = await accounts.create("acme")
            key = (await accounts.issue_key(account.id)).token
            sent = await client.post(
                "/v1/messages",
                json={"to": "+33612345678", "text": "after migrate"},
                headers={"Authorization": f"Bearer {key}"},
            )
            assert sent.status_code == 202, sent.text


@pytest.mark.parametrize(
    ("applied", "behind"),
    [(None, True), ("0013", True), ("0014", False), ("9999", False)],
    ids=["no-schema", "older", "current", "newer-release"],
)
def test_schema_behind_only_when_this_code_needs_more(applied: str | None, behind: bool) -> None:
    # "9999": a revision this code does not know, written by a newer release's migrate.
    known = applied in {None, "0013", "0014"}
    assert SchemaState(applied, "0014", known).behind is behind


# --- readiness: required links -----------------------------------------------------------


def _smpp(
    name: str, port: int, options: dict[str, Any] | None = None, **fields: Any
) -> ConnectorSettings:
    return ConnectorSettings(
        name=name,
        type="smpp",
        options={
            "host": "127.0.0.1",
            "port": port,
            "system_id": "textgate",
            "password": "textgate",
            "reconnect_initial": 0.05,
            "reconnect_max": 0.2,
            **(options or {}),
        },
        **fields,
    )


@pytest.mark.parametrize("backup_required", [True, False], ids=["required", "optional"])
async def test_readyz_needs_a_link_up_on_every_required_connector(
    settings: Settings, backup_required: bool
) -> None:
    async with Smsc(SmscOptions(port=0)) as smsc:
        connectors = [
            _smpp("carrier", smsc.port),
            # Nothing listens there: never bound.
            _smpp("backup", free_port(), required=backup_required),
        ]
        two = settings.model_copy(update={"connectors": connectors})
        async with running_gateway(two) as gw:

            async def carrier_bound() -> bool:
                body = (await gw.client.get("/readyz")).json()
                return bool(body["connectors"]["carrier"] is True)

            await until(carrier_bound, "the carrier's bind")
            r = await gw.client.get("/readyz")
            body = r.json()
            assert body["connectors"] == {"backup": False, "carrier": True}
            if backup_required:
                assert r.status_code == 503, r.text
                assert body["reasons"] == ["connector backup: no link up"]
                assert body["required"] == ["backup", "carrier"]
            else:
                assert r.status_code == 200, r.text
                assert body["reasons"] == []
                assert body["required"] == ["carrier"]


# --- metrics counters --------------------------------------------------------------------

REFUSED = "+33612990001"  # the SMSC answers ESME_RINVDSTADR
IGNORED = "+33612880001"  # the SMSC never answers: in doubt
GOOD = ("+33612345678", "+33612345679")


async def _status(client: httpx.AsyncClient, auth: dict[str, str], mid: str) -> str:
    r = await client.get(f"/v1/messages/{mid}", headers=auth)
    assert r.status_code == 200, r.text
    return str(r.json()["status"])


async def test_metrics_count_submits_and_link_results(settings: Settings) -> None:
    smsc_options = SmscOptions(
        port=0,
        receipt_delay_ms=20,
        reject_prefix=REFUSED[1:8],
        rules=(SmscRule(IGNORED[1:8], action=SubmitAction.IGNORE),),
    )
    async with Smsc(smsc_options) as smsc:
        # What goes unanswered fails at once (at most once), so every message ends soon.
        carrier = _smpp(
            "carrier",
            smsc.port,
            {"response_timeout": 0.5},
            in_doubt="fail",
            in_doubt_grace_seconds=0,
        )
        async with running_gateway(settings.model_copy(update={"connectors": [carrier]})) as gw:
            await until(lambda: _ready(gw), "the carrier's bind")
            accounts = gw.gateway.services.accounts
            account = await accounts.create("acme")
            auth = {"Authorization": f"Bearer {(await accounts.issue_key(account.id)).token}"}

            async def submit(to: list[str], status: int) -> list[str]:
                r = await gw.client.post(
                    "/v1/messages", json={"to": to, "text": "hi"}, headers=auth
                )
                assert r.status_code == status, r.text
                return [m["id"] for m in r.json().get("messages", [])]

            first = await submit([GOOD[0], REFUSED], 202)
            second = await submit([GOOD[1], "not a number", IGNORED], 202)
            # No recipient is a number: the submit is refused as a whole.
            await submit(["not a number"], 400)
            expected = {
                first[0]: "delivered",
                first[1]: "failed",
                second[0]: "delivered",
                second[1]: "rejected",
                second[2]: "failed",
            }

            async def all_final() -> bool:
                found = {mid: await _status(gw.client, auth, mid) for mid in expected}
                return found == expected

            await until(all_final, f"statuses {expected}")
            samples = _samples((await gw.client.get("/metrics")).text)

    def count(name: str, **labels: str) -> float:
        return samples.get((name, tuple(sorted(labels.items()))), 0.0)

    submits = "textgate_submits_total"
    assert count(submits, interface="native", outcome="accepted", code="") == 2
    assert count(submits, interface="native", outcome="rejected", code="invalid_number") == 1
    stored = "textgate_submitted_messages_total"
    assert count(stored, interface="native", status="queued", code="") == 4
    assert count(stored, interface="native", status="rejected", code="invalid_number") == 1
    links = "textgate_link_results_total"
    assert count(links, connector="carrier", result="sent", status="ok") == 2
    assert count(links, connector="carrier", result="refused", status="esme_rinvdstadr") == 1
    assert count(links, connector="carrier", result="in_doubt", status="smpp_response_timeout") == 1
    assert count("textgate_dispatch_in_doubt_total") == 1
    assert count("textgate_queue_depth") == 0


async def test_metrics_show_messages_waiting_in_doubt(settings: Settings) -> None:
    """A hand-off the carrier never answers leaves its message waiting in doubt (resent
    only after the grace): the gauge counts it among the queued ones until then."""
    rules = (SmscRule(IGNORED[1:8], action=SubmitAction.IGNORE),)
    async with Smsc(SmscOptions(port=0, receipt_delay_ms=20, rules=rules)) as smsc:
        carrier = _smpp(
            "carrier", smsc.port, {"response_timeout": 0.5}, in_doubt_grace_seconds=3600
        )
        async with running_gateway(settings.model_copy(update={"connectors": [carrier]})) as gw:
            await until(lambda: _ready(gw), "the carrier's bind")
            accounts = gw.gateway.services.accounts
            account = await accounts.create("acme")
            auth = {"Authorization": f"Bearer {(await accounts.issue_key(account.id)).token}"}
            r = await gw.client.post(
                "/v1/messages", json={"to": [GOOD[0], IGNORED], "text": "hi"}, headers=auth
            )
            assert r.status_code == 202, r.text
            good, ignored = (m["id"] for m in r.json()["messages"])

            async def gauges() -> tuple[float, float]:
                samples = _samples((await gw.client.get("/metrics")).text)
                return (
                    samples[("textgate_messages_in_doubt", ())],
                    samples[("textgate_queue_depth", ())],
                )

            async def one_in_doubt() -> bool:
                return await gauges() == (1.0, 1.0)

            await until(one_in_doubt, "one message waiting in doubt")

            async def delivered() -> bool:
                return await _status(gw.client, auth, good) == "delivered"

            await until(delivered, "the answered message's receipt")
            assert await _status(gw.client, auth, ignored) == "queued"
            assert await gauges() == (1.0, 1.0)


async def _ready(gw: Running) -> bool:
    return (await gw.client.get("/readyz")).status_code == 200


# --- stopping and logging: `textgate serve` as a real process -----------------------------

DRAIN_SECONDS = 30
"""uvicorn's wait for open connections: a stop that takes this long waited for a phone."""


async def test_sigterm_stops_serve_at_once_with_a_phone_connected(
    db_url: str, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    phones = json.dumps([{"name": "phones", "type": "android"}])
    env = gateway_env(
        db_url, tmp_path, {"TEXTGATE_HTTP__PORT": str(port), "TEXTGATE_CONNECTORS": phones}
    )
    loop = asyncio.get_running_loop()
    async with Processes(tmp_path / "logs") as procs:
        account = await create_account(env, "acme")
        server = await procs.start("serve", ["serve"], env)
        await wait_healthy(server, base)
        config = PhoneConfig(base_url=f"{base}/mobile/v1", private_token=account["api_key"])
        async with PhoneEmulator(config) as phone:
            await phone.register()
            stop = asyncio.Event()
            listening = asyncio.create_task(phone.listen(stop))
            try:
                await asyncio.wait_for(phone.subscribed.wait(), WAIT)
                started = loop.time()
                status = await server.stop(timeout=DRAIN_SECONDS + 15)
                took = loop.time() - started
                # The server ended the stream (it did not wait for the phone to hang up).
                await until(_not_subscribed(phone), "the phone's stream to end")
            finally:
                stop.set()
                await listening
    log = server.log_text()
    assert status == 0, server.log_tail()
    assert took < DRAIN_SECONDS / 3, f"stopped in {took:.1f} s\n{server.log_tail()}"
    assert "Traceback" not in log and "timeout graceful shutdown exceeded" not in log, log
    assert "Finished server process" in log


def _not_subscribed(phone: PhoneEmulator) -> Any:
    async def check() -> bool:
        return not phone.subscribed.is_set()

    return check


TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ [\w.]+: ")


@pytest.mark.parametrize("log_format", ["json", "text"])
async def test_serve_logs_in_the_one_format_chosen(
    db_url: str, tmp_path: Path, log_format: str
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    connectors = [
        {"name": "sim", "type": "simulator"},
        # A link that never binds: the gateway's own warnings, with their causes.
        {"name": "down", "type": "smpp", "options": {"host": "127.0.0.1", "port": free_port()}},
    ]
    env = gateway_env(
        db_url,
        tmp_path,
        {
            "TEXTGATE_HTTP__PORT": str(port),
            "TEXTGATE_LOG_FORMAT": log_format,
            "TEXTGATE_CONNECTORS": json.dumps(connectors),
        },
    )
    stderr_path = tmp_path / "stderr.log"
    with stderr_path.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "textgate",
            "serve",
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        async with httpx.AsyncClient(base_url=base, timeout=HTTP_TIMEOUT) as client:

            async def answering() -> bool:
                assert process.returncode is None, stderr_path.read_text()
                with contextlib.suppress(httpx.TransportError):
                    return (await client.get("/readyz")).status_code == 503
                return False

            await until(answering, "the server to answer")
            await client.get("/no/such/page")
            await client.post("/v1/messages", json={"to": "+33612345678", "text": "no key"})
        os.kill(process.pid, signal.SIGTERM)
        status = await asyncio.wait_for(process.wait(), DRAIN_SECONDS + 15)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    output = stderr_path.read_text(encoding="utf-8")
    assert status == 0, output
    lines = output.splitlines()
    assert lines and (log_format == "json" or TEXT_LINE.match(lines[0])), output
    loggers: set[str] = set()
    for line in lines:
        if log_format == "json":
            record = orjson.loads(line)  # raises on anything that is not one JSON object
            assert isinstance(record, dict) and {"time", "level", "logger", "message"} <= set(
                record
            ), line
            loggers.add(record["logger"])
        elif TEXT_LINE.match(line):
            loggers.add(line.split()[3].removesuffix(":"))
        else:  # the lines of a logged traceback; never uvicorn's own "INFO:     ..."
            assert line.startswith((" ", "Traceback", "During handling")) or ":" in line, line
            assert not re.match(r"^[A-Z]+:\s", line), line
    assert {"uvicorn.error", "textgate.connectors.smpp.links"} <= loggers, output
    assert any("Finished server process" in line for line in lines), output


async def test_bulk_submits_are_counted_one_by_one(gateway: Running) -> None:
    accounts = gateway.gateway.services.accounts
    account = await accounts.create("bulk")
    rows = [GOOD[0], "not a number", GOOD[1]]
    answers = await gateway.gateway.services.submit.submit_many(
        [SubmitRequest(account=account, recipients=[n], text="hi", interface="cli") for n in rows]
    )
    assert [type(a).__name__ for a in answers] == ["SubmitResult", "InvalidNumber", "SubmitResult"]
    samples = _samples((await gateway.client.get("/metrics")).text)
    submits = "textgate_submits_total"
    accepted = (("code", ""), ("interface", "cli"), ("outcome", "accepted"))
    refused = (("code", "invalid_number"), ("interface", "cli"), ("outcome", "rejected"))
    assert samples[(submits, accepted)] == 2
    assert samples[(submits, refused)] == 1
    queued = (("code", ""), ("interface", "cli"), ("status", "queued"))
    assert samples[("textgate_submitted_messages_total", queued)] == 2
