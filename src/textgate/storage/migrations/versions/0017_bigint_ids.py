"""64-bit ids: MailUp console, list and template numbers, and the columns naming a list

Revision ID: 0017
Revises: 0016

The rows' own numbered ids were BIGINT (BIGSERIAL) on PostgreSQL from the start; these
columns were INTEGER there, so an id above 2147483647 failed the query instead of naming
nothing. SQLite's INTEGER is 64-bit already: nothing changes there.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# (table, column): the numbers clients see (tables.NumberId), and the columns naming a list.
_COLUMNS = (
    ("mailup_consoles", "console_id"),
    ("mailup_lists", "list_id"),
    ("mailup_list_opt_outs", "list_id"),
    ("mailup_templates", "template_id"),
    ("mailup_deliveries", "list_id"),
    ("mailup_smtp_users", "list_id"),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in _COLUMNS:
        op.alter_column(
            table, column, existing_type=sa.Integer(), type_=sa.BigInteger(), nullable=False
        )


def downgrade() -> None:
    # Fails, as it should, once an id above 2147483647 is stored.
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in _COLUMNS:
        op.alter_column(
            table, column, existing_type=sa.BigInteger(), type_=sa.Integer(), nullable=False
        )
