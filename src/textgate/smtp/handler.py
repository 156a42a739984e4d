"""The aiosmtpd handler: recipients are checked at RCPT, the email is taken at DATA.

Each recipient address is sorted by its domain into an interface (LabsMobile MailSMS, seed
000; ASPSMS, seed 004) and refused at once (550) when it cannot be served: an unknown
domain, a malformed number, a sender that is not authorised. One email goes to one kind of
address; a recipient of another kind gets a temporary 452, so the sending server delivers
it in a transaction of its own (RFC 5321 section 3.3).

DATA answers 250 only once the messages are committed (nothing acknowledged is lost); any
refusal is a 4xx/5xx reply with its reason, and nothing a client sends can stop the server.
"""

from __future__ import annotations

import logging
from base64 import b64decode
from binascii import Error as Base64Error
from dataclasses import dataclass
from typing import Any

from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, Session

from textgate.config import SmtpSettings
from textgate.errors import AuthenticationFailed, GatewayError, RateLimited
from textgate.services.registry import Services
from textgate.smtp import aspsms, aspsms_xml, labsmobile
from textgate.smtp.errors import (
    ACCEPTED,
    INTERNAL,
    OTHER_KIND,
    RCPT_OK,
    TOO_MANY,
    UNAUTHORISED_ORIGINATOR,
    Refused,
    reply_for,
)
from textgate.smtp.mime import parse_mail

__all__ = ["EmailHandler", "Target"]

log = logging.getLogger(__name__)

LABSMOBILE = "labsmobile"
ASPSMS = "aspsms"


@dataclass(frozen=True, slots=True)
class Target:
    """What one recipient address means."""

    interface: str
    form: str
    """``number`` for a phone number address; aspsms.Form otherwise."""
    number: str | None

    @property
    def kind(self) -> tuple[str, str]:
        return self.interface, self.form


def _envelope_sender(envelope: Envelope) -> str:
    """The MAIL FROM address; "" for the null sender ``<>`` (bounces and auto-replies, which
    are never answered: RFC 5321 section 4.5.5)."""
    sender = (envelope.mail_from or "").strip()
    return "" if sender in ("", "<>") else sender


def _peer_ip(session: Session) -> str | None:
    peer = session.peer
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return None


class EmailHandler:
    def __init__(self, services: Services, settings: SmtpSettings) -> None:
        self._services = services
        self._labsmobile = {d.lower() for d in settings.labsmobile_domains}
        self._aspsms = {d.lower() for d in settings.aspsms_domains}
        self._max_recipients = settings.max_recipients

    def target(self, address: str) -> Target:
        local, at, domain = address.rpartition("@")
        domain = domain.lower().rstrip(".")
        if not at or not local:
            raise Refused(550, "5.1.3", f"{address!r} is not an email address")
        if domain in self._labsmobile:
            return Target(LABSMOBILE, "number", labsmobile.recipient_number(local))
        if domain in self._aspsms:
            form, number = aspsms.address_form(local)
            return Target(ASPSMS, form.value, number)
        raise Refused(550, "5.1.2", f"mail for {domain!r} is not accepted here")

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        try:
            target = self.target(address)
            if envelope.rcpt_tos:
                if self.target(envelope.rcpt_tos[0]).kind != target.kind:
                    return str(OTHER_KIND)
                if len(envelope.rcpt_tos) >= self._max_recipients:
                    return str(TOO_MANY)
            if target.interface == ASPSMS and target.form == aspsms.Form.NUMBER:
                # Seed 004: "the used e-mail sender address must be authorized".
                await self._services.originators.resolve(_envelope_sender(envelope))
        except Refused as exc:
            return str(exc.reply)
        except AuthenticationFailed:
            return str(UNAUTHORISED_ORIGINATOR)
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
        first = targets[0]
        content = envelope.original_content or envelope.content or b""
        data = content if isinstance(content, bytes) else content.encode("utf-8", "replace")
        mail = parse_mail(data, xml=first.form == aspsms.Form.XML)
        client_ip = _peer_ip(session)
        sender = _envelope_sender(envelope)
        numbers = [t.number for t in targets if t.number is not None]
        if first.interface == LABSMOBILE:
            await labsmobile.send(self._services, mail, numbers, client_ip)
        elif first.form == aspsms.Form.TEXTSMS:
            await aspsms.send_textsms(self._services, mail, sender, client_ip)
        elif first.form == aspsms.Form.XML:
            await aspsms_xml.answer(self._services, mail.text, sender, client_ip)
        else:
            await aspsms.send_to_numbers(self._services, mail, numbers, sender, client_ip)

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
                login.decode("utf-8", "replace"), password.decode("utf-8", "replace")
            )
        except RateLimited as exc:
            await server.push(str(reply_for(exc)))
            return AuthResult(success=False, handled=True)
        except GatewayError:
            # Not handled here: aiosmtpd answers 535 (RFC 4954: invalid credentials).
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=account.id)
