"""One client connection: its bind, and the requests it may send once bound.

Before a successful bind every request is answered ESME_RINVBNDSTS (SMPP 3.4 2.2: only
binds are allowed in the OPEN state); a second bind on a bound connection ESME_RALYBND.
enquire_link, unbind and undecodable PDUs (generic_nack) are answered by the engine's
Session itself. A transmitter or transceiver bind may submit (submit_sm, data_sm); a
receiver bind may not (ESME_RINVBNDSTS), nor query_sm, cancel_sm and replace_sm
(:mod:`operations`), nor submit_multi (:mod:`multi`).
deliver_sm goes the other way (:mod:`deliveries`).

A submit is answered once the message is committed (nothing acknowledged is lost), with the
stored message's id; the parts of a concatenated message are collected first
(:mod:`reassembly` says which answer each part gets).

A bind's login and its account's rules are read again once they are older than
``login_recheck_seconds`` (:meth:`Connection.recheck`): a changed rule applies to an open
bind as it does to the next API request, and a login removed or set again since the bind
ends it: its requests are refused ESME_RINVBNDSTS and the server unbinds it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Protocol

from textgate.connectors.smpp.constants import CommandStatus
from textgate.connectors.smpp.multi import SubmitMulti, SubmitMultiResp
from textgate.connectors.smpp.pdus import (
    BIND_RESPONSE,
    Bind,
    BindReceiver,
    BindTransceiver,
    CancelSm,
    CancelSmResp,
    DataSm,
    DataSmResp,
    GenericNack,
    Pdu,
    QuerySm,
    QuerySmResp,
    ReplaceSm,
    ReplaceSmResp,
    SubmitSm,
    SubmitSmResp,
)
from textgate.core.accounts import Account
from textgate.core.clock import Clock, from_ms
from textgate.core.recent_count import RecentCount
from textgate.errors import GatewayError
from textgate.services.registry import Services
from textgate.services.smpp_binds import RATE_SPAN_SECONDS
from textgate.services.submit_request import SubmitRequest
from textgate.smpp_server.errors import Refused, bind_status, submit_status
from textgate.smpp_server.messages import Submitted, read_submit
from textgate.smpp_server.multi import submit_multi
from textgate.smpp_server.operations import cancel, query, replace
from textgate.smpp_server.reassembly import Reassembly

__all__ = ["INTERFACE", "SYSTEM_ID", "BindLimit", "Connection"]

log = logging.getLogger(__name__)

INTERFACE = "smpp"
"""The interface name stored with each message."""
SYSTEM_ID = "textgate"
"""The system_id the server names itself with in bind responses (4.1.2)."""

_S = CommandStatus
_OPERATION_RESPONSES: dict[type[Pdu], type[QuerySmResp | CancelSmResp | ReplaceSmResp]] = {
    QuerySm: QuerySmResp,
    CancelSm: CancelSmResp,
    ReplaceSm: ReplaceSmResp,
}


class BindLimit(Protocol):
    """The server's count of open binds per account."""

    def take(self, account_id: str) -> bool: ...

    def give_back(self, account_id: str) -> None: ...


class Connection:
    def __init__(
        self,
        services: Services,
        limit: BindLimit,
        client_ip: str | None,
        *,
        max_parts: int,
        reassembly_timeout: float,
        clock: Clock,
        submitted: Counter[str] | None = None,
        recheck_seconds: float = 5.0,
    ) -> None:
        """``submitted``: submits accepted per account name, shared by the server's
        connections (it outlives each)."""
        self._services = services
        self._clock = clock
        self._limit = limit
        self.client_ip = client_ip
        self.account: Account | None = None
        self.bind_type: type[Bind] | None = None
        self.bound = asyncio.Event()
        self._binding = False
        self._parts = Reassembly(self._store, max_parts=max_parts, timeout=reassembly_timeout)
        # What the server's bind snapshot reports: counted, never listed per message.
        self.bound_at: int | None = None
        self.requests = 0
        """The client's requests being answered now (its window in use)."""
        self.submits = 0
        self.recent_submits = RecentCount(RATE_SPAN_SECONDS * 1000)
        self._submitted = Counter[str]() if submitted is None else submitted
        self._recheck_ms = int(recheck_seconds * 1000)
        self._system_id = ""
        self._login = ""  # SmppLoginService.bind_login's name of the login bound with
        self._checked_at = 0
        self._rechecking: asyncio.Task[Account | None] | None = None
        self.revoked = asyncio.Event()
        """Set when the login this bind was made with no longer stands."""

    @property
    def receives(self) -> bool:
        """Whether the bind may be sent deliver_sm (a receiver or transceiver, 4.1)."""
        return self.bind_type is BindReceiver or self.bind_type is BindTransceiver

    async def handle(self, pdu: Pdu) -> Pdu | None:
        """The Session's handler: the response to one request."""
        self.requests += 1
        try:
            return await self._respond(pdu)
        finally:
            self.requests -= 1

    async def _respond(self, pdu: Pdu) -> Pdu | None:
        seq = pdu.sequence_number
        if isinstance(pdu, Bind):
            return await self._bind(pdu)
        account = await self._current()
        if isinstance(pdu, SubmitSm | DataSm):
            resp = SubmitSmResp if isinstance(pdu, SubmitSm) else DataSmResp
            if account is None or self.bind_type is BindReceiver:
                return resp(sequence_number=seq, command_status=_S.ESME_RINVBNDSTS)
            status, message_id = await self._submit(account, pdu)
            if status != _S.ESME_ROK:
                return resp(sequence_number=seq, command_status=status)
            self._count_submit(account)
            return resp(sequence_number=seq, message_id=message_id)
        if isinstance(pdu, SubmitMulti):
            if account is None or self.bind_type is BindReceiver:
                return SubmitMultiResp(sequence_number=seq, command_status=_S.ESME_RINVBNDSTS)
            answer = await submit_multi(
                self._services,
                account,
                pdu,
                interface=INTERFACE,
                client_ip=self.client_ip,
                clock=self._clock,
            )
            if answer.command_status == _S.ESME_ROK:
                self._count_submit(account)
            return answer
        if isinstance(pdu, QuerySm | CancelSm | ReplaceSm) and self.account is not None:
            resp_type = _OPERATION_RESPONSES[type(pdu)]
            if account is None or self.bind_type is BindReceiver:
                return resp_type(sequence_number=seq, command_status=_S.ESME_RINVBNDSTS)
            try:
                if isinstance(pdu, QuerySm):
                    return await query(self._services, account, pdu)
                if isinstance(pdu, ReplaceSm):
                    return await replace(self._services, account, pdu, self._clock())
                return await cancel(self._services, account, pdu)
            except GatewayError as exc:
                log.info("smpp server: %s failed: %s", type(pdu).__name__, exc.message)
                return resp_type(sequence_number=seq, command_status=submit_status(exc))
        status = _S.ESME_RINVBNDSTS if self.account is None else _S.ESME_RINVCMDID
        return GenericNack(sequence_number=seq, command_status=status)

    async def _current(self) -> Account | None:
        """The bound account, read again once older than the recheck interval; None before
        the bind and once its login no longer stands."""
        if self.account is None or self.revoked.is_set():
            return None
        if self._clock() - self._checked_at < self._recheck_ms:
            return self.account
        return await self.recheck()

    async def recheck(self) -> Account | None:
        """Read the login and the account again now (one read at a time: the requests that
        ask meanwhile share it). None when the login no longer stands: ``revoked`` is set."""
        if self._rechecking is None or self._rechecking.done():
            self._rechecking = asyncio.create_task(self._read_login())
        return await asyncio.shield(self._rechecking)

    async def _read_login(self) -> Account | None:
        if self.account is None or self.revoked.is_set():
            return None
        try:
            fresh = await self._services.smpp_logins.recheck(
                self._system_id, self._login, client_ip=self.client_ip
            )
        except GatewayError as exc:
            # The database is not answering: the bind goes on as it was (its submits need
            # the database anyway), and its login is read again at the next request.
            log.warning("smpp server: rechecking %r failed: %s", self._system_id, exc.message)
            return self.account
        self._checked_at = self._clock()
        if fresh is None:
            log.info(
                "smpp server: the login %r of a bind from %s no longer stands: unbinding",
                self._system_id,
                self.client_ip,
            )
            self.revoked.set()
            return None
        self.account = fresh
        return fresh

    async def close(self) -> None:
        """The connection ended: store incomplete messages, free the bind."""
        if self._rechecking is not None:
            self._rechecking.cancel()
            await asyncio.gather(self._rechecking, return_exceptions=True)
        await self._parts.close()
        if self.account is not None:
            self._limit.give_back(self.account.id)

    async def _bind(self, pdu: Bind) -> Pdu:
        if self.account is not None or self._binding:
            status: int = _S.ESME_RALYBND
        else:
            self._binding = True
            try:
                status = await self._authenticate(pdu)
            finally:
                self._binding = False
        log.info(
            "smpp server: %s %r from %s: %s",
            type(pdu).__name__,
            pdu.system_id,
            self.client_ip,
            _S(status).name,
        )
        return BIND_RESPONSE[type(pdu)](
            sequence_number=pdu.sequence_number, command_status=status, system_id=SYSTEM_ID
        )

    async def _authenticate(self, pdu: Bind) -> int:
        try:
            account, login = await self._services.smpp_logins.bind_login(
                pdu.system_id, pdu.password, client_ip=self.client_ip
            )
        except GatewayError as exc:
            return bind_status(exc)
        if not self._limit.take(account.id):
            return _S.ESME_RBINDFAIL
        self.account = account
        self._system_id, self._login = pdu.system_id, login
        self.bind_type = type(pdu)
        self.bound_at = self._checked_at = self._clock()
        self.bound.set()
        return _S.ESME_ROK

    def _count_submit(self, account: Account) -> None:
        self.submits += 1
        self.recent_submits.add(self._clock())
        self._submitted[account.name] += 1

    async def _submit(self, account: Account, pdu: SubmitSm | DataSm) -> tuple[int, str]:
        try:
            found = read_submit(pdu, from_ms(self._clock()))
            if found.concat is not None:
                taken = self._parts.add(found)
                if isinstance(taken, str):
                    return _S.ESME_ROK, taken
                found = taken
            return _S.ESME_ROK, await self._store(found, account)
        except Refused as exc:
            log.info("smpp server: %s refused: %s", type(pdu).__name__, exc.message)
            return exc.status, ""
        except GatewayError as exc:
            log.info("smpp server: %s refused: %s", type(pdu).__name__, exc.message)
            return submit_status(exc), ""

    async def _store(self, message: Submitted, account: Account | None = None) -> str:
        """Submit one whole message through the submit service; its stored id."""
        owner = account or self.account
        assert owner is not None
        result = await self._services.submit.submit(
            SubmitRequest(
                account=owner,
                recipients=[message.destination],
                text=message.text,
                sender=message.sender,
                interface=INTERFACE,
                encoding=message.encoding,
                schedule_at=message.schedule_at,
                valid_until=message.valid_until,
                client_ip=self.client_ip,
                # One destination per submit_sm: a number that is no number refuses the
                # request (ESME_RINVDSTADR) rather than storing a rejected message.
                invalid_number_fails_request=True,
                receipt=message.receipt,
            )
        )
        return result.messages[0].id
