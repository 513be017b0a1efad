"""Stored feedback -> a training table (.csv, .jsonl or .parquet) for retraining.

Columns: ``text``, ``comment_id``, ``decision``, one column per attribute label (a probability, empty
where that feedback gave none; a Perspective attribute name stored as sent under ours, ``our_label_names``),
``created_at`` (UTC), ``source``, ``moderator`` (who decided on the moderation page, else empty), ``api_key_id``
and ``api_key_name`` (the key that sent it, or for a decision made on the moderation page the key its comment was
scored with, its site: poisoned labels can be traced to a key and left out). A feedback row sent with only a
comment id takes its text from the decision log when the log kept it (``STORE_TEXT``), or from other feedback: the
text its own key logged for that id (two sites, each with its key, may both have a comment 17), else the text its
own key's other feedback on that id gave (an editor's correction sent by id after feedback sent with the text:
without it the correction had no text, so training kept the decision it replaced), else the text another key logged
(a CMS key with only the ``moderate`` scope beside a feedback key) when one key alone logged that id, before the
feedback (two sites' comment 17: the verdict of one was exported with the other's text); each the text the comment had
when the feedback was given (the last one before, else, for its own key's, the first after: a comment id scored again
with an edited text keeps its verdict on the text it judged). ``moderate db prune`` writes that text into such a row
before it deletes the log it comes from (``keep_feedback_texts``). ``key_ids`` restricts the export to the feedback of those keys (``keys_matching`` finds them by
id or name, as ``moderate keys revoke`` does).
"""

from __future__ import annotations

import datetime as dt
import re
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterator, Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from model.attributes import ATTRIBUTES
from service.auth import UnknownKey, find_keys
from service.store import ApiKey, DecisionRecord, Feedback
from service.table_writer import TableWriter
from service.tables import TableError

EXPORT_CHUNK_ROWS = 5_000


class UnknownKeyFilter(LookupError):
    """``--key`` names no key; the message says where to look."""

LEADING_COLUMNS = ("text", "comment_id", "decision")
TRAILING_COLUMNS = ("created_at", "source", "moderator", "api_key_id", "api_key_name")
JSON_LABELS_COLUMN = "labels"
"""The column ``moderate train --site-data`` reads as a JSON object of labels (``model.training.site_data``), which a
free-form label of that name would fill with a number."""


def column_key(name: str) -> str:
    """``name`` as ``moderate train --site-data`` compares column names: lower case, spaces, hyphens and underscores
    between words as one ``_``."""
    return re.sub(r"[\s_-]+", "_", name.strip().lower())


def names_export_column(name: str) -> bool:
    """Whether a free-form label called ``name`` would be exported as a column the export or training gives a meaning
    of its own: one of ``LEADING_COLUMNS`` and ``TRAILING_COLUMNS``, or ``JSON_LABELS_COLUMN`` however it is spelt
    (a suggestscore label ``labels`` or ``LABELS`` made training refuse the whole export; ``DECISION`` beside
    ``decision`` is only a label)."""
    return name in {*LEADING_COLUMNS, *TRAILING_COLUMNS} or column_key(name) == JSON_LABELS_COLUMN


def keys_matching(session: Session, name_or_id: str) -> list[int]:
    """The ids of the keys (revoked ones too) ``name_or_id`` selects, read as ``moderate keys revoke`` reads it
    (``service.auth.find_keys``: ``id:N``, ``name:X``, or an id or name that is not both); raises UnknownKeyFilter
    when none matches or it is one key's id and another's name."""
    try:
        return [row.id for row in find_keys(session, name_or_id)]
    except UnknownKey as error:
        raise UnknownKeyFilter(str(error)) from error


def _feedback_of(key_ids: Sequence[int] | None) -> Select:
    """Feedback rows with the name of the key that sent each, of ``key_ids`` only when given, in id order."""
    query = select(Feedback, ApiKey.name).outerjoin(ApiKey, Feedback.api_key_id == ApiKey.id).order_by(Feedback.id)
    return query if key_ids is None else query.where(Feedback.api_key_id.in_(key_ids))


def label_columns(session: Session, key_ids: Sequence[int] | None = None) -> list[str]:
    """Every label name used in the feedback exported: known attributes in their order, then any others sorted."""
    used: set[str] = set()
    query = select(Feedback.labels).where(Feedback.labels.is_not(None))
    if key_ids is not None:
        query = query.where(Feedback.api_key_id.in_(key_ids))
    for labels in session.scalars(query):
        used.update(our_label_names(labels))
    return [name for name in ATTRIBUTES if name in used] + sorted(used - set(ATTRIBUTES))


def our_label_names(labels: dict | None) -> dict:
    """A feedback's labels under this service's attribute names, ours winning where both are given.

    A Perspective attribute name (``INSULT``) sent to ``comments:suggestscore`` while the served bundle did not offer
    that attribute was stored as sent, a free-form label: exported under that name, the training refused the whole file
    (a column spelt otherwise than ``insult``). It is the attribute Perspective's name stands for whenever it is offered.
    A free-form name that is one of ours spelt otherwise (``Toxicity``, ``Severe Toxicity``) is that attribute too:
    exported as sent, the training refused the whole file (or, beside a ``toxicity`` column, ignored it).
    """
    return {ours: labels[name] for ours, name in label_sources(labels).items()}


def label_sources(labels: dict | None) -> dict[str, str]:
    """``our_label_names``'s names -> the name in ``labels`` each takes its value from (ours winning where both are
    given): what ``comments:suggestscore`` names when it refuses labels the export would write under our names."""
    from service.perspective import ATTRIBUTE_NAMES  # here: perspective imports this module's column names

    sources: dict[str, str] = {}
    for name in labels or {}:
        ours = ATTRIBUTE_NAMES.get(name) or _attribute_spelt(name) or name
        if ours not in sources or name == ours:
            sources[ours] = name
    return sources


def _attribute_spelt(name: str) -> str | None:
    """The attribute ``name`` spells, as ``moderate train --site-data`` compares column names (case, and spaces,
    hyphens or underscores between words, aside), else None."""
    key = column_key(name)
    return key if key in ATTRIBUTES else None


def _as_utc(moment: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


class _KnownTexts:
    """The texts each comment id had, in time order: the decision log's, by the key that logged it and by any key, and
    the feedback's, by the key that sent it."""

    def __init__(self, session: Session, comment_ids: Sequence[str]):
        self.by_key: dict[tuple[int | None, str], list[tuple[dt.datetime, str]]] = defaultdict(list)
        self.by_id: dict[str, list[tuple[dt.datetime, str]]] = defaultdict(list)
        self.keys_by_id: dict[str, set[int | None]] = defaultdict(set)
        self.feedback_by_key: dict[tuple[int | None, str], list[tuple[int, str]]] = defaultdict(list)
        if not comment_ids:
            return
        query = (
            select(DecisionRecord.api_key_id, DecisionRecord.comment_id, DecisionRecord.text, DecisionRecord.created_at)
            .where(DecisionRecord.comment_id.in_(comment_ids), DecisionRecord.text.is_not(None))
            .order_by(DecisionRecord.id)
        )
        for key_id, comment_id, text, created_at in session.execute(query):
            self.by_key[key_id, comment_id].append((_as_utc(created_at), text))
            self.by_id[comment_id].append((_as_utc(created_at), text))
            self.keys_by_id[comment_id].add(key_id)
        for logged in (*self.by_key.values(), *self.by_id.values()):
            logged.sort(key=itemgetter(0))  # stable: rows of one moment stay in id order; a spooled row keeps its time
        given = (
            select(Feedback.api_key_id, Feedback.comment_id, Feedback.text, Feedback.id)
            .where(Feedback.comment_id.in_(comment_ids), Feedback.text.is_not(None))
            .order_by(Feedback.id)
        )
        for key_id, comment_id, text, feedback_id in session.execute(given):
            self.feedback_by_key[key_id, comment_id].append((feedback_id, text))

    def text(self, feedback: Feedback) -> str | None:
        """``feedback``'s comment as its own key logged it, else as its own key's feedback gave it, each the last text
        before the feedback was given (else the first after: a comment id the CMS scored again with an edited text was
        exported with its new text beside the verdict given on the old one); else as another key logged it before, when
        one key alone logged that id (with two, the comment 17 of one site or of the other?). None when none kept it."""
        key, moment = (feedback.api_key_id, feedback.comment_id), _as_utc(feedback.created_at)
        for texts, place in ((self.by_key.get(key), moment), (self.feedback_by_key.get(key), feedback.id)):
            if texts:
                return _as_of(texts, place)
        logged = self.by_id.get(feedback.comment_id)
        if logged and len(self.keys_by_id[feedback.comment_id]) == 1 and logged[0][0] <= moment:
            return _as_of(logged, moment)
        return None


def keep_feedback_texts(session: Session, cutoff: dt.datetime, batch_rows: int = EXPORT_CHUNK_ROWS) -> int:
    """Write into each feedback row sent by comment id alone the text the export pairs it with now (``_KnownTexts``),
    where that comment id has decision-log text from before ``cutoff``, which ``moderate db prune`` is about to delete:
    the verdict would otherwise be exported without text, and never trained on. Return how many rows got a text."""
    from service.store import sha256_text

    pruned_ids = (select(DecisionRecord.comment_id)
                  .where(DecisionRecord.created_at < cutoff, DecisionRecord.text.is_not(None),
                         DecisionRecord.comment_id.is_not(None)).distinct())
    query = (select(Feedback).where(Feedback.text.is_(None), Feedback.comment_id.in_(pruned_ids))
             .order_by(Feedback.id).limit(batch_rows))
    n_kept, after = 0, 0
    while rows := list(session.scalars(query.where(Feedback.id > after))):
        known = _KnownTexts(session, sorted({row.comment_id for row in rows}))
        for row in rows:
            text = known.text(row)
            if text is not None:
                row.text, row.text_sha256 = text, sha256_text(text)
                n_kept += 1
        after = rows[-1].id
        session.commit()
    return n_kept


def _as_of(texts: list[tuple[Any, str]], place: Any) -> str:
    """The text of the last of ``texts`` (ordered ``(when, text)``) at or before ``place``, else of the first."""
    before = bisect_right(texts, place, key=itemgetter(0))
    return texts[before - 1 if before else 0][1]


def _frames(session: Session, labels: list[str], chunk_rows: int, key_ids: Sequence[int] | None) -> Iterator[pd.DataFrame]:
    """Feedback rows in id order, ``chunk_rows`` at a time, with texts filled in from the decision log."""
    query = _feedback_of(key_ids).execution_options(yield_per=chunk_rows)
    for partition in session.execute(query).partitions():
        missing = sorted({row.comment_id for row, _name in partition if row.text is None and row.comment_id is not None})
        known = _KnownTexts(session, missing)
        records = []
        for row, key_name in partition:
            record = {
                "text": row.text if row.text is not None else known.text(row),
                "comment_id": row.comment_id,
                "decision": row.decision,
            }
            given = our_label_names(row.labels)
            record.update({name: given.get(name) for name in labels})
            record["created_at"] = _as_utc(row.created_at)
            record["source"] = row.source
            record["moderator"] = row.moderator
            record["api_key_id"] = row.api_key_id
            record["api_key_name"] = key_name
            records.append(record)
        yield _typed(pd.DataFrame.from_records(records, columns=[*LEADING_COLUMNS, *labels, *TRAILING_COLUMNS]), labels)


def _typed(frame: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    """Give every chunk the same column types, so Parquet chunks share one schema."""
    types = {name: "string" for name in (*LEADING_COLUMNS, "source", "moderator", "api_key_name")}
    types["api_key_id"] = "Int64"  # nullable: feedback sent with keys off, or by a key since deleted
    types.update({name: "Float64" for name in labels})  # nullable: a missing label is null in JSON Lines, not absent
    frame = frame.astype(types)
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
    return frame


def export_feedback(
    session: Session, path: str | Path, chunk_rows: int = EXPORT_CHUNK_ROWS, key_ids: Sequence[int] | None = None,
    overwrite: bool = False, spreadsheet_safe: bool = False,
) -> int:
    """Write every stored feedback row (of ``key_ids`` only, when given) to ``path`` (format by extension); return the number of rows.

    An existing ``path`` is replaced only with ``overwrite`` (as ``moderate score`` does), once the new table is complete.
    ``spreadsheet_safe``: a CSV for a spreadsheet to open (``TableWriter``). Raises ``service.tables.TableError`` for an
    unsupported extension, an unwritable or existing path, or ``spreadsheet_safe`` with another format than CSV.
    """
    if Path(path).exists() and not Path(path).is_dir() and not overwrite:  # a folder: TableWriter says what to do
        raise TableError(f"{path} exists already: give another output name, or add --overwrite to replace it")
    labels = label_columns(session, key_ids)
    n_rows = 0
    with TableWriter(path, spreadsheet_safe=spreadsheet_safe) as writer:
        for frame in _frames(session, labels, chunk_rows, key_ids):
            writer.write(frame)
            n_rows += len(frame)
        if n_rows == 0:
            writer.write(_typed(pd.DataFrame(columns=[*LEADING_COLUMNS, *labels, *TRAILING_COLUMNS]), labels))
    return n_rows
