"""An SMSC simulator (SMPP 3.4 server) for development, tests and benchmarks.

It runs one :class:`Session` per TCP connection, with a handler that:

- authenticates bind_transmitter / bind_receiver / bind_transceiver against ``accounts``
  (ESME_RINVSYSID for an unknown system_id, ESME_RINVPASWD for a wrong password,
  ESME_RALYBND for a second bind on the same link); every other request before a successful
  bind is answered ESME_RINVBNDSTS, as is submit_sm on a receiver bind;
- answers submit_sm with a unique message id (hex), except every ``throttle_every``-th
  submit_sm (ESME_RTHROTTLED) and destinations starting with ``reject_prefix``
  (ESME_RINVDSTADR);
- when the submit_sm's registered_delivery asks for it (bits 1-0 = 01, or 10 and the final
  state is a failure, 5.2.17), sends a delivery receipt deliver_sm to the same session
  after ``receipt_delay_ms``: esm_class 0x04, the Appendix B text with ``final_stat``, and
  the receipted_message_id and message_state TLVs (5.3.2.12, 5.3.2.35).

enquire_link and unbind are answered by the Session itself. :meth:`Smsc.send_mo` originates
a mobile-originated deliver_sm to a bound receiver or transceiver.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from textgate.connectors.smpp.constants import CommandStatus, MessageState, PduError, Tag
from textgate.connectors.smpp.pdus import (
    BIND_RESPONSE,
    NO_TLVS,
    Bind,
    BindReceiver,
    BindResp,
    BindTransceiver,
    BindTransmitter,
    DeliverSm,
    GenericNack,
    Pdu,
    SubmitSm,
    SubmitSmResp,
)
from textgate.connectors.smpp.session import Session
from textgate.connectors.smpp.shortmessage import decode_short_message, encode_short_message
from textgate.core.encoding import Encoding, choose_encoding
from textgate.errors import ConnectorError

__all__ = ["FINAL_STATS", "Smsc", "SmscOptions"]

log = logging.getLogger(__name__)

FINAL_STATS: Final[Mapping[str, MessageState]] = {
    "DELIVRD": MessageState.DELIVERED,
    "EXPIRED": MessageState.EXPIRED,
    "DELETED": MessageState.DELETED,
    "UNDELIV": MessageState.UNDELIVERABLE,
    "ACCEPTD": MessageState.ACCEPTED,
    "UNKNOWN": MessageState.UNKNOWN,
    "REJECTD": MessageState.REJECTED,
}
"""Appendix B ``stat`` values a receipt may carry, with their 5.2.28 message_state."""

_ESM_DELIVERY_RECEIPT: Final = 0x04
_MAX_SHORT_MESSAGE: Final = 254
_RECEIPT_TEXT_CHARS: Final = 20


def _default_accounts() -> dict[str, str]:
    return {"textgate": "textgate"}


@dataclass(frozen=True, slots=True)
class SmscOptions:
    host: str = "127.0.0.1"
    port: int = 2776
    """0 picks a free port (see :attr:`Smsc.port`)."""
    accounts: Mapping[str, str] = field(default_factory=_default_accounts)
    """system_id -> password."""
    system_id: str = "textgate-smsc"
    """The SMSC's own system_id, sent in bind responses."""
    receipt_delay_ms: int = 200
    final_stat: str = "DELIVRD"
    """The ``stat`` of every delivery receipt (one of :data:`FINAL_STATS`)."""
    throttle_every: int = 0
    """Every Nth submit_sm is answered ESME_RTHROTTLED; 0 = never."""
    reject_prefix: str = ""
    """submit_sm to a destination starting with this is answered ESME_RINVDSTADR."""
    window: int = 10
    """Most deliver_sm outstanding at once per session."""
    response_timeout: float = 10.0
    enquire_link_interval: float = 30.0
    """0 disables the SMSC's own keep-alive."""
    unbind_timeout: float = 2.0

    def __post_init__(self) -> None:
        if self.final_stat not in FINAL_STATS:
            raise ValueError(
                f"final_stat must be one of {', '.join(FINAL_STATS)}, got {self.final_stat!r}"
            )
        if self.throttle_every < 0:
            raise ValueError("throttle_every must be 0 or more")
        if self.receipt_delay_ms < 0:
            raise ValueError("receipt_delay_ms must be 0 or more")
        if self.window < 1:
            raise ValueError("window must be at least 1")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port out of range: {self.port}")

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any]) -> SmscOptions:
        known = {k: v for k, v in options.items() if k in cls.__dataclass_fields__}
        unknown = set(options) - set(known)
        if unknown:
            raise ValueError(f"unknown smsc options: {', '.join(sorted(unknown))}")
        if "accounts" in known:
            known["accounts"] = dict(known["accounts"])
        return cls(**known)


class _Link:
    """One client connection and its bind state."""

    __slots__ = ("bind_type", "session", "system_id")

    def __init__(self) -> None:
        self.session: Session | None = None
        self.bind_type: type[Bind] | None = None
        self.system_id = ""

    @property
    def can_transmit(self) -> bool:
        return self.bind_type in (BindTransmitter, BindTransceiver)

    @property
    def can_receive(self) -> bool:
        return self.bind_type in (BindReceiver, BindTransceiver)


class Smsc:
    """The simulator. ``await start()``, then connect ESMEs to ``host:port``; ``await stop()``.

    Counters: ``submitted`` (submit_sm accepted), ``receipts_sent`` (receipts the ESME
    answered), ``throttled``, ``rejected`` (ESME_RINVDSTADR), ``mo_sent`` (send_mo answered).
    """

    def __init__(self, options: SmscOptions | None = None) -> None:
        self.options = options or SmscOptions()
        self.host = self.options.host
        self.port = self.options.port
        self.submitted = 0
        self.receipts_sent = 0
        self.throttled = 0
        self.rejected = 0
        self.mo_sent = 0
        self._submit_count = 0
        self._ids = itertools.count(1)
        self._server: asyncio.Server | None = None
        self._links: list[_Link] = []
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ lifecycle

    @property
    def bound_sessions(self) -> int:
        """Links with a successful bind that are still open."""
        return sum(
            1
            for link in self._links
            if link.bind_type is not None and link.session is not None and not link.session.closed
        )

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("smsc already started")
        self._server = await asyncio.start_server(
            self._on_client, self.options.host, self.options.port
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("smsc listening on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        """Stop listening, unbind every session, drop pending receipts."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        sessions = [link.session for link in self._links if link.session is not None]
        await asyncio.gather(
            *(s.unbind(timeout=self.options.unbind_timeout) for s in sessions),
            return_exceptions=True,
        )
        if server is not None:
            await server.wait_closed()

    async def __aenter__(self) -> Smsc:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = _Link()
        opts = self.options

        async def handler(pdu: Pdu) -> Pdu | None:
            return await self._handle(link, pdu)

        session = Session(
            reader,
            writer,
            handler=handler,
            window=opts.window,
            response_timeout=opts.response_timeout,
            enquire_link_interval=opts.enquire_link_interval or None,
            name=f"smsc<-{_peer(writer)}",
        )
        link.session = session
        self._links.append(link)
        try:
            await session.wait_closed()
        finally:
            self._links.remove(link)

    # ------------------------------------------------------------------ requests

    async def _handle(self, link: _Link, pdu: Pdu) -> Pdu | None:
        seq = pdu.sequence_number
        if isinstance(pdu, Bind):
            return self._bind(link, pdu)
        if isinstance(pdu, SubmitSm):
            if not link.can_transmit:
                return SubmitSmResp(
                    sequence_number=seq, command_status=CommandStatus.ESME_RINVBNDSTS
                )
            return self._submit(link, pdu)
        status = (
            CommandStatus.ESME_RINVBNDSTS
            if link.bind_type is None
            else CommandStatus.ESME_RINVCMDID
        )
        return GenericNack(sequence_number=seq, command_status=status)

    def _bind(self, link: _Link, pdu: Bind) -> BindResp:
        resp_cls = BIND_RESPONSE[type(pdu)]
        expected = self.options.accounts.get(pdu.system_id)
        if link.bind_type is not None:
            status = CommandStatus.ESME_RALYBND
        elif expected is None:
            status = CommandStatus.ESME_RINVSYSID
        elif pdu.password != expected:
            status = CommandStatus.ESME_RINVPASWD
        else:
            status = CommandStatus.ESME_ROK
            link.bind_type = type(pdu)
            link.system_id = pdu.system_id
        log.info("smsc: %s %r: %s", type(pdu).__name__, pdu.system_id, CommandStatus(status).name)
        return resp_cls(
            sequence_number=pdu.sequence_number,
            command_status=status,
            system_id=self.options.system_id,
        )

    def _submit(self, link: _Link, pdu: SubmitSm) -> SubmitSmResp:
        opts = self.options
        seq = pdu.sequence_number
        self._submit_count += 1
        if opts.throttle_every and self._submit_count % opts.throttle_every == 0:
            self.throttled += 1
            return SubmitSmResp(sequence_number=seq, command_status=CommandStatus.ESME_RTHROTTLED)
        if opts.reject_prefix and pdu.destination_addr.startswith(opts.reject_prefix):
            self.rejected += 1
            return SubmitSmResp(sequence_number=seq, command_status=CommandStatus.ESME_RINVDSTADR)
        message_id = f"{next(self._ids):08x}"
        self.submitted += 1
        if self._wants_receipt(pdu.registered_delivery) and link.session is not None:
            self._spawn(self._send_receipt(link.session, pdu, message_id, datetime.now(UTC)))
        return SubmitSmResp(sequence_number=seq, message_id=message_id)

    def _wants_receipt(self, registered_delivery: int) -> bool:
        """5.2.17 bits 1-0: 01 = receipt on success or failure, 10 = on failure only."""
        mode = registered_delivery & 0x03
        return mode == 1 or (mode == 2 and self.options.final_stat != "DELIVRD")

    # ------------------------------------------------------------------ outbound

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_receipt(
        self, session: Session, submit: SubmitSm, message_id: str, submitted_at: datetime
    ) -> None:
        opts = self.options
        await asyncio.sleep(opts.receipt_delay_ms / 1000)
        if session.closed:
            return
        stat = opts.final_stat
        done_at = datetime.now(UTC)
        delivered = stat == "DELIVRD"
        text = (
            f"id:{message_id} sub:001 dlvrd:{'001' if delivered else '000'} "
            f"submit date:{submitted_at:%y%m%d%H%M} done date:{done_at:%y%m%d%H%M} "
            f"stat:{stat} err:{'000' if delivered else '001'} text:{_excerpt(submit)}"
        )
        tlvs = NO_TLVS.with_str(Tag.RECEIPTED_MESSAGE_ID, message_id).with_int(
            Tag.MESSAGE_STATE, FINAL_STATS[stat], 1
        )
        receipt = DeliverSm(
            sequence_number=0,
            source_addr_ton=submit.dest_addr_ton,
            source_addr_npi=submit.dest_addr_npi,
            source_addr=submit.destination_addr,
            dest_addr_ton=submit.source_addr_ton,
            dest_addr_npi=submit.source_addr_npi,
            destination_addr=submit.source_addr,
            esm_class=_ESM_DELIVERY_RECEIPT,
            short_message=text.encode("ascii", "replace"),
            tlvs=tlvs,
        )
        try:
            resp = await session.request(receipt)
        except ConnectorError as exc:
            log.info("smsc: receipt for %s not delivered: %s", message_id, exc.message)
            return
        if resp.command_status == CommandStatus.ESME_ROK:
            self.receipts_sent += 1
        else:
            log.info("smsc: receipt for %s answered 0x%08X", message_id, resp.command_status)

    async def send_mo(
        self,
        destination: str,
        source: str,
        text: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> Pdu:
        """Send a mobile-originated deliver_sm from ``source`` (the handset) to
        ``destination`` (the ESME's number) over the newest bound receiver/transceiver;
        return the ESME's response. Raises ConnectorError (retryable) when none is bound
        or the session fails."""
        link = next(
            (
                link
                for link in reversed(self._links)
                if link.can_receive and link.session is not None and not link.session.closed
            ),
            None,
        )
        if link is None or link.session is None:
            raise ConnectorError("smsc: no bound receiver or transceiver", retryable=True)
        data_coding = 0 if choose_encoding(text) == Encoding.GSM7 else 8
        data = encode_short_message(text, data_coding)
        short_message, tlvs = data, NO_TLVS
        if len(data) > _MAX_SHORT_MESSAGE:
            short_message, tlvs = b"", NO_TLVS.with_bytes(Tag.MESSAGE_PAYLOAD, data)
        pdu = DeliverSm(
            sequence_number=0,
            source_addr_ton=1 if source.lstrip("+").isdigit() else 5,
            source_addr_npi=1 if source.lstrip("+").isdigit() else 0,
            source_addr=source.lstrip("+"),
            destination_addr=destination.lstrip("+"),
            data_coding=data_coding,
            short_message=short_message,
            tlvs=tlvs,
        )
        resp = await link.session.request(pdu, timeout)
        if resp.command_status == CommandStatus.ESME_ROK:
            self.mo_sent += 1
        return resp


def _excerpt(submit: SubmitSm) -> str:
    """The first characters of the submitted text, printable ASCII only."""
    data = submit.short_message or submit.tlvs.get(Tag.MESSAGE_PAYLOAD) or b""
    with contextlib.suppress(PduError, ValueError):
        text = decode_short_message(data, submit.data_coding, submit.esm_class).text or ""
        return "".join(c if " " <= c <= "~" else "?" for c in text[:_RECEIPT_TEXT_CHARS])
    return ""


def _peer(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer or "?")
