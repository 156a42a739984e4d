"""What every command shares: settings, logging, running a coroutine, a gateway."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console

from textgate.config import Settings, load_settings
from textgate.errors import ConfigError, GatewayError
from textgate.observability.logs import configure_logging
from textgate.runtime import Gateway

__all__ = ["ConfigOpt", "console", "execute", "load", "with_gateway"]

console = Console(stderr=True)
T = TypeVar("T")

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML config file", exists=True)
]


def load(config: Path | None, **overrides: object) -> Settings:
    """The settings; a problem with them raises ConfigError, which ``main`` reports."""
    settings = load_settings(config, **overrides)
    configure_logging(settings.log_level, settings.log_format)
    return settings


def execute(make: Callable[[], Awaitable[T]]) -> T:
    try:
        return asyncio.run(make())  # type: ignore[arg-type]
    except ConfigError:
        raise  # reported by ``main``, with its own exit status
    except GatewayError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from exc


async def with_gateway(settings: Settings, body: Callable[[Gateway], Awaitable[T]]) -> T:
    gw = Gateway(settings)
    await gw.start(dispatch=False, migrate=settings.is_sqlite)
    try:
        return await body(gw)
    finally:
        await gw.stop()
