"""Stored feedback -> a training table (.csv, .jsonl or .parquet) for retraining.

Columns: ``text``, ``comment_id``, ``decision``, one column per attribute label (a probability, empty
where that feedback gave none), ``created_at`` (UTC), ``source``, ``moderator`` (who decided on the moderation page, else empty). A feedback row sent with only a
comment id takes its text from the decision log when the log kept it (``STORE_TEXT``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from model.attributes import ATTRIBUTES
from service.store import Feedback, stored_texts_by_comment_id
from service.tables import TableWriter

EXPORT_CHUNK_ROWS = 5_000
LEADING_COLUMNS = ("text", "comment_id", "decision")
TRAILING_COLUMNS = ("created_at", "source", "moderator")


def label_columns(session: Session) -> list[str]:
    """Every label name used in stored feedback: known attributes in their order, then any others sorted."""
    used: set[str] = set()
    for labels in session.scalars(select(Feedback.labels).where(Feedback.labels.is_not(None))):
        used.update(labels or {})
    return [name for name in ATTRIBUTES if name in used] + sorted(used - set(ATTRIBUTES))


def _as_utc(moment: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _frames(session: Session, labels: list[str], chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Feedback rows in id order, ``chunk_rows`` at a time, with texts filled in from the decision log."""
    query = select(Feedback).order_by(Feedback.id).execution_options(yield_per=chunk_rows)
    for partition in session.scalars(query).partitions():
        missing = sorted({row.comment_id for row in partition if row.text is None and row.comment_id is not None})
        logged = stored_texts_by_comment_id(session, missing)
        records = []
        for row in partition:
            record = {
                "text": row.text if row.text is not None else logged.get(row.comment_id),
                "comment_id": row.comment_id,
                "decision": row.decision,
            }
            record.update({name: (row.labels or {}).get(name) for name in labels})
            record["created_at"] = _as_utc(row.created_at)
            record["source"] = row.source
            record["moderator"] = row.moderator
            records.append(record)
        yield _typed(pd.DataFrame.from_records(records, columns=[*LEADING_COLUMNS, *labels, *TRAILING_COLUMNS]), labels)


def _typed(frame: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    """Give every chunk the same column types, so Parquet chunks share one schema."""
    types = {name: "string" for name in (*LEADING_COLUMNS, "source", "moderator")}
    types.update({name: "Float64" for name in labels})  # nullable: a missing label is null in JSON Lines, not absent
    frame = frame.astype(types)
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
    return frame


def export_feedback(session: Session, path: str | Path, chunk_rows: int = EXPORT_CHUNK_ROWS) -> int:
    """Write every stored feedback row to ``path`` (format by extension); return the number of rows.

    Raises ``service.tables.TableError`` for an unsupported extension or an unwritable path.
    """
    labels = label_columns(session)
    n_rows = 0
    with TableWriter(path) as writer:
        for frame in _frames(session, labels, chunk_rows):
            writer.write(frame)
            n_rows += len(frame)
        if n_rows == 0:
            writer.write(_typed(pd.DataFrame(columns=[*LEADING_COLUMNS, *labels, *TRAILING_COLUMNS]), labels))
    return n_rows
