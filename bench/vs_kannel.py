"""textgate beside Kannel on this machine, in the same run, under the same wrk load.

Run from the repository root (as root, the first time: it installs Debian's ``kannel``,
``kannel-extras`` for ``fakesmsc``, and ``wrk`` when they are missing)::

    .venv/bin/python bench/vs_kannel.py                  # one pair, 10 s of load each
    .venv/bin/python bench/vs_kannel.py --runs 3 --json vs_kannel.json

Each run starts Kannel (bearerbox with a spool store, smsbox, fakesmsc; see
``kannel_gateway.py``), loads it with wrk (one recipient per ``GET /cgi-bin/sendsms``) and
waits until fakesmsc has every message; then the same for ``textgate serve`` (``POST
/v1/messages``, waiting until every message is final in its database). It prints, per
side, accepted msg/s, latency p50/p99, non-2xx, delivered msg/s, RSS and CPU, and the
textgate/Kannel ratios; with ``--runs N``, the medians too. Exit status 1 when a side had
errors. See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import e2e
import kannel_gateway
import vs_kannel_report as report
import wrk_load
from kannel_gateway import HOST, Kannel, Ports
from vs_kannel_measure import measure, wait_for
from vs_kannel_report import SideResult
from vs_kannel_tools import ensure_tools, versions

# --------------------------------------------------------------------------- Kannel


def kannel_warmup_requests(port: int, count: int) -> list[bytes]:
    head = "GET /cgi-bin/sendsms?username={u}&password={p}&to=%2B{n}&text=warm+up HTTP/1.1\r\n"
    return [
        (
            head.format(u=kannel_gateway.USERNAME, p=kannel_gateway.PASSWORD, n=number[1:])
            + f"Host: {HOST}:{port}\r\n\r\n"
        ).encode()
        for number in e2e.warmup_recipients(count)
    ]


def kannel_settled(kannel: Kannel, at_least: int) -> Callable[[], tuple[int, float] | None]:
    """A check that all is out: fakesmsc has read as many messages as bearerbox counts as
    sent (it counts one once written to fakesmsc's socket, so the reader may be behind),
    at least ``at_least``, and bearerbox holds none in its store or queue. The check
    returns fakesmsc's count and the wall clock of its last read, or None while some
    are not out."""

    def check() -> tuple[int, float] | None:
        status = kannel.sms_status()
        got, last = kannel.fake.received()
        idle = status.store_size == 0 and status.sent_queued == 0
        return (got, last) if idle and got == status.sent and got >= at_least else None

    return check


def run_kannel(args: argparse.Namespace, fakesmsc: str, run_dir: Path) -> SideResult:
    work = run_dir / "kannel"
    work.mkdir()
    ports = Ports(*distinct_ports(4))
    result = SideResult(side="kannel", database="spool store")
    with Kannel(work, ports, fakesmsc, args.stop_timeout) as kannel:
        if args.warmup:
            warm = e2e.run_load_inline(
                ports.sendsms,
                kannel_warmup_requests(ports.sendsms, args.warmup),
                args.connections,
                args.drain_timeout,
            )
            if warm.failed:
                raise RuntimeError(f"Kannel warm-up failed: {warm.error_samples}")
        settled = kannel_settled(kannel, args.warmup)
        wait_for(lambda: settled() is not None, args.drain_timeout, "Kannel warm-up")
        base = kannel.fake.received()[0]

        def drain(load: wrk_load.WrkResult) -> tuple[int, float, list[str]]:
            out = kannel_settled(kannel, base + load.ok)
            deadline = time.monotonic() + args.drain_timeout
            while (done := out()) is None:
                if time.monotonic() > deadline:
                    got = kannel.fake.received()
                    sent = kannel.sms_status().sent
                    problem = f"fakesmsc got {got[0] - base}, bearerbox sent {sent - base}"
                    return got[0] - base, got[1], [f"{problem} of {load.ok}"]
                time.sleep(0.1)
            return done[0] - base, done[1], []

        measure(
            args,
            result,
            url=f"http://{HOST}:{ports.sendsms}/",
            script=wrk_load.kannel_script(kannel_gateway.USERNAME, kannel_gateway.PASSWORD),
            work_dir=work,
            gateway_pids=kannel.pids,
            smsc_pids=[kannel.fake.proc.pid] if kannel.fake.proc else [],
            drain=drain,
        )
    return result


# --------------------------------------------------------------------------- textgate


def run_textgate(args: argparse.Namespace, run_dir: Path, run_no: int) -> SideResult:
    data_dir = run_dir / "textgate"
    data_dir.mkdir()
    port, smsc_port = distinct_ports(2)
    settings = argparse.Namespace(
        report_delay_ms=args.report_delay_ms,
        smpp_window=args.smpp_window,
        database_url=args.database_url,
        submit_only=False,
        price=None,
        env=args.env,
    )
    smpp = args.connector == "smpp"
    env = e2e.gateway_env(settings, data_dir, port, smsc_port if smpp else None)
    result = SideResult(side="textgate", database="PostgreSQL" if args.database_url else "SQLite")
    if args.database_url:
        e2e.textgate_cli(env, "migrate")
    name = f"vs-kannel-{run_no}-{int(time.time())}-{os.getpid()}"
    account = json.loads(
        e2e.textgate_cli(env, "account", "create", name, "--json").splitlines()[-1]
    )
    # The default daily limit (100,000) would refuse the end of a long run.
    e2e.textgate_cli(env, "account", "set", name, "daily_limit=1000000000")
    smsc = (
        e2e.SmscProcess(data_dir, env, smsc_port, args.report_delay_ms, args.smpp_window)
        if smpp
        else contextlib.nullcontext()
    )
    counter: e2e.StatusCounter | None = None
    try:
        with smsc, e2e.Gateway(data_dir, env, port, stop_timeout=args.stop_timeout) as gw:
            gw.wait_healthy()
            if args.database_url:
                counter = e2e.PostgresCounter(args.database_url, account["id"])
            else:
                counter = e2e.SqliteCounter(data_dir / "textgate.db", account["id"])
            if args.warmup:
                warm = e2e.run_load_inline(
                    port,
                    e2e.build_requests(
                        port, account["api_key"], e2e.warmup_recipients(args.warmup), 1
                    ),
                    args.connections,
                    args.drain_timeout,
                )
                if warm.failed:
                    raise RuntimeError(f"textgate warm-up failed: {warm.error_samples}")
                got, _ = e2e.wait_final(counter, args.warmup, args.drain_timeout)
                if got < args.warmup:
                    raise RuntimeError(f"textgate warm-up: {got}/{args.warmup} final")
            base = args.warmup
            status_counter = counter

            def drain(load: wrk_load.WrkResult) -> tuple[int, float, list[str]]:
                e2e.wait_final(status_counter, base + load.ok, args.drain_timeout)
                # Requests still in flight when wrk stopped were taken in too: wait for them.
                taken = sum(status_counter.breakdown().values()) - base
                final, seen = e2e.wait_final(status_counter, base + taken, args.drain_timeout)
                statuses = status_counter.breakdown()
                result.statuses = statuses
                last_ms = status_counter.last_final_ms()
                delivered = statuses.get("delivered", 0) - base
                problems = []
                if final < base + taken:
                    problems.append(f"{final - base}/{taken} final")
                others = {k: v for k, v in statuses.items() if k != "delivered"}
                if others:
                    problems.append(f"not delivered: {others}")
                return delivered, last_ms / 1000 if last_ms else seen, problems

            measure(
                args,
                result,
                url=f"http://{HOST}:{port}/v1/messages",
                script=wrk_load.textgate_script(account["api_key"]),
                work_dir=data_dir,
                gateway_pids=[gw.pid],
                smsc_pids=[smsc.proc.pid]
                if isinstance(smsc, e2e.SmscProcess) and smsc.proc
                else [],
                drain=drain,
            )
    except Exception:
        print(f"--- textgate log (tail) ---\n{_tail(data_dir / 'gateway.log')}", file=sys.stderr)
        raise
    finally:
        if counter is not None:
            counter.close()
    result.connector = args.connector
    return result


# --------------------------------------------------------------------------- main


def distinct_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = e2e.free_port()
        if port not in ports:
            ports.append(port)
    return ports


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class RunPair:
    run: int
    kannel: SideResult
    textgate: SideResult
    ratios: dict[str, float] = field(default_factory=dict)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="textgate beside Kannel under the same wrk load, same run.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--runs", type=int, default=1, help="pairs (Kannel, then textgate) to run")
    p.add_argument("--duration", type=float, default=10.0, help="seconds of wrk load per side")
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--connections", type=int, default=20, help="wrk connections")
    p.add_argument("--request-timeout", type=float, default=30.0, help="wrk --timeout (s)")
    p.add_argument("--warmup", type=int, default=200, help="warm-up messages per side")
    p.add_argument(
        "--connector",
        choices=("simulator", "smpp"),
        default="simulator",
        help="textgate's connector: the in-process simulator, or SMPP to `textgate smsc`",
    )
    p.add_argument("--report-delay-ms", type=float, default=200.0, help="textgate's receipts")
    p.add_argument("--smpp-window", type=int, default=50, help="with --connector smpp")
    p.add_argument("--database-url", default=None, help="textgate on PostgreSQL (None: SQLite)")
    p.add_argument(
        "--env", action="append", default=[], metavar="TEXTGATE_X=V", help="textgate setting"
    )
    p.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each side's load, wait up to this long for other processes to go quiet",
    )
    p.add_argument(
        "--drain-timeout", type=float, default=300.0, help="for every message to be out (s)"
    )
    p.add_argument("--stop-timeout", type=float, default=30.0, help="SIGTERM, then SIGKILL")
    p.add_argument("--tmp-root", default=None, help="where the temporary run dirs go")
    p.add_argument("--keep-dir", action="store_true", help="keep configs, logs and databases")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = p.parse_args(argv)
    if min(args.runs, args.threads, args.connections) < 1 or args.duration <= 0:
        p.error("--runs, --threads, --connections and --duration must be positive")
    if args.connections < args.threads:
        p.error("wrk needs at least one connection per thread")
    return args


def _interrupted(signum: int, frame: object) -> None:
    # SIGTERM as Ctrl-C: the with-blocks unwind and stop every process they started.
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupted)
    installed, fakesmsc = ensure_tools()
    print(f"installed now: {', '.join(installed) or 'nothing (all present)'}", file=sys.stderr)
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    pairs: list[RunPair] = []
    for run in range(1, args.runs + 1):
        run_dir = Path(tempfile.mkdtemp(prefix=f"vs-kannel-{run}-", dir=args.tmp_root))
        print(f"\n== run {run}/{args.runs} in {run_dir}", file=sys.stderr, flush=True)
        try:
            kannel = run_kannel(args, fakesmsc, run_dir)
            textgate = run_textgate(args, run_dir, run)
        finally:
            if args.keep_dir:
                print(f"kept {run_dir}", file=sys.stderr)
            else:
                shutil.rmtree(run_dir, ignore_errors=True)
        pairs.append(RunPair(run, kannel, textgate, report.ratios(kannel, textgate)))
    meta: dict[str, Any] = {
        "started": started,
        "machine": e2e.machine_summary(),
        "code": e2e.code_version(),
        "packages": versions(),
        "installed_now": installed,
        "argv": sys.argv,
    }
    report.print_header(meta, args)
    for pair in pairs:
        report.print_table(f"run {pair.run}/{args.runs}", pair.kannel, pair.textgate, pair.ratios)
    medians: dict[str, Any] = {}
    if len(pairs) > 1:
        medians = report.medians([(p.kannel, p.textgate, p.ratios) for p in pairs])
        report.print_medians(medians, len(pairs))
    failed = [
        f"run {p.run} {s.side}: {e}"
        for p in pairs
        for s in (p.kannel, p.textgate)
        for e in s.errors()
    ]
    for line in failed:
        print(f"ERROR {line}")
    if args.json is not None:
        payload = {
            **meta,
            "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "runs": [
                {
                    "run": p.run,
                    "kannel": p.kannel.as_json(),
                    "textgate": p.textgate.as_json(),
                    "ratios": p.ratios,
                }
                for p in pairs
            ],
            "medians": medians,
            "passed": not failed,
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
