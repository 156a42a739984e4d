"""Kannel (Debian's 1.4.5) on loopback for ``vs_kannel.py``: bearerbox, smsbox and fakesmsc.

* ``bearerbox`` keeps every message in its spool store (``store-type = spool``: one file per
  message, written before the ack; not fsynced) and hands it to a ``fake`` SMSC connection,
  which listens on a port of its own for the one ``fakesmsc`` client.
* ``smsbox`` serves ``/cgi-bin/sendsms`` and, since ``immediate-sendsms-reply`` is off,
  answers only once bearerbox has stored the message and acked it: 202 ``0: Accepted for
  delivery``.
* ``fakesmsc -m 0`` sends no mobile-originated message and logs one ``Got message N: <...>``
  line per message it receives, at its default (debug) log level; a reader thread counts them
  and notes when the last one came.

No delivery reports are asked for (dlr-mask 0): a message is out when fakesmsc has it.
Every process is stopped (SIGTERM, SIGKILL after a grace period) whatever happens.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

HOST = "127.0.0.1"
USERNAME, PASSWORD = "bench", "bench123"
ADMIN_PASSWORD = "bench-admin"
BEARERBOX, SMSBOX = "/usr/sbin/bearerbox", "/usr/sbin/smsbox"
LOG_LEVEL = 2
"""Kannel's levels: 0 debug, 1 info, 2 warning, 3 error, 4 panic; textgate runs at WARNING."""

_STATUS_RE = re.compile(
    r"SMS: received (\d+) \((\d+) queued\), sent (\d+) \((\d+) queued\), store size (-?\d+)"
)


@dataclass(frozen=True)
class Ports:
    admin: int
    smsbox: int
    fake_smsc: int
    sendsms: int


@dataclass(frozen=True)
class SmsStatus:
    """The ``SMS:`` line of bearerbox's status page."""

    received: int
    received_queued: int
    sent: int
    sent_queued: int
    store_size: int


def write_config(directory: Path, ports: Ports) -> Path:
    spool = directory / "spool"
    spool.mkdir()
    path = directory / "kannel.conf"
    path.write_text(
        f"""group = core
admin-port = {ports.admin}
admin-interface = {HOST}
admin-password = {ADMIN_PASSWORD}
admin-allow-ip = {HOST}
smsbox-port = {ports.smsbox}
smsbox-interface = {HOST}
box-allow-ip = {HOST}
store-type = spool
store-location = "{spool}"
log-level = {LOG_LEVEL}

group = smsc
smsc = fake
smsc-id = fake
port = {ports.fake_smsc}
our-host = {HOST}
connect-allow-ip = {HOST}

group = smsbox
bearerbox-host = {HOST}
bearerbox-port = {ports.smsbox}
sendsms-port = {ports.sendsms}
sendsms-interface = {HOST}
immediate-sendsms-reply = false
global-sender = 12345
log-level = {LOG_LEVEL}

group = sendsms-user
username = {USERNAME}
password = {PASSWORD}
user-allow-ip = {HOST}
"""
    )
    return path


class FakeSmsc:
    """``fakesmsc`` connected to bearerbox's fake SMSC port, its output counted as it comes."""

    def __init__(self, binary: str, port: int) -> None:
        self.binary, self.port = binary, port
        self.proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._received = 0
        self._last_wall = 0.0
        self._tail = b""
        self._reader: threading.Thread | None = None

    def start(self) -> None:
        # -m 0: no mobile-originated message; the message argument is required all the same.
        cmd = [self.binary, "-H", HOST, "-r", str(self.port), "-m", "0", "0 0 text unused"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self._reader = threading.Thread(target=self._read, args=(self.proc,), daemon=True)
        self._reader.start()

    def _read(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        carry = b""
        while chunk := os.read(fd, 1 << 16):
            now = time.time()
            data = carry + chunk
            cut = data.rfind(b"\n") + 1
            got = data.count(b"] DEBUG: Got message ", 0, cut)
            carry = data[cut:]
            with self._lock:
                if got:
                    self._received += got
                    self._last_wall = now
                self._tail = (self._tail + chunk)[-4000:]

    def received(self) -> tuple[int, float]:
        """Messages received so far, and the wall clock when the last of them was read."""
        with self._lock:
            return self._received, self._last_wall

    def tail(self) -> str:
        with self._lock:
            return self._tail.decode(errors="replace")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, grace: float) -> None:
        # SIGINT: fakesmsc prints its totals and exits (it also exits when bearerbox goes).
        _stop(self.proc, signal.SIGINT, grace)
        if self._reader is not None:
            self._reader.join(5)


def _stop(proc: subprocess.Popen[bytes] | None, sig: signal.Signals, grace: float) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1):
            return True
    except OSError:
        return False


class Kannel:
    """bearerbox, fakesmsc and smsbox, started in that order, each waited for."""

    def __init__(self, directory: Path, ports: Ports, fakesmsc: str, stop_grace: float) -> None:
        self.dir, self.ports, self.stop_grace = directory, ports, stop_grace
        self.config = write_config(directory, ports)
        self.fake = FakeSmsc(fakesmsc, ports.fake_smsc)
        self.bearerbox: subprocess.Popen[bytes] | None = None
        self.smsbox: subprocess.Popen[bytes] | None = None

    def _spawn(self, binary: str, name: str) -> subprocess.Popen[bytes]:
        with (self.dir / f"{name}.log").open("wb") as log:
            return subprocess.Popen(
                [binary, "-v", str(LOG_LEVEL), str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
            )

    def __enter__(self) -> Kannel:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, timeout: float = 30.0) -> None:
        self.bearerbox = self._spawn(BEARERBOX, "bearerbox")
        self._until(lambda: self.status_text() is not None, timeout, "bearerbox's admin page")
        # fakesmsc gives up at once when the fake SMSC port is not listening yet: start it
        # again until bearerbox reports the connection online.
        deadline = time.monotonic() + timeout
        self.fake.start()
        while "(online" not in (self._smsc_line() or ""):
            if time.monotonic() > deadline:
                raise RuntimeError(f"fakesmsc did not connect:\n{self.fake.tail()}")
            if not self.fake.alive():
                self.fake.start()
            time.sleep(0.1)
        self.smsbox = self._spawn(SMSBOX, "smsbox")
        self._until(
            lambda: "smsbox:" in (self.status_text() or "") and _port_open(self.ports.sendsms),
            timeout,
            "smsbox",
        )

    def _until(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            for proc, name in ((self.bearerbox, "bearerbox"), (self.smsbox, "smsbox")):
                if proc is not None and proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.log(name)}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{what} not ready after {timeout:.0f}s:\n{self.log('bearerbox')}"
                )
            time.sleep(0.1)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        # bearerbox first: it tells smsbox to shut down and closes fakesmsc's connection.
        _stop(self.bearerbox, signal.SIGTERM, self.stop_grace)
        _stop(self.smsbox, signal.SIGTERM, self.stop_grace)
        self.fake.stop(self.stop_grace)

    @property
    def pids(self) -> list[int]:
        """The gateway's processes: bearerbox and smsbox (fakesmsc is the operator)."""
        return [p.pid for p in (self.bearerbox, self.smsbox) if p is not None]

    def status_text(self) -> str | None:
        url = f"http://{HOST}:{self.ports.admin}/status.txt?password={ADMIN_PASSWORD}"
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return str(resp.read().decode(errors="replace"))
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return None

    def _smsc_line(self) -> str | None:
        text = self.status_text() or ""
        return next((ln for ln in text.splitlines() if "FAKE:" in ln), None)

    def sms_status(self) -> SmsStatus:
        text = self.status_text()
        match = _STATUS_RE.search(text or "")
        if match is None:
            raise RuntimeError(f"no SMS line on bearerbox's status page: {text!r}")
        return SmsStatus(*(int(g) for g in match.groups()))

    def log(self, name: str, lines: int = 30) -> str:
        try:
            text = (self.dir / f"{name}.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])
