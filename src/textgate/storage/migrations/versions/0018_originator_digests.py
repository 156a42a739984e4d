"""originator digests: authorised SMTP originator addresses kept as keyed digests

Revision ID: 0018
Revises: 0017

Adds the masked address that lists show. The addresses themselves are replaced by their
digests when the gateway starts (``textgate.storage.reseal``): migrations never see
``secret_key``, which keys the digest.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("smtp_originators", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hint", sa.String(length=254), nullable=True))


def downgrade() -> None:
    # The digests cannot be turned back into addresses: after a downgrade the originators
    # must be authorised again.
    with op.batch_alter_table("smtp_originators", schema=None) as batch_op:
        batch_op.drop_column("hint")
