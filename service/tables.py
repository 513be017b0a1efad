"""Read and write comment tables (.csv, .jsonl, .parquet) in chunks, choosing the format by extension."""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from service.config import Defaults

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}
"""File extension -> table format."""

DEFAULT_CHUNK_ROWS = Defaults.SCORE_CHUNK_ROWS

REENCODE_HINT = "re-encode it as UTF-8, e.g. `iconv -f latin1 -t utf-8 IN > OUT`"

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
"""A JSON escape of a UTF-16 surrogate: valid in pairs, unwritable as UTF-8 when alone."""


class TableError(Exception):
    """A table that cannot be read or written; the message is one line and says what to fix."""


def table_format(path: str | os.PathLike) -> str:
    """Return "csv", "jsonl" or "parquet" for ``path``'s extension, or raise TableError."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        known = ", ".join(FORMATS)
        problem = f"extension {suffix!r} is not supported" if suffix else "no file extension"
        raise TableError(f"{path}: {problem}; use one of {known}")
    return FORMATS[suffix]


def _is_missing(value: Any) -> bool:
    """True for the scalars pandas and Arrow use for a missing cell."""
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def _is_nan(value: Any) -> bool:
    """True for a float NaN: how pandas fills a key that some JSON Lines rows lack."""
    return isinstance(value, float) and math.isnan(value)


def text_values(frame: pd.DataFrame, column: str) -> list[str]:
    """Return ``frame[column]`` as strings, a missing cell (or a column absent from the chunk) as ""."""
    if column not in frame.columns:
        return [""] * len(frame)
    return ["" if _is_missing(v) else v if isinstance(v, str) else str(v) for v in frame[column].tolist()]


class TableReader:
    """Iterate over a table as pandas DataFrames of at most ``chunk_rows`` rows.

    Every cell of a CSV is read as text, exactly as written ("NA", "007" and "" stay as they are).
    JSON Lines cells keep their JSON types; Parquet columns keep their Arrow types. At least one
    (possibly empty) frame is yielded, so an empty table still carries its columns.
    """

    def __init__(self, path: str | os.PathLike, chunk_rows: int = DEFAULT_CHUNK_ROWS):
        self.path = Path(path)
        if not self.path.exists():
            raise TableError(f"{self.path}: no such file")
        if not self.path.is_file():
            raise TableError(f"{self.path}: not a file")
        self.format = table_format(self.path)
        if chunk_rows < 1:
            raise TableError(f"chunk size must be at least 1, got {chunk_rows}")
        self.chunk_rows = chunk_rows
        self.n_rows: int | None = None
        """Number of rows when the format records it (Parquet), else None."""
        self._file: IO[bytes] | None = None
        self._csv: Any = None
        try:
            self._chunks = getattr(self, f"_open_{self.format}")()
            self._first = self._next_chunk()
        except TableError:
            self.close()
            raise
        self.columns: list[str] | None = None if self._first is None else list(self._first.columns)
        """Column names (for JSON Lines, those of the first chunk); None for an empty JSON Lines file."""

    # Opening: each returns an iterator of DataFrames; errors become TableError in _next_chunk.

    def _open_csv(self) -> Iterator[pd.DataFrame]:
        try:
            self._csv = pd.read_csv(
                self.path,
                chunksize=self.chunk_rows,
                dtype=str,
                keep_default_na=False,
                na_filter=False,
                encoding="utf-8",
                encoding_errors="strict",
            )
            return iter(self._csv)
        except pd.errors.EmptyDataError as error:
            raise TableError(f"{self.path}: the file is empty; a CSV needs a header row") from error
        except UnicodeDecodeError as error:
            raise TableError(self._encoding_message(error)) from error
        except (pd.errors.ParserError, ValueError) as error:
            raise TableError(f"{self.path}: not a readable CSV: {_one_line(error)}") from error

    def _open_jsonl(self) -> Iterator[pd.DataFrame]:
        self._file = open(self.path, "rb")
        return self._jsonl_chunks(self._file)

    def _jsonl_chunks(self, lines: IO[bytes]) -> Iterator[pd.DataFrame]:
        rows: list[dict] = []
        for line_number, raw in enumerate(lines, start=1):
            try:
                line = raw.decode("utf-8-sig" if line_number == 1 else "utf-8")
            except UnicodeDecodeError as error:
                raise TableError(self._encoding_message(error, f"line {line_number}")) from error
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise TableError(f"{self.path}: line {line_number} is not valid JSON: {error.msg}") from error
            if not isinstance(row, dict):
                raise TableError(f"{self.path}: line {line_number} is not a JSON object")
            if _SURROGATE_ESCAPE.search(line) and not _is_valid_unicode(row):
                raise TableError(
                    f"{self.path}: line {line_number} has an unpaired surrogate escape (\\ud800-\\udfff); "
                    "fix or remove it"
                )
            rows.append(row)
            if len(rows) == self.chunk_rows:
                yield pd.DataFrame(rows, dtype=object)
                rows = []
        if rows:
            yield pd.DataFrame(rows, dtype=object)

    def _open_parquet(self) -> Iterator[pd.DataFrame]:
        try:
            parquet = pq.ParquetFile(self.path)
        except (pa.ArrowException, OSError) as error:
            raise TableError(f"{self.path}: not a readable Parquet file: {_one_line(error)}") from error
        self.n_rows = parquet.metadata.num_rows
        return self._parquet_chunks(parquet)

    def _parquet_chunks(self, parquet: pq.ParquetFile) -> Iterator[pd.DataFrame]:
        schema = parquet.schema_arrow
        # Arrow dtypes keep every column's type (nullable ints stay ints) on the way back to Parquet;
        # ignoring the pandas metadata keeps a stored index as the ordinary column it is in the file.
        if not self.n_rows:
            yield schema.empty_table().to_pandas(types_mapper=pd.ArrowDtype, ignore_metadata=True)
        for batch in parquet.iter_batches(batch_size=self.chunk_rows):
            table = pa.Table.from_batches([batch], schema=schema)
            yield table.to_pandas(types_mapper=pd.ArrowDtype, ignore_metadata=True)

    def _next_chunk(self) -> pd.DataFrame | None:
        """Return the next frame, or None at the end; reading errors become TableError."""
        try:
            return next(self._chunks)
        except StopIteration:
            return None
        except UnicodeDecodeError as error:
            raise TableError(self._encoding_message(error)) from error
        except pd.errors.ParserError as error:
            raise TableError(f"{self.path}: not a readable CSV: {_one_line(error)}") from error
        except pa.ArrowException as error:
            raise TableError(f"{self.path}: not a readable Parquet file: {_one_line(error)}") from error

    def _encoding_message(self, error: UnicodeDecodeError, where: str = "") -> str:
        at = f" ({where})" if where else ""
        return f"{self.path}: not UTF-8 text: byte 0x{error.object[error.start]:02x} cannot be decoded{at}; {REENCODE_HINT}"

    def require_columns(self, *names: str | None) -> None:
        """Raise TableError naming the columns found unless every given column exists."""
        if self.columns is None:  # an empty JSON Lines file: no rows to need them
            return
        missing = [name for name in names if name is not None and name not in self.columns]
        if missing:
            found = ", ".join(self.columns) if self.columns else "none"
            label = "column" if len(missing) == 1 else "columns"
            raise TableError(f"{self.path}: no {label} {', '.join(map(repr, missing))}; columns found: {found}")

    def __iter__(self) -> Iterator[pd.DataFrame]:
        first, self._first = self._first, None
        yield first if first is not None else pd.DataFrame()
        while (chunk := self._next_chunk()) is not None:
            yield chunk

    def close(self) -> None:
        """Close the underlying file, if this reader opened one."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._csv is not None:
            self._csv.close()
            self._csv = None

    def __enter__(self) -> TableReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _is_valid_unicode(row: dict) -> bool:
    """True if every string of a parsed JSON row can be written as UTF-8 (no lone surrogates)."""
    try:
        json.dumps(row, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _one_line(error: BaseException) -> str:
    """Return the first line of an exception's message."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _json_default(value: Any) -> Any:
    """Make the cell types pandas and Arrow hand back (numpy scalars, timestamps, arrays) JSON-ready."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


class TableWriter:
    """Write DataFrames to a table chunk by chunk; the file appears only when the writer closes cleanly.

    Rows go to a hidden ``.partial`` file beside ``path``, renamed over ``path`` on success and
    removed on failure, so an interrupted run never leaves a truncated table behind.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.format = table_format(self.path)
        if not self.path.parent.is_dir():
            raise TableError(f"{self.path}: directory {self.path.parent} does not exist")
        self._partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.partial")
        self._columns: list[str] | None = None
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
                    f"{self.path}: column {', '.join(map(repr, extra))} first appears after row {self._n_rows}; "
                    "write .jsonl to keep columns that vary by row"
                )
            frame = frame.reindex(columns=self._columns)
        getattr(self, f"_write_{self.format}")(frame)
        self._n_chunks += 1
        self._n_rows += len(frame)

    def _write_csv(self, frame: pd.DataFrame) -> None:
        frame.to_csv(self._text, header=self._n_chunks == 0, index=False, lineterminator="\n")

    def _write_jsonl(self, frame: pd.DataFrame) -> None:
        for record in frame.to_dict(orient="records"):
            # A float NaN marks a key the source row did not have (JSON Lines rows may differ).
            row = {k: (None if _is_missing(v) else v) for k, v in record.items() if not _is_nan(v)}
            self._text.write(json.dumps(row, ensure_ascii=False, default=_json_default) + "\n")

    def _write_parquet(self, frame: pd.DataFrame) -> None:
        try:
            # Without pandas' metadata, pandas reads the output with the same dtypes as the input.
            table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self._partial, table.schema)
            else:
                table = table.cast(self._parquet.schema)
        except (pa.ArrowException, ValueError, TypeError) as error:
            raise TableError(
                f"{self.path}: cannot write Parquet: {_one_line(error)}; write .csv or .jsonl instead"
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
