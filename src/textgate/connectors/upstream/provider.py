"""What one provider's module tells the shared HTTP connector: its public API, nothing else.

The connector (``upstream/connector.py``) owns the client, time limits, concurrency, rate,
pauses, logins, link health and the delivery contract; a provider only builds requests and
reads answers. Every method is pure (no I/O): requests are built on the connector's client
(``client.build_request``) and answers read from ``httpx.Response`` objects already read.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Protocol

import httpx

from textgate.connectors.base import QueryRef, Submission
from textgate.connectors.callbacks import CallbackAnswer, CallbackRefused, CallbackRequest
from textgate.connectors.upstream.replies import Reply
from textgate.core.message import DeliveryReport
from textgate.errors import ConnectorError

__all__ = ["AUTH_REFUSED", "Provider", "Sessionless", "auth_refused", "no_callbacks"]

AUTH_REFUSED: Final = "auth_refused"
"""The code of a failure that says the provider refused the credentials."""


def auth_refused(message: str) -> ConnectorError:
    """The provider refused the credentials: the message was never looked at (it waits);
    the connector stops logging in for ``auth_retry_seconds``."""
    return ConnectorError.not_sent(message, code=AUTH_REFUSED)


def no_callbacks(kind: str) -> CallbackAnswer:
    raise CallbackRefused(f"this connector takes no {kind!r} callbacks", status=404)


class Provider(Protocol):
    type_name: str
    """The connector type (``[[connectors]] type``), for messages."""
    report_query_after_ms: int | None
    """How long after sending to ask about a missing report (None: the API has no way
    to ask; reports come by callback only)."""

    def secrets(self) -> Iterable[str]:
        """Every credential and session secret in use now: masked wherever a log record of
        the HTTP client might show it."""
        ...

    def login_request(self, client: httpx.AsyncClient) -> httpx.Request | None:
        """The login request, when the API needs a session and none is held; else None."""
        ...

    def read_login(self, response: httpx.Response) -> None:
        """Keep the session a login answer gives; raise ConnectorError (``auth_refused``
        when the credentials were refused) for any other answer."""
        ...

    def forget_session(self) -> None:
        """The provider said the session is no longer valid (a :class:`Relogin` reply)."""
        ...

    def send_request(self, client: httpx.AsyncClient, submission: Submission) -> httpx.Request:
        """The request that sends one message (raises ConnectorError, refused, for a
        message the API cannot carry)."""
        ...

    def read_sent(self, response: httpx.Response, submission: Submission) -> Reply:
        """The provider's id for the message, or what went wrong, from its answer (after
        :func:`replies.common_reply` found nothing to say)."""
        ...

    def status_request(self, client: httpx.AsyncClient, ref: QueryRef) -> httpx.Request | None:
        """The request asking about one sent message (None: cannot ask)."""
        ...

    def read_status(
        self, connector: str, response: httpx.Response, ref: QueryRef
    ) -> DeliveryReport | None:
        """The report in a status answer, or None while the provider knows no news."""
        ...

    def read_callback(self, connector: str, kind: str, request: CallbackRequest) -> CallbackAnswer:
        """The reports and inbound messages of one callback (raises CallbackRefused). A
        provider that signs its callbacks checks the signature here: the request carries
        the URL as called, every header and the raw body."""
        ...


class Sessionless:
    """The session half of :class:`Provider` for an API that authenticates every request
    by itself (a key, a signature, HTTP Basic): nothing to log in to or forget."""

    def login_request(self, client: httpx.AsyncClient) -> httpx.Request | None:
        return None

    def read_login(self, response: httpx.Response) -> None:
        return None

    def forget_session(self) -> None:
        return None
