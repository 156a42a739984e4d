"""The mail sender: drains the outbound mail queue through a sink, with retries.

Interfaces never talk to a relay themselves: they commit the mail to ``mail_outbox``
(``services.mail``) and answer; this sender delivers it, so a relay outage delays mail but
loses none.
"""

from __future__ import annotations

import asyncio

from textgate.config import MailSettings
from textgate.core.clock import Clock, system_clock
from textgate.loops import LoopRegistry
from textgate.notify.sinks import MailError, MailSink
from textgate.services.outbox import Pump, Retries
from textgate.storage.mail import DueMail, MailRepo

__all__ = ["MailDispatcher"]


class MailDispatcher:
    """Drains the mail queue through a sink; purges finished mail past its retention."""

    def __init__(
        self,
        repo: MailRepo,
        sink: MailSink,
        settings: MailSettings,
        clock: Clock = system_clock,
        loops: LoopRegistry | None = None,
    ) -> None:
        self._repo = repo
        self._sink = sink
        self._settings = settings
        self._clock = clock
        self._pump = Pump(settings.poll_seconds, loops)
        self._retries = Retries(settings, clock)

    async def start(self) -> None:
        self._pump.start({"mail-send": self._send_once})

    async def stop(self) -> None:
        await self._pump.stop()

    async def _send_once(self) -> bool:
        s = self._settings
        cutoff = self._retries.purge_due()
        if cutoff is not None:
            await self._repo.purge(cutoff)
        due = await self._repo.claim(
            now=self._clock(), lease_ms=int(s.lease_seconds * 1000), limit=s.batch_size
        )
        if not due:
            return False
        gate = asyncio.Semaphore(s.concurrency)

        async def one(mail: DueMail) -> tuple[str | None, bool]:
            async with gate:
                try:
                    await asyncio.wait_for(self._sink.send(mail), s.timeout_seconds * 2)
                except MailError as exc:
                    return str(exc), exc.permanent
                except TimeoutError:
                    return "timed out", False
                return None, False

        results = await asyncio.gather(*(one(m) for m in due))
        outcomes = [
            self._retries.outcome(m.id, m.attempts, error, permanent=permanent)
            for m, (error, permanent) in zip(due, results, strict=True)
        ]
        await self._repo.record(outcomes, now=self._clock())
        return True
