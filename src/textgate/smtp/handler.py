"""The aiosmtpd handler: recipients are checked at RCPT, the email is taken at DATA.

Each recipient address goes to the address handler (``dialects.mail.AddressHandler``) of
the enabled dialect whose domains include its domain, and is refused at once (550) when it
cannot be served: an unknown domain, or whatever that handler refuses (a malformed number).
One email goes to one kind of address; a recipient of another kind gets a temporary 452,
so the sending server delivers it in a transaction of its own (RFC 5321 section 3.3).

DATA answers 250 only once the messages are committed (nothing acknowledged is lost); any
refusal is a 4xx/5xx reply with its reason, and nothing a client sends can stop the server.
"""

from __future__ import annotations

import logging
from base64 import b64decode
from binascii import Error as Base64Error
from collections.abc import Iterable
from typing import Any

from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, Session

from textgate.config import SmtpSettings
from textgate.dialects.mail import AddressHandler, Delivery, Recipient
from textgate.errors import GatewayError, RateLimited
from textgate.services.registry import Services
from textgate.smtp.errors import (
    ACCEPTED,
    INTERNAL,
    OTHER_KIND,
    RCPT_OK,
    TOO_MANY,
    Refused,
    reply_for,
)
from textgate.smtp.mime import parse_mail

__all__ = ["EmailHandler"]

log = logging.getLogger(__name__)

Target = tuple[AddressHandler, Recipient]
"""What one recipient address means, and the handler it belongs to."""


def _domain(name: str) -> str:
    return name.lower().rstrip(".")


def _envelope_sender(envelope: Envelope) -> str:
    """The MAIL FROM address; "" for the null sender ``<>`` (bounces and auto-replies, which
    are never answered: RFC 5321 section 4.5.5)."""
    sender = (envelope.mail_from or "").strip()
    return "" if sender in ("", "<>") else sender


def _peer_ip(session: Session | None) -> str | None:
    peer = None if session is None else session.peer
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return None


class EmailHandler:
    def __init__(
        self, services: Services, settings: SmtpSettings, handlers: Iterable[AddressHandler]
    ) -> None:
        self._services = services
        self._handlers: dict[str, AddressHandler] = {}
        for handler in handlers:
            for domain in handler.domains:
                # The first handler to claim a domain keeps it (the registry refuses
                # domains claimed by two dialects).
                self._handlers.setdefault(_domain(domain), handler)
        self._max_recipients = settings.max_recipients

    def target(self, address: str) -> Target:
        local, at, domain = address.rpartition("@")
        domain = _domain(domain)
        if not at or not local:
            raise Refused(550, "5.1.3", f"{address!r} is not an email address")
        handler = self._handlers.get(domain)
        if handler is None:
            raise Refused(550, "5.1.2", f"mail for {domain!r} is not accepted here")
        return handler, handler.recipient(local)

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        try:
            handler, recipient = self.target(address)
            if envelope.rcpt_tos:
                first, first_recipient = self.target(envelope.rcpt_tos[0])
                if first is not handler or first_recipient.kind != recipient.kind:
                    return str(OTHER_KIND)
                if len(envelope.rcpt_tos) >= self._max_recipients:
                    return str(TOO_MANY)
            await handler.admit(
                self._services, recipient, _envelope_sender(envelope), _peer_ip(session)
            )
        except Refused as exc:
            return str(exc.reply)
        except GatewayError as exc:
            return str(reply_for(exc, at_rcpt=True))
        envelope.rcpt_tos.append(address)
        return str(RCPT_OK)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        try:
            await self._take(session, envelope)
        except Refused as exc:
            return str(exc.reply)
        except GatewayError as exc:
            return str(reply_for(exc))
        except Exception:
            # Anything unforeseen answers 451 (the sender retries) and the server goes on.
            log.exception("an email could not be processed")
            return str(INTERNAL)
        return str(ACCEPTED)

    async def _take(self, session: Session, envelope: Envelope) -> None:
        targets = [self.target(a) for a in envelope.rcpt_tos]
        if not targets:
            raise Refused(554, "5.5.1", "no valid recipients")
        handler, first = targets[0]
        content = envelope.original_content or envelope.content or b""
        data = content if isinstance(content, bytes) else content.encode("utf-8", "replace")
        mail = parse_mail(data, accepted=first.content_types, max_subject=first.max_subject)
        delivery = Delivery(
            mail=mail,
            recipients=tuple(recipient for _, recipient in targets),
            sender=_envelope_sender(envelope),
            client_ip=_peer_ip(session),
        )
        await handler.deliver(self._services, delivery)

    # SMTP AUTH (PLAIN and LOGIN, RFC 4954), against the accounts' login usernames and
    # passwords. aiosmtpd's own mechanisms check credentials synchronously; these await
    # the check, which hashes off the event loop.

    async def auth_PLAIN(self, server: SMTP, args: list[str]) -> AuthResult:
        if len(args) == 1:
            raw: Any = await server.challenge_auth("")
            if raw is MISSING:
                return AuthResult(success=False)
        else:
            try:
                raw = b64decode(args[1].encode(), validate=True)
            except (Base64Error, ValueError):
                await server.push("501 5.5.2 Can't decode base64")
                return AuthResult(success=False, handled=True)
        parts = bytes(raw).split(b"\x00")
        if len(parts) != 3:
            await server.push("501 5.5.2 Can't split auth value")
            return AuthResult(success=False, handled=True)
        return await self._check(server, parts[1], parts[2])

    async def auth_LOGIN(self, server: SMTP, args: list[str]) -> AuthResult:
        if len(args) == 1:
            login: Any = await server.challenge_auth(SMTP.AuthLoginUsernameChallenge)
            if login is MISSING:
                return AuthResult(success=False)
        else:
            try:
                login = b64decode(args[1].encode(), validate=True)
            except (Base64Error, ValueError):
                await server.push("501 5.5.2 Can't decode base64")
                return AuthResult(success=False, handled=True)
        password: Any = await server.challenge_auth(SMTP.AuthLoginPasswordChallenge)
        if password is MISSING:
            return AuthResult(success=False)
        return await self._check(server, bytes(login), bytes(password))

    async def _check(self, server: SMTP, login: bytes, password: bytes) -> AuthResult:
        try:
            account = await self._services.email_logins.login(
                login.decode("utf-8", "replace"),
                password.decode("utf-8", "replace"),
                client_ip=_peer_ip(server.session),
            )
        except RateLimited as exc:
            await server.push(str(reply_for(exc)))
            return AuthResult(success=False, handled=True)
        except GatewayError:
            # Not handled here: aiosmtpd answers 535 (RFC 4954: invalid credentials).
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=account.id)
