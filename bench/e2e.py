"""End-to-end benchmark of ``textgate serve``: HTTP submit throughput and delivery drain.

Run from the repository root::

    .venv/bin/python bench/e2e.py                      # both modes, default sizes
    .venv/bin/python bench/e2e.py --mode single --messages 2000   # quick run

For each mode it creates a fresh data directory, an account (``textgate account create``),
starts ``textgate serve`` as its own process on a free loopback port with the simulator
connector, warms it up, then:

* submit phase: a raw asyncio HTTP/1.1 keep-alive client (pre-encoded requests, closed loop,
  C connections) sends every message (``single``: one recipient per request; ``batch``:
  ``--batch-size`` recipients per request) and times each request;
* drain phase: polls the database read-only until every message has a final status.

It reports accepted msg/s, request latency percentiles, end-to-end delivered msg/s, the
gateway's CPU seconds per 1,000 messages (from /proc) and the load generator's own CPU use,
and exits non-zero when any request failed or messages did not all reach a final status.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import multiprocessing as mp
import os
import platform
import pstats
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, cast

import smpp_load

FINAL_STATUSES = ("delivered", "undelivered", "failed", "expired", "cancelled", "rejected")
DEFAULT_MESSAGES = {"single": 20_000, "batch": 100_000, "smpp": 20_000}
MODES = {
    "both": ["single", "batch"],
    "all": ["single", "batch", "smpp"],
    "single+smpp": ["single", "smpp"],
}
SMPP_SYSTEM_ID, SMPP_PASSWORD = "bench", "bench123"
HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")

_ACCEPTED_RE = re.compile(rb'"accepted":\s*(\d+)')
_REJECTED_RE = re.compile(rb'"rejected":\s*(\d+)')


# --------------------------------------------------------------------------- recipients


def recipients(count: int, *, offset: int = 0) -> list[str]:
    """Distinct valid French mobile numbers: +33 6 2x xx xx xx (10 million of them)."""
    if offset + count > 10_000_000:
        raise ValueError("at most 10,000,000 distinct recipients")
    return [f"+3362{i:07d}" for i in range(offset, offset + count)]


def warmup_recipients(count: int) -> list[str]:
    """Numbers for the warm-up, disjoint from the measured ones: +33 6 12 34 xx xx."""
    if count > 10_000:
        raise ValueError("at most 10,000 warm-up recipients")
    return [f"+3361234{i:04d}" for i in range(count)]


def check_numbers(numbers: Sequence[str]) -> None:
    """Validate a spread sample with phonenumbers, the library the gateway validates with."""
    import phonenumbers

    step = max(1, len(numbers) // 500)
    sample = [*numbers[::step], numbers[-1]] if numbers else []
    bad = [n for n in sample if not phonenumbers.is_valid_number(phonenumbers.parse(n))]
    if bad:
        raise SystemExit(f"generated recipients are not valid numbers: {bad[:5]}")


def message_text(i: int) -> str:
    return f"Your textgate code is {i % 1_000_000:06d}"


def build_requests(
    port: int, api_key: str, numbers: Sequence[str], per_request: int, first_text: int = 0
) -> list[bytes]:
    """Pre-encoded ``POST /v1/messages`` requests, ``per_request`` recipients each."""
    head = (
        f"POST /v1/messages HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        f"Authorization: Bearer {api_key}\r\nContent-Type: application/json\r\n"
    ).encode()
    out: list[bytes] = []
    for n, start in enumerate(range(0, len(numbers), per_request)):
        chunk = numbers[start : start + per_request]
        to: str | list[str] = chunk[0] if per_request == 1 else list(chunk)
        body = json.dumps(
            {"to": to, "text": message_text(first_text + n)}, separators=(",", ":")
        ).encode()
        out.append(head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    return out


# --------------------------------------------------------------------------- load generator


@dataclass
class LoadResult:
    requests: int = 0
    completed: int = 0
    ok: int = 0
    non_2xx: int = 0
    conn_errors: int = 0
    accepted: int = 0
    rejected: int = 0
    status_counts: dict[int, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    start_mono: float = 0.0
    end_mono: float = 0.0
    start_wall: float = 0.0
    cpu_seconds: float = 0.0
    processes: int = 1

    @property
    def failed(self) -> int:
        return self.requests - self.ok

    def merge(self, other: LoadResult) -> None:
        self.requests += other.requests
        self.completed += other.completed
        self.ok += other.ok
        self.non_2xx += other.non_2xx
        self.conn_errors += other.conn_errors
        self.accepted += other.accepted
        self.rejected += other.rejected
        for code, n in other.status_counts.items():
            self.status_counts[code] = self.status_counts.get(code, 0) + n
        self.error_samples.extend(other.error_samples[: max(0, 5 - len(self.error_samples))])
        self.latencies.extend(other.latencies)
        self.start_mono = min(self.start_mono, other.start_mono) or other.start_mono
        self.start_wall = min(self.start_wall, other.start_wall) or other.start_wall
        self.end_mono = max(self.end_mono, other.end_mono)
        self.cpu_seconds += other.cpu_seconds
        self.processes += other.processes


class _Shared:
    """Work and tallies shared by the connections of one load process."""

    def __init__(self, requests: Sequence[bytes]) -> None:
        self.requests = requests
        self.next_index = 0
        self.result = LoadResult(requests=len(requests))

    def take(self) -> bytes | None:
        i = self.next_index
        if i >= len(self.requests):
            return None
        self.next_index = i + 1
        return self.requests[i]

    def record(self, status: int, body: bytes, latency: float) -> None:
        res = self.result
        res.completed += 1
        res.latencies.append(latency)
        res.status_counts[status] = res.status_counts.get(status, 0) + 1
        if 200 <= status < 300:
            res.ok += 1
            acc = _ACCEPTED_RE.search(body)
            rej = _REJECTED_RE.search(body)
            res.accepted += int(acc.group(1)) if acc else 0
            res.rejected += int(rej.group(1)) if rej else 0
        else:
            res.non_2xx += 1
            if len(res.error_samples) < 5:
                res.error_samples.append(f"HTTP {status}: {body[:300]!r}")
        res.end_mono = time.monotonic()

    def error(self, what: str) -> None:
        res = self.result
        res.completed += 1
        res.conn_errors += 1
        if len(res.error_samples) < 5:
            res.error_samples.append(what)


class _Connection(asyncio.Protocol):
    """One keep-alive connection: send a request, read status line + Content-Length body,
    send the next one. No futures or coroutines per request."""

    def __init__(self, shared: _Shared, done: asyncio.Future[None]) -> None:
        self._shared = shared
        self._done = done
        self._transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._need = -1
        self._body_start = 0
        self._status = 0
        self._sent_at = 0.0
        self._busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def start(self) -> None:
        self._send_next()

    def _send_next(self) -> None:
        req = self._shared.take()
        if req is None:
            self._busy = False
            self._finish()
            return
        self._busy = True
        self._sent_at = time.perf_counter()
        assert self._transport is not None
        self._transport.write(req)

    def _finish(self) -> None:
        if not self._done.done():
            self._done.set_result(None)
        if self._transport is not None:
            self._transport.close()

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        if self._need < 0:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end]).lower()
            try:
                self._status = int(head[9:12])
                i = head.index(b"\r\ncontent-length:")
                j = head.find(b"\r\n", i + 2)
                length = int(head[i + 17 : j if j >= 0 else len(head)])
            except ValueError:
                self._fail(f"unparsable response head: {head[:200]!r}")
                return
            self._body_start = end + 4
            self._need = self._body_start + length
        if len(buf) < self._need:
            return
        body = bytes(buf[self._body_start : self._need])
        del buf[: self._need]
        self._need = -1
        self._busy = False
        self._shared.record(self._status, body, time.perf_counter() - self._sent_at)
        if buf:
            self._fail("unexpected bytes after a response")
            return
        self._send_next()

    def _fail(self, what: str) -> None:
        if self._busy:
            self._shared.error(what)
            self._busy = False
        self._finish()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._busy:
            self._shared.error(f"connection lost: {exc!r}")
            self._busy = False
        if not self._done.done():
            self._done.set_result(None)

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()


async def _drive(
    port: int,
    requests: Sequence[bytes],
    connections: int,
    max_seconds: float,
    before_start: Callable[[], None],
) -> LoadResult:
    loop = asyncio.get_running_loop()
    shared = _Shared(requests)
    conns: list[_Connection] = []
    dones: list[asyncio.Future[None]] = []
    for _ in range(min(connections, len(requests))):
        done: asyncio.Future[None] = loop.create_future()
        _, proto = await loop.create_connection(
            functools.partial(_Connection, shared, done), HOST, port
        )
        conns.append(proto)
        dones.append(done)
    before_start()
    cpu0 = time.process_time()
    shared.result.start_wall = time.time()
    shared.result.start_mono = time.monotonic()
    for conn in conns:
        conn.start()
    try:
        await asyncio.wait_for(asyncio.gather(*dones), max_seconds)
    except TimeoutError:
        for conn in conns:
            conn.abort()
        shared.error(f"submit phase timed out after {max_seconds:.0f}s")
    res = shared.result
    res.cpu_seconds = time.process_time() - cpu0
    if not res.end_mono:
        res.end_mono = time.monotonic()
    return res


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency of uvicorn[standard]
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run_load_inline(
    port: int, requests: Sequence[bytes], connections: int, timeout: float
) -> LoadResult:
    loop = _new_loop()
    try:
        return loop.run_until_complete(_drive(port, requests, connections, timeout, lambda: None))
    finally:
        loop.close()


def _load_process(
    port: int,
    requests: list[bytes],
    connections: int,
    timeout: float,
    ready: Any,
    go: Any,
    results: Any,
) -> None:
    def barrier() -> None:
        ready.put(os.getpid())
        go.wait()

    loop = _new_loop()
    try:
        res = loop.run_until_complete(_drive(port, requests, connections, timeout, barrier))
    except BaseException as exc:
        res = LoadResult(requests=len(requests), conn_errors=len(requests))
        res.error_samples.append(f"load process failed: {exc!r}")
        ready.put(os.getpid())
    finally:
        loop.close()
    results.put(asdict(res))


def run_load(
    port: int, requests: Sequence[bytes], connections: int, processes: int, timeout: float
) -> LoadResult:
    """Send every request over ``connections`` keep-alive connections, spread over
    ``processes`` load processes (1: in this process)."""
    if processes <= 1:
        return run_load_inline(port, requests, connections, timeout)
    ctx = mp.get_context("spawn")
    ready, results = ctx.Queue(), ctx.Queue()
    go = ctx.Event()
    procs = []
    for p in range(processes):
        share = connections // processes + (1 if p < connections % processes else 0)
        proc = ctx.Process(
            target=_load_process,
            args=(port, list(requests[p::processes]), share, timeout, ready, go, results),
            daemon=True,
        )
        proc.start()
        procs.append(proc)
    for _ in procs:
        ready.get(timeout=60)
    go.set()
    merged: LoadResult | None = None
    for _ in procs:
        part = LoadResult(**results.get(timeout=timeout + 60))
        part.status_counts = {int(k): v for k, v in part.status_counts.items()}
        if merged is None:
            merged = part
        else:
            merged.merge(part)
    for proc in procs:
        proc.join(10)
    assert merged is not None
    return merged


# --------------------------------------------------------------------------- the gateway


def wait_quiet(max_seconds: float, exclude: set[int], cores: float = 0.15) -> float:
    """Wait (at most ``max_seconds``) for a 1 s window in which processes other than
    ``exclude`` use less than ``cores`` of the machine; return the seconds waited."""
    start = time.monotonic()
    warned = False
    while True:
        busy0, procs0 = machine_busy(), {p: proc_cpu(p) for p in exclude}
        time.sleep(1.0)
        ours = 0.0
        for p in exclude:
            with contextlib.suppress(OSError):
                ours += proc_cpu(p) - procs0[p]
        others = machine_busy() - busy0 - ours
        waited = time.monotonic() - start
        if others < cores or waited >= max_seconds:
            if others >= cores:
                print(f"    machine still busy ({others:.2f} cores), going on", file=sys.stderr)
            return waited
        if not warned:
            print(f"    waiting for a quiet machine ({others:.2f} cores busy)", file=sys.stderr)
            warned = True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def machine_busy() -> float:
    """CPU seconds spent busy by the whole machine (all cores) since boot, from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def all_processes_cpu() -> dict[int, tuple[str, float]]:
    """pid -> (command name, CPU seconds) for every process we can read."""
    out: dict[int, tuple[str, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                raw = fh.read()
        except OSError:
            continue
        comm = raw[raw.find("(") + 1 : raw.rfind(")")]
        fields = raw.rsplit(")", 1)[1].split()
        out[int(entry)] = (comm, (int(fields[11]) + int(fields[12])) / CLK_TCK)
    return out


def others_cpu(
    before: dict[int, tuple[str, float]],
    after: dict[int, tuple[str, float]],
    exclude: set[int],
    count: int = 3,
) -> tuple[float, list[tuple[str, float]]]:
    """Between two snapshots: CPU of the PostgreSQL server processes, and the processes
    other than ``exclude`` and PostgreSQL that used the most."""
    used = []
    postgres = 0.0
    for pid, (comm, cpu) in after.items():
        if pid in exclude:
            continue
        delta = cpu - before.get(pid, (comm, 0.0))[1]
        if comm.startswith("postgres"):
            postgres += delta
        elif delta >= 0.05:
            used.append((f"{comm}[{pid}]", delta))
    return postgres, sorted(used, key=lambda kv: -kv[1])[:count]


def proc_cpu(pid: int | str, task: int | str | None = None) -> float:
    """utime + stime of a process (or one of its threads), in seconds."""
    path = f"/proc/{pid}/stat" if task is None else f"/proc/{pid}/task/{task}/stat"
    with open(path, encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


@dataclass(frozen=True)
class CpuSnapshot:
    total: float
    main_thread: float

    def __sub__(self, other: CpuSnapshot) -> CpuSnapshot:
        return CpuSnapshot(self.total - other.total, self.main_thread - other.main_thread)


class SmscProcess:
    """``textgate smsc`` (the SMSC simulator) in its own process, for runs through SMPP."""

    def __init__(
        self, data_dir: Path, env: dict[str, str], port: int, delay_ms: float, window: int
    ) -> None:
        self.env, self.port, self.delay_ms, self.window = env, port, delay_ms, window
        self.log_path = data_dir / "smsc.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> SmscProcess:
        cmd = [
            sys.executable,
            "-m",
            "textgate",
            "smsc",
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--receipt-delay-ms",
            str(int(self.delay_ms)),
            # Receipts come back through a window as large as the gateway's for submits.
            "--window",
            str(self.window),
            "--no-record",
            "--log-level",
            "WARNING",
        ]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"textgate smsc exited: {self.log_path.read_text()[-2000:]}")
            try:
                with socket.create_connection((HOST, self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("textgate smsc did not start listening")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Gateway:
    """``textgate serve`` in its own process, with its own environment and log file."""

    def __init__(
        self,
        data_dir: Path,
        env: dict[str, str],
        port: int,
        *,
        profile: Path | None = None,
        profile_clock: str = "wall",
        stop_timeout: float = 60.0,
    ) -> None:
        self.data_dir = data_dir
        self.env = env
        self.port = port
        self.profile = profile
        self.profile_clock = profile_clock
        self.stop_timeout = stop_timeout
        self.log_path = data_dir / "gateway.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Gateway:
        if self.profile is None:
            cmd = [sys.executable, "-m", "textgate", "serve"]
        else:
            wrapper = Path(__file__).resolve().with_name("profile_gateway.py")
            cmd = [sys.executable, str(wrapper), str(self.profile), "--clock", self.profile_clock]
            cmd.append("--on-signal")
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.data_dir
            )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def wait_healthy(self, timeout: float = 60.0) -> None:
        url = f"http://{HOST}:{self.port}/healthz"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.proc.returncode}\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"gateway not healthy after {timeout:.0f}s\n{self.log_tail()}")

    def profiling(self, on: bool) -> None:
        """Switch the gateway's profiler on or off (no-op when not profiling)."""
        if self.profile is not None and self.proc is not None:
            self.proc.send_signal(signal.SIGUSR1 if on else signal.SIGUSR2)

    def cpu(self) -> CpuSnapshot:
        return CpuSnapshot(proc_cpu(self.pid), proc_cpu(self.pid, self.pid))

    def threads(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/task"))

    def memory_kib(self) -> tuple[int, int]:
        """(VmRSS, VmHWM) of the gateway: its resident set now and at its peak, in KiB."""
        found = {"VmRSS:": 0, "VmHWM:": 0}
        with open(f"/proc/{self.pid}/status", encoding="ascii") as fh:
            for line in fh:
                name = line.split(maxsplit=1)[0] if line.strip() else ""
                if name in found:
                    found[name] = int(line.split()[1])
        return found["VmRSS:"], found["VmHWM:"]

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited within ``stop_timeout``.

        Under cProfile it gets SIGINT instead: uvicorn shuts down, then re-raises the signal
        it caught; SIGTERM's default action would kill the process before cProfile writes
        its file, while SIGINT becomes a KeyboardInterrupt that lets cProfile finish.
        """
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGINT if self.profile is not None else signal.SIGTERM)
        try:
            return self.proc.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            print(f"gateway did not stop in {self.stop_timeout:.0f}s: SIGKILL", file=sys.stderr)
            self.proc.kill()
            return self.proc.wait()

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def gateway_env(
    args: argparse.Namespace,
    data_dir: Path,
    port: int,
    smsc_port: int | None = None,
    smpp_in_port: int | None = None,
) -> dict[str, str]:
    """The parent's environment without any TEXTGATE_* variable, plus the benchmark's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTGATE_")}
    env.update(
        TEXTGATE_DATA_DIR=str(data_dir),
        TEXTGATE_HTTP__HOST=HOST,
        TEXTGATE_HTTP__PORT=str(port),
        TEXTGATE_LOG_LEVEL="WARNING",
        TEXTGATE_DEMO_ACCOUNT="false",
        # Every run has its own data dir but may share one PostgreSQL database (--database-url),
        # whose processes must all have one secret_key.
        TEXTGATE_SECRET_KEY="textgate-bench",
        TEXTGATE_CONNECTORS=json.dumps(
            [
                {
                    "name": "sim",
                    "type": "simulator",
                    "options": {"report_delay_ms": args.report_delay_ms},
                }
                if smsc_port is None
                else {
                    # One transceiver bind (window 50 by default) to the SMSC simulator.
                    "name": "smsc",
                    "type": "smpp",
                    "options": {
                        "host": HOST,
                        "port": smsc_port,
                        "system_id": "textgate",
                        "password": "textgate",
                        "window": args.smpp_window,
                    },
                }
            ]
        ),
    )
    if args.database_url:
        env["TEXTGATE_DATABASE_URL"] = args.database_url
    if smpp_in_port is not None:
        # Customers bind here (the smpp mode); its window is as large as theirs.
        env.update(
            TEXTGATE_SMPP_SERVER__ENABLED="true",
            TEXTGATE_SMPP_SERVER__HOST=HOST,
            TEXTGATE_SMPP_SERVER__PORT=str(smpp_in_port),
            TEXTGATE_SMPP_SERVER__WINDOW=str(args.smpp_window),
        )
    if args.submit_only:
        env["TEXTGATE_RUN_DISPATCHER"] = "false"
    if args.price is not None:
        env["TEXTGATE_PRICING__DEFAULT_PRICE"] = str(args.price)
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep or not key.startswith("TEXTGATE_"):
            raise SystemExit(f"--env wants TEXTGATE_NAME=VALUE, got {item!r}")
        env[key] = value
    return env


def textgate_cli(env: dict[str, str], *argv: str, stdin: str | None = None) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "textgate", *argv],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"textgate {' '.join(argv)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


# --------------------------------------------------------------------------- status polling


class StatusCounter(Protocol):
    def final_count(self) -> int: ...
    def last_final_ms(self) -> int | None: ...
    def breakdown(self) -> dict[str, int]: ...
    def close(self) -> None: ...


_FINAL_IN = ",".join("?" * len(FINAL_STATUSES))


class SqliteCounter:
    """Reads the gateway's SQLite file read-only with the stdlib driver."""

    def __init__(self, path: Path, account_id: str) -> None:
        self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        self._account = account_id

    def final_count(self) -> int:
        row = self._db.execute(
            f"SELECT count(*) FROM messages WHERE account_id = ? AND status IN ({_FINAL_IN})",  # noqa: S608
            (self._account, *FINAL_STATUSES),
        ).fetchone()
        return int(row[0])

    def last_final_ms(self) -> int | None:
        row = self._db.execute(
            "SELECT max(updated_at) FROM messages"  # noqa: S608 (placeholders only)
            f" WHERE account_id = ? AND status IN ({_FINAL_IN})",
            (self._account, *FINAL_STATUSES),
        ).fetchone()
        return None if row[0] is None else int(row[0])

    def breakdown(self) -> dict[str, int]:
        rows = self._db.execute(
            "SELECT status, count(*) FROM messages WHERE account_id = ? GROUP BY status",
            (self._account,),
        ).fetchall()
        return {str(s): int(n) for s, n in rows}

    def close(self) -> None:
        self._db.close()


class PostgresCounter:
    """The same queries through asyncpg, on a private event loop."""

    def __init__(self, url: str, account_id: str) -> None:
        import asyncpg  # type: ignore[import-untyped]

        scheme, sep, rest = url.partition("://")
        dsn = scheme.split("+", 1)[0] + sep + rest
        self._loop = asyncio.new_event_loop()
        self._conn = self._loop.run_until_complete(asyncpg.connect(dsn))
        self._account = account_id

    def _val(self, sql: str) -> Any:
        return self._loop.run_until_complete(
            self._conn.fetchval(sql, self._account, list(FINAL_STATUSES))
        )

    def final_count(self) -> int:
        return int(
            self._val("SELECT count(*) FROM messages WHERE account_id = $1 AND status = ANY($2)")
        )

    def last_final_ms(self) -> int | None:
        value = self._val(
            "SELECT max(updated_at) FROM messages WHERE account_id = $1 AND status = ANY($2)"
        )
        return None if value is None else int(value)

    def breakdown(self) -> dict[str, int]:
        rows = self._loop.run_until_complete(
            self._conn.fetch(
                "SELECT status, count(*) FROM messages WHERE account_id = $1 GROUP BY status",
                self._account,
            )
        )
        return {str(r[0]): int(r[1]) for r in rows}

    def close(self) -> None:
        self._loop.run_until_complete(self._conn.close())
        self._loop.close()


def wait_final(
    counter: StatusCounter, expected: int, timeout: float, *, progress: bool = False
) -> tuple[int, float]:
    """Poll every 100 ms until ``expected`` messages are final; (final count, wall time seen)."""
    deadline = time.monotonic() + timeout
    last_print = 0.0
    while True:
        done = counter.final_count()
        now = time.time()
        if done >= expected or time.monotonic() >= deadline:
            return done, now
        if progress and time.monotonic() - last_print >= 2.0:
            last_print = time.monotonic()
            print(f"    ... {done:,}/{expected:,} final", file=sys.stderr, flush=True)
        time.sleep(0.1)


# --------------------------------------------------------------------------- one mode


@dataclass
class ModeResult:
    mode: str
    messages: int
    per_request: int
    requests: int
    connections: int
    load_processes: int
    database: str
    submit_seconds: float = 0.0
    accepted: int = 0
    rejected: int = 0
    ok_requests: int = 0
    non_2xx: int = 0
    conn_errors: int = 0
    status_counts: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    latency_ms: dict[str, float] = field(default_factory=dict)
    final_at_submit_end: int = 0
    final: int = 0
    e2e_seconds: float = 0.0
    e2e_seconds_polled: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    gateway_cpu_submit: float = 0.0
    gateway_cpu_total: float = 0.0
    gateway_main_thread_cpu: float = 0.0
    gateway_threads: int = 0
    gateway_rss_start_kib: int = 0
    """After the warm-up, before the measured load."""
    gateway_rss_end_kib: int = 0
    """Once every message is final."""
    gateway_rss_peak_kib: int = 0
    """The most the gateway ever held (VmHWM), start-up included."""
    loadgen_cpu: float = 0.0
    poller_cpu: float = 0.0
    machine_busy: float = 0.0
    top_other_processes: list[tuple[str, float]] = field(default_factory=list)
    postgres_cpu: float = 0.0
    """CPU seconds of the PostgreSQL server processes (part of the system under test)."""
    """Busy CPU seconds of the whole machine from submit start to last final status."""
    profile_path: str | None = None
    submit_only: bool = False
    quiet_wait: float = 0.0
    """Seconds spent waiting for other processes to quieten down (``--wait-quiet``)."""

    @property
    def accepted_rate(self) -> float:
        return self.accepted / self.submit_seconds if self.submit_seconds else 0.0

    @property
    def request_rate(self) -> float:
        return self.ok_requests / self.submit_seconds if self.submit_seconds else 0.0

    @property
    def delivered_rate(self) -> float:
        return self.final / self.e2e_seconds if self.e2e_seconds else 0.0

    @property
    def other_cpu(self) -> float:
        """Machine CPU not used by the gateway or this benchmark during the run: noise."""
        ours = self.gateway_cpu_total + self.loadgen_cpu + self.poller_cpu
        return max(0.0, self.machine_busy - ours - self.postgres_cpu)

    @property
    def run_seconds(self) -> float:
        return self.submit_seconds if self.submit_only else self.e2e_seconds

    @property
    def all_final(self) -> bool:
        return self.final >= self.messages

    @property
    def passed(self) -> bool:
        return (
            self.non_2xx == 0
            and self.conn_errors == 0
            and self.ok_requests == self.requests
            and self.accepted == self.messages
            and (self.submit_only or self.all_final)
        )


def percentiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {}
    data = sorted(values)

    def at(q: float) -> float:
        return data[min(len(data) - 1, round(q * (len(data) - 1)))] * 1000

    return {
        "p50": at(0.50),
        "p90": at(0.90),
        "p99": at(0.99),
        "max": data[-1] * 1000,
        "mean": sum(data) / len(data) * 1000,
    }


class Submitter:
    """The submit phase's client: HTTP requests (``single``, ``batch``) or SMPP binds
    (``smpp``: customers of the gateway's SMPP server, ``--smpp-binds`` transmitter binds
    with ``--smpp-window`` submit_sm outstanding on each)."""

    def __init__(self, args: argparse.Namespace, port: int, smpp_in_port: int | None) -> None:
        self.args, self.port, self.smpp_in_port = args, port, smpp_in_port

    def prepare(self, api_key: str, numbers: Sequence[str], per_request: int) -> list[bytes]:
        if self.smpp_in_port is None:
            return build_requests(self.port, api_key, numbers, per_request)
        return [
            smpp_load.submit_sm_body("bench", number, message_text(i))
            for i, number in enumerate(numbers)
        ]

    def run(self, work: Sequence[bytes], *, processes: int | None = None) -> LoadResult:
        a = self.args
        if self.smpp_in_port is None:
            procs = a.load_processes if processes is None else processes
            return run_load(self.port, work, a.connections, procs, a.submit_timeout)
        loop = _new_loop()
        try:
            got = loop.run_until_complete(
                smpp_load.run_smpp_load(
                    HOST,
                    self.smpp_in_port,
                    SMPP_SYSTEM_ID,
                    SMPP_PASSWORD,
                    work,
                    binds=a.smpp_binds,
                    window=a.smpp_window,
                    max_seconds=a.submit_timeout,
                )
            )
        finally:
            loop.close()
        answered = got.accepted + sum(got.refused.values())
        return LoadResult(
            requests=len(work),
            completed=answered,
            ok=got.accepted,
            # A submit_sm refused is this mode's non-2xx response.
            non_2xx=sum(got.refused.values()),
            conn_errors=len(got.errors) + (len(work) - answered),
            accepted=got.accepted,
            status_counts={0: got.accepted} | got.refused,
            error_samples=[f"submit_sm_resp 0x{s:08X} x{n}" for s, n in got.refused.items()]
            + got.errors[:5],
            latencies=got.latencies,
            start_mono=got.start_mono,
            end_mono=got.end_mono,
            start_wall=got.start_wall,
            cpu_seconds=got.cpu_seconds,
        )

    def warm_up(self, api_key: str, numbers: Sequence[str]) -> LoadResult:
        return self.run(self.prepare(api_key, numbers, 1), processes=1)


def run_mode(args: argparse.Namespace, mode: str) -> ModeResult:
    n = args.messages or DEFAULT_MESSAGES[mode]
    per_request = args.batch_size if mode == "batch" else 1
    numbers = recipients(n)
    check_numbers(numbers)
    data_dir = Path(tempfile.mkdtemp(prefix=f"textgate-bench-{mode}-", dir=args.tmp_root))
    port = free_port()
    smsc_port = free_port() if args.connector == "smpp" else None
    smpp_in_port = free_port() if mode == "smpp" else None
    env = gateway_env(args, data_dir, port, smsc_port, smpp_in_port)
    submit = Submitter(args, port, smpp_in_port)
    result = ModeResult(
        mode=mode,
        messages=n,
        per_request=per_request,
        requests=-(-n // per_request),
        connections=args.smpp_binds if mode == "smpp" else args.connections,
        load_processes=1 if mode == "smpp" else args.load_processes,
        database="PostgreSQL" if args.database_url else "SQLite",
        submit_only=args.submit_only,
    )
    print(
        f"\n== {mode}: {n:,} messages, {per_request} per request, {result.requests:,} requests, "
        f"{args.connections} connections, {args.load_processes} load process(es); "
        f"data dir {data_dir}",
        file=sys.stderr,
        flush=True,
    )
    counter: StatusCounter | None = None
    profile = data_dir / "gateway.prof" if args.profile else None
    try:
        if args.database_url:
            textgate_cli(env, "migrate")
        name = f"bench-{mode}-{int(time.time())}-{os.getpid()}"
        account = json.loads(
            textgate_cli(env, "account", "create", name, "--json").splitlines()[-1]
        )
        if not args.no_rules_setup:
            # The default daily limit (100,000, seed 000) would refuse the end of a large run.
            textgate_cli(env, "account", "set", name, "daily_limit=1000000000")
        if mode == "smpp":
            textgate_cli(
                env,
                "account",
                "smpp-login",
                name,
                "--system-id",
                SMPP_SYSTEM_ID,
                "--password-stdin",
                stdin=SMPP_PASSWORD + "\n",
            )
        if args.price is not None:
            # Every message is charged: enough credit for all of them, and the rules that
            # read counters under lock (balance, daily usage, opt-outs) all take part.
            textgate_cli(env, "account", "credit", name, str(float(args.price) * (n + 10_000)))
        smsc = (
            SmscProcess(data_dir, env, smsc_port, args.report_delay_ms, args.smpp_window)
            if smsc_port is not None
            else contextlib.nullcontext()
        )
        with (
            smsc,
            Gateway(data_dir, env, port, profile=profile, profile_clock=args.profile_clock) as gw,
        ):
            gw.wait_healthy()
            if args.database_url:
                counter = PostgresCounter(args.database_url, account["id"])
            else:
                counter = SqliteCounter(data_dir / "textgate.db", account["id"])

            # Warm-up: imports, caches, connection pools; then wait until it has drained.
            warm = warmup_recipients(args.warmup)
            if warm:
                wres = submit.warm_up(account["api_key"], warm)
                if wres.failed:
                    raise RuntimeError(f"warm-up failed: {wres.error_samples}")
                if not args.submit_only:
                    got, _ = wait_final(counter, len(warm), args.drain_timeout)
                    if got < len(warm):
                        raise RuntimeError(f"warm-up: only {got}/{len(warm)} became final")
            final_base = 0 if args.submit_only else len(warm)

            work = submit.prepare(account["api_key"], numbers, per_request)
            if args.wait_quiet > 0:
                result.quiet_wait = wait_quiet(args.wait_quiet, {gw.pid, os.getpid()})
            gw.profiling(True)
            cpu0 = gw.cpu()
            result.gateway_rss_start_kib = gw.memory_kib()[0]
            busy0 = machine_busy()
            procs0 = all_processes_cpu()
            load = submit.run(work)
            cpu_submit = gw.cpu()
            poll_cpu0 = time.process_time()
            result.final_at_submit_end = counter.final_count() - final_base
            if args.submit_only:
                final, seen_wall = counter.final_count(), time.time()
            else:
                final, seen_wall = wait_final(
                    counter, n + final_base, args.drain_timeout, progress=not args.quiet
                )
            cpu_end = gw.cpu()
            result.gateway_rss_end_kib, result.gateway_rss_peak_kib = gw.memory_kib()
            gw.profiling(False)
            result.machine_busy = machine_busy() - busy0
            result.postgres_cpu, result.top_other_processes = others_cpu(
                procs0, all_processes_cpu(), {gw.pid, os.getpid()}
            )
            result.poller_cpu = time.process_time() - poll_cpu0
            result.final = final - final_base
            last_ms = counter.last_final_ms()
            result.statuses = counter.breakdown()
            result.gateway_threads = gw.threads()

        result.submit_seconds = load.end_mono - load.start_mono
        result.accepted = load.accepted
        result.rejected = load.rejected
        result.ok_requests = load.ok
        result.non_2xx = load.non_2xx
        result.conn_errors = load.conn_errors + (load.requests - load.completed)
        result.status_counts = {str(k): v for k, v in sorted(load.status_counts.items())}
        result.error_samples = load.error_samples
        result.latency_ms = percentiles(load.latencies)
        result.loadgen_cpu = load.cpu_seconds
        result.load_processes = load.processes
        result.e2e_seconds_polled = seen_wall - load.start_wall
        if args.submit_only:
            result.e2e_seconds = 0.0
        elif last_ms is not None and result.all_final:
            result.e2e_seconds = last_ms / 1000 - load.start_wall
        else:
            result.e2e_seconds = result.e2e_seconds_polled
        d_submit = cpu_submit - cpu0
        d_total = cpu_end - cpu0
        result.gateway_cpu_submit = d_submit.total
        result.gateway_cpu_total = d_total.total
        result.gateway_main_thread_cpu = d_total.main_thread
        if profile is not None and profile.exists():
            result.profile_path = str(profile)
            print_profile(profile, args.profile_top)
    except Exception:
        log = data_dir / "gateway.log"
        if log.exists():
            print("--- gateway log (tail) ---", file=sys.stderr)
            print("\n".join(log.read_text(errors="replace").splitlines()[-30:]), file=sys.stderr)
        raise
    finally:
        if counter is not None:
            counter.close()
        if args.keep_dir:
            print(f"kept {data_dir}", file=sys.stderr)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    return result


def _package_of(filename: str) -> str:
    """Group a profile entry: textgate subpackage, third-party package, stdlib module, C."""
    if filename == "~":
        return "(C functions and methods)"
    path = filename.replace("\\", "/")
    if "/site-packages/" in path:
        return path.split("/site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if "/textgate/" in path:
        parts = path.rsplit("/textgate/", 1)[1].split("/")
        return "textgate." + (parts[0] if len(parts) > 1 else parts[0].removesuffix(".py"))
    if "/lib/python3" in path:
        rest = path.split("/lib/python3", 1)[1].split("/", 2)
        return "stdlib." + (rest[1].removesuffix(".py") if len(rest) > 1 else "?")
    return path


def print_profile(path: Path, top: int) -> None:
    """Top entries by cumulative and own time, own time per package, textgate's functions."""
    stats = pstats.Stats(str(path))
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for _, _, tt, _, _ in raw.values()) or 1.0
    print(f"\n--- gateway profile ({path}): {total:.2f} s of profiled own time ---")
    for sort, title in (("cumulative", "cumulative time"), ("tottime", "own time")):
        print(f"\n--- gateway profile: top {top} by {title} ---")
        pstats.Stats(str(path)).strip_dirs().sort_stats(sort).print_stats(top)
    # Own time per package; a C function's time goes to the package that called it
    # (``isinstance`` called by fastapi is fastapi's cost), split by call edge.
    by_package: dict[str, float] = {}
    for (filename, _, _), (_, _, tt, _, callers) in raw.items():
        if filename != "~" or not callers:
            pkg = _package_of(filename)
            by_package[pkg] = by_package.get(pkg, 0.0) + tt
            continue
        for (caller_file, _, _), edge in callers.items():
            pkg = _package_of(caller_file)
            by_package[pkg] = by_package.get(pkg, 0.0) + edge[2]
    print("--- gateway profile: own time by package (C calls counted to their caller) ---")
    for pkg, tt in sorted(by_package.items(), key=lambda kv: -kv[1])[:top]:
        print(f"{tt:9.3f} s {100 * tt / total:5.1f}%  {pkg}")
    ours = [
        (ct, tt, nc, f"{fn.rsplit('/textgate/', 1)[1]}:{line}({func})")
        for (fn, line, func), (_, nc, tt, ct, _) in raw.items()
        if _package_of(fn).startswith("textgate")
    ]
    print(f"\n--- gateway profile: textgate functions, top {top} by cumulative time ---")
    print("   cumtime        share   tottime     ncalls  function")
    for ct, tt, nc, name in sorted(ours, reverse=True)[:top]:
        print(f"{ct:9.3f} s {100 * ct / total:5.1f}%  {tt:9.3f} {nc:10d}  {name}")


# --------------------------------------------------------------------------- report


def rows(results: Sequence[ModeResult]) -> Iterator[tuple[str, list[str]]]:
    def each(fmt: Callable[[ModeResult], str]) -> list[str]:
        return [fmt(r) for r in results]

    def lat(key: str) -> Callable[[ModeResult], str]:
        return lambda r: f"{r.latency_ms.get(key, 0):,.1f}"

    def per_k(value: Callable[[ModeResult], float]) -> Callable[[ModeResult], str]:
        return lambda r: f"{value(r) / r.messages * 1000:.3f}" if r.messages else "-"

    yield "database", each(lambda r: r.database)
    yield "messages", each(lambda r: f"{r.messages:,}")
    yield "recipients per request", each(lambda r: str(r.per_request))
    yield "requests", each(lambda r: f"{r.requests:,}")
    yield "connections", each(lambda r: str(r.connections))
    yield "load processes", each(lambda r: str(r.load_processes))
    yield "submit phase (s)", each(lambda r: f"{r.submit_seconds:.2f}")
    yield "ACCEPTED msg/s", each(lambda r: f"{r.accepted_rate:,.0f}")
    yield "requests/s", each(lambda r: f"{r.request_rate:,.0f}")
    yield "latency p50 (ms)", each(lat("p50"))
    yield "latency p90 (ms)", each(lat("p90"))
    yield "latency p99 (ms)", each(lat("p99"))
    yield "latency max (ms)", each(lat("max"))
    yield "non-2xx responses", each(lambda r: str(r.non_2xx))
    yield "connection errors", each(lambda r: str(r.conn_errors))
    yield "accepted / rejected", each(lambda r: f"{r.accepted:,} / {r.rejected:,}")
    yield "final at submit end", each(lambda r: f"{r.final_at_submit_end:,}")
    yield "final (all)", each(lambda r: f"{r.final:,}")
    yield (
        "first submit -> last final (s)",
        each(lambda r: "-" if r.submit_only else f"{r.e2e_seconds:.2f}"),
    )
    yield (
        "DELIVERED msg/s end to end",
        each(lambda r: "- (no dispatcher)" if r.submit_only else f"{r.delivered_rate:,.0f}"),
    )
    yield "gateway CPU s (submit phase)", each(lambda r: f"{r.gateway_cpu_submit:.2f}")
    yield (
        "gateway CPU % (submit phase)",
        each(
            lambda r: (
                f"{100 * r.gateway_cpu_submit / r.submit_seconds:.0f}" if r.submit_seconds else "-"
            )
        ),
    )
    yield "gateway CPU s (total)", each(lambda r: f"{r.gateway_cpu_total:.2f}")
    yield (
        "gateway RSS start / end / peak (MiB)",
        each(
            lambda r: (
                f"{r.gateway_rss_start_kib / 1024:.0f} / {r.gateway_rss_end_kib / 1024:.0f}"
                f" / {r.gateway_rss_peak_kib / 1024:.0f}"
            )
        ),
    )
    yield "  of which main thread", each(lambda r: f"{r.gateway_main_thread_cpu:.2f}")
    yield "GATEWAY CPU s / 1,000 msgs", each(per_k(lambda r: r.gateway_cpu_total))
    if any(r.database == "PostgreSQL" for r in results):
        yield "PostgreSQL server CPU s", each(lambda r: f"{r.postgres_cpu:.2f}")
        yield (
            "gateway + PostgreSQL CPU s / 1,000",
            each(per_k(lambda r: r.gateway_cpu_total + r.postgres_cpu)),
        )
    yield "load generator CPU s", each(lambda r: f"{r.loadgen_cpu:.2f}")
    yield (
        "load generator CPU % (submit)",
        each(
            lambda r: f"{100 * r.loadgen_cpu / r.submit_seconds:.0f}" if r.submit_seconds else "-"
        ),
    )
    yield "load gen CPU s / 1,000 msgs", each(per_k(lambda r: r.loadgen_cpu))
    yield "status poller CPU s", each(lambda r: f"{r.poller_cpu:.2f}")
    yield "other processes CPU s (noise)", each(lambda r: f"{r.other_cpu:.2f}")
    yield (
        "final statuses",
        each(lambda r: ", ".join(f"{k}={v:,}" for k, v in sorted(r.statuses.items()))),
    )
    yield "result", each(lambda r: "PASS" if r.passed else "FAIL")


def print_table(results: Sequence[ModeResult]) -> None:
    table = list(rows(results))
    header = ["", *(r.mode for r in results)]
    width0 = max(len(h) for h, _ in table)
    widths = [max(len(header[i + 1]), *(len(v[i]) for _, v in table)) for i in range(len(results))]
    line = "  ".join(["-" * width0, *("-" * w for w in widths)])
    print()
    print(
        "  ".join(
            [
                header[0].ljust(width0),
                *(h.rjust(w) for h, w in zip(header[1:], widths, strict=True)),
            ]
        )
    )
    print(line)
    for name, values in table:
        print(
            "  ".join(
                [name.ljust(width0), *(v.rjust(w) for v, w in zip(values, widths, strict=True))]
            )
        )
    for r in results:
        for sample in r.error_samples:
            print(f"[{r.mode}] error: {sample}")
        if not r.submit_only and set(r.statuses) - set(FINAL_STATUSES):
            print(f"[{r.mode}] messages not final: {r.statuses}")
        if r.run_seconds and r.other_cpu > max(0.5, 0.1 * r.run_seconds):
            print(
                f"[{r.mode}] warning: other processes used {r.other_cpu:.1f} CPU-s during the "
                f"{r.run_seconds:.1f} s run ({100 * r.other_cpu / r.run_seconds:.0f}% of a core);"
                " the figures are pessimistic"
            )
            busiest = ", ".join(f"{n} {c:.1f} s" for n, c in r.top_other_processes)
            print(f"[{r.mode}] busiest other processes: {busiest or '-'}")


def machine_summary() -> str:
    cpu = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{platform.node()} {platform.system()} {platform.release()}, {os.cpu_count()} CPU "
        f"({cpu}), Python {platform.python_version()}"
    )


def code_version() -> str:
    """The commit under test, and whether src/ differs from it."""
    root = Path(__file__).resolve().parent.parent

    def git(*argv: str) -> str:
        proc = subprocess.run(
            ["git", *argv], cwd=root, capture_output=True, text=True, timeout=30, check=False
        )
        return proc.stdout.strip() if proc.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "src")
    changed = len(dirty.splitlines())
    return commit + (f" + {changed} uncommitted change(s) under src/" if changed else "")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="End-to-end benchmark of textgate serve (submit throughput and delivery).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--mode",
        choices=("single", "batch", "smpp", "both", "all", "single+smpp"),
        default="both",
        help="single/batch: HTTP, one or --batch-size recipients per request; smpp: customers"
        " binding to the gateway's SMPP server; both: single and batch; all: the three;"
        " single+smpp: the HTTP and SMPP one-recipient rates side by side",
    )
    p.add_argument(
        "--smpp-binds",
        type=int,
        default=1,
        help="smpp mode: transmitter binds of the customer (window: --smpp-window each)",
    )
    p.add_argument(
        "--messages",
        type=int,
        default=None,
        help="messages per mode (None: single 20000, batch 100000)",
    )
    p.add_argument("--connections", type=int, default=20, help="concurrent HTTP connections")
    p.add_argument("--batch-size", type=int, default=100, help="recipients per batch request")
    p.add_argument(
        "--load-processes",
        type=int,
        default=1,
        help="load generator processes sharing the connections (1: in the benchmark process)",
    )
    p.add_argument("--warmup", type=int, default=200, help="warm-up single-recipient messages")
    p.add_argument("--report-delay-ms", type=float, default=200.0, help="simulator report delay")
    p.add_argument("--database-url", default=None, help="PostgreSQL URL (None: SQLite)")
    p.add_argument(
        "--connector",
        choices=("simulator", "smpp"),
        default="smpp",
        help="smpp (default): through SMPP (one bind, window 50) to `textgate smsc`, the SMSC"
        " simulator, started as its own process; simulator: the in-process connector",
    )
    p.add_argument(
        "--smpp-window",
        type=int,
        default=50,
        help="SMPP window of the gateway's bind, of the simulator's receipts and, in the smpp"
        " mode, of the customer's binds and the gateway's SMPP server (default 50)",
    )
    p.add_argument(
        "--no-rules-setup",
        action="store_true",
        help="skip `account set` (for builds older than account rules, in A/B comparisons)",
    )
    p.add_argument(
        "--price",
        default=None,
        help="charge this many credits per SMS part (sets TEXTGATE_PRICING__DEFAULT_PRICE and"
        " credits the account enough for the run)",
    )
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="TEXTGATE_X=V",
        help="extra gateway setting (repeatable); inherited TEXTGATE_* variables are dropped",
    )
    p.add_argument(
        "--submit-only",
        action="store_true",
        help="run the gateway without its dispatcher and measure the submit path alone",
    )
    p.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before measuring, wait up to this long for other processes to go quiet",
    )
    p.add_argument("--submit-timeout", type=float, default=600.0)
    p.add_argument("--drain-timeout", type=float, default=300.0)
    p.add_argument("--tmp-root", default=None, help="where the temporary data dirs go")
    p.add_argument("--keep-dir", action="store_true", help="keep the data dirs (DB, log, profile)")
    p.add_argument(
        "--profile",
        action="store_true",
        help="run the gateway under cProfile (slower!) and print its top entries",
    )
    p.add_argument(
        "--profile-clock",
        choices=("wall", "cpu"),
        default="wall",
        help="cProfile timer: wall clock, or the gateway main thread's CPU time",
    )
    p.add_argument("--profile-top", type=int, default=25)
    p.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    args = p.parse_args(argv)
    if min(args.connections, args.batch_size, args.load_processes, args.smpp_binds) < 1:
        p.error("--connections, --batch-size and --load-processes must be >= 1")
    if args.messages is not None and args.messages < 1:
        p.error("--messages must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    modes = MODES.get(args.mode, [args.mode])
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    version = code_version()
    results = [run_mode(args, mode) for mode in modes]
    print(f"\ntextgate end-to-end benchmark, {started}")
    print(f"machine: {machine_summary()}")
    print(f"code: {version}")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print_table(results)
    if args.json is not None:
        payload = {
            "started": started,
            "machine": machine_summary(),
            "code": version,
            "argv": sys.argv,
            "results": [
                {
                    **asdict(r),
                    "accepted_rate": r.accepted_rate,
                    "delivered_rate": r.delivered_rate,
                    "passed": r.passed,
                }
                for r in results
            ],
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
