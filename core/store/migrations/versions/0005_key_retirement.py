"""key canaries record when rotation retired their key

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

import core.store.tables

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("key_canaries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("retired_at", core.store.tables.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("key_canaries", schema=None) as batch_op:
        batch_op.drop_column("retired_at")
