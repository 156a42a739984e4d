"""Messages both ways: orders and their outbound messages, delivery reports waiting for
their message, inbound messages and the parts of long ones, and the hourly roll-ups the
dashboard and metrics read instead of the messages."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    text,
)

from textgate.storage.tables._base import AutoId, Id, Ms, metadata

__all__ = [
    "idempotency_keys",
    "inbound_messages",
    "inbound_parts",
    "messages",
    "orders",
    "pending_reports",
    "stats_hourly",
    "stats_hours",
]

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
    # Provider dialects look orders up by the client's own order id. Partial: most orders
    # have none, and would pay for an entry never looked up.
    Index(
        "ix_orders_account_id_client_ref",
        "account_id",
        "client_ref",
        sqlite_where=text("client_ref IS NOT NULL"),
        postgresql_where=text("client_ref IS NOT NULL"),
    ),
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
    # Which final statuses the submitter wants an SMPP receipt of (core.message.ReceiptRequest:
    # 'always' or 'failure'); NULL for none.
    Column("receipt", String(8)),
    # Routing (core.routing, core.failover). The rule that chose the connector of the latest
    # hand-off, and that connector, written when the message is claimed: a message in doubt
    # or partly taken stays with it (pinned), even after a crash of the worker.
    Column("route", String(64)),
    Column("handoff_to", String(64)),
    # The connectors that did not take it, as core.failover.Tried stores them; NULL for none.
    Column("tried", Text),
    # What the message cost upstream (micro-credits, like ``cost``): the connector's price
    # when it says one, else its cost table's, at hand-off; NULL when neither is known.
    Column("upstream_cost", BigInteger),
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
    # Receipts find their message by the link's id. Partial: a message has no key until
    # a link took it, and an entry for every new message would be written and then moved.
    Index(
        "ix_messages_connector_external_key",
        "connector",
        "external_key",
        sqlite_where=text("external_key IS NOT NULL"),
        postgresql_where=text("external_key IS NOT NULL"),
    ),
    # Lookups by the client's own reference (ASPSMS's TransRefNumber): partial, so that
    # the many messages sent without one cost the index nothing.
    Index(
        "ix_messages_account_id_client_ref",
        "account_id",
        "client_ref",
        sqlite_where=text("client_ref IS NOT NULL"),
        postgresql_where=text("client_ref IS NOT NULL"),
    ),
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
    # A message an operator or provider sends again under its id (its answer was lost, a
    # webhook retried) is found by it and stored once (storage.inbound).
    Index("ix_inbound_messages_connector_external_id", "connector", "external_id"),
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
