"""The schema: the only place tables are defined (Alembic migrations mirror it).

One module per aggregate; everything is imported from here (``from textgate.storage.tables
import messages``), so where a table is defined stays an inner detail. Importing this package
puts every table into ``metadata``, which the migrations' autogenerate and the schema test
compare against.
"""

from __future__ import annotations

from textgate.storage.tables._accounts import (
    account_balances,
    accounts,
    api_keys,
    auth_tokens,
    ledger,
    login_credentials,
    opt_outs,
    smpp_logins,
    usage_daily,
)
from textgate.storage.tables._base import metadata
from textgate.storage.tables._cluster import (
    gateway_settings,
    link_leases,
    link_members,
    link_rates,
    routing_tables,
)
from textgate.storage.tables._devices import (
    device_messages,
    devices,
    message_devices,
)
from textgate.storage.tables._events_and_webhooks import (
    account_events,
    mail_outbox,
    message_events,
    message_targets,
    smpp_deliveries,
    webhook_cursors,
    webhook_deliveries,
    webhooks,
)
from textgate.storage.tables._messages import (
    idempotency_keys,
    inbound_messages,
    inbound_parts,
    messages,
    orders,
    pending_reports,
    stats_hourly,
    stats_hours,
)
from textgate.storage.tables._providers import (
    mailup_campaigns,
    mailup_consoles,
    mailup_deliveries,
    mailup_list_opt_outs,
    mailup_lists,
    mailup_smtp_users,
    mailup_templates,
    message_resends,
    oauth_clients,
    oauth_tokens,
    sealed_messages,
    short_links,
    smtp_originators,
)

__all__ = [
    "account_balances",
    "account_events",
    "accounts",
    "api_keys",
    "auth_tokens",
    "device_messages",
    "devices",
    "gateway_settings",
    "idempotency_keys",
    "inbound_messages",
    "inbound_parts",
    "ledger",
    "link_leases",
    "link_members",
    "link_rates",
    "login_credentials",
    "mail_outbox",
    "mailup_campaigns",
    "mailup_consoles",
    "mailup_deliveries",
    "mailup_list_opt_outs",
    "mailup_lists",
    "mailup_smtp_users",
    "mailup_templates",
    "message_devices",
    "message_events",
    "message_resends",
    "message_targets",
    "messages",
    "metadata",
    "oauth_clients",
    "oauth_tokens",
    "opt_outs",
    "orders",
    "pending_reports",
    "routing_tables",
    "sealed_messages",
    "short_links",
    "smpp_deliveries",
    "smpp_logins",
    "smtp_originators",
    "stats_hourly",
    "stats_hours",
    "usage_daily",
    "webhook_cursors",
    "webhook_deliveries",
    "webhooks",
]
