"""A connector that sends through a provider's HTTP API, one request per message.

The machinery every provider shares; the provider's module (:class:`Provider`) only builds
requests and reads answers. Here:

- one ``httpx.AsyncClient`` per connector, made in ``start`` and closed in ``stop``, with the
  four time limits of the options on every request;
- at most ``max_concurrency`` requests at once and ``max_rate`` per second;
- the delivery contract (``replies.py``): each message's outcome as soon as its answer
  comes; never sent, refused or in doubt by how far the request got;
- throttling fails nothing: a 429 (or a 503 naming a Retry-After) pauses new sends until
  the time it names; meanwhile messages go back to wait without a request;
- logins, for APIs with sessions: one at a time, again when the provider forgets the
  session, and not again for ``auth_retry_seconds`` after it refused the credentials;
- link health for ``/readyz`` and the dashboard: up until a request cannot reach the
  provider, down until one does (auth_refused while the credentials are refused);
- callbacks (``connectors.callbacks``) read by the provider, accepted with the token.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import httpx

from textgate.connectors.base import (
    HandoffGate,
    InboundSink,
    Outcome,
    OutcomeSink,
    QueryRef,
    ReportSink,
    Submission,
)
from textgate.connectors.callbacks import CallbackAnswer, CallbackRequest
from textgate.connectors.health import LinkHealth, LinkState
from textgate.connectors.smpp.pacing import TokenBucket
from textgate.connectors.smpp.shared_rate import RateBudget
from textgate.connectors.upstream.log_mask import SecretMask
from textgate.connectors.upstream.options import UpstreamOptions
from textgate.connectors.upstream.provider import AUTH_REFUSED, Provider
from textgate.connectors.upstream.replies import (
    Priced,
    Relogin,
    Throttle,
    common_reply,
    transport_error,
)
from textgate.core.message import DeliveryReport
from textgate.core.pricing import MICRO
from textgate.errors import ConnectorError, Handoff

__all__ = ["QueryableUpstreamConnector", "UpstreamConnector", "connector_for"]

log = logging.getLogger(__name__)

UNAUTHORIZED = 401


class UpstreamConnector:
    def __init__(
        self,
        name: str,
        options: UpstreamOptions,
        provider: Provider,
        *,
        token: str,
        budget: RateBudget | None = None,
    ) -> None:
        self.name = name
        self.options = options
        self.kind = provider.type_name
        self.provider = provider
        self._token = token
        self._client: httpx.AsyncClient | None = None
        self._slots = asyncio.Semaphore(options.max_concurrency)
        # ``budget``: max_rate shared with the other processes running this connector.
        self._rate: RateBudget = (
            budget if budget is not None else TokenBucket(options.max_rate, options.burst)
        )
        # The dispatcher's gate bounds written messages whose outcome is not stored yet.
        self.handoff_window = options.max_concurrency
        self._paused_until = 0.0
        self._login_lock = asyncio.Lock()
        self._session = 0
        """Counts sessions: a Relogin forgets the session only if no one did it since."""
        self._logins_from = 0.0
        self._state = LinkState.BOUND
        self._since = datetime.now(UTC)
        self._last_error: str | None = None
        self._mask = SecretMask(self._secrets)

    # ------------------------------------------------------------------ life

    async def start(self, sink: ReportSink, inbound: InboundSink | None = None) -> None:
        """Make the client. Nothing is sent: a provider that cannot be reached shows when a
        message is, and never stops the gateway."""
        o = self.options
        self._mask.install()
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(
                connect=o.connect_timeout,
                read=o.read_timeout,
                write=o.write_timeout,
                pool=o.pool_timeout,
            ),
            limits=httpx.Limits(
                max_connections=o.max_concurrency,
                max_keepalive_connections=o.max_concurrency,
                keepalive_expiry=o.keepalive_seconds,
            ),
            verify=o.verify_tls,
            follow_redirects=False,
            trust_env=False,
        )

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self._mask.remove()

    def _secrets(self) -> list[str]:
        return [self._token, *self.provider.secrets()]

    # ------------------------------------------------------------------ health

    @property
    def bound_links(self) -> int:
        return 1 if self._state is LinkState.BOUND else 0

    def links(self) -> tuple[LinkHealth, ...]:
        error = None if self._last_error is None else self._mask.mask(self._last_error)
        return (LinkHealth(self.name, self._state, self._since, error),)

    def _health(self, state: LinkState, error: str | None = None) -> None:
        if state is not self._state:
            if state is LinkState.BOUND:
                log.info("connector %s: the provider answers again", self.name)
            else:
                log.warning("connector %s: %s (%s)", self.name, state.value, error)
            self._state = state
            self._since = datetime.now(UTC)
        if error is not None:
            self._last_error = error

    # ------------------------------------------------------------------ sending

    async def submit(
        self,
        batch: Sequence[Submission],
        done: OutcomeSink | None = None,
        gate: HandoffGate | None = None,
    ) -> list[Outcome]:
        client = self._client
        if client is None:
            raise ConnectorError.not_sent(f"connector {self.name} is not started")

        async def one(submission: Submission) -> Outcome:
            outcome = await self._send(client, submission, gate)
            if done is not None:
                done(outcome)
            return outcome

        return list(await asyncio.gather(*(one(s) for s in batch)))

    async def _send(
        self, client: httpx.AsyncClient, submission: Submission, gate: HandoffGate | None
    ) -> Outcome:
        message_id = submission.message_id
        async with self._slots:
            for _ in range(2):  # a second time only after the provider forgot the session
                if self._paused_until > time.monotonic():
                    return _failed(message_id, _paused(self._paused_until - time.monotonic()))
                await self._rate.take()
                try:
                    session = await self._login(client)
                    request = self.provider.send_request(client, submission)
                except ConnectorError as exc:
                    return _failed(message_id, exc)
                if gate is not None:
                    await gate.enter(message_id)
                # Looked at again last: a pause may have begun while this one waited for
                # its turn, a rate token or the gate, and nothing goes out during one.
                paused = self._paused_until - time.monotonic()
                if paused > 0:
                    return _failed(message_id, _paused(paused))
                try:
                    response = await client.send(request)
                except httpx.HTTPError as exc:
                    return _failed(message_id, self._unanswered(exc))
                self._health(LinkState.BOUND)
                reply = self.provider.read_sent(response, submission)
                if isinstance(reply, Relogin):
                    self._forget(session)
                    continue
                if isinstance(reply, Throttle):
                    return _failed(message_id, self._pause(reply))
                if isinstance(reply, ConnectorError):
                    if reply.code == AUTH_REFUSED:
                        self._health(LinkState.AUTH_REFUSED, reply.message)
                    return _failed(message_id, reply)
                if isinstance(reply, Priced):
                    cost = self._credits(reply)
                    return Outcome(message_id, external_id=reply.external_id, cost=cost)
                return Outcome(message_id, external_id=reply)
        return _failed(
            message_id,
            ConnectorError.not_sent("the provider refused a fresh session", code="session_refused"),
        )

    def _credits(self, reply: Priced) -> int | None:
        """The provider's price in micro-credits (None: the cost table prices it)."""
        rate = self.options.price_in_credits
        if not rate or reply.price < 0:
            return None
        return int((reply.price * rate * MICRO).to_integral_value())

    def _unanswered(self, exc: httpx.HTTPError) -> ConnectorError:
        error = transport_error(exc)
        if error.handoff is Handoff.NOT_SENT:
            self._health(LinkState.DOWN, error.message)
        return error

    def _pause(self, throttle: Throttle) -> ConnectorError:
        o = self.options
        asked = o.throttle_seconds if throttle.seconds is None else throttle.seconds
        seconds = min(o.max_pause_seconds, asked)
        until = time.monotonic() + seconds
        if until > self._paused_until:
            self._paused_until = until
            log.warning(
                "connector %s: the provider throttles (HTTP %d): no request for %.1f s",
                self.name,
                throttle.status,
                seconds,
            )
        return _paused(seconds)

    async def _login(self, client: httpx.AsyncClient) -> int:
        """The session to send with (logging in first if the API needs it and has none)."""
        if self.provider.login_request(client) is None:
            return self._session
        async with self._login_lock:
            request = self.provider.login_request(client)
            if request is None:
                return self._session
            wait = self._logins_from - time.monotonic()
            if wait > 0:
                raise ConnectorError.not_sent(
                    f"the provider refused the credentials; next login in {wait:.0f} s",
                    code=AUTH_REFUSED,
                )
            try:
                response = await client.send(request)
            except httpx.HTTPError as exc:
                error = transport_error(exc)
                self._health(LinkState.DOWN, f"login: {error.message}")
                # A login sends no message: whatever happened, the message was not sent.
                raise ConnectorError.not_sent(
                    f"login: {error.message}", code="login_failed"
                ) from None
            try:
                self.provider.read_login(response)
            except ConnectorError as exc:
                if exc.code == AUTH_REFUSED:
                    self._logins_from = time.monotonic() + self.options.auth_retry_seconds
                    self._health(LinkState.AUTH_REFUSED, exc.message)
                raise ConnectorError.not_sent(exc.message, code=exc.code) from None
            self._health(LinkState.BOUND)
            self._session += 1
            return self._session

    def _forget(self, session: int) -> None:
        if session == self._session:
            self.provider.forget_session()
            self._session += 1

    # ------------------------------------------------------------------ callbacks

    def callback_accepts(self, token: str) -> bool:
        return hmac.compare_digest(token.encode(), self._token.encode())

    def read_callback(self, kind: str, request: CallbackRequest) -> CallbackAnswer:
        return self.provider.read_callback(self.name, kind, request)


class QueryableUpstreamConnector(UpstreamConnector):
    """For APIs that can be asked about a sent message (the dispatcher polls them)."""

    report_query_after_ms: int

    def __init__(
        self,
        name: str,
        options: UpstreamOptions,
        provider: Provider,
        *,
        token: str,
        budget: RateBudget | None = None,
    ) -> None:
        super().__init__(name, options, provider, token=token, budget=budget)
        self.report_query_after_ms = provider.report_query_after_ms or 60_000

    async def query(self, refs: Sequence[QueryRef]) -> list[DeliveryReport]:
        """Reports for the messages the provider has news of; the others (and any request
        that failed) are left out, to be asked about again later."""
        client = self._client
        if client is None:
            return []

        async def one(ref: QueryRef) -> DeliveryReport | None:
            async with self._slots:
                response, lost = await self._ask(client, ref)
                if lost:
                    response, _ = await self._ask(client, ref)  # once more, with a new session
            if response is None:
                return None
            reply = common_reply(response)
            if isinstance(reply, Throttle):
                self._pause(reply)
                return None
            if isinstance(reply, ConnectorError):
                return None
            return self.provider.read_status(self.name, response, ref)

        found = await asyncio.gather(*(one(r) for r in refs))
        return [r for r in found if r is not None]

    async def _ask(
        self, client: httpx.AsyncClient, ref: QueryRef
    ) -> tuple[httpx.Response | None, bool]:
        """The provider's answer about one message (None: none to read now), and whether
        the provider had forgotten the session."""
        if self._paused_until > time.monotonic():
            return None, False
        await self._rate.take()
        try:
            session = await self._login(client)
            request = self.provider.status_request(client, ref)
            if request is None:
                return None, False
            response = await client.send(request)
        except (ConnectorError, httpx.HTTPError) as exc:
            detail = exc.message if isinstance(exc, ConnectorError) else type(exc).__name__
            log.info("connector %s: status of %s not read: %s", self.name, ref.external_id, detail)
            return None, False
        if response.status_code == UNAUTHORIZED:
            self._forget(session)
            return None, True
        return response, False


def connector_for(
    name: str,
    options: UpstreamOptions,
    provider: Provider,
    *,
    token: str,
    budget: RateBudget | None = None,
) -> UpstreamConnector:
    """A queryable connector where the provider can be asked about messages, else not (the
    dispatcher then waits for callbacks up to the receipt window)."""
    kind = QueryableUpstreamConnector if provider.report_query_after_ms else UpstreamConnector
    return kind(name, options, provider, token=token, budget=budget)


def _paused(seconds: float) -> ConnectorError:
    return ConnectorError.not_sent(
        f"the provider asked for a pause ({seconds:.1f} s left): not sent", code="throttled"
    )


def _failed(message_id: str, error: ConnectorError) -> Outcome:
    return Outcome(message_id, error=error)
