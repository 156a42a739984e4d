"""The outbound queues' settings: webhooks, mail (and the SMPP server's deliver_sm)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from textgate.config.section import Section

__all__ = ["MailSettings", "QueueSettings", "WebhookSettings"]


class QueueSettings(Section):
    """An outbound queue (webhook deliveries, mail). The default schedule (doubling from
    30 s, capped at 4 h, 15 attempts) spreads the attempts over about a day before an item
    is dead-lettered."""

    max_attempts: int = Field(default=15, ge=1, le=100)
    retry_base_seconds: float = Field(default=30.0, gt=0)
    retry_max_seconds: float = Field(default=14_400.0, gt=0)
    # Items sent at once by one process, and claimed per batch.
    concurrency: int = Field(default=16, ge=1, le=256)
    batch_size: int = Field(default=200, ge=1, le=5000)
    # A claimed item not finished within the lease is taken up again.
    lease_seconds: float = Field(default=120.0, gt=0)
    poll_seconds: float = Field(default=1.0, gt=0, le=60)
    # Finished (sent or dead-lettered) items are deleted after this many days.
    retention_days: float = Field(default=30.0, gt=0)
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)


class WebhookSettings(QueueSettings):
    """Webhook delivery (see QueueSettings for the retry schedule)."""

    enabled: bool = True
    # Loopback, private and link-local targets are refused unless allowed here: a webhook
    # URL must not let an account reach into the operator's own network.
    allow_private_targets: bool = False
    resolve_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    # See storage.webhook_feed: how long a missing event id may still be a transaction in
    # progress, and how old an inbound message must be before the feed takes it.
    gap_grace_seconds: float = Field(default=120.0, gt=0)
    settle_seconds: float = Field(default=2.0, ge=0, le=60)


class MailSettings(QueueSettings):
    """Outbound mail (notifications, email-interface replies, transactional email).

    ``transport = "file"`` (the development default) writes each mail as an ``.eml`` file
    under ``directory`` (default: ``<data_dir>/mail``); ``"smtp"`` hands it to a relay.
    """

    enabled: bool = True
    transport: Literal["file", "smtp"] = "file"
    from_address: str = "textgate@localhost"
    directory: Path | None = None
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    # "starttls" upgrades a plain connection (port 587), "tls" starts with TLS (port 465).
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    concurrency: int = Field(default=4, ge=1, le=64)
    batch_size: int = Field(default=50, ge=1, le=1000)
