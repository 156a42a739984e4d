"""How an SMPP session answers the requests its peer sends (all but enquire_link and unbind,
which the session answers itself).

A :class:`Responder` is the inbound half of a :class:`session.Session` (the outbound half
is ``requester``). It runs the session's ``handler`` on each request, at most
``inbound_window`` at once: the read loop stops reading while the window is full, which is
back-pressure on the peer. Each request is handled in its own task, so a slow handler does
not stall the link, and the PDU the handler returns is queued as the response (``None``:
nothing is sent). A handler that fails, or whose response does not encode, is answered
generic_nack ESME_RSYSERR; with no handler, every request is answered generic_nack
ESME_RINVCMDID (SMPP 3.4 4.3).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable

from textgate.connectors.smpp.constants import CommandStatus, PduError
from textgate.connectors.smpp.framing import WriteQueue
from textgate.connectors.smpp.pdus import GenericNack, Pdu, encode
from textgate.connectors.smpp.requester import command_name
from textgate.connectors.smpp.window import Window
from textgate.errors import ConnectorError

__all__ = ["Handler", "Responder"]

# The session's logger: these lines are the session's, whichever of its parts writes them.
log = logging.getLogger("textgate.connectors.smpp.session")

Handler = Callable[[Pdu], Awaitable[Pdu | None]]
"""Answers one inbound request: returns the response PDU (sent by the session) or None.

A handler object may also have ``answer_now(pdu) -> asyncio.Future[Pdu | None] | None``,
tried first: a future (work it started, e.g. a report waiting for its commit) is answered
from its callback, without a task per request; None hands the request to the handler."""


class Responder:
    """The peer's requests on one session; see the module docstring.

    The session's hooks: ``send`` queues one encoded PDU (raising ConnectorError once the
    session is closing), ``closing`` says whether it is, ``drain`` waits while ``out`` is
    congested. Handler tasks join ``tasks``, the session's, which its closing cancels.
    """

    def __init__(
        self,
        name: str,
        handler: Handler | None,
        window: int,
        *,
        out: WriteQueue,
        send: Callable[[bytes], None],
        closing: Callable[[], bool],
        drain: Callable[[], Awaitable[None]],
        tasks: set[asyncio.Task[None]],
    ) -> None:
        self.name = name
        self._handler = handler
        self._answer_now: Callable[[Pdu], asyncio.Future[Pdu | None] | None] | None = getattr(
            handler, "answer_now", None
        )
        self._inbound = Window(window)
        self._out = out
        self._send = send
        self._closing = closing
        self._drain = drain
        self._tasks = tasks
        self._loop = asyncio.get_running_loop()
        self._task_name = f"smpp-handler-{name}"

    def try_start(self, pdu: Pdu) -> bool:
        """Start handling ``pdu`` if the inbound window has a free slot; False if it is
        full (the caller then waits in :meth:`start_when_free`)."""
        if not self._inbound.try_acquire():
            return False
        self.start(pdu)
        return True

    async def start_when_free(self, pdu: Pdu) -> None:
        """Wait for a free inbound slot, then start handling ``pdu``."""
        await self._inbound.acquire()
        self.start(pdu)

    def start(self, pdu: Pdu) -> None:
        """Start the handler on ``pdu``; the caller holds an inbound slot, given back once
        the answer is queued. The handler runs in its own task (a slow handler must not
        stall the link), unless its ``answer_now`` (see :data:`Handler`) takes the request:
        then the returned future's callback answers, without a task."""
        if self._answer_now is not None:
            try:
                future = self._answer_now(pdu)
            except Exception:
                log.exception("%s: handler failed on %s", self.name, command_name(pdu))
                self._answer(pdu, _nack(pdu, CommandStatus.ESME_RSYSERR))
                return
            if future is not None:
                future.add_done_callback(functools.partial(self._answer_future, pdu))
                return
        try:
            task = self._loop.create_task(self._handle(pdu), name=self._task_name)
        except BaseException:
            self._inbound.release()
            raise
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, pdu: Pdu) -> None:
        if self._handler is None:
            self._answer(pdu, _nack(pdu, CommandStatus.ESME_RINVCMDID))
            return
        try:
            response = await self._handler(pdu)
        except asyncio.CancelledError:
            self._inbound.release()
            raise
        except Exception:
            log.exception("%s: handler failed on %s", self.name, command_name(pdu))
            response = _nack(pdu, CommandStatus.ESME_RSYSERR)
        self._answer(pdu, response)
        if self._out.congested:
            with contextlib.suppress(ConnectorError):
                await self._drain()

    def _answer_future(self, pdu: Pdu, future: asyncio.Future[Pdu | None]) -> None:
        if future.cancelled():
            self._inbound.release()
            return
        exc = future.exception()
        if exc is not None:
            log.error("%s: handler failed on %s: %r", self.name, command_name(pdu), exc)
            self._answer(pdu, _nack(pdu, CommandStatus.ESME_RSYSERR))
        else:
            self._answer(pdu, future.result())

    def _answer(self, pdu: Pdu, response: Pdu | None) -> None:
        """Queue the response to an inbound request and give its slot back."""
        try:
            if response is None or self._closing():
                return
            try:
                data = encode(response)
            except PduError as exc:
                log.error("%s: handler response does not encode: %r", self.name, exc)
                data = encode(_nack(pdu, CommandStatus.ESME_RSYSERR))
            with contextlib.suppress(ConnectorError):
                self._send(data)
        finally:
            self._inbound.release()


def _nack(pdu: Pdu, status: int) -> GenericNack:
    return GenericNack(sequence_number=pdu.sequence_number, command_status=status)
