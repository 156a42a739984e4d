"""Where outbound mail goes: an SMTP relay (aiosmtplib), or files in development."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import aiosmtplib

from textgate.config import MailSettings
from textgate.storage.mail import DueMail

__all__ = ["FileSink", "MailError", "MailSink", "SmtpRelay", "build_sink"]


class MailError(Exception):
    """A mail was not accepted; ``permanent`` when trying again cannot help (a 5xx)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class MailSink(Protocol):
    async def send(self, mail: DueMail) -> None:
        """Hand one mail over; raise MailError if it was not accepted."""


class SmtpRelay:
    """Hands mail to the configured relay, one connection per mail (relays close idle
    connections, and notification volume does not need pipelining)."""

    def __init__(self, settings: MailSettings) -> None:
        self._s = settings

    async def send(self, mail: DueMail) -> None:
        s = self._s
        try:
            errors, _ = await aiosmtplib.send(
                mail.raw.encode("ascii", "surrogateescape"),
                sender=mail.mail_from,
                recipients=list(mail.rcpt_to),
                hostname=s.smtp_host,
                port=s.smtp_port,
                use_tls=s.smtp_security == "tls",
                start_tls=s.smtp_security == "starttls",
                # Named from our own address: the default (getfqdn) may wait on DNS.
                local_hostname=s.from_address.rpartition("@")[2] or "localhost",
                username=s.smtp_username,
                password=None if s.smtp_password is None else s.smtp_password.get_secret_value(),
                timeout=s.timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise MailError(
                f"every recipient refused: {_codes(exc.recipients)}", permanent=True
            ) from exc
        except aiosmtplib.SMTPResponseException as exc:
            # 5xx: the relay will say the same next time (RFC 5321 section 4.2.1).
            raise MailError(
                f"SMTP {exc.code}: {exc.message}"[:300], permanent=exc.code >= 500
            ) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise MailError(f"{type(exc).__name__}: {exc}"[:300]) from exc
        if errors:
            # Some recipients were refused, others took it: the mail was sent; resending
            # would duplicate it for those who have it.
            return


def _codes(refused: Sequence[aiosmtplib.SMTPRecipientRefused]) -> str:
    return ", ".join(f"{r.recipient} ({r.code})" for r in refused)[:200]


class FileSink:
    """Development: each mail becomes ``<id>.eml`` (envelope in ``X-Textgate-Envelope-*``
    header lines first), written to a temporary name and renamed, so a reader never sees
    half a file."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory

    async def send(self, mail: DueMail) -> None:
        await asyncio.to_thread(self._write, mail)

    def _write(self, mail: DueMail) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        envelope = (
            f"X-Textgate-Envelope-From: {mail.mail_from}\r\n"
            f"X-Textgate-Envelope-To: {', '.join(mail.rcpt_to)}\r\n"
        )
        final = self._dir / f"{mail.id}.eml"
        temporary = self._dir / f".{mail.id}.tmp"
        try:
            with temporary.open("w", encoding="ascii", errors="surrogateescape", newline="") as f:
                f.write(envelope + mail.raw)
                f.flush()
                os.fsync(f.fileno())
            temporary.replace(final)
        except OSError as exc:
            raise MailError(f"cannot write {final}: {exc.strerror}") from exc


def build_sink(settings: MailSettings, data_dir: Path) -> MailSink:
    if settings.transport == "smtp":
        return SmtpRelay(settings)
    return FileSink(settings.directory or data_dir / "mail")
