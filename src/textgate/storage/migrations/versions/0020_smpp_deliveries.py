"""smpp deliveries: the receipt a message's submitter asked for, and the deliver_sm queue

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("receipt", sa.String(length=8), nullable=True))
    op.create_table(
        "smpp_deliveries",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("account_id", sa.String(length=26), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("delivered_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_smpp_deliveries_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_smpp_deliveries")),
    )
    with op.batch_alter_table("smpp_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ux_smpp_deliveries_account_id_event_id", ["account_id", "event_id"], unique=True
        )
        batch_op.create_index(
            "ix_smpp_deliveries_due",
            ["account_id", "next_attempt_at"],
            sqlite_where=sa.text("next_attempt_at IS NOT NULL"),
            postgresql_where=sa.text("next_attempt_at IS NOT NULL"),
        )


def downgrade() -> None:
    op.drop_table("smpp_deliveries")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("receipt")
