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

The two directions are collaborators of the session: ``requester`` holds this side's
requests (sequence numbers, window, responses awaited, late answers), ``responder`` runs
the handler on the peer's requests. The session owns the socket, the read loop, the
keep-alive and closing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from types import TracebackType

from textgate.connectors.smpp.constants import CommandId, PduError
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
from textgate.connectors.smpp.requester import (
    MAX_SEQUENCE_NUMBER,
    LateHandler,
    PduSource,
    Requester,
)
from textgate.connectors.smpp.responder import Handler, Responder
from textgate.connectors.smpp.status import status_name
from textgate.errors import ConnectorError

__all__ = ["MAX_SEQUENCE_NUMBER", "Handler", "LateHandler", "PduSource", "Session"]

log = logging.getLogger(__name__)

_READ_CHUNK = 64 * 1024


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
        self.enquire_link_interval = enquire_link_interval
        self._reader = reader
        self._writer = writer
        self._framer = Framer(max_pdu_length)
        self._loop = asyncio.get_running_loop()
        self._out = WriteQueue(writer, self._begin_close)
        self._tasks: set[asyncio.Task[None]] = set()
        self._requests = Requester(
            self.name,
            window,
            response_timeout,
            out=self._out,
            check_open=self._check_open,
            send=self._send,
            drain=self._drain,
        )
        self._responder = Responder(
            self.name,
            handler,
            inbound_window,
            out=self._out,
            send=self._send,
            closing=lambda: self._closing,
            drain=self._drain,
            tasks=self._tasks,
        )
        self._last_rx = self._loop.time()
        self._closing = False
        self._close_started = False
        self._closed_event = asyncio.Event()
        self._spawn(self._read_loop(), "read")
        if enquire_link_interval:
            self._spawn(self._keepalive(enquire_link_interval), "keepalive")

    # ------------------------------------------------------------------ public API

    @property
    def response_timeout(self) -> float:
        """The default timeout of ``request`` and ``begin``, and the keep-alive's."""
        return self._requests.response_timeout

    @response_timeout.setter
    def response_timeout(self, value: float) -> None:
        self._requests.response_timeout = value

    @property
    def closed(self) -> bool:
        """True once the session has started closing; no request can be sent any more."""
        return self._closing

    @property
    def outstanding(self) -> int:
        """Requests sent by this side and not yet answered."""
        return self._requests.outstanding

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
        return await self._requests.request(pdu, timeout, windowed=True)

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
        return await self._requests.begin(pdu, timeout, on_late)

    async def unbind(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Send unbind, wait for unbind_resp (or the timeout, or the peer closing), close."""
        if self._closing:
            await self.close()
            return
        try:
            resp = await self._requests.request(Unbind(sequence_number=0), timeout, windowed=False)
            if resp.command_status:
                log.info("%s: unbind answered %s", self.name, status_name(resp.command_status))
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

    # ------------------------------------------------------------------ writing

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
        self._requests.close(reason)
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
                                self._requests.resolve(pdu)
                            elif not self._on_request(pdu):
                                # back-pressure: stop reading while the handlers are busy
                                await self._responder.start_when_free(pdu)
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
            if command_id & 0x80000000:
                self._requests.undecodable(exc.sequence_number or 0)
            self._nack(exc)
            return None

    def _on_request(self, pdu: Pdu) -> bool:
        """Answer or start handling an inbound request; False if the inbound window is
        full (the caller waits for a slot: :meth:`Responder.start_when_free`)."""
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
        return self._responder.try_start(pdu)

    # ------------------------------------------------------------------ keep-alive

    async def _keepalive(self, interval: float) -> None:
        while not self._closing:
            delay = self._last_rx + interval - self._loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
                continue
            try:
                await self._requests.request(EnquireLink(sequence_number=0), None, windowed=False)
            except ConnectorError as exc:
                if not self._closing:
                    log.warning("%s: keep-alive failed: %s", self.name, exc.message)
                    self._begin_close("enquire_link unanswered")
                return
            self._last_rx = self._loop.time()


def _peer_name(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer or "?")
