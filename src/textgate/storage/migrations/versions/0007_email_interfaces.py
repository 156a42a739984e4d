"""email-to-SMS interfaces (LabsMobile MailSMS, ASPSMS SMTP): authorised SMTP originators

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "smtp_originators",
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("account_id", sa.String(length=26), nullable=False),
        sa.Column("originator", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_smtp_originators_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_smtp_originators")),
    )
    with op.batch_alter_table("smtp_originators", schema=None) as batch_op:
        batch_op.create_index("ix_smtp_originators_account_id", ["account_id"])


def downgrade() -> None:
    op.drop_table("smtp_originators")
