"""Micro-benchmarks of the SMPP 3.4 codec and session engine (no gateway, no database).

    .venv/bin/python bench/smpp_codec.py                 # everything, uvloop (as in serve)
    .venv/bin/python bench/smpp_codec.py --loop asyncio  # the stdlib event loop instead
    .venv/bin/python bench/smpp_codec.py --only codec    # codec figures only

Codec figures are ops/s of one call on PDUs shaped like the gateway's traffic (best of
``--repeat`` timed runs). The loopback figures run two :class:`Session` objects in this
process over a real 127.0.0.1 TCP socket: one side sends ``--requests`` submit_sm with
``--window`` outstanding (from more concurrent callers than the window, as the dispatcher
does), the other answers each at once; then the reverse direction, deliver_sm receipts
answered by a handler. Both ends' CPU is in the figure, so the gateway's own share of a
round trip is about half of it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from textgate.connectors.smpp.constants import Tag
from textgate.connectors.smpp.framing import Framer
from textgate.connectors.smpp.pdus import (
    NO_TLVS,
    DeliverSm,
    DeliverSmResp,
    EnquireLinkResp,
    Pdu,
    SubmitSm,
    SubmitSmResp,
    decode,
    encode,
)
from textgate.connectors.smpp.receipts import parse_receipt
from textgate.connectors.smpp.session import Session

RECEIPT_TEXT = (
    b"id:0a1b2c3d4e5f sub:001 dlvrd:001 submit date:2611220226 done date:2611220226 "
    b"stat:DELIVRD err:000 Text:Hello from the bench"
)


def submit_pdu(seq: int = 0) -> SubmitSm:
    return SubmitSm(
        sequence_number=seq,
        source_addr_ton=5,
        source_addr_npi=0,
        source_addr="TextGate",
        dest_addr_ton=1,
        dest_addr_npi=1,
        destination_addr="33620000001",
        registered_delivery=1,
        short_message=b"Your code is 123456. It expires in 10 minutes.",
    )


def receipt_pdu(seq: int = 0) -> DeliverSm:
    return DeliverSm(
        sequence_number=seq,
        source_addr_ton=1,
        source_addr_npi=1,
        source_addr="33620000001",
        destination_addr="TextGate",
        esm_class=0x04,
        short_message=RECEIPT_TEXT,
        # As the simulator sends them: receipted_message_id and message_state (5.3.2).
        tlvs=NO_TLVS.with_str(Tag.RECEIPTED_MESSAGE_ID, "0a1b2c3d4e5f").with_int(
            Tag.MESSAGE_STATE, 2, 1
        ),
    )


def timed(fn: Callable[[], object], number: int, repeat: int) -> float:
    """Best ops/s of ``repeat`` runs of ``number`` calls."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, time.perf_counter() - start)
    return number / best


def codec(number: int, repeat: int) -> dict[str, float]:
    submit = submit_pdu(7)
    resp_bytes = encode(SubmitSmResp(sequence_number=7, message_id="0a1b2c3d4e5f"))
    receipt_bytes = encode(receipt_pdu(9))
    dresp = DeliverSmResp(sequence_number=9)
    mixed = b"".join(
        [
            encode(submit),
            resp_bytes,
            receipt_bytes,
            encode(dresp),
            encode(EnquireLinkResp(sequence_number=3)),
        ]
        * 200
    )
    chunks = [mixed[i : i + 1500] for i in range(0, len(mixed), 1500)]  # MTU-sized reads
    pdus_per_stream = 5 * 200

    def receipt() -> object:
        pdu = decode(receipt_bytes)
        assert isinstance(pdu, DeliverSm)
        return parse_receipt(pdu.short_message.decode("latin-1"))

    def frame() -> None:
        framer = Framer()
        for chunk in chunks:
            framer.feed(chunk)

    return {
        "encode submit_sm": timed(lambda: encode(submit), number, repeat),
        "decode submit_sm_resp": timed(lambda: decode(resp_bytes), number, repeat),
        "decode deliver_sm receipt + parse_receipt": timed(receipt, number, repeat),
        "encode deliver_sm_resp": timed(lambda: encode(dresp), number, repeat),
        "Framer, mixed stream (PDUs/s)": timed(frame, max(1, number // pdus_per_stream), repeat)
        * pdus_per_stream,
    }


async def _pair(
    server_handler: Callable[[Pdu], object], client_handler: Callable[[Pdu], object], window: int
) -> tuple[Session, Session, asyncio.Server]:
    accepted: asyncio.Future[Session] = asyncio.get_running_loop().create_future()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set_result(
            Session(
                reader,
                writer,
                handler=server_handler,  # type: ignore[arg-type]
                window=window,
                enquire_link_interval=None,
                name="server",
            )
        )

    server = await asyncio.start_server(on_client, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    client = Session(
        reader,
        writer,
        handler=client_handler,  # type: ignore[arg-type]
        window=window,
        enquire_link_interval=None,
        name="client",
    )
    return client, await accepted, server


async def _drive(session: Session, make: Callable[[int], Pdu], total: int, callers: int) -> float:
    per_caller = total // callers

    async def caller() -> None:
        for _ in range(per_caller):
            resp = await session.request(make(0))
            assert resp.command_status == 0

    start = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    return per_caller * callers / (time.perf_counter() - start)


async def loopback(total: int, window: int) -> dict[str, float]:
    async def answer_submit(pdu: Pdu) -> Pdu:
        return SubmitSmResp(sequence_number=pdu.sequence_number, message_id="0a1b2c3d4e5f")

    async def answer_deliver(pdu: Pdu) -> Pdu:
        assert isinstance(pdu, DeliverSm)
        parse_receipt(pdu.short_message.decode("latin-1"))
        return DeliverSmResp(sequence_number=pdu.sequence_number)

    client, server_side, server = await _pair(answer_submit, answer_deliver, window)
    template = submit_pdu()
    receipt = receipt_pdu()
    try:
        await _drive(client, lambda _: template, 2000, window * 4)  # warm-up
        submit_rate = await _drive(client, lambda _: template, total, window * 4)
        deliver_rate = await _drive(server_side, lambda _: receipt, total, window * 4)
    finally:
        await client.unbind(timeout=2)
        await server_side.close()
        server.close()
        await server.wait_closed()
    return {
        f"loopback submit_sm round trips (window {window})": submit_rate,
        f"loopback deliver_sm receipts answered (window {window})": deliver_rate,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--only", choices=("codec", "loopback"))
    parser.add_argument("--number", type=int, default=50_000, help="calls per codec run")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--window", type=int, default=50)
    args = parser.parse_args()
    results: dict[str, float] = {}
    if args.only != "loopback":
        results.update(codec(args.number, args.repeat))
    if args.only != "codec":
        if args.loop == "uvloop":
            import uvloop

            runner = uvloop.run
        else:
            runner = asyncio.run
        results.update(runner(loopback(args.requests, args.window)))
    width = max(len(k) for k in results)
    print(f"python {sys.version.split()[0]}, loop {args.loop}")
    for name, rate in results.items():
        print(f"{name:<{width}}  {rate:>12,.0f} /s")


if __name__ == "__main__":
    main()
