"""Moderators' accounts (users) and who decided which logged comment (feedback.moderator, feedback.decision_id).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create users; add moderator and decision_id to feedback."""
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("feedback") as batch:
        batch.add_column(sa.Column("moderator", sa.String(100), nullable=True))
        batch.add_column(sa.Column("decision_id", BIG_ID, nullable=True))
        batch.create_foreign_key("fk_feedback_decision_id", "decisions", ["decision_id"], ["id"], ondelete="SET NULL")
        batch.create_index("ix_feedback_decision_id", ["decision_id"], unique=True)  # one decision per queue item


def downgrade() -> None:
    """Drop what upgrade added."""
    with op.batch_alter_table("feedback") as batch:
        batch.drop_index("ix_feedback_decision_id")
        batch.drop_constraint("fk_feedback_decision_id", type_="foreignkey")
        batch.drop_column("decision_id")
        batch.drop_column("moderator")
    op.drop_table("users")
