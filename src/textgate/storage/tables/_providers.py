"""Data that only one provider's interface has: ASPSMS authorised originators, MailUp
consoles, lists, templates, campaigns and SMTP+ users, SMSmobileAPI resends, OAuth2 clients,
short links and sealed messages."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, SmallInteger, String, Table, Text, text

from textgate.storage.tables._base import AutoId, Id, Ms, NumberId, metadata

__all__ = [
    "mailup_campaigns",
    "mailup_consoles",
    "mailup_deliveries",
    "mailup_list_opt_outs",
    "mailup_lists",
    "mailup_smtp_users",
    "mailup_templates",
    "message_resends",
    "oauth_clients",
    "oauth_tokens",
    "sealed_messages",
    "short_links",
    "smtp_originators",
]

# Sender addresses authorised to send SMS by mailing <number>@<domain> (ASPSMS SMTP
# interface, seed 004 "Authorized SMTP Originators"): the address itself is the secret, so
# it is stored as a keyed digest of its lower-cased form, unique across accounts.
# ``originator`` is the SMS sender used when the email names none.
smtp_originators = Table(
    "smtp_originators",
    metadata,
    # A keyed digest of the lower-cased address (storage.secrets.DIGEST), never the address
    # (rows written before revision 0018 are digested when the gateway starts).
    Column("address", String(254), primary_key=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("originator", String(32)),
    Column("created_at", Ms, nullable=False),
    # What lists show instead: the address with its local part masked (``j***@shop.example``).
    Column("hint", String(254)),
)

# A MailUp console (seed 002: "MailUp account ID", the number in ``/sms/{account_ID}/...``
# and in SMTP+ usernames ``s<console>_<n>``) is an account's number on that interface.
# ``status`` is active, suspended or deleted (the SMTP+ codes 107 and 108).
mailup_consoles = Table(
    "mailup_consoles",
    metadata,
    Column("account_id", Id, ForeignKey("accounts.id"), primary_key=True),
    Column("console_id", NumberId, nullable=False),
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
    Column("list_id", NumberId, primary_key=True),
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
    Column("list_id", NumberId, primary_key=True),
    Column("number", String(32), primary_key=True),
    Column("created_at", Ms, nullable=False),
)

# Stored messages an SMS (``TemplateId``, kind sms: ``text``) or a transactional email
# (SendTemplate, kind email: ``subject``, ``text``, ``html``) takes its content from.
mailup_templates = Table(
    "mailup_templates",
    metadata,
    Column("account_id", Id, ForeignKey("accounts.id"), primary_key=True),
    Column("template_id", NumberId, primary_key=True),
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
    Column("list_id", NumberId, nullable=False),
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
    Column("list_id", NumberId, nullable=False),
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
