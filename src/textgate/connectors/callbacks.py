"""Connectors that providers call back: delivery reports and inbound messages pushed to the
gateway's one callback route (``POST|GET /callbacks/{connector}/{token}/{kind}``).

The route knows no provider. It checks the token against the connector's
(:meth:`CallbackConnector.callback_accepts`, constant time), hands the request, as data, to
:meth:`CallbackConnector.read_callback`, stores what came out (reports through the report
sink, inbound messages through the inbound sink), and only then gives the provider the
answer the connector chose: a provider that gets no 2xx sends again, so nothing it pushed
is lost to a failed write. Reading a callback is pure (no I/O), so a process that runs no
dispatcher (``serve`` beside separate workers) reads callbacks too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from textgate.core.inbound import InboundMessage
from textgate.core.message import DeliveryReport

__all__ = [
    "CallbackAnswer",
    "CallbackConnector",
    "CallbackRefused",
    "CallbackRequest",
]


@dataclass(frozen=True, slots=True)
class CallbackRequest:
    """One callback as the provider sent it."""

    method: str
    url: str
    """The URL as requested (scheme, host, path and query): what a signature covers."""
    headers: Mapping[str, str]
    """Lower-case names."""
    query: Mapping[str, str]
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class CallbackAnswer:
    """What a callback carried, and what to answer once it is stored."""

    reports: tuple[DeliveryReport, ...] = ()
    inbound: tuple[InboundMessage, ...] = ()
    status: int = 200
    body: str = "OK"
    content_type: str = "text/plain"
    headers: Mapping[str, str] = field(default_factory=dict)


class CallbackRefused(Exception):
    """The callback cannot be read (answered ``status``, 400 by default): a malformed body,
    a kind this connector does not take, a signature that does not match."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@runtime_checkable
class CallbackConnector(Protocol):
    name: str

    def callback_accepts(self, token: str) -> bool:
        """Whether ``token`` is this connector's callback token (compared in constant time)."""
        ...

    def read_callback(self, kind: str, request: CallbackRequest) -> CallbackAnswer:
        """The reports and inbound messages in one callback of ``kind`` (``status``,
        ``inbound``, or another word the provider's module documents); raises
        :class:`CallbackRefused` for one it cannot take."""
        ...
