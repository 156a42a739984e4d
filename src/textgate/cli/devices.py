"""``textgate device ...``: an account's phones (list, label, delete, cancel a message)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from textgate.cli.common import ConfigOpt, execute, load, with_gateway
from textgate.core.devices import Device
from textgate.runtime import Gateway

__all__ = ["device_app"]

device_app = typer.Typer(help="Manage an account's Android phones.", no_args_is_help=True)
AccountOpt = Annotated[str, typer.Option("--account", help="Account name")]


def _public(d: Device) -> dict[str, object]:
    return {
        "id": d.id,
        "name": d.name,
        "label": d.label,
        "phone_number": d.phone_number,
        "last_seen": d.last_seen_at.isoformat(),
        "pending": d.pending,
        "sim_cards": [
            {"sim_number": s.sim_number, "phone_number": s.phone_number, "carrier": s.carrier_name}
            for s in d.sim_cards
        ],
    }


@device_app.command("list")
def device_list(
    account: AccountOpt = "demo",
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array")] = False,
) -> None:
    """The account's phones, with their SIM cards and when they were last seen."""
    settings = load(config)

    async def body(gw: Gateway) -> list[Device]:
        acc = await gw.services.accounts.by_name(account)
        return await gw.services.devices.of_account(acc.id)

    found = execute(lambda: with_gateway(settings, body))
    if as_json:
        print(json.dumps([_public(d) for d in found]))
        return
    table = Table(title=f"phones of {account}")
    for column in ("id", "name", "label", "number", "SIMs", "last seen", "pending"):
        table.add_column(column)
    now = datetime.now(UTC)
    for d in found:
        sims = ", ".join(f"{s.sim_number}:{s.phone_number or '?'}" for s in d.sim_cards)
        ago = int((now - d.last_seen_at).total_seconds())
        table.add_row(
            d.id, d.name, d.label or "", d.phone_number or "", sims, f"{ago}s ago", str(d.pending)
        )
    Console().print(table)


@device_app.command("label")
def device_label(
    device_id: str,
    account: AccountOpt = "demo",
    label: Annotated[str | None, typer.Option(help='A label; "" clears it')] = None,
    phone_number: Annotated[
        str | None, typer.Option(help='The phone\'s number; "" clears it')
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Set a phone's label or number (a message whose sender is either goes through it)."""
    settings = load(config)

    async def body(gw: Gateway) -> Device:
        acc = await gw.services.accounts.by_name(account)
        return await gw.services.devices.set_labels(
            acc.id, device_id, label=label, phone_number=phone_number
        )

    print(json.dumps(_public(execute(lambda: with_gateway(settings, body)))))


@device_app.command("delete")
def device_delete(device_id: str, account: AccountOpt = "demo", config: ConfigOpt = None) -> None:
    """Forget a phone: its token stops working; what it has not picked up fails over."""
    settings = load(config)

    async def body(gw: Gateway) -> None:
        acc = await gw.services.accounts.by_name(account)
        await gw.services.devices.delete(acc.id, device_id)

    execute(lambda: with_gateway(settings, body))
    print(f"deleted {device_id}")
