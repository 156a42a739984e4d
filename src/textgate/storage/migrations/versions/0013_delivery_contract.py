"""delivery contract: validity, receipt window, normalised operator ids

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("valid_until", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("report_due_at", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("external_key", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("handoff_state", sa.Text(), nullable=True))
        batch_op.drop_index("ix_messages_connector_external_id")
        batch_op.create_index("ix_messages_connector_external_key", ["connector", "external_key"])
    # Ids recorded before keys existed: their lower-case spelling is the key of every id
    # without leading zeros, which is what SMSCs nearly always issue.
    op.execute(
        "UPDATE messages SET external_key = lower(external_id) WHERE external_id IS NOT NULL"
    )
    with op.batch_alter_table("pending_reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_key", sa.String(length=128), nullable=True))
        batch_op.drop_index("ix_pending_reports_connector_external_id")
        batch_op.create_index(
            "ix_pending_reports_connector_external_key", ["connector", "external_key"]
        )
    op.execute("UPDATE pending_reports SET external_key = lower(external_id)")


def downgrade() -> None:
    with op.batch_alter_table("pending_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_pending_reports_connector_external_key")
        batch_op.create_index(
            "ix_pending_reports_connector_external_id", ["connector", "external_id"]
        )
        batch_op.drop_column("external_key")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_connector_external_key")
        batch_op.create_index("ix_messages_connector_external_id", ["connector", "external_id"])
        batch_op.drop_column("handoff_state")
        batch_op.drop_column("external_key")
        batch_op.drop_column("report_due_at")
        batch_op.drop_column("valid_until")
