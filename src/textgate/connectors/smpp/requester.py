"""The requests one side of an SMPP session sends, and the responses it waits for.

A :class:`Requester` is the outbound half of a :class:`session.Session` (the session owns
the socket, the read loop, the keep-alive and closing; the inbound half is ``responder``).
It numbers each request (1..0x7FFFFFFF, wrapping), keeps at most ``window`` of them
outstanding, matches each response to its request by sequence_number, fails a request whose
response timeout passes and hands a response that comes after that to the request's
``on_late`` callback (:meth:`Session.begin`) rather than dropping it.

It writes through the session's hooks, so the failures keep the session's meaning
(``handoff``): a request on a closing session is refused before anything is written (*not
sent*); a timeout, a failed write and a session that closes while the request is
outstanding leave it *in doubt*.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from textgate.connectors.smpp.framing import WriteQueue
from textgate.connectors.smpp.pdus import Pdu, encode
from textgate.connectors.smpp.window import Window
from textgate.errors import ConnectorError

__all__ = ["MAX_SEQUENCE_NUMBER", "LateHandler", "PduSource", "Requester", "command_name"]

# The session's logger: these lines are the session's, whichever of its parts writes them.
log = logging.getLogger("textgate.connectors.smpp.session")

MAX_SEQUENCE_NUMBER = 0x7FFFFFFF
"""SMPP 3.4 5.1.4: sequence numbers run 0x00000001-0x7FFFFFFF."""

LateHandler = Callable[[Pdu], None]
"""Hears a response that came after its request timed out (see :meth:`Session.begin`)."""

_LATE_REMEMBERED = 100_000
"""Timed-out requests whose late answer is still listened for, per session."""

PduSource = Pdu | Callable[[int], Pdu]
"""What :meth:`Session.request` accepts: a PDU (its sequence_number is replaced) or a
factory called with the assigned sequence number."""


def command_name(pdu: Pdu) -> str:
    """The PDU's command as the specification spells it (``submit_sm``), for messages."""
    return pdu.command_id.name.lower()


class Requester:
    """This side's requests on one session; see the module docstring.

    The session's hooks: ``check_open`` raises ConnectorError (not sent) once the session
    is closing; ``send`` queues one encoded PDU (and raises the same); ``drain`` waits while
    ``out`` is congested and raises ConnectorError (in doubt) if the write fails.
    ``response_timeout`` is the default timeout of :meth:`request` and :meth:`begin`.
    """

    def __init__(
        self,
        name: str,
        window: int,
        response_timeout: float,
        *,
        out: WriteQueue,
        check_open: Callable[[], None],
        send: Callable[[bytes], None],
        drain: Callable[[], Awaitable[None]],
    ) -> None:
        self.name = name
        self.response_timeout = response_timeout
        self._out = out
        self._check_open = check_open
        self._send = send
        self._drain = drain
        self._loop = asyncio.get_running_loop()
        self._window = Window(window)
        self._window_waiters = 0
        self._pending: dict[int, asyncio.Future[Pdu]] = {}
        self._late: OrderedDict[int, LateHandler] = OrderedDict()
        self.next_seq = 1
        """The number :meth:`take_seq` tries next."""

    @property
    def outstanding(self) -> int:
        """Requests sent and not yet answered."""
        return len(self._pending)

    # ------------------------------------------------------------------ sending

    async def request(
        self,
        source: PduSource,
        timeout: float | None,  # noqa: ASYNC109 - bounds the response wait only, not the window
        *,
        windowed: bool,
    ) -> Pdu:
        """Send a request and wait for its response (see :meth:`Session.request`);
        ``windowed`` False bypasses the window (unbind, enquire_link)."""
        self._check_open()
        if windowed:
            await self._wait_for_slot()
        try:
            seq = self.take_seq()
            # The PDU is encoded with the assigned number rather than copied with it.
            pdu = source if isinstance(source, Pdu) else source(seq)
            if pdu.is_response:
                raise ValueError(f"{command_name(pdu)} is not a request")
            data = encode(pdu, seq)
            future: asyncio.Future[Pdu] = self._loop.create_future()
            self._pending[seq] = future
            try:
                await self._write(data)
                wait = self.response_timeout if timeout is None else timeout
                # A timer handle instead of asyncio.wait_for, which costs a second future,
                # a callback and a coroutine per request.
                timer = self._loop.call_later(wait, _expire, future)
                try:
                    return await future
                except TimeoutError:
                    raise ConnectorError.in_doubt(
                        f"smpp {self.name}: {command_name(pdu)} response timeout",
                        code="smpp_response_timeout",
                    ) from None
                finally:
                    timer.cancel()
            finally:
                if self._pending.get(seq) is future:
                    del self._pending[seq]
        finally:
            if windowed:
                self._window.release()

    async def begin(
        self,
        pdu: Pdu,
        timeout: float | None,  # noqa: ASYNC109
        on_late: LateHandler | None,
    ) -> asyncio.Future[Pdu]:
        """Send a request and return the future of its response (see :meth:`Session.begin`)."""
        self._check_open()
        if not self._window.try_acquire():
            await self._wait_for_slot()
        seq = self.take_seq()
        try:
            if pdu.is_response:
                raise ValueError(f"{command_name(pdu)} is not a request")
            data = encode(pdu, seq)
        except BaseException:
            self._window.release()
            raise
        future: asyncio.Future[Pdu] = self._loop.create_future()
        self._pending[seq] = future
        wait = self.response_timeout if timeout is None else timeout
        timer = self._loop.call_later(wait, self._expire_begun, seq, future, pdu, on_late)
        future.add_done_callback(lambda _: self._settle(seq, future, timer))
        self._send(data)
        if self._out.congested:
            with contextlib.suppress(ConnectorError):
                await self._drain()  # a failed write fails the future (the session closes)
        return future

    def _expire_begun(
        self, seq: int, future: asyncio.Future[Pdu], pdu: Pdu, on_late: LateHandler | None
    ) -> None:
        if future.done():
            return
        if on_late is not None:
            self._late[seq] = on_late
            while len(self._late) > _LATE_REMEMBERED:
                self._late.popitem(last=False)
        _expire_begun(future, self.name, pdu)

    def _settle(self, seq: int, future: asyncio.Future[Pdu], timer: asyncio.TimerHandle) -> None:
        timer.cancel()
        if self._pending.get(seq) is future:
            del self._pending[seq]
        self._window.release()

    def take_seq(self) -> int:
        """The next free sequence number (SMPP 3.4 5.1.4), wrapping after the last."""
        while True:
            seq = self.next_seq
            self.next_seq = 1 if seq >= MAX_SEQUENCE_NUMBER else seq + 1
            if seq not in self._pending:
                self._late.pop(seq, None)  # a wrapped number: an answer that late is void
                return seq

    async def _wait_for_slot(self) -> None:
        """Take a window slot, waiting for one; raises ConnectorError if the session
        closes meanwhile (:meth:`close` wakes the waiters)."""
        self._window_waiters += 1
        try:
            await self._window.acquire()
        finally:
            self._window_waiters -= 1
        try:
            self._check_open()
        except ConnectorError:
            self._window.release()
            raise

    async def _write(self, data: bytes) -> None:
        """Queue one PDU; wait while the transport is above its high-water mark."""
        self._send(data)
        if self._out.congested:
            await self._drain()

    # ------------------------------------------------------------------ responses

    def resolve(self, pdu: Pdu) -> None:
        """Hand a response to the request it answers (or to its late listener)."""
        future = self._pending.get(pdu.sequence_number)
        if future is not None and not future.done():
            future.set_result(pdu)
        elif (late := self._late.pop(pdu.sequence_number, None)) is not None:
            log.info(
                "%s: %s seq %d came after its timeout",
                self.name,
                command_name(pdu),
                pdu.sequence_number,
            )
            try:
                late(pdu)
            except Exception:
                log.exception("%s: handling a late answer failed", self.name)
        else:
            log.warning(
                "%s: %s seq %d answers no pending request (late or unknown)",
                self.name,
                command_name(pdu),
                pdu.sequence_number,
            )

    def undecodable(self, seq: int) -> None:
        """A response numbered ``seq`` came and does not decode: its request fails."""
        future = self._pending.get(seq)
        if future is not None and not future.done():
            future.set_exception(
                ConnectorError.in_doubt(
                    f"smpp {self.name}: undecodable response", code="smpp_bad_response"
                )
            )

    def close(self, reason: str) -> None:
        """The session is closing: fail what is outstanding, wake the window's waiters."""
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                # Written, never answered: the SMSC may have taken it.
                future.set_exception(
                    ConnectorError.in_doubt(f"smpp {self.name}: {reason}", code="smpp_link_lost")
                )
        for _ in range(self._window_waiters):
            self._window.release()


def _expire(future: asyncio.Future[Pdu]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


def _expire_begun(future: asyncio.Future[Pdu], name: str, pdu: Pdu) -> None:
    if not future.done():
        future.set_exception(
            ConnectorError.in_doubt(
                f"smpp {name}: {command_name(pdu)} response timeout",
                code="smpp_response_timeout",
            )
        )
