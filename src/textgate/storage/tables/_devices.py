"""Android phones that send through the device API, and the messages handed to them."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, SmallInteger, String, Table, Text, text

from textgate.storage.tables._base import Id, Ms, metadata

__all__ = ["device_messages", "devices", "message_devices"]

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
