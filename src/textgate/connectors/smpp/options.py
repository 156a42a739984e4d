"""The settings of one SMPP client connector (``[[connectors]] options`` in the config)."""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from textgate.connectors.smpp.sender import DEFAULT_TON_NPI, SenderKind

__all__ = ["ALPHABETS", "LONG_MODES", "SmppOptions"]

log = logging.getLogger(__name__)

LONG_MODES: Final = ("udh", "udh16", "payload")
ALPHABETS: Final = ("gsm7", "latin1", "ascii")


@dataclass(frozen=True, slots=True)
class SmppOptions:
    host: str = "127.0.0.1"
    port: int = 2775
    system_id: str = ""
    password: str = ""
    system_type: str = ""
    binds: int = 1
    """Transceiver binds kept open at once; submissions go to the least busy one. On
    PostgreSQL, for all processes running this connector together (see bind_leases.py)."""
    lease_seconds: float = 15.0
    """On PostgreSQL: how long a process's hold on a bind lasts without renewal (renewed
    every third of it); a crashed process's binds are taken over after this."""
    window: int = 50
    """Most submit_sm outstanding at once on each bind."""
    response_timeout: float = 10.0
    enquire_link_interval: float = 30.0
    # Source TON/NPI per kind of sender (SMPP 3.4 5.2.5 / 5.2.6; the kinds and their
    # defaults: connectors/smpp/sender.py). None takes the default.
    alphanumeric_ton: int | None = None
    """Alphanumeric sender, e.g. "ACME" (default 5 alphanumeric / 0 unknown)."""
    alphanumeric_npi: int | None = None
    international_ton: int | None = None
    """"+" or "00" and digits, or 7+ digits (default 1 international / 1 ISDN E.164)."""
    international_npi: int | None = None
    national_ton: int | None = None
    """"0" and digits (default 2 national / 1 ISDN E.164)."""
    national_npi: int | None = None
    shortcode_ton: int | None = None
    """Up to 6 digits (default 3 network specific / 0 unknown)."""
    shortcode_npi: int | None = None
    numeric_ton: int | None = None
    """Deprecated: the TON of every numeric sender (international, national and short
    code) whose own key is unset, as before senders were told apart. Use the per-kind keys."""
    numeric_npi: int | None = None
    """Deprecated, as ``numeric_ton``."""
    dest_ton: int = 1
    dest_npi: int = 1
    long_messages: str = "udh"
    """"udh" (8-bit reference), "udh16" (16-bit reference) or "payload" (message_payload)."""
    registered_delivery: int = 1
    validity_period: bool = True
    """Pass the validity a client asked for to the SMSC as validity_period (absolute,
    5.2.16). Off for an SMSC that refuses the field (ESME_RINVEXPIRY would fail the
    message): the gateway then keeps to the validity alone, until the hand-off."""
    tls: bool = False
    """Connect over TLS (an SMSC's "SMPPS" port; SMPP 3.4 has no STARTTLS). The SMSC's
    certificate is always verified, host name included: against the system's trusted
    certificates, or ``tls_ca_file`` when set."""
    tls_ca_file: str | None = None
    """PEM file of the certificate authorities to trust for this SMSC instead of the
    system's (a carrier's private CA, a self-signed test SMSC)."""
    connect_timeout: float = 10.0
    unbind_timeout: float = 2.0
    reconnect_initial: float = 0.5
    """Pause before rebinding after a lost link or a failed bind; doubles on each failure."""
    reconnect_max: float = 30.0
    reconnect_auth_min: float = 60.0
    """Least pause after the SMSC refused the credentials (ESME_RINVPASWD, ESME_RINVSYSID,
    ESME_RBINDFAIL); doubles while the refusals go on, up to ``reconnect_max`` if that is
    larger. Long, so that retrying cannot lock the carrier account."""
    max_rate: float = 0.0
    """submit_sm per second over all binds together; 0 = unlimited. On PostgreSQL, over
    all processes running this connector together (see shared_rate.py)."""
    rate_burst: int = 0
    """submit_sm that may go out back to back after an idle spell; 0 = a tenth of a
    second's worth of ``max_rate`` (at least 1)."""
    throttle_retries: int = 3
    """How often the first part of a message, refused with ESME_RTHROTTLED / ESME_RMSGQFUL,
    is sent again by the connector itself (at the slowed-down pace) before the message goes
    back to the dispatcher as not sent (no attempt used). Later parts are retried for as
    long as the link is up (see connector.py)."""
    throttle_backoff_initial: float = 0.5
    """Pause of all new submit_sm after the SMSC throttles us; doubles while it goes on."""
    throttle_backoff_max: float = 10.0
    throttle_min_rate: float = 1.0
    """The slowest pace throttling may bring this connector down to (submit_sm per second)."""
    query_after_ms: int = 0
    """Ask the SMSC with query_sm about a message whose receipt is this late; 0 = never."""
    default_alphabet: str = "gsm7"
    """What data_coding 0 (the "SMSC default alphabet", SMPP 3.4 5.2.19) means for inbound
    messages from this SMSC: "gsm7", "latin1" or "ascii"."""

    def __post_init__(self) -> None:
        if self.long_messages not in LONG_MODES:
            raise ValueError(
                f"long_messages must be one of {', '.join(LONG_MODES)}, got {self.long_messages!r}"
            )
        if self.default_alphabet not in ALPHABETS:
            raise ValueError(
                f"default_alphabet must be one of {', '.join(ALPHABETS)}, "
                f"got {self.default_alphabet!r}"
            )
        if self.window < 1:
            raise ValueError("window must be at least 1")
        if self.binds < 1:
            raise ValueError("binds must be at least 1")
        if self.lease_seconds < 1:
            raise ValueError("lease_seconds must be at least 1")
        if self.max_rate < 0 or self.rate_burst < 0:
            raise ValueError("max_rate and rate_burst must not be negative")
        if self.throttle_retries < 0:
            raise ValueError("throttle_retries must not be negative")
        if not 0 < self.throttle_backoff_initial <= self.throttle_backoff_max:
            raise ValueError("need 0 < throttle_backoff_initial <= throttle_backoff_max")
        if not 0 < self.reconnect_initial <= self.reconnect_max:
            raise ValueError("need 0 < reconnect_initial <= reconnect_max")
        if self.reconnect_auth_min <= 0:
            raise ValueError("reconnect_auth_min must be positive")
        if self.tls_ca_file is not None:
            if not self.tls:
                raise ValueError("tls_ca_file is set but tls is not: set tls = true")
            if not Path(self.tls_ca_file).is_file():
                raise ValueError(f"tls_ca_file {self.tls_ca_file!r} is not a file")
            try:
                ssl.create_default_context(cafile=self.tls_ca_file)
            except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
                raise ValueError(
                    f"tls_ca_file {self.tls_ca_file!r} holds no PEM certificate: {exc}"
                ) from None
        if self.query_after_ms < 0:
            raise ValueError("query_after_ms must not be negative")
        for kind in ("alphanumeric", "international", "national", "shortcode", "numeric"):
            for part in ("ton", "npi"):
                value = getattr(self, f"{kind}_{part}")
                if value is not None and not 0 <= value <= 0xFF:  # one octet, 5.2.5 / 5.2.6
                    raise ValueError(f"{kind}_{part} must be 0-255, got {value}")
        if self.numeric_ton is not None or self.numeric_npi is not None:
            log.warning(
                "smpp options numeric_ton/numeric_npi are deprecated: they set every numeric "
                "sender kind; use international_*, national_* and shortcode_* instead"
            )

    def source_ton_npi(self) -> dict[SenderKind, tuple[int, int]]:
        """The (TON, NPI) each kind of sender goes out with: its own keys, else (numeric
        kinds) the deprecated ``numeric_*`` keys, else the default (sender.py)."""
        table: dict[SenderKind, tuple[int, int]] = {}
        for kind, (ton, npi) in DEFAULT_TON_NPI.items():
            own_ton = getattr(self, f"{kind}_ton")
            own_npi = getattr(self, f"{kind}_npi")
            numeric = kind is not SenderKind.ALPHANUMERIC
            if own_ton is None and numeric and self.numeric_ton is not None:
                own_ton = self.numeric_ton
            if own_npi is None and numeric and self.numeric_npi is not None:
                own_npi = self.numeric_npi
            table[kind] = (ton if own_ton is None else own_ton, npi if own_npi is None else own_npi)
        return table

    def ssl_context(self) -> ssl.SSLContext | None:
        """The client side of TLS, or None for plain TCP. Made afresh for each connection,
        so that a CA file renewed on disk is read at the next bind."""
        if not self.tls:
            return None
        # create_default_context verifies the certificate and the host name: never off.
        return ssl.create_default_context(cafile=self.tls_ca_file)

    @property
    def burst(self) -> float:
        """The token bucket's capacity (see ``rate_burst``)."""
        if self.rate_burst:
            return float(self.rate_burst)
        return max(1.0, self.max_rate / 10)

    @classmethod
    def from_mapping(cls, options: dict[str, Any]) -> SmppOptions:
        known = {k: v for k, v in options.items() if k in cls.__dataclass_fields__}
        unknown = set(options) - set(known)
        if unknown:
            raise ValueError(f"unknown smpp options: {', '.join(sorted(unknown))}")
        return cls(**known)

    def __repr__(self) -> str:
        # The password stays out of logs and tracebacks.
        return (
            f"SmppOptions(host={self.host!r}, port={self.port}, system_id={self.system_id!r}"
            f"{', tls=True' if self.tls else ''})"
        )
