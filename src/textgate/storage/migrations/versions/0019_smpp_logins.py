"""smpp logins: the system_id and password an account binds to the SMPP server with

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "smpp_logins",
        sa.Column("account_id", sa.String(length=26), nullable=False),
        sa.Column("system_id", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_smpp_logins_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_smpp_logins")),
    )
    with op.batch_alter_table("smpp_logins", schema=None) as batch_op:
        batch_op.create_index("ux_smpp_logins_system_id", ["system_id"], unique=True)


def downgrade() -> None:
    op.drop_table("smpp_logins")
