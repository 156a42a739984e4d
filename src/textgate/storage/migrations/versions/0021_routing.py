"""routing: rules and failover state of messages, upstream costs, routed history, and the
routing table set through the admin API

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("route", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("handoff_to", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("tried", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("upstream_cost", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("message_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("connector", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("route", sa.String(length=64), nullable=True))
    op.create_table(
        "routing_tables",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_tables")),
    )


def downgrade() -> None:
    op.drop_table("routing_tables")
    with op.batch_alter_table("message_events", schema=None) as batch_op:
        batch_op.drop_column("route")
        batch_op.drop_column("connector")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("upstream_cost")
        batch_op.drop_column("tried")
        batch_op.drop_column("handoff_to")
        batch_op.drop_column("route")
