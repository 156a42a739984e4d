"""What every command shares: settings, logging, running a coroutine, a gateway."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console

from textgate.config import Settings, load_settings
from textgate.errors import ConfigError, GatewayError
from textgate.observability.logs import configure_logging
from textgate.runtime import Gateway

__all__ = ["ConfigOpt", "console", "execute", "load", "settle_heap", "with_gateway"]

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


# Young-generation collections every 20,000 allocations instead of 700: a submit and its
# delivery allocate a few hundred objects, and collecting that often cost about 5 % of the
# gateway's CPU in bench/e2e.py (bench/RESULTS.md). Cyclic garbage lives a little longer.
_GC_THRESHOLDS = (20_000, 20, 50)


def settle_heap() -> None:
    """For a long-running process once it has started: what start-up allocated (modules,
    the app, settings) moves out of the collector's sight for good (``gc.freeze``), and
    collections come less often. Not for tests, which start many gateways in one process."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*_GC_THRESHOLDS)
