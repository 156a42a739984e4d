"""ESME side: open a TCP connection to an SMSC, over TLS when asked, and bind (SMPP 3.4
4.1)."""

from __future__ import annotations

import asyncio
import ssl
from typing import Literal

from textgate.connectors.smpp.constants import CommandStatus
from textgate.connectors.smpp.pdus import (
    Bind,
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
)
from textgate.connectors.smpp.session import Handler, Session
from textgate.errors import ConnectorError

__all__ = ["BindMode", "bind"]

BindMode = Literal["transceiver", "transmitter", "receiver"]

_BIND_CLASSES: dict[str, type[Bind]] = {
    "transceiver": BindTransceiver,
    "transmitter": BindTransmitter,
    "receiver": BindReceiver,
}

# Refusals that will not change by retrying with the same credentials.
_PERMANENT = frozenset(
    {CommandStatus.ESME_RINVPASWD, CommandStatus.ESME_RINVSYSID, CommandStatus.ESME_RBINDFAIL}
)


def _status_name(status: int) -> str:
    try:
        return CommandStatus(status).name
    except ValueError:
        return f"0x{status:08X}"


async def bind(
    host: str,
    port: int,
    *,
    system_id: str,
    password: str,
    mode: BindMode = "transceiver",
    system_type: str = "",
    window: int = 10,
    response_timeout: float = 10.0,
    enquire_link_interval: float | None = 30.0,
    handler: Handler | None = None,
    connect_timeout: float = 10.0,
    tls: ssl.SSLContext | None = None,
) -> Session:
    """Connect and bind; return the bound :class:`Session`.

    Raises ConnectorError: retryable for a connect failure or timeout, a bind timeout, a
    dropped link and most refusals; not retryable when the SMSC refuses the credentials
    (ESME_RINVPASWD, ESME_RINVSYSID, ESME_RBINDFAIL). ``handler`` answers the SMSC's
    requests (deliver_sm, ...); without one they are refused with generic_nack. ``tls``
    wraps the connection (the handshake is part of the connect, within ``connect_timeout``);
    a certificate that does not verify fails the connect like an unreachable SMSC (with
    the reason), retryable: it may be renewed.
    """
    bind_cls = _BIND_CLASSES.get(mode)
    if bind_cls is None:
        raise ValueError(f"unknown bind mode {mode!r}")
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                host, port, ssl=tls, server_hostname=host if tls is not None else None
            ),
            connect_timeout,
        )
    except TimeoutError:
        raise ConnectorError(f"smpp connect to {host}:{port} timed out", retryable=True) from None
    except OSError as exc:
        raise ConnectorError(
            f"smpp connect to {host}:{port} failed: {exc}", retryable=True
        ) from exc
    session = Session(
        reader,
        writer,
        handler=handler,
        window=window,
        response_timeout=response_timeout,
        enquire_link_interval=enquire_link_interval,
        name=f"{system_id}@{host}:{port}",
    )
    try:
        resp = await session.request(
            bind_cls(
                sequence_number=0,
                system_id=system_id,
                password=password,
                system_type=system_type,
            )
        )
    except BaseException:
        await session.close()
        raise
    status = resp.command_status
    if status != CommandStatus.ESME_ROK:
        await session.close()
        raise ConnectorError(
            f"bind refused: {_status_name(status)}", retryable=status not in _PERMANENT
        )
    return session
