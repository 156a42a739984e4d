"""The android connector: hands messages to the account's phones and wakes them up.

``submit`` places each message on a device (through the injected :class:`DeviceOutbox`)
and publishes ``MessageEnqueued`` on the device's open event stream, so the phone pulls at
once. The message is ``sent`` once a phone has it; the phone's own state reports (through
the device API) move it on to delivered, failed, expired or cancelled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from textgate.connectors.android.hub import WakeHub
from textgate.connectors.android.outbox import AndroidOptions, DeviceOutbox
from textgate.connectors.base import (
    HandoffGate,
    InboundSink,
    Outcome,
    OutcomeSink,
    ReportSink,
    Submission,
)
from textgate.core.devices import DeviceEvent, EventName
from textgate.loops import LoopRegistry, stop_loop

__all__ = ["AndroidConnector"]

log = logging.getLogger(__name__)

ENQUEUED = DeviceEvent(EventName.MESSAGE_ENQUEUED)


class AndroidConnector:
    def __init__(
        self,
        name: str,
        options: AndroidOptions,
        outbox: DeviceOutbox,
        hub: WakeHub,
        loops: LoopRegistry | None = None,
    ) -> None:
        self.name = name
        self.options = options
        self._outbox = outbox
        self._hub = hub
        self._loops = loops or LoopRegistry()
        self._task: asyncio.Task[None] | None = None

    async def start(self, sink: ReportSink, inbound: InboundSink | None = None) -> None:
        # Reports and received messages reach the gateway through the device API; the
        # sinks are not needed here.
        self._task = self._loops.spawn(f"android-{self.name}", self._sweep_once)

    async def stop(self) -> None:
        await stop_loop(self._task)
        self._task = None

    async def submit(
        self,
        batch: Sequence[Submission],
        done: OutcomeSink | None = None,
        gate: HandoffGate | None = None,
    ) -> list[Outcome]:
        placements = await self._outbox.place(
            self.name, batch, self.options.rules, self._hub.connected()
        )
        for device_id in {p.device_id for p in placements if p.device_id}:
            self._hub.publish(device_id, ENQUEUED)
        return [Outcome(p.message_id, external_id=p.external_id, error=p.error) for p in placements]

    async def sweep(self) -> None:
        swept = await self._outbox.sweep(self.name, self.options.rules, self._hub.connected())
        for device_id in swept.woken:
            self._hub.publish(device_id, ENQUEUED)
        if swept.failed:
            log.warning(
                "%s: %d message(s) failed: phone offline before taking them (failover ="
                " fail) or their chosen phone removed",
                self.name,
                swept.failed,
            )
        if swept.expired:
            log.info("%s: %d message(s) expired on phones", self.name, swept.expired)

    async def _sweep_once(self) -> None:
        await asyncio.sleep(self.options.sweep_seconds)
        await self.sweep()
