"""The settings of the front doors beside HTTP: the phones' device API, the SMTP server
and the SMPP server."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, FilePath, model_validator

from textgate.config.queues import QueueSettings
from textgate.config.section import Section

__all__ = ["AndroidSettings", "SmppServerSettings", "SmtpSettings"]


class AndroidSettings(Section):
    """The device API that phones running the SMSGate app talk to (see README, "Android
    phones"). ``public_url`` is the base the phones reach this server at (behind a proxy);
    unset, the address of each request is used."""

    enabled: bool = True
    prefix: str = Field(default="/mobile/v1", pattern=r"^/[A-Za-z0-9/_.-]*[^/]$")
    public_url: str | None = None
    # The vendor sends a keep-alive every 15 s; the app's read timeout is an hour.
    keepalive_seconds: float = Field(default=15.0, gt=0, le=30)
    # A stream is closed after this long (the app reconnects within seconds and pulls).
    stream_max_seconds: float = Field(default=300.0, gt=0)
    # Sent in GET /settings: SSE_ONLY makes the app keep an event stream open instead of
    # waiting for push notifications that only the vendor's cloud can send.
    notification_channel: Literal["SSE_ONLY", "AUTO"] | None = "SSE_ONLY"
    # How far a signed webhook's X-Timestamp may be from our clock.
    signature_skew_seconds: float = Field(default=3600.0, gt=0)


class SmtpSettings(Section):
    """The email-to-SMS server (LabsMobile MailSMS, seed 000; ASPSMS SMTP, seed 004).

    Mail to ``<number>@<d>`` for ``d`` in ``labsmobile_domains`` is a MailSMS message; mail
    to ``textsms@``, ``xml@`` or ``<00number>@`` a domain in ``aspsms_domains`` follows the
    ASPSMS rules. The providers' own domains are the defaults, so existing senders only change
    their outgoing server. STARTTLS uses ``tls_cert``/``tls_key``; without them a self-signed
    certificate is made under ``<data_dir>/smtp`` (development only).
    """

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=2525, ge=0, le=65535)
    hostname: str = "localhost"
    labsmobile_domains: list[str] = Field(default_factory=lambda: ["api.labsmobile.com"])
    aspsms_domains: list[str] = Field(default_factory=lambda: ["smtp.aspsms.com"])
    starttls: bool = True
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # Clients must log in (SMTP AUTH with an account's login, after STARTTLS) before MAIL.
    auth_required: bool = False
    max_message_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    max_recipients: int = Field(default=1000, ge=1, le=10_000)
    # An idle connection is closed after this long.
    timeout_seconds: float = Field(default=300.0, gt=0, le=3600)


class SmppServerSettings(Section):
    """The SMPP 3.4 server customers bind to as they would to a carrier (``smpp_server/``).

    Each account binds with its own system_id and password (``textgate account smpp-login``).
    """

    enabled: bool = False
    host: str = "127.0.0.1"
    # 2775 is the port SMPP uses by convention (SMPP 3.4 2.3 leaves it to the SMSC).
    port: int = Field(default=2775, ge=0, le=65535)
    # Binds one account may hold open at once over all its connections; one more is
    # refused (ESME_RBINDFAIL) so that a client in a reconnect loop cannot take the server.
    max_binds_per_account: int = Field(default=4, ge=1, le=1000)
    # After this long without a PDU from the client the server sends enquire_link; no
    # answer within response_timeout_seconds closes the connection (SMPP 3.4 4.11).
    enquire_link_seconds: float = Field(default=30.0, gt=0, le=3600)
    response_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    # A connection that has not bound within this long is closed.
    bind_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    # How long an open bind goes on with its login and account rules as they were: after
    # this, it reads them again (at its next request, and at least this often when idle);
    # a login removed or set again since the bind ends it (unbind), a changed rule applies.
    # The API keys' cache bounds a revoked key the same way (AccountService).
    login_recheck_seconds: float = Field(default=5.0, gt=0, le=3600)
    # Requests from one client handled at once (SMPP 3.4 2.4: the window); the server
    # stops reading that connection while they are all outstanding.
    window: int = Field(default=16, ge=1, le=1000)
    # Parts of a concatenated message (UDH) kept per bind while the others are awaited:
    # at most this many parts, at most this long after the first one came.
    reassembly_max_parts: int = Field(default=1000, ge=1, le=100_000)
    reassembly_timeout_seconds: float = Field(default=300.0, gt=0, le=86_400)
    # Receipts and inbound messages sent to the customers' receiver binds as deliver_sm
    # (see QueueSettings: one that is not answered ESME_ROK is sent again on this
    # schedule; attempts count only while the account has a receiver bind).
    deliver: QueueSettings = Field(default_factory=QueueSettings)
    # SMPP over TLS: a PEM certificate (chain) and its private key, both or neither. SMPP
    # 3.4 has no STARTTLS, so the port then takes TLS only (as carriers' "SMPPS" ports do).
    tls_cert_file: FilePath | None = None
    tls_key_file: FilePath | None = None

    @model_validator(mode="after")
    def _tls_pair(self) -> SmppServerSettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError(
                "smpp_server.tls_cert_file and smpp_server.tls_key_file go together:"
                " set both or neither"
            )
        return self
