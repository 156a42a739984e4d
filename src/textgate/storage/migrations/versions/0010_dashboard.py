"""dashboard: hourly message aggregates for the overview charts

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stats_hourly",
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.String(length=26), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("connector", sa.String(length=64), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("parts", sa.BigInteger(), nullable=False),
        sa.Column("cost", sa.BigInteger(), nullable=False),
        sa.Column("latency_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "hour", "account_id", "status", "connector", name=op.f("pk_stats_hourly")
        ),
    )
    with op.batch_alter_table("stats_hourly", schema=None) as batch_op:
        batch_op.create_index("ix_stats_hourly_account_id_hour", ["account_id", "hour"])
    op.create_table(
        "stats_hours",
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("computed_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("hour", name=op.f("pk_stats_hours")),
    )


def downgrade() -> None:
    op.drop_table("stats_hours")
    with op.batch_alter_table("stats_hourly", schema=None) as batch_op:
        batch_op.drop_index("ix_stats_hourly_account_id_hour")
    op.drop_table("stats_hourly")
