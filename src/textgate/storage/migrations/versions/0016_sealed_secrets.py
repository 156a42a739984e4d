"""sealed secrets: room for the ciphertext of phone signing keys and MailUp ListSecrets

Revision ID: 0016
Revises: 0015

The values themselves are re-encrypted by the gateway when it starts
(``textgate.storage.reseal``): migrations never see ``secret_key``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.alter_column(
            "signing_key", existing_type=sa.String(length=64), type_=sa.Text(), nullable=False
        )
    with op.batch_alter_table("mailup_lists", schema=None) as batch_op:
        batch_op.alter_column(
            "secret", existing_type=sa.String(length=36), type_=sa.Text(), nullable=True
        )


def downgrade() -> None:
    # Nothing to undo that would keep the data: sealed values do not fit the old widths, and
    # code from before this revision cannot open them anyway (phones register again, and
    # ListSecrets are made anew, after such a downgrade).
    pass
