"""Key scopes: api_keys.scopes (existing keys keep moderate and feedback); feedback rows indexed by key.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

EXISTING_KEYS_SCOPES = "moderate feedback"
"""What every key could do before scopes existed, so that no deployed key stops working."""


def upgrade() -> None:
    """Add api_keys.scopes and an index on feedback.api_key_id (``moderate feedback export --key``)."""
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("scopes", sa.String(64), nullable=False, server_default=EXISTING_KEYS_SCOPES))
    op.create_index("ix_feedback_api_key_id", "feedback", ["api_key_id"])


def downgrade() -> None:
    """Drop the index and the column."""
    op.drop_index("ix_feedback_api_key_id", table_name="feedback")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("scopes")
