"""The one exception tree of textgate.

::

    GatewayError                    base; carries a stable ``code`` and a human message
    ├── InvalidRequest              the request is malformed or a field is invalid
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
    └── ConnectorError              a connector could not hand over a message
                                    (``retryable`` tells the dispatcher whether to try again)

Each dialect maps these to its provider's status codes and bodies through one table in its
``errors.py``; nothing else in a dialect inspects exceptions.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationFailed",
    "Conflict",
    "ConnectorError",
    "Forbidden",
    "GatewayError",
    "InsufficientCredit",
    "InvalidNumber",
    "InvalidRequest",
    "InvalidSender",
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


class RequestTooLarge(InvalidRequest):
    code = "request_too_large"


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

    def __init__(self, message: str, *, reason: str) -> None:
        # The reason is the machine-readable code (core.policy.Reason).
        super().__init__(message, code=reason)
        self.reason = reason


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


class ConnectorError(GatewayError):
    """A connector failed to hand over a message.

    ``retryable`` is the connector's verdict (a timeout, a throttle, a dropped link are
    retryable; a refused destination is not); only the dispatcher acts on it.
    """

    code = "connector_error"

    def __init__(self, message: str, *, retryable: bool, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retryable = retryable
