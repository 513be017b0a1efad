"""Comment tables (.csv, .jsonl, .parquet): the format chosen by extension, and what reading and writing share.

``service.table_reader`` reads a table in chunks; ``service.table_writer`` writes one.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pandas as pd

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}
"""File extension -> table format."""
READ_AS = {**FORMATS, ".ndjson": "jsonl"}
"""Every extension taken, with ``.ndjson`` (newline-delimited JSON: JSON Lines under another name)."""


class TableError(Exception):
    """A table that cannot be read or written; the message is one line and says what to fix."""


def table_format(path: str | os.PathLike) -> str:
    """Return "csv", "jsonl" or "parquet" for ``path``'s extension, or raise TableError."""
    suffix = Path(path).suffix.lower()
    if suffix not in READ_AS:
        known = ", ".join(FORMATS)
        problem = f"extension {suffix!r} is not supported" if suffix else "no file extension"
        raise TableError(f"{path}: {problem}; use one of {known}")
    return READ_AS[suffix]


def is_missing(value: Any) -> bool:
    """True for the scalars pandas and Arrow use for a missing cell."""
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def empty_counts(empty: int, non_text: int) -> str:
    """How many texts were scored as empty, and how many of those were not text at all (a number, a list): the words
    ``moderate score``'s summary and ``moderate compare`` share."""
    return f"empty {empty:,} (of which not text {non_text:,})"


def one_line(error: BaseException) -> str:
    """Return the first line of an exception's message."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
