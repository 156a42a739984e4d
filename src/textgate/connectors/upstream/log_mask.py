"""Keeps an HTTP connector's secrets out of the HTTP client's log records.

httpx logs every request's URL at INFO (``HTTP Request: GET https://...``): a provider that
takes credentials in the query string (smsend's login, a generic template's ``{api_key}``
in a URL) would put them in the log. Each running connector installs one
:class:`SecretMask` on the HTTP client's loggers, which replaces whatever of its secrets a
record shows (as written, or URL-encoded) by ``***`` before any handler sees it, and takes
it off when it stops. A logger's filters see only the records logged to that very logger,
hence the list of httpcore's loggers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Final
from urllib.parse import quote, quote_plus

__all__ = ["SecretMask"]

_LOGGERS: Final = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)
_MIN_LENGTH: Final = 4
"""Shorter values are not masked (they would mask ordinary words); credentials are longer."""
MASK: Final = "***"


class SecretMask(logging.Filter):
    def __init__(self, secrets: Callable[[], Iterable[str]]) -> None:
        super().__init__()
        self._secrets = secrets

    def install(self) -> None:
        for name in _LOGGERS:
            logging.getLogger(name).addFilter(self)

    def remove(self) -> None:
        for name in _LOGGERS:
            logging.getLogger(name).removeFilter(self)

    def mask(self, text: str) -> str:
        for secret in self._secrets():
            if len(secret) < _MIN_LENGTH:
                continue
            for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
                text = text.replace(form, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = self.mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
