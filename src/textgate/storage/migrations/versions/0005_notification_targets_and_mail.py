"""notification targets (message-scoped webhooks) and the outbound mail queue

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "scope", sa.String(length=16), server_default=sa.text("'account'"), nullable=False
            )
        )
        batch_op.create_index("ix_webhooks_scope_account_id", ["scope", "account_id"])

    op.create_table(
        "message_targets",
        sa.Column("message_id", sa.String(length=26), nullable=False),
        sa.Column("target_id", sa.String(length=26), nullable=False),
        sa.PrimaryKeyConstraint("message_id", "target_id", name=op.f("pk_message_targets")),
    )

    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("account_id", sa.String(length=26), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("dedup_key", sa.String(length=128), nullable=True),
        sa.Column("mail_from", sa.Text(), nullable=False),
        sa.Column("rcpt_to", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("sent_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_outbox")),
    )
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.create_index("ux_mail_outbox_dedup_key", ["dedup_key"], unique=True)
        batch_op.create_index("ix_mail_outbox_account_id_id", ["account_id", "id"])
        batch_op.create_index(
            "ix_mail_outbox_due",
            ["next_attempt_at"],
            sqlite_where=sa.text("next_attempt_at IS NOT NULL"),
            postgresql_where=sa.text("next_attempt_at IS NOT NULL"),
        )


def downgrade() -> None:
    op.drop_table("mail_outbox")
    op.drop_table("message_targets")
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.drop_index("ix_webhooks_scope_account_id")
        batch_op.drop_column("scope")
