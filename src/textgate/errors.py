"""The one exception tree of textgate.

::

    GatewayError                    base; carries a stable ``code`` and a human message
    ├── InvalidRequest              the request is malformed or a field is invalid
    │   ├── MalformedInput          the body cannot be read in its format (not UTF-8, not
    │   │                           JSON or XML, nested too deep, a number too long)
    │   ├── RequestTooLarge         the body is over a size limit
    │   ├── InvalidNumber           a recipient is not a phone number (reason says why)
    │   └── InvalidSender           a sender ID breaks the length/charset rules
    ├── AuthenticationFailed        missing or wrong credentials
    ├── Forbidden                   authenticated, but not allowed to do this
    ├── PolicyDenied                an account rule refused it (``reason`` names the rule)
    ├── InsufficientCredit          the balance cannot pay for it
    ├── RateLimited                 too many requests or messages for now
    ├── NotFound                    no such object for this account
    ├── Conflict                    the object is in a state that forbids the change
    ├── StorageUnavailable          the database could not be reached (foreign errors mapped once)
    ├── ConfigError                 the settings cannot run: one line per problem
                                    (``problems``); the CLI prints them and exits 2
    └── ConnectorError              a connector could not hand over a message
                                    (``handoff`` says how far it got, ``retryable`` whether
                                    to try again)

Each dialect maps these to its provider's status codes and bodies through one table in its
``errors.py``; nothing else in a dialect inspects exceptions.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "AuthenticationFailed",
    "ConfigError",
    "Conflict",
    "ConnectorError",
    "Forbidden",
    "GatewayError",
    "Handoff",
    "InsufficientCredit",
    "InvalidNumber",
    "InvalidRequest",
    "InvalidSender",
    "MalformedInput",
    "NotFound",
    "PolicyDenied",
    "RateLimited",
    "RequestTooLarge",
    "StorageUnavailable",
]


class GatewayError(Exception):
    """Base of every error textgate raises on purpose."""

    code: str = "gateway_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidRequest(GatewayError):
    code = "invalid_request"


class MalformedInput(InvalidRequest):
    """The body is not what its format requires; nothing in it was read. Dialects answer it
    as the bad request it is (their providers have no word for it but "invalid input")."""

    code = "malformed_input"


class RequestTooLarge(InvalidRequest):
    code = "request_too_large"


class KeyReused(InvalidRequest):
    """An idempotency key (the client's own order id) already names a different request:
    answering with the first order would drop this one silently."""

    code = "idempotency_key_reused"


class InvalidNumber(InvalidRequest):
    code = "invalid_number"

    def __init__(self, message: str, *, number: str = "") -> None:
        super().__init__(message)
        self.number = number


class InvalidSender(InvalidRequest):
    code = "invalid_sender"


class AuthenticationFailed(GatewayError):
    code = "authentication_failed"


class Forbidden(GatewayError):
    code = "forbidden"


class PolicyDenied(GatewayError):
    code = "policy_denied"

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        recipient: str | None = None,
        country: str | None = None,
    ) -> None:
        # The reason is the machine-readable code (core.policy.Reason); the recipient and
        # its country, where one recipient was refused, for dialects whose words name them.
        super().__init__(message, code=reason)
        self.reason = reason
        self.recipient = recipient
        self.country = country


class InsufficientCredit(GatewayError):
    code = "insufficient_credit"


class RateLimited(GatewayError):
    code = "rate_limited"


class NotFound(GatewayError):
    code = "not_found"


class Conflict(GatewayError):
    code = "conflict"


class StorageUnavailable(GatewayError):
    code = "storage_unavailable"


class ConfigError(GatewayError):
    """Settings that cannot run, found before anything starts: a typo'd key, a value out
    of range, a connector missing a required option, a ``secret_key`` that is not the one
    the database was first used with. Each problem is one line naming the key, the value
    and what is allowed."""

    code = "config_error"

    def __init__(self, problems: list[str] | tuple[str, ...]) -> None:
        self.problems = tuple(problems) or ("invalid settings",)
        super().__init__("; ".join(self.problems))


class Handoff(StrEnum):
    """How far a failed hand-off got (DESIGN "Delivery contract"); the dispatcher treats
    each kind differently.

    - ``NOT_SENT``: nothing reached the far end (link down, window full, rate limit, a
      throttle before sending, a phone that is offline). The message goes back to waiting
      without using an attempt; only its validity ends the wait.
    - ``REFUSED``: the far end answered and said no. That uses an attempt; ``retryable``
      says whether trying again can help.
    - ``IN_DOUBT``: the message was written to the link and no answer came (a response
      timeout, a link lost with the request outstanding). It may or may not have been
      taken; the connector's in-doubt policy decides between resending and giving up.
    """

    NOT_SENT = "not_sent"
    REFUSED = "refused"
    IN_DOUBT = "in_doubt"


class ConnectorError(GatewayError):
    """A connector failed to hand over a message.

    ``retryable`` is the connector's verdict (a timeout, a throttle, a dropped link are
    retryable; a refused destination is not); only the dispatcher acts on it. ``handoff``
    says whether the message reached the far end at all (see :class:`Handoff`).
    """

    code = "connector_error"

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        code: str | None = None,
        handoff: Handoff = Handoff.REFUSED,
    ) -> None:
        super().__init__(message, code=code)
        self.retryable = retryable
        self.handoff = handoff

    @classmethod
    def not_sent(cls, message: str, *, code: str | None = None) -> ConnectorError:
        """Nothing reached the far end: wait for the link, no attempt used."""
        return cls(message, retryable=True, code=code, handoff=Handoff.NOT_SENT)

    @classmethod
    def in_doubt(cls, message: str, *, code: str | None = None) -> ConnectorError:
        """Written to the link, never answered: it may have been taken."""
        return cls(message, retryable=True, code=code or "in_doubt", handoff=Handoff.IN_DOUBT)
