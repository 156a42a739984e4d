"""An asyncio SMPP 3.4 session over one TCP stream, used by the client connector and the
SMSC simulator alike.

A :class:`Session` owns a (StreamReader, StreamWriter) pair and runs two tasks:

- the **read loop** cuts the stream into PDUs (:class:`Framer`) and dispatches each one:
  a response (generic_nack included) resolves the pending :meth:`Session.request` with the
  same sequence_number; enquire_link is answered with enquire_link_resp; unbind is answered
  with unbind_resp and the session closes; any other request goes to the ``handler`` in its
  own task (so a slow handler does not stall the link), and the PDU the handler returns is
  sent as the response (``None``: nothing is sent). A PDU that does not decode is answered
  with generic_nack carrying the decoder's command_status and the PDU's sequence_number (0 if
  unknown), and the loop goes on; a broken command_length loses the framing, so the session
  sends generic_nack and closes (SMPP 3.4 3.2, 4.3).
- the **keep-alive** sends enquire_link after ``enquire_link_interval`` seconds without
  receiving anything and closes the session if no answer comes within ``response_timeout``.

Sequence numbers are assigned by the session (1..0x7FFFFFFF, wrapping). ``request`` takes
either a factory ``lambda seq: SubmitSm(sequence_number=seq, ...)`` or a PDU built with any
placeholder sequence_number (``SubmitSm(sequence_number=0, ...)``), which is replaced.

Every failure a caller sees is a :class:`ConnectorError` that says how far the request got
(``handoff``): a closed session before the write is *not sent*; a response timeout, a failed
write and a session that closes while the request is outstanding are *in doubt* (the peer
may have acted on it). A response that comes after its timeout is handed to the request's
``on_late`` callback when it has one (:meth:`Session.begin`) rather than dropped.

Writes are coalesced (:class:`WriteQueue`). Back-pressure is the transport's: a writer
waits for ``drain`` while the transport is above its high-water mark, and the read loop
stops reading meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from types import TracebackType

from textgate.connectors.smpp.constants import CommandId, CommandStatus, PduError
from textgate.connectors.smpp.framing import Framer, WriteQueue
from textgate.connectors.smpp.pdus import (
    DEFAULT_MAX_PDU_LENGTH,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Pdu,
    Unbind,
    UnbindResp,
    decode,
    encode,
)
from textgate.connectors.smpp.window import Window
from textgate.errors import ConnectorError

__all__ = ["MAX_SEQUENCE_NUMBER", "Handler", "LateHandler", "PduSource", "Session"]

log = logging.getLogger(__name__)

MAX_SEQUENCE_NUMBER = 0x7FFFFFFF
"""SMPP 3.4 5.1.4: sequence numbers run 0x00000001-0x7FFFFFFF."""

Handler = Callable[[Pdu], Awaitable[Pdu | None]]
"""Answers one inbound request: returns the response PDU (sent by the session) or None.

A handler object may also have ``answer_now(pdu) -> asyncio.Future[Pdu | None] | None``,
tried first: a future (work it started, e.g. a report waiting for its commit) is answered
from its callback, without a task per request; None hands the request to the handler."""

LateHandler = Callable[[Pdu], None]
"""Hears a response that came after its request timed out (see :meth:`Session.begin`)."""

_LATE_REMEMBERED = 100_000
"""Timed-out requests whose late answer is still listened for, per session."""

PduSource = Pdu | Callable[[int], Pdu]
"""What :meth:`Session.request` accepts: a PDU (its sequence_number is replaced) or a
factory called with the assigned sequence number."""

_READ_CHUNK = 64 * 1024


def _status_name(status: int) -> str:
    try:
        return CommandStatus(status).name
    except ValueError:
        return f"0x{status:08X}"


def _command_name(pdu: Pdu) -> str:
    return pdu.command_id.name.lower()


class Session:
    """One SMPP link. Must be created inside a running event loop; its tasks start at once.

    ``window`` bounds the requests this side has outstanding (``request`` waits for a free
    slot); ``inbound_window`` bounds the inbound requests being handled at once (the read
    loop stops reading while it is full: back-pressure on the peer). ``response_timeout``
    is the default timeout of ``request`` and the keep-alive's. ``enquire_link_interval``
    None or 0 disables the keep-alive.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        handler: Handler | None = None,
        window: int = 10,
        inbound_window: int = 100,
        response_timeout: float = 10.0,
        enquire_link_interval: float | None = 30.0,
        max_pdu_length: int = DEFAULT_MAX_PDU_LENGTH,
        name: str = "",
    ) -> None:
        if window < 1 or inbound_window < 1:
            raise ValueError("window and inbound_window must be at least 1")
        self.name = name or _peer_name(writer)
        self.response_timeout = response_timeout
        self.enquire_link_interval = enquire_link_interval
        self._reader = reader
        self._writer = writer
        self._handler = handler
        self._answer_now: Callable[[Pdu], asyncio.Future[Pdu | None] | None] | None = getattr(
            handler, "answer_now", None
        )
        self._framer = Framer(max_pdu_length)
        self._loop = asyncio.get_running_loop()
        self._window = Window(window)
        self._window_waiters = 0
        self._inbound = Window(inbound_window)
        self._out = WriteQueue(writer, self._begin_close)
        self._handler_task_name = f"smpp-handler-{self.name}"
        self._pending: dict[int, asyncio.Future[Pdu]] = {}
        self._late: OrderedDict[int, LateHandler] = OrderedDict()
        self._next_seq = 1
        self._last_rx = self._loop.time()
        self._closing = False
        self._close_started = False
        self._closed_event = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._spawn(self._read_loop(), "read")
        if enquire_link_interval:
            self._spawn(self._keepalive(enquire_link_interval), "keepalive")

    # ------------------------------------------------------------------ public API

    @property
    def closed(self) -> bool:
        """True once the session has started closing; no request can be sent any more."""
        return self._closing

    @property
    def outstanding(self) -> int:
        """Requests sent by this side and not yet answered."""
        return len(self._pending)

    async def wait_closed(self) -> None:
        """Wait until the session is fully closed (tasks ended, socket closed)."""
        await self._closed_event.wait()

    async def request(self, pdu: PduSource, timeout: float | None = None) -> Pdu:  # noqa: ASYNC109
        """Send a request and return its response (a generic_nack is returned, not raised).

        (A ``timeout`` argument rather than ``asyncio.timeout``: it bounds the wait for the
        response only, not the wait for a window slot, and a late response is then dropped.)

        Waits for a free window slot first. ``timeout`` (default ``response_timeout``)
        covers the wait for the response. Raises ConnectorError(retryable=True) on timeout,
        on a closed or closing session and on a failed write; PduError if the PDU does not
        encode.
        """
        return await self._request(pdu, timeout, windowed=True)

    async def begin(
        self,
        pdu: Pdu,
        timeout: float | None = None,  # noqa: ASYNC109
        *,
        on_late: LateHandler | None = None,
    ) -> asyncio.Future[Pdu]:
        """Send a request and return the future of its response, without waiting for it.

        ``on_late`` hears the response if it comes after the timeout failed the future
        (while the session lasts): an SMSC that answers slowly still took the message.

        For callers with many requests in flight (a dispatcher batch): one future each
        instead of a task and a coroutine each. Waits for a window slot (only when none is
        free) and while the transport is congested. The slot is given back when the future
        completes. The future fails with ConnectorError(retryable=True) on a response
        timeout or when the session closes; ``begin`` itself raises ConnectorError on a
        closed session and PduError if the PDU does not encode.
        """
        self._check_open()
        if not self._window.try_acquire():
            await self._wait_for_slot()
        seq = self._take_seq()
        try:
            if pdu.is_response:
                raise ValueError(f"{_command_name(pdu)} is not a request")
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
                await self._drain()  # a failed write fails the future (via _begin_close)
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

    async def unbind(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Send unbind, wait for unbind_resp (or the timeout, or the peer closing), close."""
        if self._closing:
            await self.close()
            return
        try:
            resp = await self._request(Unbind(sequence_number=0), timeout, windowed=False)
            if resp.command_status:
                log.info("%s: unbind answered %s", self.name, _status_name(resp.command_status))
        except ConnectorError as exc:
            log.info("%s: unbind: %s", self.name, exc.message)
        finally:
            await self.close()

    async def close(self) -> None:
        """Close now: fail pending requests (retryable), cancel the session's tasks, close
        the socket. Idempotent; safe to call from a handler."""
        current = asyncio.current_task()
        if self._close_started:
            if current not in self._tasks:
                await self._closed_event.wait()
            return
        self._close_started = True
        self._begin_close("session closed")
        try:
            others = [t for t in self._tasks if t is not current]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
        finally:
            self._closed_event.set()
            log.debug("%s: closed", self.name)

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ------------------------------------------------------------------ requests

    def _take_seq(self) -> int:
        while True:
            seq = self._next_seq
            self._next_seq = 1 if seq >= MAX_SEQUENCE_NUMBER else seq + 1
            if seq not in self._pending:
                self._late.pop(seq, None)  # a wrapped number: an answer that late is void
                return seq

    async def _request(
        self,
        source: PduSource,
        timeout: float | None,  # noqa: ASYNC109 - bounds the response wait only, not the window
        *,
        windowed: bool,
    ) -> Pdu:
        self._check_open()
        if windowed:
            await self._wait_for_slot()
        try:
            seq = self._take_seq()
            # The PDU is encoded with the assigned number rather than copied with it.
            pdu = source if isinstance(source, Pdu) else source(seq)
            if pdu.is_response:
                raise ValueError(f"{_command_name(pdu)} is not a request")
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
                        f"smpp {self.name}: {_command_name(pdu)} response timeout",
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

    async def _wait_for_slot(self) -> None:
        """Take a window slot, waiting for one; raises ConnectorError if the session
        closes meanwhile (close() wakes the waiters)."""
        self._window_waiters += 1
        try:
            await self._window.acquire()
        finally:
            self._window_waiters -= 1
        if self._closing:
            self._window.release()
            self._check_open()

    def _check_open(self) -> None:
        if self._closing:
            # Nothing of the request was written: the message never left.
            raise ConnectorError.not_sent(
                f"smpp {self.name}: session closed", code="smpp_not_bound"
            )

    def _send(self, data: bytes) -> None:
        """Queue one encoded PDU for the next flush (PDUs leave in the order queued)."""
        self._check_open()
        self._out.put(data)

    async def _write(self, data: bytes) -> None:
        """Queue one PDU; wait while the transport is above its high-water mark."""
        self._send(data)
        if self._out.congested:
            await self._drain()

    async def _drain(self) -> None:
        try:
            await self._writer.drain()
        except (ConnectionError, OSError, RuntimeError) as exc:
            self._begin_close(f"write failed: {exc}")
            raise ConnectorError.in_doubt(
                f"smpp {self.name}: write failed: {exc}", code="smpp_write_failed"
            ) from exc

    # ------------------------------------------------------------------ closing

    def _begin_close(self, reason: str) -> None:
        """Synchronous first half of closing: refuse new work, fail what waits, close the
        transport. The tasks are reaped by :meth:`close`."""
        if self._closing:
            return
        self._closing = True
        log.info("%s: closing (%s)", self.name, reason)
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                # Written, never answered: the SMSC may have taken it.
                future.set_exception(
                    ConnectorError.in_doubt(f"smpp {self.name}: {reason}", code="smpp_link_lost")
                )
        for _ in range(self._window_waiters):
            self._window.release()
        self._out.flush()  # what was queued (an unbind_resp, a generic_nack) still goes out
        self._writer.close()
        if not self._close_started:
            # Nobody called close(): reap the tasks in the background.
            self._spawn(self.close(), "close")

    def _spawn(self, coro: Awaitable[None], what: str) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        task.set_name(f"smpp-{what}-{self.name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ reading

    async def _read_loop(self) -> None:
        reader = self._reader
        framer = self._framer
        try:
            while not self._closing:
                data = await reader.read(_READ_CHUNK)
                if not data:
                    self._begin_close("peer closed the connection")
                    break
                self._last_rx = self._loop.time()
                try:
                    while frames := framer.feed(data):
                        data = b""
                        for frame in frames:
                            pdu = self._decode(frame)
                            if pdu is None:
                                continue
                            if pdu.is_response:
                                self._resolve(pdu)
                            elif not self._on_request(pdu):
                                # back-pressure: stop reading while the handlers are busy
                                await self._inbound.acquire()
                                self._start_handler(pdu)
                            if self._closing:
                                return
                except PduError as exc:  # framing lost (bad command_length)
                    log.warning("%s: %r; closing", self.name, exc)
                    self._nack(exc)
                    self._begin_close("framing lost")
                    break
                if self._out.congested:
                    with contextlib.suppress(ConnectorError):
                        await self._drain()  # stop reading while the peer does not read
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("%s: read loop failed", self.name)
            self._begin_close(f"read failed: {exc!r}")

    def _nack(self, exc: PduError) -> None:
        seq = exc.sequence_number or 0
        with contextlib.suppress(ConnectorError):
            self._send(encode(GenericNack(sequence_number=seq, command_status=exc.command_status)))

    def _decode(self, frame: bytes) -> Pdu | None:
        """The PDU, or None after answering an undecodable one with generic_nack."""
        try:
            return decode(frame)
        except PduError as exc:
            log.warning("%s: undecodable PDU: %r", self.name, exc)
            command_id = int.from_bytes(frame[4:8], "big")
            future = self._pending.get(exc.sequence_number or 0)
            if command_id & 0x80000000 and future is not None and not future.done():
                future.set_exception(
                    ConnectorError.in_doubt(
                        f"smpp {self.name}: undecodable response", code="smpp_bad_response"
                    )
                )
            self._nack(exc)
            return None

    def _resolve(self, pdu: Pdu) -> None:
        future = self._pending.get(pdu.sequence_number)
        if future is not None and not future.done():
            future.set_result(pdu)
        elif (late := self._late.pop(pdu.sequence_number, None)) is not None:
            log.info(
                "%s: %s seq %d came after its timeout",
                self.name,
                _command_name(pdu),
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
                _command_name(pdu),
                pdu.sequence_number,
            )

    def _on_request(self, pdu: Pdu) -> bool:
        """Answer or start handling an inbound request; False if the inbound window is
        full (the caller waits for a slot, then calls :meth:`_start_handler`)."""
        seq = pdu.sequence_number
        command_id = pdu.command_id
        if command_id == CommandId.ENQUIRE_LINK:
            with contextlib.suppress(ConnectorError):
                self._send(encode(EnquireLinkResp(sequence_number=seq)))
            return True
        if command_id == CommandId.UNBIND:
            with contextlib.suppress(ConnectorError):
                self._send(encode(UnbindResp(sequence_number=seq)))
            self._begin_close("peer unbound")
            return True
        if not self._inbound.try_acquire():
            return False
        self._start_handler(pdu)
        return True

    def _start_handler(self, pdu: Pdu) -> None:
        """Start the handler on ``pdu``; the caller holds an inbound slot, given back once
        the answer is queued. The handler runs in its own task (a slow handler must not
        stall the link), unless its ``answer_now`` (see :data:`Handler`) takes the request:
        then the returned future's callback answers, without a task."""
        if self._answer_now is not None:
            try:
                future = self._answer_now(pdu)
            except Exception:
                log.exception("%s: handler failed on %s", self.name, _command_name(pdu))
                self._answer(pdu, _nack(pdu, CommandStatus.ESME_RSYSERR))
                return
            if future is not None:
                future.add_done_callback(functools.partial(self._answer_future, pdu))
                return
        try:
            task = self._loop.create_task(self._handle(pdu), name=self._handler_task_name)
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
            log.exception("%s: handler failed on %s", self.name, _command_name(pdu))
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
            log.error("%s: handler failed on %s: %r", self.name, _command_name(pdu), exc)
            self._answer(pdu, _nack(pdu, CommandStatus.ESME_RSYSERR))
        else:
            self._answer(pdu, future.result())

    def _answer(self, pdu: Pdu, response: Pdu | None) -> None:
        """Queue the response to an inbound request and give its slot back."""
        try:
            if response is None or self._closing:
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

    # ------------------------------------------------------------------ keep-alive

    async def _keepalive(self, interval: float) -> None:
        while not self._closing:
            delay = self._last_rx + interval - self._loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
                continue
            try:
                await self._request(EnquireLink(sequence_number=0), None, windowed=False)
            except ConnectorError as exc:
                if not self._closing:
                    log.warning("%s: keep-alive failed: %s", self.name, exc.message)
                    self._begin_close("enquire_link unanswered")
                return
            self._last_rx = self._loop.time()


def _expire(future: asyncio.Future[Pdu]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


def _nack(pdu: Pdu, status: int) -> GenericNack:
    return GenericNack(sequence_number=pdu.sequence_number, command_status=status)


def _expire_begun(future: asyncio.Future[Pdu], name: str, pdu: Pdu) -> None:
    if not future.done():
        future.set_exception(
            ConnectorError.in_doubt(
                f"smpp {name}: {_command_name(pdu)} response timeout",
                code="smpp_response_timeout",
            )
        )


def _peer_name(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer or "?")
