"""Moderation-page feedback stored before it carried a key gets the key of the logged decision it judges.

The review queue now stores a decision with its comment's API key (the site), so that ``moderate feedback export
--key`` finds it, two sites' comment 17 stay two comments in training (``model.training.site_data``) and a site's
later correction through the API replaces it. Rows the page stored before have ``api_key_id`` NULL although their
decision-log row (``decision_id``, which only the queue sets) names the key: this fills it in from that row.

Left as they are: rows whose decision has no key (logged with keys off), rows whose decision was pruned
(``decision_id`` NULL: two sites may share a comment id, so which site's comment it was cannot be told), and every row
with a key already, so running it again changes nothing. No schema change; a downgrade keeps the keys filled in (the
code of revision 0004 reads them as it reads the keys it stores).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The tables as this revision knows them (not service.store's models, which later revisions may change).
decisions = sa.table("decisions", sa.column("id", sa.BigInteger()), sa.column("api_key_id", sa.Integer()))
feedback = sa.table("feedback", sa.column("decision_id", sa.BigInteger()), sa.column("api_key_id", sa.Integer()))


def page_feedback_keys() -> sa.Update:
    """The UPDATE setting each keyless feedback row on a logged decision to that decision's key, where it has one."""
    judged = decisions.c.id == feedback.c.decision_id
    decision_key = sa.select(decisions.c.api_key_id).where(judged).scalar_subquery()
    has_key = sa.exists().where(judged, decisions.c.api_key_id.is_not(None))
    return (
        feedback.update()
        .where(feedback.c.api_key_id.is_(None), feedback.c.decision_id.is_not(None), has_key)
        .values(api_key_id=decision_key)
    )


def upgrade() -> None:
    """Fill feedback.api_key_id of the page's rows from their decision-log row (correlated, on SQLite and PostgreSQL)."""
    op.execute(page_feedback_keys())


def downgrade() -> None:
    """Nothing to undo: the schema is unchanged, and the keys filled in are the ones the page stores now."""
