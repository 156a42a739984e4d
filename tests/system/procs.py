"""Run the gateway as real subprocesses (``python -m textgate ...``) for system tests.

Everything stays on 127.0.0.1. Each process writes its stdout and stderr to a log file in
the test's directory; errors raised here quote the log's tail so a failure explains itself.
:class:`Processes` makes sure no process outlives its test, whatever happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import phonenumbers
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests.support import HTTP_TIMEOUT, WAIT

__all__ = [
    "CLEAN_EXITS",
    "FINAL_STATUSES",
    "GatewayProcess",
    "Journal",
    "Processes",
    "create_account",
    "gateway_env",
    "message_statuses",
    "mobile_numbers",
    "orders_without_all_messages",
    "read_journal",
    "simulator_connectors",
    "wait_for_log",
    "wait_healthy",
    "wait_until_final",
]

CLEAN_EXITS = frozenset({0, -signal.SIGTERM})
"""Exit statuses of a graceful stop: uvicorn re-raises SIGTERM once it has shut down."""

FINAL_STATUSES = frozenset({"delivered", "undelivered", "failed", "expired"})
"""Statuses a dispatched message ends in (cancelled/rejected never apply in these tests)."""


# --- environment -------------------------------------------------------------------------


def gateway_env(
    db_url: str, data_dir: Path, settings: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The parent's environment without any ``TEXTGATE_*``, plus the given settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTGATE_")}
    env.update(
        PYTHONUNBUFFERED="1",
        TEXTGATE_DATABASE_URL=db_url,
        TEXTGATE_DATA_DIR=str(data_dir),
        TEXTGATE_DEMO_ACCOUNT="false",
    )
    env.update(settings or {})
    return env


def simulator_connectors(journal: Path | None, **options: Any) -> str:
    """``TEXTGATE_CONNECTORS``: one simulator named ``sim``, journaling to ``journal``."""
    if journal is not None:
        options["journal"] = str(journal)
    return json.dumps([{"name": "sim", "type": "simulator", "options": options}])


def mobile_numbers(count: int, *, start: int = 0) -> list[str]:
    """``count`` distinct valid French mobile numbers (+33 6 12 34 xx xx), checked."""
    if start + count > 10_000:
        raise ValueError("at most 10,000 numbers in this range")
    numbers = [f"+3361234{n:04d}" for n in range(start, start + count)]
    for number in numbers:
        if not phonenumbers.is_valid_number(phonenumbers.parse(number)):
            raise ValueError(f"{number} is not a valid number")  # pragma: no cover
    return numbers


# --- processes ---------------------------------------------------------------------------


@dataclass
class GatewayProcess:
    name: str
    process: asyncio.subprocess.Process
    log: Path
    _killed: bool = field(default=False, init=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    def log_text(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        tail = "\n".join(self.log_text().splitlines()[-lines:])
        return f"--- last lines of {self.log} ---\n{tail}"

    def _signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` with ``os.kill``, never ``Process.send_signal``.

        ``Popen.send_signal`` polls first (``waitpid(WNOHANG)``); a process that has just died
        is then reaped here, racing asyncio's child watcher thread, which is left with ECHILD
        and reports exit status 255 instead of the real one. An unreaped child keeps its pid,
        so signalling it directly is safe until the watcher has collected its status.
        """
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, sig)

    def kill_now(self) -> None:
        """SIGKILL without waiting (call :meth:`kill` later to reap the process)."""
        if not self._killed:
            self._killed = True
            self._signal(signal.SIGKILL)

    async def kill(self) -> int:
        """SIGKILL: no shutdown code runs, exactly as in a crash or an OOM kill."""
        self.kill_now()
        return await self.process.wait()

    async def stop(self, timeout: float = WAIT) -> int:
        """SIGTERM and wait for a graceful exit; SIGKILL if it does not come in time."""
        if self.process.returncode is None:
            self._signal(signal.SIGTERM)
            try:
                return await asyncio.wait_for(self.process.wait(), timeout)
            except TimeoutError:
                await self.kill()
                raise AssertionError(
                    f"{self.name} did not stop within {timeout}s of SIGTERM\n{self.log_tail()}"
                ) from None
        return self.process.returncode


@dataclass
class Processes:
    """Starts ``python -m textgate`` processes; kills and reaps every survivor on exit."""

    log_dir: Path
    started: list[GatewayProcess] = field(default_factory=list)

    async def __aenter__(self) -> Processes:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for proc in self.started:
            if proc.returncode is None:
                await proc.kill()

    async def start(self, name: str, args: Iterable[str], env: Mapping[str, str]) -> GatewayProcess:
        log = self.log_dir / f"{name}.log"
        with log.open("ab") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "textgate",
                *args,
                env=dict(env),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )
        proc = GatewayProcess(name, process, log)
        self.started.append(proc)
        return proc


async def run_cli(args: Iterable[str], env: Mapping[str, str], timeout: float = WAIT) -> str:
    """Run one CLI command to completion; return its stdout (stderr only on failure)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "textgate",
        *args,
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.communicate()
        raise AssertionError(f"textgate {' '.join(args)} took more than {timeout}s") from None
    if process.returncode != 0:
        raise AssertionError(
            f"textgate {' '.join(args)} exited with {process.returncode}:\n"
            f"{err.decode(errors='replace')}"
        )
    return out.decode()


async def create_account(env: Mapping[str, str], name: str) -> dict[str, str]:
    """``textgate account create NAME --json`` -> {"id", "name", "api_key"}."""
    out = await run_cli(["account", "create", name, "--json"], env)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    assert lines, f"no JSON in the output of account create: {out!r}"
    account: dict[str, str] = json.loads(lines[-1])
    assert account["name"] == name and account["api_key"] and account["id"], account
    return account


async def wait_healthy(proc: GatewayProcess, base_url: str, timeout: float = WAIT) -> None:
    """Wait until ``GET /healthz`` answers 200 (the lifespan, dispatcher included, is up)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with httpx.AsyncClient(base_url=base_url, timeout=HTTP_TIMEOUT) as client:
        while True:
            if proc.returncode is not None:
                raise AssertionError(
                    f"{proc.name} exited with {proc.returncode} before it was healthy\n"
                    f"{proc.log_tail()}"
                )
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/healthz")).status_code == 200:
                    return
            if loop.time() > deadline:
                raise AssertionError(f"{proc.name} not healthy after {timeout}s\n{proc.log_tail()}")
            await asyncio.sleep(0.1)


async def wait_for_log(proc: GatewayProcess, needle: str, timeout: float = WAIT) -> None:
    """Wait until ``needle`` appears in the process's log (e.g. ``worker ... running``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while needle not in proc.log_text():
        if proc.returncode is not None:
            raise AssertionError(
                f"{proc.name} exited with {proc.returncode} before logging {needle!r}\n"
                f"{proc.log_tail()}"
            )
        if loop.time() > deadline:
            raise AssertionError(f"{proc.name} did not log {needle!r} in {timeout}s")
        await asyncio.sleep(0.1)


# --- the simulator's journal -------------------------------------------------------------


@dataclass(frozen=True)
class Journal:
    ids: list[str]
    """One entry per hand-over to the simulator, in order."""
    torn: str | None
    """An unterminated last line: a write cut short by SIGKILL (a prefix of a message id)."""


def read_journal(path: Path) -> Journal:
    """The simulator's journal; a missing file means nothing was ever handed over."""
    try:
        data = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Journal([], None)
    lines = data.split("\n")
    torn = lines.pop() or None  # "" when the file ends with a newline
    return Journal([line for line in lines if line], torn)


# --- reading the database directly -------------------------------------------------------


async def _statuses(engine: AsyncEngine) -> dict[str, str]:
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT id, status FROM messages"))).all()
    return {row.id: row.status for row in rows}


async def message_statuses(db_url: str) -> dict[str, str]:
    """Every message's status, read from the database (no gateway involved)."""
    engine = create_async_engine(db_url)
    try:
        return await _statuses(engine)
    finally:
        await engine.dispose()


async def orders_without_all_messages(db_url: str) -> list[tuple[str, int, int]]:
    """Orders whose message rows are not all there: (order id, recipients, rows found)."""
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT o.id, o.recipients, COUNT(m.id) AS found FROM orders o "
                        "LEFT JOIN messages m ON m.order_id = o.id "
                        "GROUP BY o.id, o.recipients"
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    return [(r.id, r.recipients, r.found) for r in rows if r.recipients != r.found]


async def wait_until_final(db_url: str, timeout: float = WAIT) -> dict[str, str]:
    """Poll the database until every stored message is in a final status; return them all."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    engine = create_async_engine(db_url)
    try:
        while True:
            statuses = await _statuses(engine)
            pending: dict[str, int] = {}
            for status in statuses.values():
                if status not in FINAL_STATUSES:
                    pending[status] = pending.get(status, 0) + 1
            if not pending:
                return statuses
            if loop.time() > deadline:
                raise AssertionError(
                    f"after {timeout}s, {sum(pending.values())} of {len(statuses)} messages "
                    f"are still not final: {pending}"
                )
            await asyncio.sleep(0.5)
    finally:
        await engine.dispose()
