"""What a process checks before it starts anything, so that a setting that cannot work stops
it at once with one line (:class:`ConfigError`) instead of a traceback or a link retrying
forever.

- Connector options: ``config`` leaves ``[[connectors]] options`` to each connector type;
  they are checked here, against the type's options class, with the same one-line messages.
- Names: the default connector and the routing table (quality classes, rules, cost tables)
  name configured connectors; rules have names of their own.
- The secret key: processes sharing a database must share ``secret_key`` (it seals the
  secrets they all read back, e.g. webhook signing secrets). The first process stores a
  fingerprint of its key in the database; a process whose key gives another one refuses
  to start.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from pathlib import Path
from typing import Any, Final

from textgate.config import ConnectorSettings, Settings
from textgate.config_errors import origin
from textgate.connectors.kinds import KINDS
from textgate.core.routing import Routes
from textgate.core.routing_spec import RoutingSpecError, table_from_spec, unknown_connectors
from textgate.errors import ConfigError
from textgate.storage.db import Database
from textgate.storage.gateway_settings import GatewaySettings
from textgate.storage.migrate import upgrade
from textgate.storage.secrets import KEY_FILE, load_key

__all__ = [
    "ConnectorOptions",
    "check_secret_key",
    "check_settings",
    "connector_options",
    "key_fingerprint",
    "preflight",
    "prepare_database",
    "secret_key",
]

log = logging.getLogger(__name__)

ConnectorOptions = Any
"""The options object of some connector type (``connectors.kinds``)."""

FINGERPRINT: Final = "secret_key_fingerprint"
# The fingerprint is an HMAC of this label under the key: it tells keys apart and reveals
# nothing about them (a plain hash of a weak passphrase could be looked up).
_LABEL: Final = b"textgate secret_key fingerprint v1"
_SHOWN_HEX: Final = 12


def check_settings(settings: Settings) -> None:
    """Every problem with connector options and connector names, raised together."""
    problems: list[str] = []
    for index, cfg in enumerate(settings.connectors):
        try:
            connector_options(cfg, index, settings)
        except ConfigError as exc:
            problems += exc.problems
    names = [c.name for c in settings.connectors]
    listed = ", ".join(repr(n) for n in names)
    if settings.default_connector is not None and settings.default_connector not in names:
        problems.append(
            f"default_connector = {settings.default_connector!r}: "
            f"allowed: the name of a connector ({listed})"
        )
    for quality, name in sorted(settings.routing.quality.items()):
        if name not in names:
            problems.append(
                f"routing.quality.{quality} = {name!r}: allowed: the name of a connector ({listed})"
            )
    problems += _routing_problems(settings, names)
    if problems:
        raise ConfigError(problems)


def _routing_problems(settings: Settings, names: list[str]) -> list[str]:
    """The routing table's rules and costs (``[[routing.rules]]``, ``[routing.costs]``):
    names of connectors and of rules; values were checked as the settings were read."""
    spec = settings.routing.spec()
    problems = unknown_connectors(spec, names, "routing.")
    try:
        table_from_spec(spec, Routes(settings.primary_connector))
    except RoutingSpecError as exc:
        problems += [f"routing.{p}" for p in exc.problems]
    return problems


def connector_options(
    cfg: ConnectorSettings, index: int = 0, settings: Settings | None = None
) -> ConnectorOptions:
    """The options of connector ``cfg`` (``connectors[index]``), checked by its type
    (``connectors.kinds``): unknown keys, types and ranges, required options. ``settings``
    tells where the value came from, for the line about an unknown type."""
    kind = KINDS.get(cfg.type)
    if kind is None:
        allowed = ", ".join(repr(name) for name in KINDS)
        where = _where(("connectors", index, "type"), settings)
        raise ConfigError(
            [f"connectors[{index}].type = {cfg.type!r}{where}: allowed: one of {allowed}"]
        )
    return kind.parse(cfg.options, f"connectors[{index}].options", cfg.name)


def _where(loc: tuple[str | int, ...], settings: Settings | None) -> str:
    """`` (from TEXTGATE_X)`` or `` (in file)``, as the settings' own lines say it."""
    found = origin(loc, os.environ)
    if found is None and settings is not None:
        path = settings.config_file or os.environ.get("TEXTGATE_CONFIG")
        found = f"in {path}" if path else None
    return f" ({found})" if found else ""


def secret_key(settings: Settings) -> str:
    """The ``secret_key`` setting, else the key file in the data directory (made once)."""
    key = settings.secret_key
    return key.get_secret_value() if key is not None else load_key(Path(settings.data_dir))


def key_fingerprint(key: str) -> str:
    return hmac.new(key.encode(), _LABEL, hashlib.sha256).hexdigest()


async def prepare_database(db: Database, settings: Settings, key: str, *, migrate: bool) -> None:
    """Migrate the database if asked, and check ``key`` against it: before migrating when
    the database already knows a key (a refused process changes nothing), else after."""
    checked = await check_secret_key(db, settings, key)
    if migrate:
        await upgrade(db)
    if not checked and not await check_secret_key(db, settings, key):
        # A database behind its migrations: `textgate migrate` adds the table, and the
        # next start of each process checks.
        log.warning("secret_key not checked against the database: run textgate migrate")


async def check_secret_key(db: Database, settings: Settings, key: str) -> bool:
    """Store this key's fingerprint if the database has none; refuse another key. False
    if the database has no place for it yet (not migrated this far)."""
    stored = GatewaySettings(db)
    if not await stored.has_table():
        return False
    mine = key_fingerprint(key)
    theirs = await stored.claim(FINGERPRINT, mine)
    if hmac.compare_digest(mine, theirs):
        return True
    where = (
        "the secret_key setting"
        if settings.secret_key is not None
        else f"the key file {Path(settings.data_dir) / KEY_FILE}"
    )
    raise ConfigError(
        [
            f"secret_key (from {where}, fingerprint {mine[:_SHOWN_HEX]}) is not the key this "
            f"database was first used with (fingerprint {theirs[:_SHOWN_HEX]}): every process "
            "sharing a database needs the same secret_key"
        ]
    )


async def preflight(settings: Settings) -> None:
    """The checks of :meth:`textgate.runtime.Gateway.start`, for a process that starts its
    gateway where a failure would not reach the command line as one line (``serve``: the
    gateway starts inside the HTTP server's lifespan). Migrates nothing: a database that
    has no key yet takes the one of the first process that starts."""
    check_settings(settings)
    db, key = _open(settings)
    try:
        await check_secret_key(db, settings, key)
    finally:
        await db.dispose()


def _open(settings: Settings) -> tuple[Database, str]:
    if settings.is_sqlite:
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url, sqlite_synchronous=settings.sqlite_synchronous)
    return db, secret_key(settings)
