"""HTTP load with wrk for ``vs_kannel.py``: the same closed loop against both gateways.

Each wrk thread has its own Lua state; ``setup`` numbers the threads, and every request
takes the next number of its thread, so all recipients of a run are distinct
(``+3362`` and 7 digits: thread t sends t * 5,000,000 + 1, + 2, ...). ``done`` prints the
summary and the latency percentiles as one JSON line (``WRKJSON {...}``); the human summary,
with ``--latency`` and its ``Non-2xx or 3xx responses`` line, stays in the log beside it.
"""

from __future__ import annotations

import contextlib
import json
import re
import resource
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

PER_THREAD = 5_000_000
"""Recipients one wrk thread can number (10 million distinct +3362 numbers in all)."""

_COMMON_LUA = """
local threads_seen = 0
function setup(thread)
  thread:set("tid", threads_seen)
  threads_seen = threads_seen + 1
end

function init(args)
  sent = 0
end

-- The recipient number of this thread's next request (1-based within the thread).
local function next_number()
  sent = sent + 1
  return tid * PER_THREAD + sent
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"duration_us":%d,"requests":%d,"bytes":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"mean_us":%.1f}\\n',
    summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean))
end
"""


def _lua_string(text: str) -> str:
    """A Lua string literal (JSON's escapes for quotes and backslashes are Lua's too)."""
    if any(ord(c) < 0x20 or ord(c) > 0x7E for c in text):
        raise ValueError(f"only printable ASCII goes into the wrk script: {text!r}")
    return json.dumps(text)


def kannel_script(username: str, password: str) -> str:
    """``GET /cgi-bin/sendsms``: one recipient per request, ``+`` as ``%2B`` (a bare ``+``
    is a space in a query string, and a space separates recipients for Kannel)."""
    prefix = f"/cgi-bin/sendsms?username={username}&password={password}&to=%2B3362"
    return (
        f"PER_THREAD = {PER_THREAD}\nlocal PREFIX = {_lua_string(prefix)}\n"
        + _COMMON_LUA
        + """
function request()
  local n = next_number()
  return wrk.format("GET", PREFIX .. string.format(
    "%07d&text=Your+textgate+code+is+%06d", n, n % 1000000))
end
"""
    )


def textgate_script(api_key: str) -> str:
    """``POST /v1/messages`` with a JSON body: one recipient per request."""
    return (
        f"PER_THREAD = {PER_THREAD}\nlocal AUTH = {_lua_string('Bearer ' + api_key)}\n"
        + _COMMON_LUA
        + """
local headers = {["Authorization"] = AUTH, ["Content-Type"] = "application/json"}

function request()
  local n = next_number()
  local body = string.format(
    '{"to":"+3362%07d","text":"Your textgate code is %06d"}', n, n % 1000000)
  return wrk.format("POST", "/v1/messages", headers, body)
end
"""
    )


@dataclass
class WrkResult:
    requests: int = 0
    """Responses wrk read in full (non-2xx included; requests in flight at the end are not)."""
    non_2xx: int = 0
    """wrk's ``Non-2xx or 3xx responses``."""
    socket_errors: dict[str, int] = field(default_factory=dict)
    duration_s: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)
    start_wall: float = 0.0
    """Wall clock just before wrk started: the first request is sent right after."""
    cpu_seconds: float = 0.0
    exit_code: int = 0
    summary_text: str = ""

    @property
    def ok(self) -> int:
        return self.requests - self.non_2xx

    @property
    def errors(self) -> int:
        return self.non_2xx + sum(self.socket_errors.values()) + (1 if self.exit_code else 0)

    @property
    def accepted_rate(self) -> float:
        return self.ok / self.duration_s if self.duration_s else 0.0


_NON_2XX_RE = re.compile(r"Non-2xx or 3xx responses:\s*(\d+)")


def parse_output(text: str) -> WrkResult:
    """The ``WRKJSON`` line of our ``done``; the printed summary must agree with it."""
    res = WrkResult(summary_text=text)
    line = next((ln for ln in text.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{text[-2000:]}")
    data = json.loads(line.removeprefix("WRKJSON "))
    res.requests = int(data["requests"])
    res.non_2xx = int(data["status"])
    res.socket_errors = {k: int(data[k]) for k in ("connect", "read", "write", "timeout")}
    res.duration_s = data["duration_us"] / 1e6
    res.latency_ms = {
        k: data[f"{k}_us"] / 1000 for k in ("p50", "p90", "p99", "max", "mean") if f"{k}_us" in data
    }
    printed = _NON_2XX_RE.search(text)
    if (int(printed.group(1)) if printed else 0) != res.non_2xx:
        raise RuntimeError(f"wrk's Non-2xx line disagrees with its summary:\n{text[-2000:]}")
    return res


def run_wrk(
    url: str,
    script: Path,
    *,
    threads: int,
    connections: int,
    duration_s: float,
    timeout_s: float,
    log_path: Path,
) -> WrkResult:
    """Run wrk to completion; its CPU comes from the children's rusage (it is the only
    child that ends meanwhile)."""
    cmd = [
        "wrk",
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={duration_s:g}s",
        f"--timeout={timeout_s:g}s",
        "--latency",
        f"--script={script}",
        url,
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start_wall = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = proc.communicate(timeout=duration_s + timeout_s + 60)
    finally:
        if proc.poll() is None:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    text = out.decode(errors="replace")
    log_path.write_text(" ".join(cmd) + "\n" + text)
    res = parse_output(text)
    res.start_wall = start_wall
    res.exit_code = proc.returncode or 0
    res.cpu_seconds = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return res
