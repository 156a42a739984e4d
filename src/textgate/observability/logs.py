"""Log output: plain text for a terminal, one JSON object per line for a log pipeline.

Both formats go through :class:`Redactor`, so a secret that reaches a log call by mistake
(an API key in an exception text, a password in a URL) is masked before it is written.
Message ids are lifted into their own JSON field: from ``extra={"message_id": ...}`` when
the caller gives one, else from the ids that appear in the text.
"""

from __future__ import annotations

import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, Final, Literal

from textgate.core.accounts import KEY_PREFIX

__all__ = ["JsonFormatter", "LogFormat", "Redactor", "configure_logging"]

LogFormat = Literal["text", "json"]
TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Fields callers may pass with ``extra=`` that are worth their own JSON key.
CONTEXT_FIELDS: Final = (
    "message_id",
    "order_id",
    "account_id",
    "connector",
    "external_id",
    "webhook_id",
    "interface",
)
_ULID = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{26}\b")
_SECRETS: Final = (
    # API keys: keep the public key id, mask the secret part.
    (re.compile(rf"\b({re.escape(KEY_PREFIX)}_[0-9a-f]+_)[A-Za-z0-9_\-]+"), r"\1***"),
    (re.compile(r"(?i)\b(bearer\s+)[^\s,;\"']+"), r"\1***"),
    (re.compile(r"(?i)\b(basic\s+)[A-Za-z0-9+/=]{8,}"), r"\1***"),
    (
        re.compile(
            # Any name ending in one of these words (client_secret, ListSecret, ...): a plain
            # \b would not match after an underscore.
            r"(?i)(?<![a-z0-9])([a-z0-9_]*(?:password|passwd|secret|token)|api_?key|session_key)"
            r"(\"?\s*[=:]\s*\"?)[^\s&,;\"']+"
        ),
        r"\1\2***",
    ),
    # Credentials inside URLs: scheme://user:password@host
    (re.compile(r"(\b[a-z][a-z0-9+.\-]*://[^/\s:@]+:)[^@\s/]+@"), r"\1***@"),
)


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class Redactor(logging.Filter):
    """Masks secrets in the final message (arguments merged) and in exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        import orjson

        message = record.getMessage()
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": message,
        }
        for name in CONTEXT_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                out[name] = value
        if "message_id" not in out:
            ids = _ULID.findall(message)
            if ids:
                out["message_ids"] = ids
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(self.formatException(record.exc_info))
        if record.exc_text:
            out["exception"] = record.exc_text
        return orjson.dumps(out, default=str).decode()


def configure_logging(level: str, fmt: LogFormat = "text") -> None:
    """Send every log record to stderr in ``fmt``; replaces handlers set up before.

    Libraries' loggers (uvicorn's included: ``textgate serve`` gives it no set-up of its
    own) propagate here, and Python's warnings are routed through logging, so a process
    writes its diagnostics in one format only."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(Redactor())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)
