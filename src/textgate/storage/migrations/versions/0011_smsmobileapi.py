"""SMSmobileAPI: webhook payload formats, short links, encrypted messages, OAuth2 clients

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "format", sa.String(length=16), server_default=sa.text("'textgate'"), nullable=False
            )
        )

    op.create_table(
        "message_devices",
        sa.Column("message_id", sa.String(length=26), nullable=False),
        sa.Column("device_id", sa.String(length=21), nullable=True),
        sa.Column("sim_number", sa.SmallInteger(), nullable=True),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_message_devices")),
    )
    op.create_table(
        "message_resends",
        sa.Column("message_id", sa.String(length=26), nullable=False),
        sa.Column("original_id", sa.String(length=26), nullable=False),
        sa.Column("attempt", sa.SmallInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_message_resends")),
    )
    with op.batch_alter_table("message_resends", schema=None) as batch_op:
        batch_op.create_index("ix_message_resends_original_id", ["original_id"])

    op.create_table(
        "oauth_clients",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=26), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_oauth_clients_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_clients")),
    )
    with op.batch_alter_table("oauth_clients", schema=None) as batch_op:
        batch_op.create_index("ix_oauth_clients_account_id", ["account_id"])

    op.create_table(
        "oauth_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=26), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_oauth_tokens")),
    )
    with op.batch_alter_table("oauth_tokens", schema=None) as batch_op:
        batch_op.create_index("ix_oauth_tokens_expires_at", ["expires_at"])

    op.create_table(
        "short_links",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.String(length=26), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("clicks", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("last_click_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_short_links")),
    )
    op.create_table(
        "sealed_messages",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=26), nullable=False),
        sa.Column("salt", sa.String(length=32), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        sa.Column("failures", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("opened_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_sealed_messages")),
    )


def downgrade() -> None:
    op.drop_table("sealed_messages")
    op.drop_table("short_links")
    op.drop_table("oauth_tokens")
    op.drop_table("oauth_clients")
    op.drop_table("message_resends")
    op.drop_table("message_devices")
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.drop_column("format")
