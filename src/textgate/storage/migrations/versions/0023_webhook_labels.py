"""webhooks: label, a client's own name for its subscription (the SMSGate client API's
webhook id), unique per account and format

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("label", sa.String(length=64), nullable=True))
        batch_op.create_index(
            "ux_webhooks_account_id_format_label", ["account_id", "format", "label"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.drop_index("ux_webhooks_account_id_format_label")
        batch_op.drop_column("label")
