"""Write a comment table (.csv, .jsonl, .parquet) chunk by chunk; the file appears only when the writer closes cleanly."""

from __future__ import annotations

import csv
import json
import math
import os
import re
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from model.bundle import temporary_beside
from service.tables import TableError, is_missing, one_line, table_format

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet (Excel, LibreOffice, Google Sheets) read a CSV cell as a formula: a comment
such as ``=HYPERLINK("http://evil.example", "details")`` would run, or send data away, when the file is opened."""
TEXT_MARKER = "'"
"""What a spreadsheet-safe CSV puts before such a cell: the spreadsheets' own mark of a cell that is text."""
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
"""A signed number (``-5``, ``+1234``, ``-1.5e3``): a spreadsheet reads it as the number, never as a formula, so it is
left as it is."""
BYTE_ORDER_MARK = "\ufeff"
"""Opens a spreadsheet-safe CSV: without it Excel reads a UTF-8 file in the system's code page (``café`` as ``cafÃ©``)."""


def _is_nan(value: Any) -> bool:
    """True for a float NaN: how pandas fills a key that some JSON Lines rows lack."""
    return isinstance(value, float) and math.isnan(value)


def _json_default(value: Any) -> Any:
    """Make the cell types pandas and Arrow hand back (numpy scalars, timestamps, arrays) JSON-ready."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _csv_cell(value: Any) -> Any:
    """A JSON Lines or Parquet value as it goes into a CSV cell: lists, objects and booleans as JSON, bytes as text."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, dict | list | tuple | bool):
        return json.dumps(value, ensure_ascii=False, default=_json_default)
    return value


def _may_hold_objects(dtype: Any) -> bool:
    """Whether a column of ``dtype`` may hold lists, objects, booleans or bytes among other values (not one of pandas'
    text types, which hold only strings)."""
    return dtype.kind == "O" and not isinstance(dtype, pd.StringDtype)


def _json_cells(column: pd.Series) -> pd.Series:
    """A column with its lists, objects and booleans written as JSON (``["a", "b"]``, ``true``), not as Python's
    ``repr``, and its bytes as text: JSON Lines values (or Parquet lists, structs, binary) going into a CSV cell.

    The cells stay Python objects: letting pandas infer a type again would turn the whole numbers of a column with a
    missing value into floats (``1`` written as ``1.0``) and round those past 2**53.
    """
    return pd.Series([_csv_cell(value) for value in column.tolist()], index=column.index, name=column.name,
                     dtype=object)


def _is_formula(value: Any) -> bool:
    """Whether a cell would be read as a formula by a spreadsheet that opens the CSV (``FORMULA_STARTS``)."""
    return isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(value)


def _formulas_as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ``TEXT_MARKER`` before every text cell a spreadsheet would read as a formula (``_is_formula``);
    columns without one are left untouched, and numbers stay numbers."""
    safe = frame.copy(deep=False)
    for position, dtype in enumerate(frame.dtypes):
        values = frame.iloc[:, position].tolist() if dtype.kind in "OSU" else []
        if any(_is_formula(value) for value in values):
            safe.isetitem(position, pd.Series([TEXT_MARKER + value if _is_formula(value) else value for value in values],
                                              index=frame.index, dtype=object))
    return safe


def _bare_carriage_returns(frame: pd.DataFrame) -> np.ndarray:
    """Which rows have a text cell holding a carriage return and no line feed. Python's csv quotes a cell holding a
    character of the line ending, ``\\n`` here, so such a cell would go out bare, and a reader ends the row at its
    ``\\r`` (ours sets the row aside, pandas' cuts it in two)."""
    rows = np.zeros(len(frame), dtype=bool)
    for position, dtype in enumerate(frame.dtypes):
        if dtype.kind in "OSU":
            rows |= np.array([isinstance(value, str) and "\r" in value and "\n" not in value
                              for value in frame.iloc[:, position].tolist()], dtype=bool)
    return rows


class TableWriter:
    """Write DataFrames to a table chunk by chunk; the file appears only when the writer closes cleanly.

    Rows go to a hidden ``.partial`` file beside ``path``, renamed over ``path`` on success and
    removed on failure, so an interrupted run never leaves a truncated table behind.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        columns: list[str] | None = None,
        header: bool = True,
        schema: pa.Schema | None = None,
        first_row: int = 0,
        spreadsheet_safe: bool = False,
    ):
        self.path = Path(path)
        self.first_row = first_row
        """Rows of the table before this writer's first one (a later part of one table), for messages."""
        self.format = table_format(self.path)
        if not self.path.parent.is_dir():
            raise TableError(f"{self.path}: directory {self.path.parent} does not exist")
        if self.path.is_dir():  # os.replace cannot put the finished file there: say so before writing it
            raise TableError(f"{self.path} is a folder: give a file name, e.g. {self.path / ('table.' + self.format)}")
        self._partial = temporary_beside(self.path)
        self._columns: list[str] | None = columns
        """CSV and Parquet columns, fixed by the first frame unless given (a later part of one table)."""
        self.header = header
        """Write the CSV header row (not in a later part of one table)."""
        self._schema = schema
        """Parquet schema every frame is cast to (a later part of one table), else the first frame's."""
        if spreadsheet_safe and self.format != "csv":
            raise TableError(f"{self.path}: spreadsheet-safe cells are for a .csv output; JSON Lines and Parquet keep "
                             "every cell exactly")
        self.spreadsheet_safe = spreadsheet_safe
        """CSV for a spreadsheet: text cells a spreadsheet would run as formulas start with ``TEXT_MARKER``, and the file
        with ``BYTE_ORDER_MARK``. The cells are then no longer exactly the input's: for a program, keep it False."""
        self._text: IO[str] | None = None
        self._parquet: pq.ParquetWriter | None = None
        self._n_chunks = 0
        self._n_rows = 0
        try:
            if self.format != "parquet":
                self._text = open(self._partial, "x", encoding="utf-8", newline="")
        except OSError as error:
            raise TableError(f"{self.path}: cannot write: {error.strerror}") from error

    def write(self, frame: pd.DataFrame) -> None:
        """Append ``frame``'s rows; the first frame fixes the columns of CSV and Parquet output."""
        if self._columns is None:
            self._columns = list(frame.columns)
        elif self.format != "jsonl":
            extra = [c for c in frame.columns if c not in self._columns]
            if extra:
                raise TableError(
                    f"{self.path}: column {', '.join(map(repr, extra))} first appears after row {self.first_row + self._n_rows}; "
                    "write .jsonl to keep columns that vary by row"
                )
            frame = frame.reindex(columns=self._columns)
        getattr(self, f"_write_{self.format}")(frame)
        self._n_chunks += 1
        self._n_rows += len(frame)

    def _write_csv(self, frame: pd.DataFrame) -> None:
        mixed = [position for position, dtype in enumerate(frame.dtypes) if _may_hold_objects(dtype)]
        if mixed and len(frame):
            frame = frame.copy(deep=False)
            for position in mixed:
                frame.isetitem(position, _json_cells(frame.iloc[:, position]))
        if self.spreadsheet_safe:
            frame = _formulas_as_text(frame)
        options = {"index": False, "lineterminator": "\n"}
        if self.header and self._n_chunks == 0:
            if self.spreadsheet_safe:
                self._text.write(BYTE_ORDER_MARK)
            frame.iloc[:0].to_csv(self._text, **options)
        # Runs of rows written alike: a row with a bare carriage return with every cell quoted, the others as usual.
        quoted = _bare_carriage_returns(frame)
        edges = [0, *(np.flatnonzero(np.diff(quoted)) + 1), len(frame)] if len(frame) else []
        for start, stop in zip(edges, edges[1:]):
            quoting = csv.QUOTE_ALL if quoted[start] else csv.QUOTE_MINIMAL
            frame.iloc[start:stop].to_csv(self._text, header=False, quoting=quoting, **options)

    def _write_jsonl(self, frame: pd.DataFrame) -> None:
        for record in frame.to_dict(orient="records"):
            # A float NaN marks a key the source row did not have (JSON Lines rows may differ).
            row = {k: (None if is_missing(v) else v) for k, v in record.items() if not _is_nan(v)}
            self._text.write(json.dumps(row, ensure_ascii=False, default=_json_default) + "\n")

    def _write_parquet(self, frame: pd.DataFrame) -> None:
        try:
            # Without pandas' metadata, pandas reads the output with the same dtypes as the input.
            table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self._partial, self._schema or table.schema)
            if self._schema is not None or self._n_chunks:
                table = table.cast(self._parquet.schema)
        except (pa.ArrowException, ValueError, TypeError) as error:
            raise TableError(
                f"{self.path}: cannot write Parquet: {one_line(error)}; write .csv or .jsonl instead"
            ) from error
        self._parquet.write_table(table)

    def close(self, keep: bool = True) -> None:
        """Finish the file and move it into place (``keep``), or discard it."""
        if self._text is not None:
            self._text.close()
            self._text = None
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None
        if keep and self._partial.exists():
            os.replace(self._partial, self.path)
        else:
            self._partial.unlink(missing_ok=True)

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, exc_type: type | None, *exc_info: object) -> None:
        self.close(keep=exc_type is None)
