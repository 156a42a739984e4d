"""``textgate send``: one message, or one per row of a CSV file, through the submit path."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress

from textgate.cli.common import ConfigOpt, console, execute, load, with_gateway
from textgate.core.message import Status
from textgate.errors import GatewayError
from textgate.runtime import Gateway
from textgate.services.submit_request import SubmitRequest, SubmitResult

__all__ = ["send_command"]

BATCH_ROWS = 500
"""Rows whose orders are committed together: a commit per row would hold a large file back
by one disk sync per row, and a much larger batch holds the database's write lock longer."""
HEADER_NAMES = frozenset({"number", "to", "phone", "msisdn"})
SHOWN_REFUSALS = 20


@dataclass(frozen=True, slots=True)
class Row:
    line: int | None
    """Line of the CSV file (None for --to)."""
    numbers: tuple[str, ...]
    """One number for a CSV row; every --to, which are one request like any interface's."""
    text: str


def send_command(
    config: ConfigOpt = None,
    account: Annotated[str, typer.Option(help="Account name")] = "demo",
    to: Annotated[list[str] | None, typer.Option("--to", help="Recipient (repeatable)")] = None,
    text: Annotated[str | None, typer.Option(help="Message text")] = None,
    sender: Annotated[str | None, typer.Option("--from", help="Sender ID")] = None,
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="CSV of number,text rows", exists=True)
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Rows committed per transaction")
    ] = BATCH_ROWS,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object with every row's outcome")
    ] = False,
) -> None:
    """Send one message, or one per row of a CSV file, through the submit path."""
    if csv_file is None and (not to or text is None):
        console.print("[red]error:[/red] give --to and --text, or --csv FILE")
        raise typer.Exit(2)
    settings = load(config)
    rows = _csv_rows(csv_file) if csv_file else [Row(None, tuple(to or ()), text or "")]
    # The bar is for a person watching a terminal; on a pipe or with --json it would only
    # add noise to what a program reads.
    show_progress = not as_json and console.is_terminal and len(rows) > 1

    async def body(gw: Gateway) -> list[dict[str, Any]]:
        acc = await gw.services.accounts.by_name(account)
        outcomes: list[dict[str, Any]] = []
        with Progress(console=console, disable=not show_progress) as progress:
            task = progress.add_task("sending", total=len(rows))
            for start in range(0, len(rows), batch_size):
                batch = rows[start : start + batch_size]
                sendable = [i for i, row in enumerate(batch) if row.text]
                answers = await gw.services.submit.submit_many(
                    [
                        SubmitRequest(
                            account=acc,
                            recipients=batch[i].numbers,
                            text=batch[i].text,
                            sender=sender,
                            interface="cli",
                            operator=True,
                        )
                        for i in sendable
                    ]
                )
                answered = dict(zip(sendable, answers, strict=True))
                for i, row in enumerate(batch):
                    outcomes.extend(_outcomes(row, answered.get(i)))
                progress.advance(task, len(batch))
        return outcomes

    outcomes = execute(lambda: with_gateway(settings, body))
    accepted = sum(1 for o in outcomes if o["status"] not in ("refused", Status.REJECTED.value))
    refused = len(outcomes) - accepted
    if as_json:
        print(json.dumps({"accepted": accepted, "refused": refused, "results": outcomes}))
    else:
        _report(outcomes, single=len(rows) == 1)
        console.print(f"accepted {accepted}, refused {refused}", highlight=False)
    if accepted == 0:
        raise typer.Exit(1)


def _outcomes(row: Row, answer: SubmitResult | GatewayError | None) -> list[dict[str, Any]]:
    """One entry per message of the row's order, or one per number of a refused row."""
    if answer is None or isinstance(answer, GatewayError):
        code, error = (
            ("missing_text", "no text") if answer is None else (answer.code, answer.message)
        )
        return [
            {"line": row.line, "to": n, "status": "refused", "code": code, "error": error}
            for n in row.numbers
        ]
    entries: list[dict[str, Any]] = []
    for m in answer.messages:
        entry = {
            "line": row.line,
            "to": row.numbers[0] if len(row.numbers) == 1 else m.recipient,
            "status": m.status.value,
            "id": m.id,
            "order_id": answer.order_id,
            "recipient": m.recipient,
            "encoding": m.encoding,
            "segments": m.segments,
        }
        if m.status == Status.REJECTED:
            entry.update(code=m.error_code, error=m.reason)
        entries.append(entry)
    return entries


def _report(outcomes: Sequence[dict[str, Any]], *, single: bool) -> None:
    refusals = [o for o in outcomes if "error" in o]
    if single:
        for o in outcomes:
            if "id" in o:
                fields = (o["id"], o["recipient"], o["status"], o["encoding"], o["segments"])
                print(*fields, "part(s)")
    for o in refusals[:SHOWN_REFUSALS]:
        where = "" if o["line"] is None else f"line {o['line']}: "
        console.print(f"[yellow]refused[/yellow] {where}{o['to']}: {o['error']}", highlight=False)
    if len(refusals) > SHOWN_REFUSALS:
        console.print(f"... and {len(refusals) - SHOWN_REFUSALS} more refusals (--json lists all)")


def _csv_rows(path: Path) -> list[Row]:
    rows: list[Row] = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        for i, cells in enumerate(reader):
            if not cells or not cells[0].strip():
                continue
            if i == 0 and cells[0].strip().lower() in HEADER_NAMES:
                continue
            # A row without text is reported as refused, with its line, rather than dropped.
            rows.append(
                Row(reader.line_num, (cells[0].strip(),), cells[1] if len(cells) > 1 else "")
            )
    return rows
