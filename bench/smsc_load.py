"""Load on the SMSC simulator: submit_sm and delivery receipt throughput through one bind.

Run from the repository root::

    .venv/bin/python bench/smsc_load.py                    # 20,000 messages, window 50
    .venv/bin/python bench/smsc_load.py --messages 5000 --receipt-delay-ms 200

It starts the simulator (:class:`Smsc`) in its own process on a free loopback port (so the
simulator and the load generator do not share one event loop), binds one transceiver with
textgate's own client (``textgate.connectors.smpp.client.bind``), keeps ``--window``
submit_sm outstanding until ``--messages`` were answered, and answers every receipt
deliver_sm. It prints submit msg/s (first submit to last submit_sm_resp), receipt msg/s
(first submit to last receipt) and the simulator's CPU time, and exits non-zero when a
submit failed or receipts went missing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time

from textgate.connectors.smpp.client import bind
from textgate.connectors.smpp.constants import CommandStatus
from textgate.connectors.smpp.pdus import DeliverSm, DeliverSmResp, Pdu, SubmitSm
from textgate.connectors.smpp.smsc import Smsc, SmscOptions


def _start_smsc(receipt_delay_ms: int) -> tuple[subprocess.Popen[str], int]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # The child runs this file with --serve: the Smsc alone, without the whole CLI.
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--receipt-delay-ms", str(receipt_delay_ms)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("TEXTGATE_SMSC="):
            return proc, int(line.strip().rpartition(":")[2])
    proc.kill()
    raise SystemExit("smsc did not start")


async def _run(port: int, messages: int, window: int, timeout: float) -> int:  # noqa: ASYNC109
    receipts = 0
    all_receipts = asyncio.Event()

    async def handler(pdu: Pdu) -> Pdu | None:
        nonlocal receipts
        if isinstance(pdu, DeliverSm) and pdu.is_delivery_receipt:
            receipts += 1
            if receipts >= messages:
                all_receipts.set()
        return DeliverSmResp(sequence_number=pdu.sequence_number)

    session = await bind(
        "127.0.0.1",
        port,
        system_id="textgate",
        password="textgate",
        window=window,
        enquire_link_interval=None,
        handler=handler,
    )
    failed = 0
    todo = iter(range(messages))

    async def worker() -> None:
        nonlocal failed
        for i in todo:
            resp = await session.request(
                SubmitSm(
                    sequence_number=0,
                    source_addr="Bench",
                    dest_addr_ton=1,
                    dest_addr_npi=1,
                    destination_addr=f"4915{i:08d}",
                    registered_delivery=1,
                    short_message=b"A benchmark message of forty characters.",
                )
            )
            if resp.command_status != CommandStatus.ESME_ROK:
                failed += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(window)))
    submitted_at = time.perf_counter()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(all_receipts.wait(), timeout)
    received_at = time.perf_counter()
    await session.unbind()
    submit_s = submitted_at - started
    receipt_s = received_at - started
    print(f"messages {messages}, window {window}")
    print(f"submit_sm:  {messages / submit_s:8.0f} msg/s ({submit_s:.2f} s, {failed} failed)")
    print(f"receipts:   {receipts / receipt_s:8.0f} msg/s ({receipt_s:.2f} s, {receipts} received)")
    return 0 if failed == 0 and receipts == messages else 1


async def _serve(receipt_delay_ms: int) -> None:
    async with Smsc(SmscOptions(port=0, receipt_delay_ms=receipt_delay_ms, window=50)) as smsc:
        print(f"TEXTGATE_SMSC={smsc.host}:{smsc.port}", flush=True)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (Linux); 0 elsewhere."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--receipt-delay-ms", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=120.0, help="wait for receipts (s)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve(args.receipt_delay_ms))
        return
    proc, port = _start_smsc(args.receipt_delay_ms)
    try:
        cpu_before = _cpu_seconds(proc.pid)
        code = asyncio.run(_run(port, args.messages, args.window, args.timeout))
        cpu = _cpu_seconds(proc.pid) - cpu_before
        print(f"smsc CPU:   {cpu:8.2f} s ({1000 * cpu / args.messages:.3f} s per 1,000 messages)")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    raise SystemExit(code)


if __name__ == "__main__":
    main()
