"""The measured phase of one side of ``vs_kannel.py``: wrk, then the drain, with the
gateway's RSS (sampled from /proc/<pid>/status) and the CPU of every party around them."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import e2e
import wrk_load
from vs_kannel_report import SideResult


def rss_kib(pids: list[int]) -> int:
    """Resident set of these processes together (VmRSS from /proc/<pid>/status), in KiB."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    break
    return total


@contextlib.contextmanager
def rss_sampler(pids: list[int], every: float = 0.1) -> Iterator[list[int]]:
    """Sample the processes' RSS every ``every`` s; yields [start, peak] (KiB), kept up to
    date until the block ends."""
    seen = [rss_kib(pids)] * 2
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(every):
            seen[1] = max(seen[1], rss_kib(pids))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join()


def cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += e2e.proc_cpu(pid)
    return total


Drain = Callable[[wrk_load.WrkResult], tuple[int, float, list[str]]]
"""After the load: (messages delivered, wall clock of the last delivery, problems)."""


def measure(
    args: argparse.Namespace,
    result: SideResult,
    *,
    url: str,
    script: str,
    work_dir: Path,
    gateway_pids: list[int],
    smsc_pids: list[int],
    drain: Drain,
) -> None:
    """The measured phase of one side: wrk, then the drain, with RSS and CPU around them."""
    script_path = work_dir / f"{result.side}.lua"
    script_path.write_text(script)
    if args.wait_quiet > 0:
        ours = {os.getpid(), *gateway_pids, *smsc_pids}
        result.quiet_wait = e2e.wait_quiet(args.wait_quiet, ours)
    print(f"  {result.side}: wrk for {args.duration:g} s", file=sys.stderr, flush=True)
    cpu0, smsc0, self0 = cpu_of(gateway_pids), cpu_of(smsc_pids), time.process_time()
    busy0, procs0 = e2e.machine_busy(), e2e.all_processes_cpu()
    with rss_sampler(gateway_pids) as rss:
        load = wrk_load.run_wrk(
            url,
            script_path,
            threads=args.threads,
            connections=args.connections,
            duration_s=args.duration,
            timeout_s=args.request_timeout,
            log_path=work_dir / f"{result.side}-wrk.log",
        )
        delivered, last_wall, problems = drain(load)
        result.rss_end_kib = rss_kib(gateway_pids)
    result.gateway_cpu = cpu_of(gateway_pids) - cpu0
    result.smsc_cpu = cpu_of(smsc_pids) - smsc0
    own_cpu = time.process_time() - self0
    busy = e2e.machine_busy() - busy0
    postgres, result.top_others = e2e.others_cpu(
        procs0, e2e.all_processes_cpu(), {os.getpid(), *gateway_pids, *smsc_pids}
    )
    # textgate on PostgreSQL: the server's processes work for the gateway (all of them are
    # counted, whoever they serve).
    result.db_cpu = postgres if result.database == "PostgreSQL" else 0.0
    result.rss_start_kib, result.rss_peak_kib = rss
    accounted = result.gateway_cpu + result.smsc_cpu + result.db_cpu + load.cpu_seconds + own_cpu
    result.other_cpu = max(0.0, busy - accounted)
    result.fill_from_wrk(load)
    result.delivered = delivered
    result.e2e_seconds = max(0.0, last_wall - load.start_wall) if delivered else 0.0
    result.problems.extend(problems)


def wait_for(done: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not done after {timeout:.0f}s")
        time.sleep(0.1)
