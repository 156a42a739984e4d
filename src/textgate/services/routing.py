"""The routing table in force: the config file's, or the one stored through the admin API.

A table stored through the admin API (``PUT /v1/admin/routing``) wins over the config file's
``[[routing.rules]]`` and ``[routing.costs]`` in every process sharing the database, until it
is deleted (``DELETE /v1/admin/routing``): then the config file's table is in force again.
The fallback (``[routing] quality`` and the default connector) always comes from the config
file, as do the connectors.

A stored table that no longer fits the configuration (it names a connector since removed) is
not used: the config file's table is, and the view says why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from textgate.core.clock import Clock, system_clock
from textgate.core.routing import Routes, RoutingTable
from textgate.core.routing_spec import spec_of, table_from_spec, unknown_connectors
from textgate.errors import InvalidRequest
from textgate.storage.routing_tables import RoutingTableRepo

__all__ = ["CONFIG", "STORED", "ConnectorHealth", "RoutingService", "RoutingView"]

log = logging.getLogger(__name__)

CONFIG = "config"
"""The table in force is the config file's."""
STORED = "stored"
"""The table in force was stored through the admin API."""


@dataclass(frozen=True, slots=True)
class ConnectorHealth:
    """How this process's dispatcher sees a connector (``dispatch.links``)."""

    name: str
    state: str
    """``up``, ``down`` (no link up) or ``failing`` (refusing too much lately)."""
    handoffs: int = 0
    failed: int = 0


@dataclass(frozen=True, slots=True)
class RoutingView:
    table: RoutingTable
    source: str
    """:data:`CONFIG` or :data:`STORED`."""
    updated_at: int | None = None
    """When the stored table was stored (ms)."""
    problem: str | None = None
    """Why a stored table is not in force."""
    spec: dict[str, Any] = field(default_factory=dict)
    """The table's rules and costs in plain form (``core.routing_spec``)."""


class RoutingService:
    def __init__(
        self,
        repo: RoutingTableRepo,
        *,
        configured: Mapping[str, Any],
        fallback: Routes,
        connectors: Sequence[str],
        clock: Clock = system_clock,
    ) -> None:
        """``configured``: the config file's rules and costs (checked as the process starts,
        ``startup.check_settings``; read on first use)."""
        self._repo = repo
        self._fallback = fallback
        self._connectors = tuple(connectors)
        self._clock = clock
        self._configured = dict(configured)
        self._config_table: RoutingTable | None = None
        self._view: RoutingView | None = None
        self._version: int | None = None
        self._listeners: list[Callable[[RoutingTable], None]] = []
        self.health: Callable[[], Mapping[str, ConnectorHealth]] = lambda: {}
        """Each connector's health as this process's dispatcher sees it (none without one)."""

    @property
    def fallback(self) -> Routes:
        """Where messages no rule matches go (the config file's quality classes and default
        connector)."""
        return self._fallback

    @property
    def connectors(self) -> tuple[str, ...]:
        return self._connectors

    def configured_table(self) -> RoutingTable:
        """The config file's table (in force while no table is stored)."""
        return self._config_view().table

    def subscribe(self, listener: Callable[[RoutingTable], None]) -> None:
        """Tell ``listener`` of every table this process puts in force."""
        self._listeners.append(listener)

    async def view(self) -> RoutingView:
        """The table in force, read from the database now."""
        stored = await self._repo.get()
        self._version = None if stored is None else stored.updated_at
        if stored is None:
            view = self._config_view()
        else:
            view = self._stored_view(stored.spec, stored.updated_at)
        self._view = view
        return view

    async def table(self) -> RoutingTable:
        """The table in force; read again only when the stored one changed (one small
        query), so dispatchers may ask often."""
        version = await self._repo.version()
        if version != self._version or self._view is None:
            return (await self.view()).table
        return self._view.table

    async def replace(self, spec: Mapping[str, Any]) -> RoutingView:
        """Store ``spec`` and put it in force; :class:`InvalidRequest` naming what is wrong."""
        table = table_from_spec(spec, self._fallback)
        problems = unknown_connectors(spec, self._connectors, "")
        if problems:
            raise InvalidRequest("; ".join(problems))
        stored = await self._repo.put(spec_of(table), self._clock())
        self._version = stored.updated_at
        view = self._view = RoutingView(table, STORED, stored.updated_at, None, stored.spec)
        self._tell()
        return view

    async def reset(self) -> RoutingView:
        """Forget the stored table: the config file's is in force again."""
        await self._repo.delete()
        self._version = None
        view = self._view = self._config_view()
        self._tell()
        return view

    def _tell(self) -> None:
        table = self._current().table
        for listener in self._listeners:
            listener(table)

    def _current(self) -> RoutingView:
        if self._view is None:
            self._view = self._config_view()
        return self._view

    def _config_view(self, problem: str | None = None) -> RoutingView:
        if self._config_table is None:
            self._config_table = table_from_spec(self._configured, self._fallback)
        table = self._config_table
        return RoutingView(table, CONFIG, None, problem, spec_of(table))

    def _stored_view(self, spec: dict[str, Any], updated_at: int) -> RoutingView:
        try:
            table = table_from_spec(spec, self._fallback)
            problems = unknown_connectors(spec, self._connectors, "")
            if problems:
                raise InvalidRequest("; ".join(problems))
        except InvalidRequest as exc:
            problem = f"the stored table is not used: {exc.message}"
            if self._view is None or problem != self._view.problem:
                log.error("routing: %s", problem)
            return self._config_view(problem)
        return RoutingView(table, STORED, updated_at, None, spec_of(table))
