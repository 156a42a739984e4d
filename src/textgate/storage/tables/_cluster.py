"""What processes sharing one database agree on: the rate budget and the binds of shared
operator links, the processes running them, settings that must be equal everywhere, and the
routing table set through the admin API."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, SmallInteger, String, Table, Text

from textgate.storage.tables._base import Ms, metadata

__all__ = ["gateway_settings", "link_leases", "link_members", "link_rates", "routing_tables"]

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

# One row per setting, by name: ``secret_key_fingerprint`` is an HMAC of a fixed label under
# the process's secret_key (never the key), stored by the first process to start; a process
# whose key gives another fingerprint refuses to start (see textgate.startup).
gateway_settings = Table(
    "gateway_settings",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# The routing table set through the admin API (core.routing_spec's plain form, as JSON): one
# row, id 1; it replaces the config file's rules and costs while it exists. ``updated_at``
# tells the dispatchers of other processes that it changed.
routing_tables = Table(
    "routing_tables",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("body", Text, nullable=False),
    Column("updated_at", Ms, nullable=False),
)
