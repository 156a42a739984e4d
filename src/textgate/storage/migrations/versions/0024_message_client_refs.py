"""messages: partial index on (account_id, client_ref) where client_ref is set, for
lookups by a client's own reference

Revision ID: 0024
Revises: 0023
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_messages_account_id_client_ref",
            ["account_id", "client_ref"],
            unique=False,
            sqlite_where=sa.text("client_ref IS NOT NULL"),
            postgresql_where=sa.text("client_ref IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_account_id_client_ref")
