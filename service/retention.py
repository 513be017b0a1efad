"""Deleting stored rows: the decision log (and feedback) past a retention age, and every row about given comment ids.

``moderate db prune`` and ``moderate db forget`` call these; the spooled rows waiting for the database are swept
by ``service.decision_log.drop_spooled_rows``. Nothing here runs inside the server: operators schedule
``moderate db prune`` (cron, a Kubernetes CronJob).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, text, union
from sqlalchemy.orm import Session

from service.store import Base, DecisionRecord, Feedback

IDS_PER_QUERY = 500
"""Comment ids per ``IN (...)`` list and transaction: far below SQLite's and PostgreSQL's limits on bound parameters."""


def count_older(session: Session, model: type[Base], cutoff: dt.datetime) -> int:
    """How many of ``model``'s rows were created before ``cutoff``."""
    return session.scalar(select(func.count()).select_from(model).where(model.created_at < cutoff)) or 0


def prune_older(session: Session, model: type[Base], cutoff: dt.datetime, batch_rows: int,
                on_batch: Callable[[int], None] | None = None) -> int:
    """Delete ``model``'s rows created before ``cutoff``, ``batch_rows`` per committed transaction; return how many went.

    Short transactions keep a big table's write lock short: the service's writers wait between batches, not for the
    whole run. Feedback on a pruned decision keeps its text and labels and loses only its link (``decision_id``).
    On SQLite the deleted rows are overwritten with zeros, so their texts reach no later backup. ``on_batch`` is
    called with each batch's row count once it is committed (progress, and what an interrupted run deleted).
    """
    n_deleted = 0
    while True:
        _overwrite_deleted(session)
        batch = select(model.id).where(model.created_at < cutoff).order_by(model.id).limit(batch_rows)
        n_batch = session.execute(delete(model.__table__).where(model.id.in_(batch.scalar_subquery()))).rowcount
        session.commit()
        n_deleted += n_batch
        if on_batch is not None:
            on_batch(n_batch)
        if n_batch < batch_rows:
            return n_deleted


@dataclass
class Forgotten:
    """What ``forget_comments`` deleted (or would delete): rows per table, the ids it found, whether SQLite's WAL was emptied."""

    decisions: int = 0
    feedback: int = 0
    found: set[str] = field(default_factory=set)
    wal_truncated: bool = True
    """False when a reader kept SQLite's write-ahead log from being emptied: it may hold copies of deleted rows until
    the next checkpoint."""


def text_digests(session: Session, comment_ids: Sequence[str]) -> set[str]:
    """The SHA-256 of every text logged or given as feedback under these comment ids."""
    digests: set[str] = set()
    for chunk in _chunks(comment_ids):
        query = union(select(DecisionRecord.text_sha256).where(DecisionRecord.comment_id.in_(chunk)),
                      select(Feedback.text_sha256).where(Feedback.comment_id.in_(chunk), Feedback.text_sha256.is_not(None)))
        digests.update(session.scalars(query))
    return digests


def forget_comments(session: Session, comment_ids: Sequence[str], *, same_text: Sequence[str] = (),
                    dry_run: bool = False, result: Forgotten | None = None,
                    on_chunk: Callable[[int], None] | None = None) -> Forgotten:
    """Delete (with ``dry_run`` only count) every decision-log and feedback row about these comment ids.

    That is the rows with one of the ids, the feedback on their logged decisions (the review queue's, which may carry
    no comment id), and rows without a comment id whose text SHA-256 is in ``same_text``. One transaction per
    ``IDS_PER_QUERY`` ids. On SQLite the deleted rows are overwritten with zeros (``secure_delete``) and the
    write-ahead log is emptied, so that no copy of a forgotten text stays in the database's files.

    The counts go into ``result`` when given, committed transaction by committed transaction, so that the caller of
    an interrupted run knows what was deleted; ``on_chunk`` is called with each transaction's number of ids after it.
    """
    result = result if result is not None else Forgotten()
    sqlite = session.get_bind().dialect.name == "sqlite"
    for number, chunk in enumerate(_chunks(comment_ids)):
        if number:
            same_text = ()  # the first transaction took (or counted) every row with one of these texts
        if not dry_run:
            _overwrite_deleted(session)
        result.found.update(session.scalars(union(select(DecisionRecord.comment_id).where(DecisionRecord.comment_id.in_(chunk)),
                                                  select(Feedback.comment_id).where(Feedback.comment_id.in_(chunk)))))
        about_decisions = _about(DecisionRecord, chunk, same_text)
        about_feedback = or_(_about(Feedback, chunk, same_text),
                             Feedback.decision_id.in_(select(DecisionRecord.id).where(about_decisions)))
        # Feedback first: its condition reads the decisions about to go.
        n_feedback = _delete_or_count(session, Feedback, about_feedback, dry_run)
        n_decisions = _delete_or_count(session, DecisionRecord, about_decisions, dry_run)
        session.commit()
        result.feedback += n_feedback
        result.decisions += n_decisions
        if on_chunk is not None:
            on_chunk(len(chunk))
    if sqlite and not dry_run:
        busy = session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)")).first()
        result.wal_truncated = busy is None or not busy[0]
    return result


def _overwrite_deleted(session: Session) -> None:
    """On SQLite, have this transaction's deletes overwrite the rows with zeros (``secure_delete``), rather than leave
    their bytes in the file (and in every backup) until the space is reused; SQLite is built with it on only by some
    distributions. Per transaction: a pooled connection holds its own setting."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("PRAGMA secure_delete=ON"))


def _chunks(comment_ids: Sequence[str]) -> list[Sequence[str]]:
    return [comment_ids[start:start + IDS_PER_QUERY] for start in range(0, len(comment_ids), IDS_PER_QUERY)]


def _about(model: type[Base], comment_ids: Sequence[str], same_text: Sequence[str]) -> ColumnElement[bool]:
    """``model``'s rows with one of ``comment_ids``, or without a comment id and with a text SHA-256 in ``same_text``."""
    condition = model.comment_id.in_(comment_ids)
    if not same_text:
        return condition
    return or_(condition, and_(model.comment_id.is_(None), model.text_sha256.in_(same_text)))


def _delete_or_count(session: Session, model: type[Base], condition: ColumnElement[bool], dry_run: bool) -> int:
    if dry_run:
        return session.scalar(select(func.count()).select_from(model).where(condition)) or 0
    return session.execute(delete(model.__table__).where(condition)).rowcount
