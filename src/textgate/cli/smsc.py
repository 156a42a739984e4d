"""``textgate smsc``: run the SMSC simulator until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Annotated

import typer

from textgate.cli.common import console
from textgate.connectors.smpp.smsc import FINAL_STATS, BadReceipt, DeliverAs, Smsc, SmscOptions
from textgate.connectors.smpp.smsc_rules import load_rules, parse_deliver_as, parse_status

__all__ = ["smsc_command"]


def _accounts(values: list[str] | None) -> dict[str, str]:
    if not values:
        return {"textgate": "textgate"}
    accounts: dict[str, str] = {}
    for value in values:
        system_id, sep, password = value.partition(":")
        if not sep or not system_id:
            raise typer.BadParameter(
                f"expected SYSTEM_ID:PASSWORD, got {value!r}", param_hint="--account"
            )
        accounts[system_id] = password
    return accounts


def smsc_command(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0: any free port)")] = 2776,
    account: Annotated[
        list[str] | None,
        typer.Option("--account", help="SYSTEM_ID:PASSWORD allowed to bind (repeatable)"),
    ] = None,
    receipt_delay_ms: Annotated[
        int, typer.Option(help="Delay before a delivery receipt, in ms")
    ] = 200,
    final_stat: Annotated[
        str, typer.Option(help=f"Receipt stat: {', '.join(FINAL_STATS)}")
    ] = "DELIVRD",
    throttle_every: Annotated[
        int, typer.Option(help="Answer every Nth submit_sm ESME_RTHROTTLED (0: never)")
    ] = 0,
    reject_prefix: Annotated[
        str, typer.Option(help="Answer destinations with this prefix ESME_RINVDSTADR")
    ] = "",
    enroute_first: Annotated[
        bool, typer.Option(help="Send an ENROUTE receipt before the final one")
    ] = False,
    bad_receipt: Annotated[
        str | None,
        typer.Option(help=f"Send unusable receipts: {', '.join(b.value for b in BadReceipt)}"),
    ] = None,
    receipts_as: Annotated[
        str,
        typer.Option(
            help=f"Request that carries receipts: {', '.join(d.value for d in DeliverAs)}"
        ),
    ] = "deliver_sm",
    rules: Annotated[
        Path | None,
        typer.Option(
            help="Per-destination rules, JSON or TOML (.toml): a list under 'rules' of "
            "{prefix, submit_status, action, response_delay_ms, final_stat, enroute_first, "
            "receipt_delay_ms, bad_receipt, receipts_as}",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    refuse_binds: Annotated[
        int, typer.Option(help="Refuse the first N binds after start, then accept (0: none)")
    ] = 0,
    refuse_for_ms: Annotated[
        int, typer.Option(help="Refuse every bind for this long after start, in ms (0: none)")
    ] = 0,
    refuse_status: Annotated[
        str, typer.Option(help="command_status of refused binds (name or number)")
    ] = "ESME_RBINDFAIL",
    record: Annotated[
        bool, typer.Option(help="Keep accepted submissions in memory (off: less memory)")
    ] = False,
    window: Annotated[int, typer.Option(help="Most deliver_sm outstanding per session")] = 10,
    log_level: Annotated[str, typer.Option(help="Logging level")] = "INFO",
) -> None:
    """Run an SMPP 3.4 SMSC simulator (for development, tests and benchmarks)."""
    try:
        options = SmscOptions(
            host=host,
            port=port,
            accounts=_accounts(account),
            receipt_delay_ms=receipt_delay_ms,
            final_stat=final_stat.upper(),
            enroute_first=enroute_first,
            bad_receipt=BadReceipt(bad_receipt) if bad_receipt else None,
            receipts_as=parse_deliver_as(receipts_as, "--receipts-as"),
            rules=load_rules(rules) if rules is not None else (),
            throttle_every=throttle_every,
            reject_prefix=reject_prefix,
            refuse_binds=refuse_binds,
            refuse_binds_for_ms=refuse_for_ms,
            refuse_bind_status=parse_status(refuse_status),
            record=record,
            window=window,
        )
    except (ValueError, OSError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    async def run() -> None:
        smsc = Smsc(options)
        await smsc.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        console.print(
            f"[bold green]smsc[/bold green] listening on {smsc.host}:{smsc.port} "
            f"(accounts: {', '.join(sorted(options.accounts))})"
        )
        print(f"TEXTGATE_SMSC={smsc.host}:{smsc.port}", flush=True)
        try:
            await stop.wait()
        finally:
            await smsc.stop()
            console.print(
                f"smsc stopped: {smsc.submitted} submitted, {smsc.receipts_sent} receipts, "
                f"{smsc.throttled} throttled, {smsc.rejected} rejected, "
                f"{smsc.ignored} unanswered, {smsc.dropped} dropped links"
            )

    try:
        asyncio.run(run())
    except OSError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
