"""What happened, and who is told: the status history of messages, account events, webhook
subscriptions and notification targets, the delivery queue of webhooks, the feed's read
positions, and the outbound mail queue."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, Text, text

from textgate.storage.tables._base import AutoId, Id, Ms, metadata

__all__ = [
    "account_events",
    "mail_outbox",
    "message_events",
    "message_targets",
    "smpp_deliveries",
    "webhook_cursors",
    "webhook_deliveries",
    "webhooks",
]

message_events = Table(
    "message_events",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("message_id", Id, nullable=False),
    Column("status", String(16), nullable=False),
    Column("at", Ms, nullable=False),
    Column("detail", Text),
    # The connector and the routing rule of the hand-off the event is about (dispatch
    # events only).
    Column("connector", String(64)),
    Column("route", String(64)),
    Index("ix_message_events_message_id_id", "message_id", "id"),
)

# Account-level happenings other than message statuses (automatic top-ups so far).
account_events = Table(
    "account_events",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("account_id", Id, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("detail", Text),
    Column("created_at", Ms, nullable=False),
    Index("ix_account_events_account_id_id", "account_id", "id"),
)

# Webhook subscriptions and notification targets. The secret signs deliveries (HMAC), so it
# must be readable here; the API shows it once, at creation, and nothing logs it.
# ``scope`` 'account': every event of the account that matches ``events``; 'message': only
# the events of messages linked to it in ``message_targets`` (a submit's ``callback_url``,
# an email-interface ``Notify=``). ``url`` is http(s) (a webhook) or mailto: (an email).
webhooks = Table(
    "webhooks",
    metadata,
    Column("id", Id, primary_key=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("url", Text, nullable=False),
    # Event types subscribed to, comma-separated (core.webhooks.EVENT_TYPES).
    Column("events", Text, nullable=False),
    Column("secret", Text, nullable=False),
    Column("created_at", Ms, nullable=False),
    Column("scope", String(16), nullable=False, server_default=text("'account'")),
    # Payload shape (core.webhook_formats): textgate's own envelope, or a provider's.
    Column("format", String(16), nullable=False, server_default=text("'textgate'")),
    # A client's own name for its subscription, where its API lets it choose one (the SMSGate
    # client API's webhook id): a subscription made again under it replaces the first.
    Column("label", String(64), nullable=True),
    Index("ix_webhooks_account_id_id", "account_id", "id"),
    Index("ix_webhooks_scope_account_id", "scope", "account_id"),
    Index("ux_webhooks_account_id_format_label", "account_id", "format", "label", unique=True),
)

# Which message-scoped targets (webhooks.scope = 'message') want a message's events. Only
# messages submitted with a callback or a notification have rows here.
message_targets = Table(
    "message_targets",
    metadata,
    Column("message_id", Id, primary_key=True),
    Column("target_id", Id, primary_key=True),
)

# The durable delivery queue: one row per (subscription, event). The unique key makes a
# feed replayed after a crash harmless. ``next_attempt_at`` is set while the delivery is
# pending (due time, retry time, or lease expiry while a sender holds it) and NULL once it
# was delivered or dead-lettered.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Id, primary_key=True),
    Column("webhook_id", Id, ForeignKey("webhooks.id"), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("event_type", String(32), nullable=False),
    Column("payload", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", Ms),
    Column("last_error", Text),
    Column("created_at", Ms, nullable=False),
    Column("delivered_at", Ms),
    Index("ux_webhook_deliveries_webhook_id_event_id", "webhook_id", "event_id", unique=True),
    Index("ix_webhook_deliveries_webhook_id_status_id", "webhook_id", "status", "id"),
    Index(
        "ix_webhook_deliveries_due",
        "next_attempt_at",
        sqlite_where=text("next_attempt_at IS NOT NULL"),
        postgresql_where=text("next_attempt_at IS NOT NULL"),
    ),
)

# The durable queue of deliver_sm for the SMPP server's customers, fed from the same events
# as webhooks: ``kind`` 'receipt' (a final status of a message submitted with
# registered_delivery) or 'inbound' (an MO for an account with an SMPP login). ``payload``
# holds the fields of the PDU to build, as JSON. Claimed and retried like webhook
# deliveries, only by a process where the account has a receiver bind open; the unique
# key makes a replayed feed harmless.
smpp_deliveries = Table(
    "smpp_deliveries",
    metadata,
    Column("id", Id, primary_key=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", Ms),
    Column("last_error", Text),
    Column("created_at", Ms, nullable=False),
    Column("delivered_at", Ms),
    Index("ux_smpp_deliveries_account_id_event_id", "account_id", "event_id", unique=True),
    Index(
        "ix_smpp_deliveries_due",
        "account_id",
        "next_attempt_at",
        sqlite_where=text("next_attempt_at IS NOT NULL"),
        postgresql_where=text("next_attempt_at IS NOT NULL"),
    ),
)

# How far the webhook feed has read each source (message_events, inbound_messages).
webhook_cursors = Table(
    "webhook_cursors",
    metadata,
    Column("source", String(32), primary_key=True),
    Column("position", String(64), nullable=False),
    Column("updated_at", Ms, nullable=False),
)

# The durable outbound mail queue: notifications fed from events (``dedup_key`` =
# target + event, so a replayed feed adds nothing) and mail that interfaces send directly
# (email-interface replies, transactional email). ``raw`` is the whole RFC 5322 message, in
# ASCII (non-ASCII parts are transfer-encoded when it is built). Claimed and retried like
# webhook deliveries: ``next_attempt_at`` is set while pending, NULL once sent or dead.
mail_outbox = Table(
    "mail_outbox",
    metadata,
    Column("id", Id, primary_key=True),
    Column("account_id", Id),
    Column("source", String(32), nullable=False),
    Column("dedup_key", String(128)),
    Column("mail_from", Text, nullable=False),
    # Envelope recipients, comma-separated.
    Column("rcpt_to", Text, nullable=False),
    Column("subject", Text),
    Column("raw", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", Ms),
    Column("last_error", Text),
    Column("created_at", Ms, nullable=False),
    Column("sent_at", Ms),
    Index("ux_mail_outbox_dedup_key", "dedup_key", unique=True),
    Index("ix_mail_outbox_account_id_id", "account_id", "id"),
    Index(
        "ix_mail_outbox_due",
        "next_attempt_at",
        sqlite_where=text("next_attempt_at IS NOT NULL"),
        postgresql_where=text("next_attempt_at IS NOT NULL"),
    ),
)
