"""``textgate account ...``: accounts, keys, settings, credit, opt-outs."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from textgate.cli.common import ConfigOpt, console, execute, load, with_gateway
from textgate.core.policy import AccountRules
from textgate.core.pricing import format_amount, parse_amount
from textgate.errors import InvalidRequest
from textgate.runtime import Gateway
from textgate.services.accounts import AccountListing, AccountSummary

__all__ = ["account_app"]

account_app = typer.Typer(help="Manage accounts and API keys.", no_args_is_help=True)
_DEFAULT_SETTINGS = AccountRules().to_public()
PIPED_WIDTH = 400


@account_app.command("create")
def account_create(
    name: str,
    config: ConfigOpt = None,
    country: Annotated[
        str | None, typer.Option(help="Default country (ISO 3166) for national numbers")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Create an account and print its id and a new API key."""
    settings = load(config)

    async def body(gw: Gateway) -> tuple[str, str]:
        acc = await gw.services.accounts.create(name, default_country=country)
        key = await gw.services.accounts.issue_key(acc.id)
        return acc.id, key.token

    account_id, token = execute(lambda: with_gateway(settings, body))
    if as_json:
        print(json.dumps({"id": account_id, "name": name, "api_key": token}))
    else:
        print(f"account {name} ({account_id})\nAPI key: {token}")


@account_app.command("key")
def account_key(
    name: Annotated[
        str | None,
        typer.Argument(metavar="NAME", help="Account (with --revoke, only its keys are searched)"),
    ] = None,
    config: ConfigOpt = None,
    revoke: Annotated[
        str | None,
        typer.Option(
            "--revoke",
            metavar="KEY",
            help="Revoke this key instead: its id, a unique prefix of it, or the tg_ token",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Issue another API key for an account, or revoke one (--revoke)."""
    if revoke is None and name is None:
        console.print("[red]error:[/red] give an account name, or --revoke KEY")
        raise typer.Exit(2)
    settings = load(config)

    async def issue(gw: Gateway) -> dict[str, Any]:
        acc = await gw.services.accounts.by_name(name or "")
        issued = await gw.services.accounts.issue_key(acc.id)
        return {"id": issued.key.id, "account": acc.name, "api_key": issued.token}

    async def withdraw(gw: Gateway) -> dict[str, Any]:
        accounts = gw.services.accounts
        owner = None if name is None else (await accounts.by_name(name)).id
        key = await accounts.revoke_key_ref(revoke or "", account_id=owner)
        return {
            "id": key.id,
            "account": (await accounts.get(key.account_id)).name,
            "revoked_at": _iso(key.revoked_at),
        }

    if revoke is not None:
        done = execute(lambda: with_gateway(settings, withdraw))
        if as_json:
            print(json.dumps(done))
        else:
            print(f"revoked API key {done['id']} of account {done['account']}")
        return
    made = execute(lambda: with_gateway(settings, issue))
    print(json.dumps(made) if as_json else f"API key: {made['api_key']}")


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _listing_json(entry: AccountListing) -> dict[str, Any]:
    return {
        "id": entry.account.id,
        "name": entry.account.name,
        "created_at": _iso(entry.account.created_at),
        "balance": format_amount(entry.balance),
        "api_keys": [
            {
                "id": key.id,
                "label": key.label,
                "created_at": _iso(key.created_at),
                "revoked_at": _iso(key.revoked_at),
            }
            for key in entry.keys
        ],
    }


@account_app.command("list")
def account_list(
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array")] = False,
) -> None:
    """List the accounts with their balances and API keys (ids only: secrets are not kept)."""
    settings = load(config)

    async def body(gw: Gateway) -> list[AccountListing]:
        return await gw.services.accounts.listing()

    views = [_listing_json(e) for e in execute(lambda: with_gateway(settings, body))]
    if as_json:
        print(json.dumps(views))
        return
    table = Table(box=None, pad_edge=False)
    for column in ("name", "id", "balance", "live API keys", "revoked", "created"):
        table.add_column(column, overflow="fold")
    for view in views:
        live = [k["id"] for k in view["api_keys"] if k["revoked_at"] is None]
        table.add_row(
            view["name"],
            view["id"],
            view["balance"],
            " ".join(f"tg_{key_id}" for key_id in live) or "-",
            str(len(view["api_keys"]) - len(live)),
            view["created_at"][:19].replace("T", " "),
        )
    # Off a terminal rich folds to 80 columns: piped, each account stays on one line.
    (Console() if sys.stdout.isatty() else Console(width=PIPED_WIDTH)).print(table)


def _account_json(summary: AccountSummary) -> dict[str, Any]:
    account = summary.account
    return {
        "id": account.id,
        "name": account.name,
        "settings": account.rules.to_public(),
        "balance": format_amount(summary.balance),
        "usage_today": {"day": summary.day, "count": summary.used_today},
    }


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, dict):
        return ",".join(f"{k}:{v}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "any"
    return str(value)


def _settings_table(settings: dict[str, Any], title: str) -> Table:
    table = Table(title=title, show_header=False, box=None)
    table.add_column("setting", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in settings.items():
        table.add_row(key, _cell(value))
    return table


@account_app.command("show")
def account_show(
    name: str,
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Show an account's settings, balance and usage today."""
    settings = load(config)

    async def body(gw: Gateway) -> AccountSummary:
        accounts = gw.services.accounts
        return await accounts.summary(await accounts.by_name(name))

    view = _account_json(execute(lambda: with_gateway(settings, body)))
    if as_json:
        print(json.dumps(view))
        return
    out = Console()
    out.print(f"account [bold]{view['name']}[/bold] ({view['id']})")
    out.print(f"balance: {view['balance']}")
    usage = view["usage_today"]
    out.print(f"used today ({usage['day']}): {usage['count']}")
    out.print(_settings_table(view["settings"], "settings"))


@account_app.command("credit", context_settings={"ignore_unknown_options": True})
def account_credit(
    name: str,
    amount: Annotated[str, typer.Argument(help="Credits, e.g. 10 or 0.5; negative to debit")],
    config: ConfigOpt = None,
    note: Annotated[str | None, typer.Option(help="Note kept in the ledger")] = None,
) -> None:
    """Add credit to an account (a ledger entry) and print the new balance."""
    settings = load(config)

    async def body(gw: Gateway) -> int:
        micro = parse_amount(amount)
        acc = await gw.services.accounts.by_name(name)
        return await gw.services.accounts.credit(acc.id, micro, note)

    print(f"balance: {format_amount(execute(lambda: with_gateway(settings, body)))}")


def _public_value(key: str, value: str) -> Any:
    """A setting's value as typed on the command line, in public form (see ``account set``)."""
    if value == "":
        return _DEFAULT_SETTINGS.get(key, value)
    if key == "prices":
        prices: dict[str, str] = {}
        for item in value.split(","):
            country, sep, price = item.partition(":")
            if not sep or not country.strip():
                raise InvalidRequest(f"prices: COUNTRY:PRICE pairs, not {item!r}")
            prices[country.strip()] = price.strip()
        return prices
    return value


@account_app.command("set")
def account_set(
    name: str,
    pairs: Annotated[
        list[str],
        typer.Argument(
            help="KEY=VALUE settings: lists comma-separated (countries_blocked=US,CA), "
            "prices as prices=FR:0.05,GB:0.04, an empty value restores the default",
            metavar="KEY=VALUE...",
        ),
    ],
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the settings as JSON")] = False,
) -> None:
    """Change some of an account's settings and print them all."""
    settings = load(config)
    changes: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            console.print(f"[red]error:[/red] expected KEY=VALUE, not {pair!r}")
            raise typer.Exit(2)
        changes[key.strip()] = value.strip()

    async def body(gw: Gateway) -> dict[str, Any]:
        public = {k: _public_value(k, v) for k, v in changes.items()}
        accounts = gw.services.accounts
        acc = await accounts.by_name(name)
        # Validated in public form on top of the current settings, then only the named
        # settings are handed to the service (it merges stored values over the current ones).
        updated = await accounts.update_settings(acc.id, public)
        return updated.rules.to_public()

    new_settings = execute(lambda: with_gateway(settings, body))
    if as_json:
        print(json.dumps(new_settings))
    else:
        Console().print(_settings_table(new_settings, f"settings of {name}"))


@account_app.command("opt-out")
def account_opt_out(
    name: str,
    numbers: Annotated[list[str], typer.Argument(help="Phone numbers", metavar="NUMBER...")],
    config: ConfigOpt = None,
    remove: Annotated[
        bool, typer.Option("--remove", help="Take the numbers off the opt-out list")
    ] = False,
) -> None:
    """Add numbers to an account's opt-out list (no message goes to them), or remove them."""
    settings = load(config)

    async def body(gw: Gateway) -> list[str]:
        accounts = gw.services.accounts
        acc = await accounts.by_name(name)
        if remove:
            return await accounts.remove_opt_outs(acc, numbers)
        return await accounts.add_opt_outs(acc, numbers, source="cli")

    done = execute(lambda: with_gateway(settings, body))
    print(f"{'removed' if remove else 'opted out'}: {' '.join(done)}")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    # Never echoed, never logged, never taken from the command line (shell history, ps).
    password: str = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    return password


@account_app.command("set-login")
def account_set_login(
    name: str,
    username: Annotated[str, typer.Option("--username", "-u", help="Login username (unique)")],
    config: ConfigOpt = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input")
    ] = False,
) -> None:
    """Give an account a username and password for the dialects that log in (smsend's
    ``/API/v1.0/REST/login``); its existing sessions and access tokens are revoked."""
    settings = load(config)
    password = _read_password(password_stdin)

    async def body(gw: Gateway) -> None:
        acc = await gw.services.accounts.by_name(name)
        await gw.credentials.set_login(acc.id, username, password)

    execute(lambda: with_gateway(settings, body))
    print(f"login set for {name}: username {username}")


@account_app.command("smpp-login")
def account_smpp_login(
    name: str,
    system_id: Annotated[
        str, typer.Option("--system-id", help="SMPP system_id, 1-15 characters (unique)")
    ],
    config: ConfigOpt = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input")
    ] = False,
) -> None:
    """Give an account the system_id and password (1-8 characters, SMPP 3.4 4.1.1) it binds
    to the SMPP server with, replacing any it had."""
    settings = load(config)
    password = _read_password(password_stdin)

    async def body(gw: Gateway) -> None:
        acc = await gw.services.accounts.by_name(name)
        await gw.services.smpp_logins.set_login(acc.id, system_id, password)

    execute(lambda: with_gateway(settings, body))
    print(f"SMPP login set for {name}: system_id {system_id}")


@account_app.command("revoke-logins")
def account_revoke_logins(name: str, config: ConfigOpt = None) -> None:
    """Revoke an account's login sessions and access tokens (the password stays)."""
    settings = load(config)

    async def body(gw: Gateway) -> int:
        acc = await gw.services.accounts.by_name(name)
        return await gw.credentials.revoke(acc.id)

    print(f"revoked: {execute(lambda: with_gateway(settings, body))}")


@account_app.command("smtp-originator")
def account_smtp_originator(
    name: str,
    address: Annotated[str | None, typer.Argument(help="Sender email address")] = None,
    config: ConfigOpt = None,
    originator: Annotated[
        str | None, typer.Option("--originator", "-o", help="Default SMS sender for it")
    ] = None,
    remove: Annotated[bool, typer.Option("--remove", help="Withdraw the authorisation")] = False,
) -> None:
    """Authorise a sender address to send SMS by mailing <00number>@ an ASPSMS domain (the
    address is the credential: keep it secret), remove one, or list them (no address)."""
    settings = load(config)

    async def body(gw: Gateway) -> list[tuple[str, str | None]]:
        acc = await gw.services.accounts.by_name(name)
        originators = gw.services.originators
        if address is not None and remove:
            await originators.remove(acc.id, address)
        elif address is not None:
            await originators.add(acc.id, address, originator)
        return [(o.address, o.originator) for o in await originators.of_account(acc.id)]

    for found, sender in execute(lambda: with_gateway(settings, body)):
        print(f"{found}\t{sender or '-'}")
