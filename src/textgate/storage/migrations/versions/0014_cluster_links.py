"""links shared by a cluster: rate budget slots, bind leases, connector members

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "link_rates",
        sa.Column("connector", sa.String(length=64), nullable=False),
        sa.Column("slot", sa.BigInteger(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("granted", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("connector", "slot", name=op.f("pk_link_rates")),
    )
    op.create_table(
        "link_leases",
        sa.Column("connector", sa.String(length=64), nullable=False),
        sa.Column("bind_index", sa.SmallInteger(), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("connector", "bind_index", name=op.f("pk_link_leases")),
    )
    op.create_table(
        "link_members",
        sa.Column("connector", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("connector", "owner", name=op.f("pk_link_members")),
    )


def downgrade() -> None:
    op.drop_table("link_members")
    op.drop_table("link_leases")
    op.drop_table("link_rates")
