"""A stand-in for a connector whose ``start`` raised, so that one link cannot stop the gateway.

The gateway keeps running with the other connectors. Messages routed here are refused as
*never handed off* (the dispatcher puts them back to wait, no attempt used), and the health
views show the connector down with the error that stopped it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from textgate.connectors.base import (
    Connector,
    HandoffGate,
    InboundSink,
    Outcome,
    OutcomeSink,
    ReportSink,
    Submission,
)
from textgate.connectors.health import LinkHealth, LinkState
from textgate.errors import ConnectorError

__all__ = ["UnstartedConnector"]

log = logging.getLogger(__name__)


class UnstartedConnector:
    """Wraps ``inner``, whose ``start`` failed with ``error``."""

    bound_links = 0
    """Read by the stats service: no link of this connector is up."""

    def __init__(self, inner: Connector, error: str) -> None:
        self.name = inner.name
        self.inner = inner
        self.error = error
        self.kind = type(inner).__name__.removesuffix("Connector").lower() or "connector"
        self._since = datetime.now(UTC)

    async def start(self, sink: ReportSink, inbound: InboundSink | None = None) -> None:
        """Nothing: the gateway does not try a failed start again (a restart does)."""

    async def stop(self) -> None:
        # The inner connector may hold what it opened before failing.
        try:
            await self.inner.stop()
        except Exception:
            log.exception("connector %s: stop after a failed start failed", self.name)

    async def submit(
        self,
        batch: Sequence[Submission],
        done: OutcomeSink | None = None,
        gate: HandoffGate | None = None,
    ) -> list[Outcome]:
        raise ConnectorError.not_sent(
            f"connector {self.name} did not start: {self.error}", code="connector_not_started"
        )

    def links(self) -> tuple[LinkHealth, ...]:
        return (LinkHealth(self.name, LinkState.DOWN, self._since, self.error),)
