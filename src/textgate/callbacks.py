"""``POST|GET /callbacks/{connector}/{token}/{kind}``: where providers push delivery reports
and inbound messages.

One route for every connector, naming no provider: the connector named in the path reads
the request (``connectors.callbacks``), the reports go to the gateway's report receiver
and the inbound messages to its inbound sink, and the answer the connector chose is sent
only once both have stored them. A provider that gets no 2xx sends again, so a failed
write costs a retry, never a report.

The token is the connector's own secret (``callback_token``, or derived from the gateway's
``secret_key``: ``connectors.kinds.callback_token``), compared in constant time. A wrong
token and an unknown connector get the same 404, so the route tells nothing of which
connectors exist. The URL to give the provider is
``<public base URL>/callbacks/<connector name>/<token>/<kind>``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Final, Protocol

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from textgate.connectors.callbacks import CallbackConnector, CallbackRefused, CallbackRequest
from textgate.core.inbound import InboundMessage
from textgate.core.message import DeliveryReport

__all__ = ["MAX_CALLBACK_BYTES", "CallbackHost", "callbacks_router"]

log = logging.getLogger(__name__)

MAX_CALLBACK_BYTES: Final = 256 * 1024
"""No provider's status or inbound callback comes near this."""
_RETRY_AFTER_SECONDS: Final = "30"


class CallbackHost(Protocol):
    """The parts of a running gateway the route uses."""

    @property
    def callbacks(self) -> Mapping[str, CallbackConnector]: ...

    @property
    def receiver(self) -> Callable[[Sequence[DeliveryReport]], Awaitable[None]] | None: ...

    @property
    def inbound(self) -> Callable[[Sequence[InboundMessage]], Awaitable[None]] | None: ...


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


def callbacks_router(host: CallbackHost) -> APIRouter:
    router = APIRouter(tags=["callbacks"])

    @router.api_route(
        "/callbacks/{connector}/{token}/{kind}",
        methods=["GET", "POST"],
        include_in_schema=False,
    )
    async def callback(request: Request, connector: str, token: str, kind: str) -> Response:
        found = host.callbacks.get(connector)
        if found is None or not found.callback_accepts(token):
            return _error(404, "no such callback")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_CALLBACK_BYTES:
                return _error(413, f"callback body over {MAX_CALLBACK_BYTES} bytes")
        incoming = CallbackRequest(
            method=request.method,
            url=str(request.url),
            headers={k.lower(): v for k, v in request.headers.items()},
            query=dict(request.query_params),
            body=bytes(body),
        )
        try:
            answer = found.read_callback(kind, incoming)
        except CallbackRefused as exc:
            return _error(exc.status, exc.message)
        if (answer.reports and host.receiver is None) or (answer.inbound and host.inbound is None):
            return _error(503, "this process is not ready to store callbacks")
        try:
            if answer.reports and host.receiver is not None:
                await host.receiver(answer.reports)
            if answer.inbound and host.inbound is not None:
                await host.inbound(answer.inbound)
        except Exception:
            # Not stored: the provider is told to come back, and will.
            log.exception("connector %s: a %s callback could not be stored", connector, kind)
            response = _error(503, "not stored; send it again")
            response.headers["Retry-After"] = _RETRY_AFTER_SECONDS
            return response
        return Response(
            answer.body,
            status_code=answer.status,
            media_type=answer.content_type,
            headers=dict(answer.headers),
        )

    return router
