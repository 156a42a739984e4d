"""Accounts and what belongs to one alone: API keys, logins and sessions, SMPP binds'
credentials, credits (balance and ledger), the daily usage counter, opt-outs."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String, Table, Text, text

from textgate.storage.tables._base import AutoId, Id, Ms, metadata

__all__ = [
    "account_balances",
    "accounts",
    "api_keys",
    "auth_tokens",
    "ledger",
    "login_credentials",
    "opt_outs",
    "smpp_logins",
    "usage_daily",
]

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

# What an account binds to the SMPP server with: a system_id (at most 15 characters, SMPP 3.4
# 4.1.1) unique over all accounts, and its password's scrypt hash (core.passwords).
smpp_logins = Table(
    "smpp_logins",
    metadata,
    Column("account_id", Id, ForeignKey("accounts.id"), primary_key=True),
    Column("system_id", String(16), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("updated_at", Ms, nullable=False),
    Index("ux_smpp_logins_system_id", "system_id", unique=True),
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
