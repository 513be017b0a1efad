"""API keys, feedback and the decision log.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create api_keys, decisions and feedback."""
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("key_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_api_keys_name", "api_keys", ["name"])

    op.create_table(
        "decisions",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("comment_id", sa.String(256), nullable=True),
        sa.Column("text_sha256", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("surface", sa.String(32), nullable=False),
        sa.Column("request_id", sa.String(256), nullable=True),
        sa.Column("api_key_id", sa.Integer(), sa.ForeignKey("api_keys.id", ondelete="SET NULL"), nullable=True),
    )
    op.create_index("ix_decisions_comment_id", "decisions", ["comment_id"])
    op.create_index("ix_decisions_created_at", "decisions", ["created_at"])
    op.create_index("ix_decisions_text_sha256", "decisions", ["text_sha256"])

    op.create_table(
        "feedback",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("comment_id", sa.String(256), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("text_sha256", sa.String(64), nullable=True),
        sa.Column("decision", sa.String(16), nullable=True),
        sa.Column("labels", sa.JSON(), nullable=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("client_token", sa.String(256), nullable=True),
        sa.Column("request_id", sa.String(256), nullable=True),
        sa.Column("api_key_id", sa.Integer(), sa.ForeignKey("api_keys.id", ondelete="SET NULL"), nullable=True),
    )
    op.create_index("ix_feedback_comment_id", "feedback", ["comment_id"])
    op.create_index("ix_feedback_created_at", "feedback", ["created_at"])
    op.create_index("ix_feedback_text_sha256", "feedback", ["text_sha256"])


def downgrade() -> None:
    """Drop the three tables."""
    op.drop_table("feedback")
    op.drop_table("decisions")
    op.drop_table("api_keys")
