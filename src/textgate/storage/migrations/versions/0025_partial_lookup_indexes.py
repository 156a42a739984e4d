"""orders (account_id, client_ref) and messages (connector, external_key): partial
indexes, on the rows that have the value looked up

Most orders carry no client reference, and a message has no external key until a link
took it: their entries in the full indexes were never looked up, yet every order and
every message paid for them (one more B-tree entry written with each, and the external
key's entry moved again when the message was sent).

Revision ID: 0025
Revises: 0024
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_account_id_client_ref")
        batch_op.create_index(
            "ix_orders_account_id_client_ref",
            ["account_id", "client_ref"],
            unique=False,
            sqlite_where=sa.text("client_ref IS NOT NULL"),
            postgresql_where=sa.text("client_ref IS NOT NULL"),
        )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_connector_external_key")
        batch_op.create_index(
            "ix_messages_connector_external_key",
            ["connector", "external_key"],
            unique=False,
            sqlite_where=sa.text("external_key IS NOT NULL"),
            postgresql_where=sa.text("external_key IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_connector_external_key")
        batch_op.create_index(
            "ix_messages_connector_external_key", ["connector", "external_key"], unique=False
        )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_account_id_client_ref")
        batch_op.create_index(
            "ix_orders_account_id_client_ref", ["account_id", "client_ref"], unique=False
        )
