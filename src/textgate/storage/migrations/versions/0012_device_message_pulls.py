"""Device messages: when the phone took each one, and whether it is pinned to its phone

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("device_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pulled_at", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column("pinned", sa.SmallInteger(), server_default=sa.text("0"), nullable=False)
        )
    # Whether a phone already took a message still waiting now was never recorded: count it
    # as taken, so that no fail-over can send it a second time, and give it the default
    # validity (48 h) if it had none, so that it still ends.
    op.execute(
        "UPDATE device_messages SET pulled_at = created_at,"
        " valid_until = COALESCE(valid_until, created_at + 172800000)"
        " WHERE state IN ('Pending', 'Cancelling')"
    )


def downgrade() -> None:
    with op.batch_alter_table("device_messages", schema=None) as batch_op:
        batch_op.drop_column("pinned")
        batch_op.drop_column("pulled_at")
