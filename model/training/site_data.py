"""A site's own labelled comments: read them, turn decisions into attribute labels, add them to the training rows.

A site labels a comment with a decision (``approve``, ``review``, ``reject``), with attribute columns
(``toxicity``, ``insult``... holding 0, 1 or nothing), or both; ``moderate feedback export`` writes the
same columns, its attribute labels possibly as one JSON ``labels`` column. Attribute columns win over
the decision where both are given. A comment given feedback more than once (the same ``comment_id``, from the
same ``api_key_id`` where that column is given: an editor's later correction; in a feedback export, a row without a
comment id names its comment by its text) counts once, with its last row. A row marking an insult, a threat... while
giving toxicity under ``LABEL_PROBABILITY_CUT`` is refused, naming it (a comment that is not toxic is trained as free of
every hostility); a column of labels under a name training does not read (a free-form label of the export) is named in
what the manifest says was left out, with the rows labelled only there. Site rows train the hostility heads; an ``unsupported_claim`` column
is kept for thresholds and comparisons only (the claim heads learn from sentences, not whole comments).
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
import math
import re
import warnings
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.model_selection import train_test_split

from model.attributes import ATTRIBUTES, CLAIM_ATTRIBUTE, HOSTILITY_ATTRIBUTES, LABEL_PROBABILITY_CUT, untoxic_hostility_rows
from model.bundle import sha256_file
from model.training.data import DataError, in_keys, overlap_key
from model.training.trained_texts import FINGERPRINT_KEY, text_fingerprint

SITE_SOURCE = "site"
"""The ``source`` of site rows in a training frame."""
DEFAULT_SITE_WEIGHT = 5.0
"""Sample weight of one site comment, against a mean of 1 for the public rows: a site's few hundred labels
are the very domain the model serves, but the public data is a hundred times larger. Tune it per site in
notebook 05 on the site's held-out rows."""
TEXT_COLUMN = "text"
DECISION_COLUMN = "decision"
LABELS_COLUMN = "labels"
"""A JSON object of attribute labels (``{"toxicity": 1}``), as the feedback export may write them."""
DECISION_TOXICITY: dict[str, float] = {"approve": 0.0, "review": 1.0, "reject": 1.0}
"""A site's decision as a toxicity label: what an editor sent to review or rejected is what the model should flag;
except a review of a comment labelled an unsupported claim (``decision_toxicity``), which says nothing of hostility."""
COMMENT_ID_COLUMNS = ("api_key_id", "comment_id")
"""The feedback export's columns that name one comment: a later row for the same comment replaces an earlier one."""
EXPORT_COLUMNS = (*COMMENT_ID_COLUMNS, "created_at", "source", "moderator", "api_key_name")
"""The feedback export's columns that are not labels (``service.feedback_export``): every other column it writes is one."""
MAX_NAMED_ROWS = 3
"""A message names at most this many rows (then "and N more")."""
TRUE_VALUES = {"true", "yes"}
FALSE_VALUES = {"false", "no"}
SITE_HOLDOUT_FRACTION = 0.3
"""Share of the site's rows kept aside (stratified by label) to compare bundles in notebook 05."""
READERS = {".csv": lambda text: pd.read_csv(text, keep_default_na=False, dtype=str),
           ".jsonl": lambda text: pd.read_json(text, lines=True, dtype=False), ".parquet": pd.read_parquet}
"""How each format is read: the text formats from their text (``_text``), Parquet from its path. dtype=False: a JSON
string stays the text it is ("007", "12", "1e3" were read as the numbers 7, 12 and 1000)."""
READERS[".ndjson"] = READERS[".jsonl"]  # newline-delimited JSON: JSON Lines, as `moderate feedback export` writes it
BYTE_ORDER_MARK = "\ufeff"


_PANDAS_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
"""pandas' C parser on a row with more fields than the header; its line counts records (and blank lines) from 1."""
_PANDAS_EOF = re.compile(r"EOF inside string starting at row (\d+)")
"""pandas' C parser on a quote never closed; its row counts records (and blank lines) from 0."""
NO_TEXT_HINT = (" (feedback sent with only a comment id has its text only where the server kept it: "
                "MODERATION_STORE_TEXT=true, or send the text with the feedback)")
CLAIM_ONLY_REASON = "unsupported_claim (kept for thresholds and comparisons; the claim heads learn from sentences)"
EMPTY_HINT = "give a header row (text, and decision or attribute columns) and one row per comment"


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a ``.csv``, ``.jsonl`` or ``.parquet`` table (``.gz`` allowed for the text formats) as strings where textual.

    Bytes cells (an Arrow ``binary`` column) are decoded as UTF-8; one that is not UTF-8 becomes None. A file
    that cannot be read raises DataError naming the file, the line where it can, and what to fix.
    """
    path = Path(path)
    suffixes = [s.lower() for s in path.suffixes]
    compressed = suffixes[-1:] == [".gz"] and len(suffixes) > 1
    suffix = suffixes[-2] if compressed else (suffixes[-1] if suffixes else "")
    if suffix not in READERS:
        raise DataError(f"{path}: unknown table format; use .csv, .jsonl or .parquet")
    if not path.is_file():
        raise DataError(f"{path} not found: give the site's labelled comments file")
    try:
        frame = READERS[suffix](path if suffix == ".parquet" else _text(path, compressed))
    except UnicodeDecodeError as error:
        raise DataError(_encoding_message(path, compressed, error)) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty: {EMPTY_HINT}") from None
    except pd.errors.ParserError as error:
        raise DataError(_csv_message(path, compressed, error)) from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise DataError(f"{path}: not a readable gzip file ({error}): compress it with gzip, or drop the .gz") from None
    except (pa.ArrowException, OSError) as error:
        if suffix != ".parquet":
            raise
        raise DataError(f"{path}: not a readable Parquet file ({_one_line(error)}): write it again with pandas or pyarrow") from None
    except (ValueError, TypeError) as error:
        if suffix == ".jsonl":
            raise DataError(_jsonl_message(path, compressed, error)) from None
        if suffix == ".parquet":
            raise DataError(f"{path}: not a readable Parquet file ({_one_line(error)}): write it again with pandas or pyarrow") from None
        raise
    if frame.columns.empty:
        raise DataError(f"{path} is empty: {EMPTY_HINT}")
    return _decode_bytes(frame)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def _utf8(value):
    """A bytes value as UTF-8 text (None if it is not UTF-8); any other value as it is."""
    if not isinstance(value, bytes):
        return value
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _decode_bytes(frame: pd.DataFrame) -> pd.DataFrame:
    """Decode the bytes cells of ``frame`` (a Parquet ``binary`` column) as UTF-8 text."""
    for column in frame.columns:
        if frame[column].dtype == object and any(isinstance(value, bytes) for value in frame[column]):
            frame[column] = frame[column].map(_utf8).astype(object)
    return frame


def _open_binary(path: Path, compressed: bool) -> IO[bytes]:
    return gzip.open(path, "rb") if compressed else open(path, "rb")


def _text_lines(path: Path, compressed: bool) -> Iterator[str]:
    """The lines of a text table, each without a leading byte-order mark.

    A BOM opens a file, and each file concatenated to it (``cat a.jsonl b.jsonl`` where b was saved with one): never
    a row's, as ``moderate score`` reads them (``service.table_reader``). Raises UnicodeDecodeError on a line that is
    not UTF-8.
    """
    with _open_binary(path, compressed) as handle:
        for line in handle:
            yield line.decode("utf-8").removeprefix(BYTE_ORDER_MARK)


def _text(path: Path, compressed: bool) -> io.StringIO:
    """A text table's content (``_text_lines``) for pandas to parse."""
    return io.StringIO("".join(_text_lines(path, compressed)))


def _encoding_message(path: Path, compressed: bool, error: UnicodeDecodeError) -> str:
    """Where ``path`` stops being UTF-8: the first undecodable byte, its position in the file and its line."""
    offset = 0
    with _open_binary(path, compressed) as handle:
        for number, line in enumerate(handle, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as bad:
                return (f"{path} is not UTF-8 (byte 0x{line[bad.start]:02x} at position {offset + bad.start}, "
                        f"line {number}): save it as UTF-8")
            offset += len(line)
    return f"{path} is not UTF-8 ({error.reason}): save it as UTF-8"


def _csv_record_lines(path: Path, compressed: bool) -> Iterator[int]:
    """The first line (from 1) of every record of a CSV file, blank lines included, as Python's csv module reads it."""
    with _open_binary(path, compressed) as raw, io.TextIOWrapper(raw, "utf-8", errors="replace", newline="") as handle:
        reader = csv.reader(handle)
        line = 1
        while True:
            try:
                next(reader)
            except StopIteration:
                return
            except csv.Error:  # a field over csv.field_size_limit: the record still starts here
                yield line
                return
            yield line
            line = reader.line_num + 1


def _csv_message(path: Path, compressed: bool, error: pd.errors.ParserError) -> str:
    """A CSV that pandas cannot parse: which line, and what to fix."""
    detail = _one_line(error).replace("Error tokenizing data. C error: ", "")
    starts = list(_csv_record_lines(path, compressed))
    if eof := _PANDAS_EOF.search(detail):
        record = int(eof[1])
        line = starts[record] if record < len(starts) else starts[-1] if starts else None
        where = f"{path} line {line}" if line else str(path)
        return (f"{where}: a quoted field is never closed (the file ends inside it): close its quote, "
                'and double every quote inside a quoted field ("say ""hi""")')
    if fields := _PANDAS_FIELDS.search(detail):
        expected, record, saw = int(fields[1]), int(fields[2]) - 1, int(fields[3])
        where = f"{path} line {starts[record]}" if record < len(starts) else str(path)
        separator = _header_separator(path, compressed)
        if separator is not None:  # Excel in much of Europe: ";" between fields, "," in numbers (0,9)
            return (f"{where}: {saw} fields where the header has {expected}; the header is separated by {separator!r}, "
                    "not commas: save the file as comma-separated CSV (or .jsonl)")
        return (f"{where}: {saw} fields where the header has {expected}: "
                'put a field that holds a comma in double quotes ("like, this")')
    return f"{path}: not a readable CSV file ({detail})"


def _header_separator(path: Path, compressed: bool) -> str | None:
    """The separator of ``SEPARATORS_NOT_COMMAS`` a header without commas is written with, else None."""
    try:
        header = next(_text_lines(path, compressed), "")
    except UnicodeDecodeError:
        return None
    if "," in header:
        return None
    return next((separator for separator in SEPARATORS_NOT_COMMAS if separator in header), None)


def _jsonl_message(path: Path, compressed: bool, error: Exception) -> str:
    """A JSON Lines file that pandas cannot read: the first line that is not one JSON object."""
    hint = 'write one JSON object per line, e.g. {"text": "...", "decision": "approve"}'
    for number, line in enumerate(_text_lines(path, compressed), 1):  # UTF-8: read_table decoded every line already
        line = line.strip()
        if not line:
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as bad:
            return f"{path} line {number}: not valid JSON ({bad.msg} at column {bad.colno}): {hint}"
        if not isinstance(value, dict):
            return f"{path} line {number}: a JSON {type(value).__name__}, not an object: {hint}"
    return f"{path}: not readable as JSON Lines ({_one_line(error)}): {hint}"


def _blank(value) -> bool:
    """A missing cell: None, NaN, pandas' NA or blank text."""
    if isinstance(value, str):
        return not value.strip()
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _decision_text(value) -> str:
    """A decision cell as lower-case text without surrounding blanks; ``""`` for a missing one (None, NaN, NA)."""
    return "" if _blank(value) else str(value).strip().lower()


def _label_hint(bad: list[str], decision_column: str) -> str:
    """A hint when every refused decision is a label value (1/0, true/false): those belong in an attribute column."""
    def is_label(value: str) -> bool:
        try:
            return value in TRUE_VALUES | FALSE_VALUES or 0.0 <= float(value) <= 1.0
        except ValueError:
            return False

    if not all(is_label(value) for value in bad):
        return ""
    return (f" (labels such as 1/0 go in an attribute column: rename {decision_column!r} to the attribute it marks, "
            "e.g. 'toxicity')")


def _label_value(value, column: str, row: int) -> float:
    """0.0, 1.0 or NaN (unlabelled) from a cell: a probability (0, 1, 0.8...), true/false, yes/no or empty."""
    if _blank(value):
        return np.nan
    if isinstance(value, bool | np.bool_):
        return float(value)
    text = str(value).strip().casefold()
    if text in TRUE_VALUES:
        return 1.0
    if text in FALSE_VALUES:
        return 0.0
    try:
        probability = float(text)
    except ValueError:
        probability = np.nan
    if not 0.0 <= probability <= 1.0:
        raise DataError(f"row {row}: {column} must be a probability in [0, 1], true, false or empty, got {value!r}")
    return float(probability >= LABEL_PROBABILITY_CUT)


def _expand_labels(raw: pd.DataFrame) -> pd.DataFrame:
    """Spread a JSON ``labels`` column into attribute columns (a filled attribute column wins)."""
    parsed = []
    for row, value in enumerate(raw[LABELS_COLUMN]):
        try:
            labels = {} if _blank(value) else value if isinstance(value, dict) else json.loads(value)
        except (TypeError, json.JSONDecodeError) as error:
            raise DataError(f"row {row}: {LABELS_COLUMN} must be a JSON object of attribute labels ({error})") from None
        if not isinstance(labels, dict):
            raise DataError(f"row {row}: {LABELS_COLUMN} must be a JSON object of attribute labels")
        parsed.append(labels)
    unknown = sorted({key for labels in parsed for key in labels} - set(ATTRIBUTES))
    if unknown:
        rows = [row for row, labels in enumerate(parsed) if set(labels) - set(ATTRIBUTES)]
        raise DataError(f"{LABELS_COLUMN} names unknown attributes {unknown} ({_rows_named(rows, raw)}): use "
                        f"{', '.join(ATTRIBUTES)}")
    expanded = raw.copy()
    for attribute in ATTRIBUTES:
        given = raw[attribute].tolist() if attribute in raw else [None] * len(raw)
        if any(attribute in labels for labels in parsed) or attribute in raw:
            expanded[attribute] = [labels.get(attribute) if _blank(value) else value for value, labels in zip(given, parsed)]
    return expanded


def _superseded(raw: pd.DataFrame, texts: pd.Series, usable: np.ndarray) -> np.ndarray:
    """True for a usable row whose comment has a later usable row, in a table with a ``comment_id`` column (a feedback
    export): the same ``COMMENT_ID_COLUMNS``, or for a row without a comment id the same text from the same key.

    Feedback sent with the text alone (Perspective's suggestscore, older Coral's ``APPROVED`` then ``DELETED``,
    ``/v1/feedback`` without an id) names its comment by its text, as ``/v1/feedback`` does when it checks for a retry:
    an editor's correction of such a comment was trained on beside the decision it replaced, one text both approved
    and rejected. A table without the column (a hand-labelled sample) may hold one text as several comments.
    """
    superseded = np.zeros(len(raw), dtype=bool)
    if "comment_id" not in raw:
        return superseded
    ids = raw[[c for c in COMMENT_ID_COLUMNS if c in raw]].map(lambda value: None if _blank(value) else str(value))
    ids["text"] = texts.where(ids["comment_id"].isna().to_numpy(), None).to_numpy(object)
    given = ids[usable]
    # Later means given later: an export sorted in a spreadsheet (by decision, by text) still holds each row's
    # created_at, and its last row is no longer its comment's last verdict. File order breaks ties, and decides alone
    # when a time is missing or unreadable.
    order = _given_order(raw, usable)
    repeated = np.empty(len(given), dtype=bool)
    repeated[order] = given.iloc[order].duplicated(keep="last").to_numpy()
    superseded[np.flatnonzero(usable)] = repeated
    return superseded


def _given_order(raw: pd.DataFrame, usable: np.ndarray) -> np.ndarray:
    """Positions of the ``usable`` rows (among them) from the first given to the last: by ``created_at`` when every one
    has a readable time, in file order among equal times; else file order."""
    positions = np.arange(int(np.count_nonzero(usable)))
    if "created_at" not in raw:
        return positions
    with warnings.catch_warnings():  # a format pandas guesses for some cells and not others: unreadable, file order
        warnings.simplefilter("ignore")
        times = pd.to_datetime(raw["created_at"][usable].astype(object), utc=True, errors="coerce", format="mixed")
    if times.isna().any():
        return positions
    return np.lexsort((positions, times.dt.tz_convert(None).to_numpy().astype("int64")))


def _column_key(name: object) -> str:
    return re.sub(r"[\s_-]+", "_", str(name).strip().lower())


def _check_column_spelling(raw: pd.DataFrame, known: tuple[str, ...]) -> None:
    """Refuse a column that is a known column spelt otherwise (``Insult``, ``Severe Toxicity``): it would be ignored."""
    by_key = {_column_key(name): name for name in known}
    for column in raw.columns:
        name = by_key.get(_column_key(column))
        if name is not None and column != name and name not in raw:
            raise DataError(f"column {column!r} would be ignored: rename it {name!r} (column names are lower case, "
                            "words joined by _)")


SEPARATORS_NOT_COMMAS = (";", "\t", "|")
"""What a spreadsheet saves a "CSV" with in some locales (Excel in much of Europe: ``;``): read with commas, the whole
header is one column."""


def _missing_text_hint(columns: pd.Index, text_column: str) -> str:
    """What to do about a table without ``text_column``: save it with commas when its one column is a header joined by
    another separator, else name the comments' column ``text_column``."""
    if len(columns) == 1:
        separator = next((s for s in SEPARATORS_NOT_COMMAS if s in str(columns[0]) and text_column in str(columns[0]).split(s)), None)
        if separator is not None:
            return f": the file is separated by {separator!r}, not commas: save it as comma-separated CSV (or .jsonl)"
    return f": rename the column that holds the comments {text_column!r}"


def site_labels(raw: pd.DataFrame, text_column: str = TEXT_COLUMN, decision_column: str = DECISION_COLUMN,
                keep_all_rows: bool = False) -> pd.DataFrame:
    """Turn a site's table into ``text``, ``decision`` and one label column per attribute.

    Parameters
    ----------
    raw : pandas.DataFrame
        The site's rows: a text column and a decision column, attribute columns, or a JSON ``labels`` column.
    text_column, decision_column : str
    keep_all_rows : bool
        Keep every row (to stay aligned with the input) instead of dropping those without text or label and the
        superseded ones; a kept row that would be dropped has no label (decision ``""``, attributes NaN), so a
        comparison never judges a bundle on a text it was not given or on a decision an editor replaced.

    Returns
    -------
    pandas.DataFrame
        ``text``, ``decision`` (``""`` when not given) and every attribute of ``ATTRIBUTES`` (1.0, 0.0 or
        NaN). Toxicity falls back to ``DECISION_TOXICITY``; a comment that is not toxic is negative for
        every hostility attribute. Rows without text or without any label are dropped, and so are the earlier
        rows of a comment given again (``_superseded``) (``attrs``: ``n_read``, ``n_superseded``, ``n_without_text``,
        ``n_without_label``, ``label_columns``).
    """
    if text_column not in raw:
        raise DataError(f"the site data has no {text_column!r} column (columns: {', '.join(map(str, raw.columns))})"
                        + _missing_text_hint(raw.columns, text_column))
    if LABELS_COLUMN in raw:
        raw = _expand_labels(raw)
    _check_column_spelling(raw, (decision_column, LABELS_COLUMN, *ATTRIBUTES))
    label_columns = [a for a in ATTRIBUTES if a in raw]
    unread = _unread_label_columns(raw, (text_column, decision_column, LABELS_COLUMN, *ATTRIBUTES, *EXPORT_COLUMNS))
    if decision_column not in raw and not label_columns:
        raise DataError(f"the site data needs a {decision_column!r} column (approve/review/reject) "
                        f"or attribute columns ({', '.join(ATTRIBUTES)})"
                        + (f"; {unread_labels_reason(unread, only=False)}" if unread else ""))
    texts = raw[text_column].map(lambda value: "" if _blank(value) else str(value))
    frame = pd.DataFrame({"text": texts.to_numpy(object)})
    decisions = raw[decision_column].astype(object).map(_decision_text) if decision_column in raw else pd.Series("", index=raw.index)
    bad = sorted(set(decisions) - set(DECISION_TOXICITY) - {""})
    if bad:
        raise DataError(f"{decision_column} must be approve, review or reject; got {', '.join(map(repr, bad))}"
                        + _label_hint(bad, decision_column))
    frame["decision"] = decisions.to_numpy(object)
    for attribute in ATTRIBUTES:
        values = raw[attribute].tolist() if attribute in raw else [None] * len(raw)
        frame[attribute] = [_label_value(value, attribute, row) for row, value in enumerate(values)]
    untoxic = untoxic_hostility_rows(frame)  # read before training's rule that a comment not toxic is free of every hostility
    from_decision = decision_toxicity(frame)
    # An insult, a threat... is toxic, whatever the decision column says.
    any_hostile = (frame[list(HOSTILITY_ATTRIBUTES[1:])] == 1).any(axis=1)
    frame["toxicity"] = frame["toxicity"].fillna(from_decision).mask(frame["toxicity"].isna() & any_hostile, 1.0)
    for attribute in HOSTILITY_ATTRIBUTES[1:]:
        frame.loc[frame["toxicity"] == 0, attribute] = 0.0
    has_text = frame["text"].str.strip() != ""
    has_label = frame[list(ATTRIBUTES)].notna().any(axis=1)
    unread_only = has_text & ~has_label & ~raw[unread].map(_blank).all(axis=1).to_numpy()
    superseded = _superseded(raw, frame["text"], (has_text & has_label).to_numpy())
    usable = has_text & has_label & ~superseded
    _refuse_untoxic_hostility(untoxic, usable.to_numpy(), raw)
    if keep_all_rows:
        kept = frame.copy()
        kept.loc[~usable, "decision"] = ""
        kept.loc[~usable, list(ATTRIBUTES)] = np.nan
    else:
        kept = frame[usable].reset_index(drop=True)
    kept.attrs = {"n_read": len(frame), "n_superseded": int(superseded.sum()),
                  "n_without_text": int((~has_text).sum()), "n_without_label": int((has_text & ~has_label & ~unread_only).sum()),
                  "n_unread_label_only": int(unread_only.sum()), "unread_label_columns": unread, "label_columns": label_columns}
    return kept


def _rows_named(rows: list[int], raw: pd.DataFrame) -> str:
    """``rows`` (positions in ``raw``) as a message names them: each with its comment id where the table has one, at
    most ``MAX_NAMED_ROWS``."""
    ids = raw["comment_id"].tolist() if "comment_id" in raw else [None] * len(raw)
    named = [f"row {row}" + ("" if _blank(ids[row]) else f" (comment_id {ids[row]})") for row in rows[:MAX_NAMED_ROWS]]
    more = len(rows) - MAX_NAMED_ROWS
    return ", ".join(named) + (f" and {more} more" if more > 0 else "")


def _refuse_untoxic_hostility(untoxic: Mapping[str, np.ndarray], used: np.ndarray, raw: pd.DataFrame) -> None:
    """Refuse the rows ``model.attributes.untoxic_hostility_rows`` marks (``untoxic``, by attribute) that training would
    use (``used``): trained as not toxic, they were trained as free of the insult, threat... their labels mark, which
    was silently lost."""
    rows = {name: np.flatnonzero(marked & used).tolist() for name, marked in untoxic.items() if (marked & used).any()}
    if not rows:
        return
    cut = f"{LABEL_PROBABILITY_CUT:g}"
    name, found = next(iter(rows.items()))
    also = f" (and {', '.join(list(rows)[1:])} on other rows)" if len(rows) > 1 else ""
    raise DataError(f"{_rows_named(found, raw)}: {name} is marked ({cut} or more) but toxicity is not (under {cut}){also}: "
                    f"{name} is toxic, so training would read it as 0; raise toxicity to {cut} or more, lower {name} "
                    f"under {cut}, or leave one of them empty")


def _label_like(value) -> bool:
    """Whether a cell reads as a label: empty, a number in [0, 1], true/false or yes/no."""
    try:
        return not np.isnan(_label_value(value, "", 0))
    except DataError:
        return False


def _unread_label_columns(raw: pd.DataFrame, read: tuple[str, ...]) -> list[str]:
    """The columns of ``raw`` training does not read (not in ``read``) that hold labels, some and nothing else: a
    free-form label of the feedback export (Perspective's ``ATTACK_ON_AUTHOR`` sent to suggestscore), or a site's own
    0/1 column under a name of its own."""
    unread = []
    for column in raw.columns:
        if column in read or not isinstance(column, str):
            continue
        filled = (value for value in raw[column] if not _blank(value))
        first = next(filled, None)
        if first is not None and _label_like(first) and all(map(_label_like, filled)):  # a text column stops at once
            unread.append(column)
    return unread


def read_site_data(path: str | Path, text_column: str = TEXT_COLUMN, decision_column: str = DECISION_COLUMN) -> pd.DataFrame:
    """Read a site's labelled comments file into the frame ``site_labels`` returns, with its provenance.

    Parameters
    ----------
    path : str or Path
        ``.csv``, ``.jsonl`` or ``.parquet``: the site's labelled sample or ``moderate feedback export`` output.
    text_column, decision_column : str

    Returns
    -------
    pandas.DataFrame
        See ``site_labels``; ``attrs`` adds ``file`` and ``sha256`` (of the file as read). DataError if the file
        cannot be read or no row has both a text and a label.
    """
    path = Path(path)
    raw = read_table(path)
    try:
        frame = site_labels(raw, text_column, decision_column)
    except DataError as error:
        raise DataError(f"{path}: {error}") from None
    if frame.empty:
        counts = frame.attrs
        raise DataError(f"{path}: no comment has both a text and a label ({counts['n_read']} rows read, "
                        f"{counts['n_without_text']} without text, {counts['n_without_label']} without label"
                        f"{unread_label_count(counts)}): {EMPTY_HINT}")
    frame.attrs |= {"file": path.name, "sha256": sha256_file(path)}
    return frame


def decision_toxicity(site: pd.DataFrame) -> pd.Series:
    """Each row's decision as a toxicity label (``DECISION_TOXICITY``; NaN without a decision), NaN for a review of a
    comment labelled an unsupported claim: the policy sends a civil claim to review, and taking an editor's confirmed
    "review" of one as toxic taught the toxicity head that claims are hostile (two trained claim texts went from
    toxicity 0.03 to 0.22 after three such rows)."""
    from_decision = site["decision"].map(DECISION_TOXICITY).astype(float)
    claim_review = (site["decision"] == "review") & (site[CLAIM_ATTRIBUTE] == 1 if CLAIM_ATTRIBUTE in site else False)
    return from_decision.mask(claim_review)


def hostile_labels(site: pd.DataFrame) -> np.ndarray:
    """1 where the site calls a comment hostile (toxicity label, else a review/reject decision as ``decision_toxicity``
    reads it), else 0."""
    toxicity = site["toxicity"].to_numpy(float)
    from_decision = np.nan_to_num(decision_toxicity(site).to_numpy(float))
    return np.where(np.isnan(toxicity), from_decision, toxicity).astype(int)


def split_site(site: pd.DataFrame, fraction: float = SITE_HOLDOUT_FRACTION, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a site's rows into training and held-out parts, stratified by ``hostile_labels``, a text on one side only.

    Rows with the same text (``overlap_key``) go to the same side, so no held-out comment was trained on.

    Parameters
    ----------
    site : pandas.DataFrame
        From ``read_site_data`` or ``site_labels``.
    fraction : float
        Share of the distinct texts held out.
    seed : int

    Returns
    -------
    train, held_out : pandas.DataFrame
        Both keep ``site.attrs``. Stratified only where each side can hold both labels (at least two texts of each,
        and two on each side); a few texts are split at random.

    Raises
    ------
    DataError
        ``fraction`` is not between 0 and 1, or the site has too few distinct texts to leave one on each side.
    """
    if not 0 < fraction < 1:
        raise DataError(f"the share of site comments held out must be between 0 and 1, got {fraction}")
    keys = site["text"].map(overlap_key).to_numpy(object)
    labels = pd.Series(hostile_labels(site)).groupby(keys, sort=False).max()  # a text is hostile if any row says so
    n_held = math.ceil(fraction * len(labels))  # as train_test_split counts a fractional test_size
    if n_held >= len(labels):
        needed = next(n for n in itertools.count(len(labels) + 1) if math.ceil(fraction * n) < n)
        raise DataError(f"holding out {fraction:g} of {len(labels)} distinct site comments leaves none to train on: "
                        f"give at least {needed} distinct comments, or hold out a smaller share")
    stratifiable = np.bincount(labels, minlength=2).min() >= 2 and min(n_held, len(labels) - n_held) >= 2
    stratify = labels.to_numpy() if stratifiable else None
    _, held_keys = train_test_split(labels.index.to_numpy(object), test_size=fraction, random_state=seed, stratify=stratify)
    held = np.isin(keys, held_keys)
    train, held_out = site[~held].reset_index(drop=True), site[held].reset_index(drop=True)
    train.attrs, held_out.attrs = dict(site.attrs), dict(site.attrs)
    return train, held_out


def site_training_rows(site: pd.DataFrame, weight: float = DEFAULT_SITE_WEIGHT, exclude_texts: set[str] = frozenset(),
                       validation_texts: set[str] = frozenset()) -> pd.DataFrame:
    """The site's rows shaped like ``model.training.data.load_training_data``'s: ``text``, ``source``, ``weight``, attributes.

    Parameters
    ----------
    site : pandas.DataFrame
        From ``read_site_data`` or ``site_labels``.
    weight : float
        Sample weight of every site row (the public rows have mean 1).
    exclude_texts : set of str
        ``overlap_key`` of texts never to train on (the public test splits).
    validation_texts : set of str
        ``overlap_key`` of the public validation sets' texts, which choose C, the thresholds and whether a site bundle
        is published: never trained on either.

    Returns
    -------
    pandas.DataFrame
        Rows with a hostility label; ``attrs["removed_test_overlap"]`` counts rows dropped by ``exclude_texts``,
        ``attrs["removed_validation_overlap"]`` the others dropped by ``validation_texts``,
        ``attrs["without_hostility_label"]`` the others dropped for labelling only ``unsupported_claim``.
    """
    if not weight > 0:
        raise DataError(f"site weight must be positive, got {weight}")
    keys = site["text"].map(overlap_key)
    in_test = in_keys(keys, exclude_texts)
    in_validation = in_keys(keys, validation_texts) & ~in_test
    labelled = site[list(HOSTILITY_ATTRIBUTES)].notna().any(axis=1)
    rows = site[~in_test & ~in_validation & labelled]
    frame = pd.DataFrame({"text": rows["text"].to_numpy(object), "source": SITE_SOURCE, "weight": float(weight)})
    for attribute in HOSTILITY_ATTRIBUTES:
        frame[attribute] = rows[attribute].to_numpy(float)
    frame.attrs["removed_test_overlap"] = int(in_test.sum())
    frame.attrs["removed_validation_overlap"] = int(in_validation.sum())
    frame.attrs["without_hostility_label"] = int((~in_test & ~in_validation & ~labelled).sum())
    return frame


def add_site_rows(frame: pd.DataFrame, site_rows: pd.DataFrame) -> pd.DataFrame:
    """Public training rows plus the site's, in that order (the public rows and their weights unchanged)."""
    combined = pd.concat([frame, site_rows[frame.columns]], ignore_index=True)
    combined.attrs = dict(frame.attrs)
    return combined


def site_manifest(site: pd.DataFrame, site_rows: pd.DataFrame, weight: float) -> dict:
    """What the bundle's manifest records about the site data: file, SHA-256, rows read, used and left out, weight,
    and a fingerprint of the texts trained on (``trained_texts.text_fingerprint``: a later file holding some of them
    is known to be partly trained on, whatever its SHA-256)."""
    return {
        "file": site.attrs.get("file"),
        "sha256": site.attrs.get("sha256"),
        "rows": int(site.attrs.get("n_read", len(site))),
        "rows_used": int(len(site_rows)),
        "rows_superseded": int(site.attrs.get("n_superseded", 0)),
        "rows_without_text": int(site.attrs.get("n_without_text", 0)),
        "rows_without_label": int(site.attrs.get("n_without_label", 0)),
        "rows_unread_label_only": int(site.attrs.get("n_unread_label_only", 0)),
        "unread_label_columns": list(site.attrs.get("unread_label_columns", [])),
        "removed_test_overlap": int(site_rows.attrs.get("removed_test_overlap", 0)),
        "removed_validation_overlap": int(site_rows.attrs.get("removed_validation_overlap", 0)),
        "rows_claim_label_only": int(site_rows.attrs.get("without_hostility_label", 0)),
        "weight": float(weight),
        "label_columns": list(site.attrs.get("label_columns", [])),
        "hostile_rows": int(hostile_labels(site).sum()),
        **({"split_from": dict(site.attrs["split_from"])} if "split_from" in site.attrs else {}),
        FINGERPRINT_KEY: text_fingerprint(site_rows["text"]),
    }


def split_origin(site: pd.DataFrame, held_out: pd.DataFrame, fraction: float, seed: int) -> dict:
    """The site file ``split_site`` split, for the manifest of a bundle trained on the training part: its name,
    SHA-256 and rows read (``read_site_data``'s ``attrs``), the comments held out, and the split's fraction and seed."""
    return {"file": site.attrs.get("file"), "sha256": site.attrs.get("sha256"), "rows": int(site.attrs.get("n_read", len(site))),
            "rows_held_out": int(len(held_out)), "holdout_fraction": float(fraction), "seed": int(seed)}


def trained_on_file(manifest: Mapping, sha256: str | None) -> bool:
    """Whether a bundle's ``manifest`` says it was trained on the site file of SHA-256 ``sha256``: given whole
    (``--site-data``, ``site_data.sha256``) or split, its training part trained on (notebook 05,
    ``site_data.split_from.sha256``, ``split_origin``). Figures measured on such a file are optimistic."""
    site = manifest.get("site_data") or {}
    return sha256 is not None and sha256 in {site.get("sha256"), (site.get("split_from") or {}).get("sha256")}


def saw_held_out_rows(manifest: Mapping, sha256: str | None, fraction: float, seed: int) -> bool:
    """Whether a bundle's ``manifest`` says it may have trained on rows that ``split_site(fraction, seed)`` holds out of
    the site file of SHA-256 ``sha256``: trained on that file whole (``--site-data``), or on the training part of
    another split of it (notebook 05 with another ``holdout_fraction`` or ``seed``). Judged on those rows, such a bundle
    looks better than it is."""
    site = manifest.get("site_data") or {}
    origin = site.get("split_from") or {}
    if sha256 is None:
        return False
    if site.get("sha256") == sha256:
        return True
    return origin.get("sha256") == sha256 and (origin.get("holdout_fraction"), origin.get("seed")) != (float(fraction), int(seed))


def unread_label_count(counts: Mapping) -> str:
    """``", N labelled only in ..."`` for the rows of ``site_labels``' ``attrs`` (``counts``) whose only labels are in
    columns it does not read, else ``""``: the last part of a list of the rows left out."""
    n_unread = counts.get("n_unread_label_only", 0)
    return f", {n_unread} {unread_labels_reason(counts['unread_label_columns'])}" if n_unread else ""


def unread_labels_reason(columns: list[str], only: bool = True) -> str:
    """Why the labels in ``columns`` (``_unread_label_columns``) are not trained on, and what to do about it; ``only``:
    said of the rows labelled there alone, which are left out."""
    names = ", ".join(map(repr, columns))
    fix = f"rename a column to the attribute it marks, one of {', '.join(ATTRIBUTES)}"
    if only:
        return f"labelled only in {names}, which training does not read ({fix}, or give those comments a decision)"
    return f"labels in {names} not read ({fix})"


def describe_site_manifest(entry: Mapping) -> str:
    """One line on what ``site_manifest`` recorded: rows read, rows trained on, every row left out and why, the rows
    training held out to choose thresholds (``train.split_holdout``) and the file split (``split_origin``)."""
    left_out = {
        "earlier feedback on a comment given again (the last kept)": entry.get("rows_superseded", 0),
        f"without text{NO_TEXT_HINT}": entry.get("rows_without_text", 0),
        "without a decision or label": entry.get("rows_without_label", 0),
        unread_labels_reason(entry.get("unread_label_columns", [])): entry.get("rows_unread_label_only", 0),
        "also in a public test set": entry.get("removed_test_overlap", 0),
        "also in a public validation set": entry.get("removed_validation_overlap", 0),
        f"labelled only {CLAIM_ONLY_REASON}": entry.get("rows_claim_label_only", 0),
    }
    reasons = "; ".join(f"{count} {why}" for why, count in left_out.items() if count)
    unread = entry.get("unread_label_columns", [])
    if unread and not entry.get("rows_unread_label_only"):  # every such row had a label read too
        reasons = "; ".join(filter(None, (reasons, unread_labels_reason(unread, only=False))))
    reasons = reasons or "none"
    held = entry.get("rows_held_out")
    reasons += f"; {held} of the {entry.get('rows_used')} kept out of the fit to choose thresholds" if held else ""
    origin = entry.get("split_from")
    split = (f"; the training part of {origin.get('file')} (sha256 {str(origin.get('sha256'))[:12]}), "
             f"{origin.get('rows_held_out')} of whose rows were held out" if origin else "")
    return (f"site data {entry.get('file')}: {entry.get('rows')} rows read, {entry.get('rows_used')} trained on "
            f"(weight {entry.get('weight'):g}); left out: {reasons}{split}")


STAND_IN_SET = "kaggle_train_heldout"
"""The public set that stands in for a site's labelled comments when a notebook is given none: news and
forum comments, licensed for training, and never a test split."""


def write_stand_in_site_data(path: str | Path, data_dir=None) -> Path:
    """Write a stand-in site file (``text``, ``decision``) from a public set, for notebook runs without a site.

    A hostile row becomes ``reject`` and the rest ``approve``. It is a public validation set, so the
    thresholds chosen on it are somewhat optimistic: use a site's real sample for real decisions.
    """
    from model.training.data import load_validation_sets

    frame = load_validation_sets(data_dir)[STAND_IN_SET]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"text": frame["text"], "decision": np.where(frame["label"] == 1, "reject", "approve")}).to_csv(path, index=False)
    return path
