"""The schema: the only place tables are defined (Alembic migrations mirror it).

Times are integer milliseconds since the Unix epoch (UTC) on every database: comparisons in
the claim query stay index-friendly and identical on SQLite and PostgreSQL, and repos turn
them into aware datetimes for core objects.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    text,
)

__all__ = [
    "account_balances",
    "account_events",
    "accounts",
    "api_keys",
    "auth_tokens",
    "device_messages",
    "devices",
    "idempotency_keys",
    "inbound_messages",
    "inbound_parts",
    "ledger",
    "login_credentials",
    "mail_outbox",
    "mailup_campaigns",
    "mailup_consoles",
    "mailup_deliveries",
    "mailup_list_opt_outs",
    "mailup_lists",
    "mailup_smtp_users",
    "mailup_templates",
    "message_events",
    "message_targets",
    "messages",
    "metadata",
    "opt_outs",
    "orders",
    "pending_reports",
    "smtp_originators",
    "usage_daily",
    "webhook_cursors",
    "webhook_deliveries",
    "webhooks",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL wants BIGINT for event ids.
AutoId = BigInteger().with_variant(Integer(), "sqlite")
Ms = BigInteger
Id = String(26)

accounts = Table(
    "accounts",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("created_at", Ms, nullable=False),
    Column("default_country", String(2)),
    # The account's rules (core.policy.AccountRules) as JSON; NULL means all defaults.
    Column("rules", Text),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("secret_hash", String(64), nullable=False),
    Column("label", String(100)),
    Column("created_at", Ms, nullable=False),
    Column("revoked_at", Ms),
)

orders = Table(
    "orders",
    metadata,
    Column("id", Id, primary_key=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("created_at", Ms, nullable=False),
    Column("interface", String(32), nullable=False),
    Column("client_ref", String(200)),
    Column("recipients", Integer, nullable=False),
    Index("ix_orders_account_id_id", "account_id", "id"),
    # Provider dialects look orders up by the client's own order id.
    Index("ix_orders_account_id_client_ref", "account_id", "client_ref"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("account_id", Id, primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("order_id", Id, nullable=False),
    Column("created_at", Ms, nullable=False, index=True),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Id, primary_key=True),
    Column("order_id", Id, nullable=False, index=True),
    Column("account_id", Id, nullable=False),
    Column("interface", String(32), nullable=False),
    Column("recipient", String(32), nullable=False),
    Column("sender", String(32)),
    Column("text", Text, nullable=False),
    Column("encoding", String(8), nullable=False),
    Column("segments", SmallInteger, nullable=False),
    # What the account was charged for this message (micro-credits; core.pricing).
    Column("cost", BigInteger, nullable=False, server_default=text("0")),
    Column("country", String(2)),
    Column("client_ref", String(200)),
    # The quality class the client asked for (high/medium/low); routing may use it.
    Column("quality", String(8)),
    Column("status", String(16), nullable=False),
    Column("reason", Text),
    Column("error_code", String(64)),
    Column("connector", String(64)),
    Column("external_id", String(128)),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    # When the dispatcher should next look at the message: due time while queued or
    # scheduled, retry time after a retryable error, lease expiry while sending. NULL once
    # the message needs no more dispatching, which keeps the partial index small.
    Column("next_attempt_at", Ms),
    Column("claimed_by", String(64)),
    # When to ask the connector about a message still waiting for its delivery report
    # (query_sm or equivalent): reports sent while textgate was down are not lost for good.
    Column("report_check_at", Ms),
    Column("scheduled_at", Ms),
    Column("created_at", Ms, nullable=False),
    Column("updated_at", Ms, nullable=False),
    # Waiting for a usable link ends here (status expired); NULL: the dispatcher's default
    # validity counted from the due time (DESIGN "Delivery contract").
    Column("valid_until", Ms),
    # A sent message with no final report by then is given up on (expired, no_report).
    Column("report_due_at", Ms),
    # external_id as matched (core.external_ids.id_key): receipts spell ids in other bases.
    Column("external_key", String(128)),
    # The connector's note on an interrupted hand-off (which parts of a long message the
    # operator took, under which reference), handed back on the next try.
    Column("handoff_state", Text),
    Index(
        "ix_messages_due",
        "next_attempt_at",
        sqlite_where=text("next_attempt_at IS NOT NULL"),
        postgresql_where=text("next_attempt_at IS NOT NULL"),
    ),
    Index(
        "ix_messages_report_check",
        "report_check_at",
        sqlite_where=text("report_check_at IS NOT NULL"),
        postgresql_where=text("report_check_at IS NOT NULL"),
    ),
    Index("ix_messages_account_id_id", "account_id", "id"),
    Index("ix_messages_account_id_status_id", "account_id", "status", "id"),
    Index("ix_messages_account_id_recipient_id", "account_id", "recipient", "id"),
    Index("ix_messages_connector_external_key", "connector", "external_key"),
)

message_events = Table(
    "message_events",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("message_id", Id, nullable=False),
    Column("status", String(16), nullable=False),
    Column("at", Ms, nullable=False),
    Column("detail", Text),
    Index("ix_message_events_message_id_id", "message_id", "id"),
)

# Delivery reports that arrived before the dispatcher recorded the connector's id (a fast
# operator can answer before our own commit); applied as soon as that id is recorded.
pending_reports = Table(
    "pending_reports",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("connector", String(64), nullable=False),
    Column("external_id", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("at", Ms, nullable=False),
    Column("error_code", String(64)),
    # One row per key the reported id may have been stored under (core.external_ids).
    Column("external_key", String(128)),
    Index("ix_pending_reports_connector_external_key", "connector", "external_key"),
)

# Credits: every change of a balance is a ledger row; account_balances holds the running
# sum, updated in the same transaction, so reading a balance needs no aggregate.
account_balances = Table(
    "account_balances",
    metadata,
    Column("account_id", Id, ForeignKey("accounts.id"), primary_key=True),
    Column("balance", BigInteger, nullable=False, server_default=text("0")),
    Column("updated_at", Ms, nullable=False),
)

ledger = Table(
    "ledger",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("account_id", Id, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("balance_after", BigInteger, nullable=False),
    Column("order_id", Id),
    Column("message_id", Id),
    Column("note", Text),
    Column("created_at", Ms, nullable=False),
    Index("ix_ledger_account_id_id", "account_id", "id"),
    # A message is refunded at most once, whatever reports it twice.
    Index(
        "ux_ledger_refund_message_id",
        "message_id",
        unique=True,
        sqlite_where=text("kind = 'refund'"),
        postgresql_where=text("kind = 'refund'"),
    ),
)

# Messages accepted per account and local day (the daily limit's counter).
usage_daily = Table(
    "usage_daily",
    metadata,
    Column("account_id", Id, primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("count", Integer, nullable=False, server_default=text("0")),
)

opt_outs = Table(
    "opt_outs",
    metadata,
    Column("account_id", Id, primary_key=True),
    Column("number", String(32), primary_key=True),
    Column("source", String(16), nullable=False),
    Column("created_at", Ms, nullable=False),
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


# Messages from handsets to our numbers (any connector). ``account_id`` is NULL when no
# account owns the recipient number: the message is still kept (it was acknowledged to the
# operator) and shows up once the number is assigned.
inbound_messages = Table(
    "inbound_messages",
    metadata,
    Column("id", Id, primary_key=True),
    Column("account_id", Id),
    Column("connector", String(64), nullable=False),
    Column("external_id", String(128)),
    Column("sender", String(64), nullable=False),
    Column("recipient", String(64), nullable=False),
    Column("text", Text, nullable=False),
    Column("parts", SmallInteger, nullable=False, server_default=text("1")),
    # Parts expected; more than ``parts`` when an incomplete message was stored after the
    # reassembly timeout rather than kept waiting for parts that never came.
    Column("total_parts", SmallInteger, nullable=False, server_default=text("1")),
    Column("received_at", Ms, nullable=False),
    Column("created_at", Ms, nullable=False),
    Column("read_at", Ms),
    Column("alias", String(100)),
    Index("ix_inbound_messages_account_id_id", "account_id", "id"),
    Index("ix_inbound_messages_account_id_sender_id", "account_id", "sender", "id"),
    Index("ix_inbound_messages_recipient_id", "recipient", "id"),
)

# Parts of concatenated inbound messages waiting for their siblings. Stored before the
# operator is answered, so a part acknowledged and then followed by a crash is not lost.
# The unique key makes a part the operator delivers twice (its answer was lost) harmless.
inbound_parts = Table(
    "inbound_parts",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("connector", String(64), nullable=False),
    Column("sender", String(64), nullable=False),
    Column("recipient", String(64), nullable=False),
    Column("reference", Integer, nullable=False),
    Column("total", SmallInteger, nullable=False),
    Column("sequence", SmallInteger, nullable=False),
    Column("text", Text, nullable=False),
    Column("external_id", String(128)),
    Column("received_at", Ms, nullable=False),
    # Our own clock, not the operator's: the reassembly timeout runs from here.
    Column("created_at", Ms, nullable=False),
    Index(
        "ux_inbound_parts_key",
        "connector",
        "sender",
        "recipient",
        "reference",
        "total",
        "sequence",
        unique=True,
    ),
    Index("ix_inbound_parts_created_at", "created_at"),
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
    Index("ix_webhooks_account_id_id", "account_id", "id"),
    Index("ix_webhooks_scope_account_id", "scope", "account_id"),
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

# Username and password of an account, for the dialects that log in with them. The password
# is stored as a salted scrypt string (core.passwords), never in clear.
login_credentials = Table(
    "login_credentials",
    metadata,
    Column("account_id", Id, ForeignKey("accounts.id"), primary_key=True),
    Column("username", String(128), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("updated_at", Ms, nullable=False),
    Index("ux_login_credentials_username", "username", unique=True),
)

# Sessions (``kind`` session: expire after some idle time, sliding) and access tokens
# (``kind`` token: valid until revoked) handed out by a login. Only a SHA-256 digest of the
# random secret is kept.
auth_tokens = Table(
    "auth_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("kind", String(8), nullable=False),
    Column("created_at", Ms, nullable=False),
    Column("last_used_at", Ms, nullable=False),
    Column("revoked_at", Ms),
)

# --- Email-to-SMS interfaces (migration 0007) -------------------------------------------

# Sender addresses authorised to send SMS by mailing <number>@<domain> (ASPSMS SMTP
# interface, seed 004 "Authorized SMTP Originators"): the address itself is the secret, so
# it is stored lower-cased and unique across accounts. ``originator`` is the SMS sender used
# when the email names none.
smtp_originators = Table(
    "smtp_originators",
    metadata,
    Column("address", String(254), primary_key=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("originator", String(32)),
    Column("created_at", Ms, nullable=False),
)

# --- MailUp (migration 0008) -------------------------------------------------------------

# A MailUp console (seed 002: "MailUp account ID", the number in ``/sms/{account_ID}/...``
# and in SMTP+ usernames ``s<console>_<n>``) is an account's number on that interface.
# ``status`` is active, suspended or deleted (the SMTP+ codes 107 and 108).
mailup_consoles = Table(
    "mailup_consoles",
    metadata,
    Column("account_id", Id, ForeignKey("accounts.id"), primary_key=True),
    Column("console_id", Integer, nullable=False),
    Column("status", String(16), nullable=False, server_default=text("'active'")),
    Column("created_at", Ms, nullable=False),
    Index("ux_mailup_consoles_console_id", "console_id", unique=True),
)

# An account's numbered lists. ``secret`` is the ListSecret, sealed (storage.secrets) rather
# than hashed because the seed's ``GET .../listsecret`` shows it back; NULL while none is set
# (transactional SMS disabled).
mailup_lists = Table(
    "mailup_lists",
    metadata,
    Column("account_id", Id, ForeignKey("accounts.id"), primary_key=True),
    Column("list_id", Integer, primary_key=True),
    Column("guid", String(36), nullable=False),
    Column("name", String(100), nullable=False),
    Column("secret", Text),
    # Country calling code put before numbers sent without one ("39"); NULL: none.
    Column("default_prefix", String(4)),
    Column("sms_sender", String(11)),
    Column("created_at", Ms, nullable=False),
    Index("ux_mailup_lists_guid", "guid", unique=True),
)

# Numbers that opted out of one list's messages (E.164).
mailup_list_opt_outs = Table(
    "mailup_list_opt_outs",
    metadata,
    Column("account_id", Id, primary_key=True),
    Column("list_id", Integer, primary_key=True),
    Column("number", String(32), primary_key=True),
    Column("created_at", Ms, nullable=False),
)

# Stored messages an SMS (``TemplateId``, kind sms: ``text``) or a transactional email
# (SendTemplate, kind email: ``subject``, ``text``, ``html``) takes its content from.
mailup_templates = Table(
    "mailup_templates",
    metadata,
    Column("account_id", Id, ForeignKey("accounts.id"), primary_key=True),
    Column("template_id", Integer, primary_key=True),
    Column("kind", String(8), nullable=False),
    Column("name", String(100), nullable=False),
    Column("subject", Text),
    Column("text", Text),
    Column("html", Text),
    Column("created_at", Ms, nullable=False),
)

# Transactional SMS sent through a list: ``id`` is the numeric DeliveryId the seed answers
# with; ``campaign`` the CampaignCode the statistics aggregate by.
mailup_deliveries = Table(
    "mailup_deliveries",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("account_id", Id, nullable=False),
    Column("list_id", Integer, nullable=False),
    Column("message_id", Id, nullable=False),
    Column("campaign", String(200)),
    Column("created_at", Ms, nullable=False),
    Index("ux_mailup_deliveries_message_id", "message_id", unique=True),
    Index("ix_mailup_deliveries_account_id_campaign", "account_id", "campaign"),
)

# Campaigns by code (seed 002: "If the specified value does not exist, a new item is
# created"); ``emails`` counts transactional emails queued under the code.
mailup_campaigns = Table(
    "mailup_campaigns",
    metadata,
    Column("account_id", Id, ForeignKey("accounts.id"), primary_key=True),
    Column("code", String(200), primary_key=True),
    Column("name", String(200)),
    Column("emails", Integer, nullable=False, server_default=text("0")),
    Column("created_at", Ms, nullable=False),
)

# SMTP+ users (``s<console>_<n>``) of an account's list. The secret is random and only ever
# verified, so only its SHA-256 digest is kept (as for API keys).
mailup_smtp_users = Table(
    "mailup_smtp_users",
    metadata,
    Column("username", String(32), primary_key=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("list_id", Integer, nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("enabled", Integer, nullable=False, server_default=text("1")),
    Column("admin_block", Integer, nullable=False, server_default=text("0")),
    Column("block_until", Ms),
    Column("deleted_at", Ms),
    Column("priority", SmallInteger, nullable=False, server_default=text("3")),
    Column("note", Text),
    Column("domain_list", Text),
    Column("sender_list", Text),
    Column("campaign", String(200)),
    Column("created_at", Ms, nullable=False),
    Column("updated_at", Ms, nullable=False),
)

# --- Android devices (migration 0009) ----------------------------------------------------

# Android phones running the SMSGate app, registered against the device API. Only SHA-256
# digests of device tokens are kept; the password (shown once, at registration) is a salted
# scrypt string (core.passwords). ``signing_key`` checks the phone's signed webhooks, so it
# must be read back: it is sealed (storage.secrets). ``sim_cards`` is the app's JSON list as
# last reported.
devices = Table(
    "devices",
    metadata,
    Column("id", String(21), primary_key=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("label", String(100)),
    Column("phone_number", String(32)),
    Column("token_hash", String(64), nullable=False),
    Column("login", String(16), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("push_token", String(256)),
    Column("sim_cards", Text),
    Column("signing_key", Text, nullable=False),
    Column("created_at", Ms, nullable=False),
    Column("updated_at", Ms, nullable=False),
    Column("last_seen_at", Ms, nullable=False),
    Index("ix_devices_account_id", "account_id"),
    Index("ux_devices_token_hash", "token_hash", unique=True),
    Index("ux_devices_login", "login", unique=True),
)

# What each phone has to send: one row per textgate message handed to a device. ``id`` is
# the id the phone knows the message by (the connector's external id). ``state`` is the
# app's word (Pending, Cancelling, Processed, Sent, Delivered, Failed, Cancelled);
# ``reported_at`` is set by the phone's first state report, after which the message is no
# longer offered to it. ``states`` is the app's state history as JSON. ``pulled_at`` is when
# the phone first took the message (GET /message): from then on it may have gone out, so it
# never moves to another phone. ``pinned`` (0/1): the client or the sender chose this phone,
# so the message waits for it rather than failing over.
device_messages = Table(
    "device_messages",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("device_id", String(21), nullable=False),
    Column("account_id", Id, nullable=False),
    Column("message_id", Id, nullable=False),
    Column("connector", String(64), nullable=False),
    Column("recipient", String(32), nullable=False),
    Column("text", Text, nullable=False),
    Column("sim_number", SmallInteger),
    Column("priority", SmallInteger, nullable=False, server_default=text("0")),
    Column("valid_until", Ms),
    Column("state", String(16), nullable=False),
    Column("error", Text),
    Column("states", Text),
    Column("reported_at", Ms),
    Column("pulled_at", Ms),
    Column("pinned", SmallInteger, nullable=False, server_default=text("0")),
    Column("created_at", Ms, nullable=False),
    Column("updated_at", Ms, nullable=False),
    Index("ix_device_messages_device_id_state", "device_id", "state"),
    Index("ix_device_messages_message_id", "message_id"),
    # The connector's sweep looks for waiting messages (expired, or on an offline device).
    Index("ix_device_messages_connector_state", "connector", "state"),
)

# --- SMSmobileAPI (migration 0011) ---

__all__ += [
    "message_devices",
    "message_resends",
    "oauth_clients",
    "oauth_tokens",
    "sealed_messages",
    "short_links",
]

# The phone (and SIM) a client chose for a message (SMSmobileAPI ``sIdentifiant`` and
# ``port``): written with the message in its order's transaction, so the android connector
# always sees the choice when it places the message.
message_devices = Table(
    "message_devices",
    metadata,
    Column("message_id", Id, primary_key=True),
    Column("device_id", String(21)),
    Column("sim_number", SmallInteger),
)

# A resend is a new message (charged and checked like any other); this row ties it to the
# message the client knows (``original_id``) and counts the attempts.
message_resends = Table(
    "message_resends",
    metadata,
    Column("message_id", Id, primary_key=True),
    Column("original_id", Id, nullable=False),
    Column("attempt", SmallInteger, nullable=False),
    Column("created_at", Ms, nullable=False),
    Index("ix_message_resends_original_id", "original_id"),
)

# OAuth2 client credentials (client_credentials grant). Secrets are random and long, so a
# SHA-256 digest is kept, as for API keys; tokens too are kept only as digests.
oauth_clients = Table(
    "oauth_clients",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("created_at", Ms, nullable=False),
    Index("ix_oauth_clients_account_id", "account_id"),
)

oauth_tokens = Table(
    "oauth_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("client_id", String(32), nullable=False),
    Column("account_id", Id, nullable=False),
    Column("expires_at", Ms, nullable=False),
    Index("ix_oauth_tokens_expires_at", "expires_at"),
)

# Short links (``/s/{code}``) that replace URLs in sent texts, with their click counts.
short_links = Table(
    "short_links",
    metadata,
    Column("code", String(16), primary_key=True),
    Column("account_id", Id, nullable=False),
    Column("url", Text, nullable=False),
    Column("clicks", Integer, nullable=False, server_default=text("0")),
    Column("created_at", Ms, nullable=False),
    Column("last_click_at", Ms),
)

# Encrypted messages: the recipient gets a link, the sender the key. Only the ciphertext and
# the key-derivation salt are kept; ``failures`` counts wrong keys (the page locks after some).
sealed_messages = Table(
    "sealed_messages",
    metadata,
    Column("code", String(32), primary_key=True),
    Column("account_id", Id, nullable=False),
    Column("salt", String(32), nullable=False),
    Column("ciphertext", Text, nullable=False),
    Column("failures", SmallInteger, nullable=False, server_default=text("0")),
    Column("created_at", Ms, nullable=False),
    Column("opened_at", Ms),
)

# --- Dashboard (migration 0010) ---

# Messages per hour of creation, account, status and connector, for the overview charts over
# long ranges and the metrics: reading every message is too slow for a page or a scrape.
# ``latency_ms`` sums, over the delivered messages, the time from submission to the delivery
# report. Hours are recomputed from ``messages`` while they may still change (storage.rollups).
stats_hourly = Table(
    "stats_hourly",
    metadata,
    Column("hour", Ms, primary_key=True),
    Column("account_id", Id, primary_key=True),
    Column("status", String(16), primary_key=True),
    # '' for messages no connector took (rejected, queued, cancelled before sending).
    Column("connector", String(64), primary_key=True),
    Column("messages", Integer, nullable=False),
    Column("parts", BigInteger, nullable=False),
    Column("cost", BigInteger, nullable=False),
    Column("latency_ms", BigInteger, nullable=False),
    Index("ix_stats_hourly_account_id_hour", "account_id", "hour"),
)

# When each hour of ``stats_hourly`` was last computed.
stats_hours = Table(
    "stats_hours",
    metadata,
    Column("hour", Ms, primary_key=True),
    Column("computed_at", Ms, nullable=False),
)

# --- Links shared by a cluster (migration 0014) ---

# Rate budget of a connector for all processes together: ``used`` submit_sm of ``slot`` (the
# slot's number since the epoch, of the database's clock) taken so far; ``granted`` is what
# the last reservation got (read back by that same statement, see storage.link_rates).
link_rates = Table(
    "link_rates",
    metadata,
    Column("connector", String(64), primary_key=True),
    Column("slot", BigInteger, primary_key=True),
    Column("used", Integer, nullable=False),
    Column("granted", Integer, nullable=False),
)

# Which process holds which bind of a connector, until when (database clock, ms).
link_leases = Table(
    "link_leases",
    metadata,
    Column("connector", String(64), primary_key=True),
    Column("bind_index", SmallInteger, primary_key=True),
    Column("owner", String(128), nullable=False),
    Column("expires_at", Ms, nullable=False),
)

# Processes running a connector, seen lately: the binds are shared out among them.
link_members = Table(
    "link_members",
    metadata,
    Column("connector", String(64), primary_key=True),
    Column("owner", String(128), primary_key=True),
    Column("expires_at", Ms, nullable=False),
)
