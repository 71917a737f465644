"""ingest tokens: bearer tokens of the live OTLP route, stored hashed

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

import core.store.tables

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("name_key", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=True),
        sa.Column("provider_map", sa.JSON(), nullable=True),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", core.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", core.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", core.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash", name="uq_ingest_tokens_hash"),
    )
    with op.batch_alter_table("ingest_tokens", schema=None) as batch_op:
        batch_op.create_index(
            "ux_ingest_tokens_active_name",
            ["name_key"],
            unique=True,
            sqlite_where=sa.text("revoked_at IS NULL"),
            postgresql_where=sa.text("revoked_at IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("ingest_tokens", schema=None) as batch_op:
        batch_op.drop_index("ux_ingest_tokens_active_name")
    op.drop_table("ingest_tokens")
