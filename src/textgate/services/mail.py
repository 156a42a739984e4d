"""Outbound mail: the sinks that carry it (an SMTP relay, or files in development), the
service interfaces queue mail through, and the sender that drains the queue.

Interfaces never talk to a relay themselves: they commit the mail to ``mail_outbox`` and
answer; the sender delivers it with retries, so a relay outage delays mail but loses none.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import aiosmtplib

from textgate.config import MailSettings
from textgate.core.clock import Clock, from_ms, system_clock
from textgate.core.mail import Email, OutboundMail, build, mail_address
from textgate.errors import InvalidRequest
from textgate.services.outbox import Pump, Retries
from textgate.storage.mail import DueMail, MailRepo

__all__ = ["FileSink", "MailDispatcher", "MailError", "MailService", "MailSink", "SmtpRelay"]

MAIL_STATUSES = ("pending", "sent", "dead")


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


class MailService:
    """What interfaces use: queue a mail (committed before this returns), list, replay."""

    def __init__(self, repo: MailRepo, settings: MailSettings, clock: Clock = system_clock):
        self._repo = repo
        self._settings = settings
        self._clock = clock
        mail_address(settings.from_address, "mail.from_address")

    @property
    def from_address(self) -> str:
        return self._settings.from_address

    async def queue(self, email: Email, *, account_id: str | None, source: str) -> str:
        """Build and queue ``email``; raises InvalidRequest when it cannot be built."""
        mail = build(email, now=from_ms(self._clock()))
        return await self._repo.enqueue(account_id, source, mail)

    async def of_account(
        self,
        account_id: str,
        *,
        status: str | None = None,
        before_id: str | None = None,
        limit: int = 100,
    ) -> list[OutboundMail]:
        if status is not None and status not in MAIL_STATUSES:
            raise InvalidRequest(f"status: one of {', '.join(MAIL_STATUSES)}")
        return await self._repo.of_account(
            account_id, status=status, before_id=before_id, limit=limit
        )

    async def get(self, account_id: str | None, mail_id: str) -> OutboundMail:
        return await self._repo.get(account_id, mail_id)

    async def retry(self, account_id: str, mail_id: str) -> OutboundMail:
        return await self._repo.retry(account_id, mail_id)


class MailDispatcher:
    """Drains the mail queue through a sink; purges finished mail past its retention."""

    def __init__(
        self, repo: MailRepo, sink: MailSink, settings: MailSettings, clock: Clock = system_clock
    ) -> None:
        self._repo = repo
        self._sink = sink
        self._settings = settings
        self._clock = clock
        self._pump = Pump(settings.poll_seconds)
        self._retries = Retries(settings, clock)

    async def start(self) -> None:
        self._pump.start({"mail-send": self._send_once})

    async def stop(self) -> None:
        await self._pump.stop()

    async def _send_once(self) -> bool:
        s = self._settings
        cutoff = self._retries.purge_due()
        if cutoff is not None:
            await self._repo.purge(cutoff)
        due = await self._repo.claim(
            now=self._clock(), lease_ms=int(s.lease_seconds * 1000), limit=s.batch_size
        )
        if not due:
            return False
        gate = asyncio.Semaphore(s.concurrency)

        async def one(mail: DueMail) -> tuple[str | None, bool]:
            async with gate:
                try:
                    await asyncio.wait_for(self._sink.send(mail), s.timeout_seconds * 2)
                except MailError as exc:
                    return str(exc), exc.permanent
                except TimeoutError:
                    return "timed out", False
                return None, False

        results = await asyncio.gather(*(one(m) for m in due))
        outcomes = [
            self._retries.outcome(m.id, m.attempts, error, permanent=permanent)
            for m, (error, permanent) in zip(due, results, strict=True)
        ]
        await self._repo.record(outcomes, now=self._clock())
        return True
