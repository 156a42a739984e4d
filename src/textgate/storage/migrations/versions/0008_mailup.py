"""MailUp: lists, templates, campaigns, SMTP+ users

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _account_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["account_id"], ["accounts.id"], name=op.f(f"fk_{table}_account_id_accounts")
    )


def upgrade() -> None:
    op.create_table(
        "mailup_consoles",
        sa.Column("account_id", sa.String(length=26), nullable=False),
        sa.Column("console_id", sa.Integer(), nullable=False),
        sa.Column(
            "status", sa.String(length=16), server_default=sa.text("'active'"), nullable=False
        ),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        _account_fk("mailup_consoles"),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_mailup_consoles")),
    )
    with op.batch_alter_table("mailup_consoles", schema=None) as batch_op:
        batch_op.create_index("ux_mailup_consoles_console_id", ["console_id"], unique=True)

    op.create_table(
        "mailup_lists",
        sa.Column("account_id", sa.String(length=26), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("guid", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("secret", sa.String(length=36), nullable=True),
        sa.Column("default_prefix", sa.String(length=4), nullable=True),
        sa.Column("sms_sender", sa.String(length=11), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        _account_fk("mailup_lists"),
        sa.PrimaryKeyConstraint("account_id", "list_id", name=op.f("pk_mailup_lists")),
    )
    with op.batch_alter_table("mailup_lists", schema=None) as batch_op:
        batch_op.create_index("ux_mailup_lists_guid", ["guid"], unique=True)

    op.create_table(
        "mailup_list_opt_outs",
        sa.Column("account_id", sa.String(length=26), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "account_id", "list_id", "number", name=op.f("pk_mailup_list_opt_outs")
        ),
    )

    op.create_table(
        "mailup_templates",
        sa.Column("account_id", sa.String(length=26), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        _account_fk("mailup_templates"),
        sa.PrimaryKeyConstraint("account_id", "template_id", name=op.f("pk_mailup_templates")),
    )

    op.create_table(
        "mailup_deliveries",
        sa.Column("id", _AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=26), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=26), nullable=False),
        sa.Column("campaign", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mailup_deliveries")),
    )
    with op.batch_alter_table("mailup_deliveries", schema=None) as batch_op:
        batch_op.create_index("ux_mailup_deliveries_message_id", ["message_id"], unique=True)
        batch_op.create_index(
            "ix_mailup_deliveries_account_id_campaign", ["account_id", "campaign"]
        )

    op.create_table(
        "mailup_campaigns",
        sa.Column("account_id", sa.String(length=26), nullable=False),
        sa.Column("code", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("emails", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        _account_fk("mailup_campaigns"),
        sa.PrimaryKeyConstraint("account_id", "code", name=op.f("pk_mailup_campaigns")),
    )

    op.create_table(
        "mailup_smtp_users",
        sa.Column("username", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=26), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("enabled", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("admin_block", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("block_until", sa.BigInteger(), nullable=True),
        sa.Column("deleted_at", sa.BigInteger(), nullable=True),
        sa.Column("priority", sa.SmallInteger(), server_default=sa.text("3"), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("domain_list", sa.Text(), nullable=True),
        sa.Column("sender_list", sa.Text(), nullable=True),
        sa.Column("campaign", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        _account_fk("mailup_smtp_users"),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_mailup_smtp_users")),
    )
    with op.batch_alter_table("mailup_smtp_users", schema=None) as batch_op:
        batch_op.create_index("ix_mailup_smtp_users_account_id", ["account_id"])


def downgrade() -> None:
    for table in (
        "mailup_smtp_users",
        "mailup_campaigns",
        "mailup_deliveries",
        "mailup_templates",
        "mailup_list_opt_outs",
        "mailup_lists",
        "mailup_consoles",
    ):
        op.drop_table(table)
