"""Server-side sign-out: users.session_version, raised at each sign-out and part of every session's stamp.

Sessions signed in before this revision end once after it (their stamp no longer matches), as after a new password.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add users.session_version (0 for existing users)."""
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("session_version", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    """Drop users.session_version."""
    with op.batch_alter_table("users") as batch:
        batch.drop_column("session_version")
