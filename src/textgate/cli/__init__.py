"""Command line: ``textgate serve | worker | migrate | account ... | send``."""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
import sys
from typing import Annotated

import typer

from textgate.cli.accounts import account_app
from textgate.cli.common import ConfigOpt, console, execute, load, settle_heap
from textgate.cli.devices import device_app
from textgate.cli.mailup import mailup_app
from textgate.cli.phone import phone_command
from textgate.cli.send import send_command
from textgate.cli.smsc import smsc_command
from textgate.errors import ConfigError, Conflict
from textgate.runtime import Gateway

__all__ = ["app", "main"]

log = logging.getLogger("textgate")

app = typer.Typer(help="textgate: a self-hosted SMS gateway.", no_args_is_help=True)
app.add_typer(account_app, name="account")
app.add_typer(mailup_app, name="mailup")
app.command("smsc")(smsc_command)
app.add_typer(device_app, name="device")
app.command("phone")(phone_command)
app.command("send")(send_command)


DEMO_USERNAME = "demo"


async def _demo_login(gw: Gateway, account_id: str) -> str | None:
    """A fresh password for the demo account's username (as its API key is fresh on every
    start); None if another account holds that username."""
    password = secrets.token_urlsafe(12)
    try:
        await gw.credentials.set_login(account_id, DEMO_USERNAME, password)
    except Conflict:
        return None
    return password


async def _demo_smpp_login(gw: Gateway, account_id: str) -> str | None:
    """A fresh SMPP password (8 characters, the most SMPP 3.4 allows) for the demo
    account's system_id; None if another account holds that system_id."""
    password = secrets.token_urlsafe(6)
    try:
        await gw.services.smpp_logins.set_login(account_id, DEMO_USERNAME, password)
    except Conflict:
        return None
    return password


@app.command()
def serve(
    config: ConfigOpt = None,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Development only: make a demo account and print a fresh API key and "
            "password for it (also the demo_account setting).",
        ),
    ] = False,
) -> None:
    """Run the HTTP API and the dispatcher in one process."""
    from textgate.app import create_app
    from textgate.http_server import serve_http
    from textgate.startup import preflight

    settings = load(config, demo_account=True) if demo else load(config)
    # The gateway starts inside the server's lifespan, where a refusal would end in a
    # traceback: the same checks run first, here, so that they end in one line.
    execute(lambda: preflight(settings))

    async def announce(gw: Gateway) -> None:
        settle_heap()
        base = f"http://{settings.http.host}:{settings.http.port}"
        # A log record, not a console line: in JSON mode every line of stderr is JSON.
        log.info(
            "textgate listening on %s (database: %s, connector: %s)",
            base,
            "SQLite" if settings.is_sqlite else "PostgreSQL",
            settings.primary_connector,
        )
        if not settings.demo_account:
            return
        account, key = await gw.services.accounts.ensure_demo()
        console.print(f"demo account [bold]{account.name}[/bold] ({account.id})")
        console.print(f"demo API key: [bold]{key.token}[/bold]")
        print(f"TEXTGATE_DEMO_API_KEY={key.token}", flush=True)
        password = await _demo_login(gw, account.id)
        if password is not None:
            console.print(
                f"demo login ({base}/API/v1.0/REST/login): "
                f"[bold]{DEMO_USERNAME}[/bold] / [bold]{password}[/bold]"
            )
            print(f"TEXTGATE_DEMO_LOGIN={DEMO_USERNAME}:{password}", flush=True)
        smpp = settings.smpp_server
        if smpp.enabled and (smpp_password := await _demo_smpp_login(gw, account.id)):
            console.print(
                f"demo SMPP bind ({smpp.host}:{smpp.port}): "
                f"system_id [bold]{DEMO_USERNAME}[/bold] / [bold]{smpp_password}[/bold]"
            )
            print(f"TEXTGATE_DEMO_SMPP={DEMO_USERNAME}:{smpp_password}", flush=True)

    gateway = Gateway(settings)
    asgi = create_app(settings, gateway=gateway, on_ready=announce)
    serve_http(settings, asgi, gateway.begin_shutdown)


@app.command()
def worker(config: ConfigOpt = None) -> None:
    """Run only the dispatcher (scale-out on PostgreSQL)."""
    settings = load(config)

    async def run() -> None:
        gw = Gateway(settings)
        await gw.start(dispatch=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        settle_heap()
        console.print(f"worker {gw.worker_id} running")
        await stop.wait()
        await gw.stop()

    execute(run)


@app.command()
def migrate(config: ConfigOpt = None) -> None:
    """Apply database migrations."""
    settings = load(config)
    from textgate.storage.migrate import head_revision

    async def run() -> None:
        gw = Gateway(settings)
        await gw.start(dispatch=False, migrate=True)
        await gw.stop()

    execute(run)
    console.print(f"database at revision {head_revision()}")


def main() -> None:
    try:
        app()
    except ConfigError as exc:
        # Settings that cannot run: one plain line per problem (no traceback, no wrapping
        # to the terminal's width), and the usage-error status.
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":  # pragma: no cover
    main()
