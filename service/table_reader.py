"""Read a comment table (.csv, .jsonl, .parquet) in chunks of rows, setting aside the rows that cannot be parsed."""

from __future__ import annotations

import codecs
import csv
import difflib
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from service.config import Defaults
from service.tables import TableError, is_missing, one_line, table_format

DEFAULT_CHUNK_ROWS = Defaults.SCORE_CHUNK_ROWS

DEFAULT_ENCODING = "utf-8"
"""How CSV and JSON Lines text is read unless told (``--encoding``); a UTF-8 byte-order mark is skipped."""
REENCODE_HINT = "re-encode it as UTF-8, e.g. `iconv -f windows-1252 -t utf-8 IN > OUT`"
"""Windows-1252, not Latin-1: the two differ only in 0x80-0x9f, where Windows puts curly quotes, dashes and the euro
sign and Latin-1 control characters, so the Latin-1 reading of a file saved on Windows would be silently wrong."""
ENCODING_HINT = ("if it was saved by Windows or Excel, pass --encoding cp1252 (--encoding latin-1 for Latin-1), or "
                 + REENCODE_HINT)
"""What to do with a file that is not UTF-8 at all (``check_file_encoding``)."""
SCAN_BLOCK_BYTES = 1 << 20
"""Bytes read at a time by ``check_file_encoding`` (then to the end of the line)."""
_ASCII = bytes(range(128))
_BEYOND_ASCII = re.compile("[^\x00-\x7f\ufffd]")
"""A character beyond ASCII in text decoded with errors replaced (U+FFFD), so one that was written in UTF-8."""
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
JSON_DOCUMENT_PEEK_BYTES = 64
"""Bytes of a .jsonl file's first line looked at to tell a JSON document from JSON Lines."""
BINARY_SIGNATURES = (
    (b"\x1f\x8b", "gzip-compressed", "decompress it first, e.g. `gunzip -c IN > OUT`"),
    (b"BZh", "bzip2-compressed", "decompress it first, e.g. `bunzip2 -c IN > OUT`"),
    (b"\xfd7zXZ\x00", "xz-compressed", "decompress it first, e.g. `unxz -c IN > OUT`"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed", "decompress it first, e.g. `unzstd -c IN > OUT`"),
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx or OpenDocument .ods workbook is one)",
     "unzip it, or save the sheet from the spreadsheet as CSV UTF-8"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel 97-2003 workbook (.xls)", "save the sheet from Excel as CSV UTF-8"),
    (b"PAR1", "a Parquet file", "name it .parquet"),
)
"""How files that are not text start (whatever their extension says), what each is, and what to do with it."""

CSV_FIELD_LIMIT = 2**31 - 1
"""Largest CSV field read: Python's csv module stops at 131,072 characters unless told, and a long comment is a
comment (JSON Lines and Parquet have no such limit)."""
csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))

SEPARATORS = (";", "\t", "|")
"""Separators other than the comma that a spreadsheet may have saved a .csv with: a header that is one column holding
one of them was not saved with commas."""

BARE_CR_HINT = ("a carriage return (\\r) inside a field that is not quoted: quote that field, or, if the file's lines "
                "end in \\r alone (as old Mac files do), convert them to \\n, e.g. `tr '\\r' '\\n' < IN > OUT`")

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
"""A JSON escape of a UTF-16 surrogate: valid in pairs, unwritable as UTF-8 when alone."""


def _as_text(value: Any) -> str | None:
    """A cell's text: a string, or UTF-8 bytes decoded (Parquet writers may store text as Arrow ``binary``); None for
    anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return None
    return None


def text_values(frame: pd.DataFrame, column: str) -> list[str]:
    """Return ``frame[column]`` as strings: a missing cell, a non-text value (a number, a list, bytes that are not
    UTF-8) or an absent column as ""."""
    if column not in frame.columns:
        return [""] * len(frame)
    return [_as_text(v) or "" for v in frame[column].tolist()]


def count_non_text(frame: pd.DataFrame, column: str) -> int:
    """Number of cells of ``frame[column]`` that hold a value that is not text (``text_values`` scores them as "")."""
    if column not in frame.columns:
        return 0
    return sum(1 for v in frame[column].tolist() if _as_text(v) is None and not is_missing(v))


@dataclass(frozen=True)
class Reject:
    """A row that could not be parsed: where it starts, why, and its raw text."""

    line: int
    """1-based line number of the row's first line in its file."""
    error: str
    raw: str

    def to_dict(self) -> dict:
        """JSON-ready mapping, as written to a ``.rejects`` file."""
        return {"line": self.line, "error": self.error, "raw": self.raw}


@dataclass(frozen=True)
class ChunkRange:
    """Where a chunk of a table lies: bytes ``[start, end)`` of a CSV or JSON Lines file (``first_line`` at
    ``start``), or row groups ``[start, end)`` of a Parquet file. ``end=None`` reads to the end."""

    start: int = 0
    end: int | None = None
    first_line: int = 1


class _LineFeed:
    """Decoded lines of a binary file for ``csv.reader``, keeping the raw lines of the record being read.

    ``csv.reader`` asks for one line at a time and never reads ahead, so the lines taken since ``begin``
    are exactly the current record's, and ``offset`` is the byte where the next record starts.
    """

    def __init__(self, handle: IO[bytes], chunk_range: ChunkRange, encoding: str = DEFAULT_ENCODING):
        self.handle = handle
        self.encoding = encoding
        # A byte-order mark opens a file, and each file concatenated to it (`cat a.jsonl b.jsonl`): never a row's.
        self._opening = "utf-8-sig" if encoding == DEFAULT_ENCODING else encoding
        self.offset = chunk_range.start
        self.line = chunk_range.first_line - 1
        self.raw: list[bytes] = []
        self.decode_error: UnicodeDecodeError | None = None
        handle.seek(chunk_range.start)

    def begin(self) -> None:
        """Start a new record."""
        self.raw, self.decode_error = [], None

    @property
    def first_line(self) -> int:
        """Line number of the current record's first line."""
        return self.line - len(self.raw) + 1

    def raw_text(self) -> str:
        """The current record as text (undecodable bytes replaced)."""
        return b"".join(self.raw).decode(self.encoding, errors="replace")

    def keep_first_line(self) -> str:
        """Make the current record its first line alone and read on from its second line; return the first line.

        A record that runs over several lines and cannot be read is most often one line with a quote that never
        closes (or closes wrongly): the lines after it are rows of their own, and are read again as such.
        """
        first, rest = self.raw[0], self.raw[1:]
        self.handle.seek(self.offset - sum(len(line) for line in rest))
        self.offset -= sum(len(line) for line in rest)
        self.line -= len(rest)
        self.raw = [first]
        try:
            first.decode(self.encoding)
            self.decode_error = None
        except UnicodeDecodeError as error:
            self.decode_error = error
        return first.decode(self.encoding, errors="replace")

    def __iter__(self) -> _LineFeed:
        return self

    def __next__(self) -> str:
        raw = self.handle.readline()
        if not raw:
            raise StopIteration
        opens_record = not self.raw
        self.raw.append(raw)
        self.line += 1
        self.offset += len(raw)
        try:
            return raw.decode(self._opening if opens_record else self.encoding)
        except UnicodeDecodeError as error:
            self.decode_error = self.decode_error or error
            return raw.decode(self.encoding, errors="replace")


class TableReader:
    """Iterate over a table as pandas DataFrames of at most ``chunk_rows`` rows, setting bad rows aside.

    Every cell of a CSV is read as text, exactly as written ("NA", "007" and "" stay as they are).
    JSON Lines cells keep their JSON types; Parquet columns keep their Arrow types. At least one
    (possibly empty) frame is yielded, so an empty table still carries its columns.

    A CSV or JSON Lines row that cannot be parsed (not UTF-8, not JSON, the wrong number of fields) is
    not in any frame: ``chunks()`` hands it over as a ``Reject`` with its line number. A chunk is
    ``chunk_rows`` rows read, rejected ones included, so chunks fall in the same places whatever the rows
    hold. ``chunk_range`` reads one part of the file (see ``chunk_ranges``); ``columns`` is then the CSV header.
    ``encoding`` is the text encoding of a CSV or JSON Lines file (``text_encoding``; Parquet text is UTF-8);
    ``check_encoding`` refuses, before any row is read, a file plainly in another one (``check_file_encoding``: it
    reads the whole file, so once a run).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        chunk_range: ChunkRange | None = None,
        columns: list[str] | None = None,
        encoding: str = DEFAULT_ENCODING,
        check_encoding: bool = False,
    ):
        self.path = Path(path)
        self.encoding = encoding
        self.check_encoding = check_encoding
        if not self.path.exists():
            raise TableError(f"{self.path}: no such file")
        if not self.path.is_file():
            raise TableError(f"{self.path}: not a file")
        self.format = table_format(self.path)
        if chunk_rows < 1:
            raise TableError(f"chunk size must be at least 1, got {chunk_rows}")
        self.chunk_rows = chunk_rows
        self.chunk_range = chunk_range or ChunkRange()
        self.n_rows: int | None = None
        """Number of rows when the format records it (Parquet), else None."""
        self.n_bytes = self.path.stat().st_size
        self.bytes_read = 0
        """Bytes of the file read so far (CSV and JSON Lines), for progress."""
        self.columns: list[str] | None = columns
        """Column names (for JSON Lines, those of the first chunk); None for an empty JSON Lines file."""
        self._file: IO[bytes] | None = None
        self._parquet: pq.ParquetFile | None = None
        self._feed: _LineFeed | None = None
        try:
            getattr(self, f"_open_{self.format}")()
            self._first = self._next_chunk()
        except TableError:
            self.close()
            raise
        if self.columns is None and self._first is not None and self._first[0].columns.size:
            self.columns = list(self._first[0].columns)

    # Opening: each sets up the state that ``_records`` or ``_parquet_chunks`` reads from.

    def _open_csv(self) -> None:
        self._file = open(self.path, "rb")
        self._check_not_binary()
        self._check_not_utf16()
        if self.check_encoding:
            check_file_encoding(self.path, self.encoding)
        self._feed = _LineFeed(self._file, self.chunk_range, self.encoding)
        self._csv = _csv_reader(self._feed)
        if self.columns is None:
            self.columns = self._csv_header()
        self._chunks = self._row_chunks()

    def _csv_header(self) -> list[str]:
        feed = self._feed
        while True:
            feed.begin()
            try:
                header = next(self._csv)
            except StopIteration:
                raise TableError(f"{self.path}: the file is empty; a CSV needs a header row") from None
            except csv.Error as error:
                raise TableError(f"{self.path}: not a readable CSV header: {_csv_problem(error)}") from error
            if feed.decode_error is not None:
                raise TableError(self._encoding_message(feed.decode_error, f"line {feed.first_line}"))
            if header:
                if header.count("") > 1:
                    raise TableError(f"{self.path}: the header has {header.count('')} columns without a name (blank "
                                     "header cells, often commas at the ends of the lines); name those columns or "
                                     "remove them")
                twice = sorted({name for name in header if header.count(name) > 1})
                if twice:
                    raise TableError(f"{self.path}: the header names {', '.join(map(repr, twice))} more than once; "
                                     "rename the columns so that each name is used once")
                return header

    def _open_jsonl(self) -> None:
        self._file = open(self.path, "rb")
        self._check_not_binary()
        self._check_not_utf16()
        self._check_not_a_json_document()
        if self.check_encoding:
            check_file_encoding(self.path, self.encoding)
        self._feed = _LineFeed(self._file, self.chunk_range, self.encoding)
        self._chunks = self._row_chunks()

    def _check_not_utf16(self) -> None:
        """Refuse UTF-16 text at once (Excel's "Unicode Text", a database's export without a byte-order mark), rather
        than set every row of it aside or read a header whose names have a NUL byte between their letters."""
        start = self._file.read(2)
        if start in UTF16_BOMS:
            raise TableError(f"{self.path}: the file is UTF-16 text; re-encode it as UTF-8, e.g. "
                             "`iconv -f utf-16 -t utf-8 IN > OUT`")
        if len(start) == 2 and (start[0] == 0) != (start[1] == 0):  # its first character, ASCII, in UTF-16
            encoding = "utf-16le" if start[1] == 0 else "utf-16be"
            raise TableError(f"{self.path}: the file is UTF-16 text (without a byte-order mark); re-encode it as "
                             f"UTF-8, e.g. `iconv -f {encoding} -t utf-8 IN > OUT`")

    def _check_not_a_json_document(self) -> None:
        """Refuse a JSON document saved as .jsonl (a CMS's export of an array of comments, or of one object holding
        them, over one line or many), rather than set its lines aside one by one as rows that are not JSON objects."""
        self._file.seek(0)
        first = self._file.readline(JSON_DOCUMENT_PEEK_BYTES).removeprefix(codecs.BOM_UTF8).strip()
        self._file.seek(0)
        if first.startswith(b"[") or first == b"{":
            raise TableError(f"{self.path}: the file is one JSON document (it opens with {first[:1].decode()!r}), not "
                             "JSON Lines, one comment object per line; convert it, e.g. an array of comments with "
                             "`jq -c '.[]' IN > OUT.jsonl`")

    def _check_not_binary(self) -> None:
        """Refuse a compressed file, a workbook or a Parquet file named .csv or .jsonl, saying what it is, rather than
        take its bytes for a header with a stray carriage return or for rows of another encoding (``BINARY_SIGNATURES``;
        a bzip2 or Parquet signature counts only with what follows it or ends the file, as a header may start alike)."""
        start = self._file.read(10)
        self._file.seek(max(self.n_bytes - 4, 0))
        end = self._file.read(4)
        self._file.seek(0)
        for signature, what, fix in BINARY_SIGNATURES:
            if not start.startswith(signature):
                continue
            if signature == b"BZh" and not (start[3:4].isdigit() and start[4:10] == b"1AY&SY"):
                continue
            if signature == b"PAR1" and end != b"PAR1":
                continue
            kind = "CSV" if self.format == "csv" else "JSON Lines"
            raise TableError(f"{self.path}: the file is {what}, not {kind} text; {fix}")

    def _open_parquet(self) -> None:
        try:
            self._parquet = pq.ParquetFile(self.path)
        except (pa.ArrowException, OSError) as error:
            raise TableError(f"{self.path}: not a readable Parquet file: {one_line(error)}") from error
        self.n_rows = self._parquet.metadata.num_rows
        names = self._parquet.schema_arrow.names
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise TableError(f"{self.path}: the columns {', '.join(map(repr, twice))} appear more than once; "
                             "rename them so that each name is used once")
        self._chunks = self._parquet_chunks(self._parquet)

    # Rows of CSV and JSON Lines: one (row or None, Reject or None) per non-blank record.

    def _records(self) -> Iterator[tuple[Any, Reject | None]]:
        feed, end = self._feed, self.chunk_range.end
        read = self._csv_record if self.format == "csv" else self._jsonl_record
        while end is None or feed.offset < end:
            feed.begin()
            try:
                row = read()
            except StopIteration:
                self.bytes_read = feed.offset - self.chunk_range.start
                return
            except csv.Error as error:
                row = Reject(feed.first_line, f"not a readable CSV row: {_csv_problem(error)}", feed.raw_text())
            if isinstance(row, Reject) and self.format == "csv" and len(feed.raw) > 1:
                lines = f"lines {feed.first_line}-{feed.line}"
                row = Reject(feed.first_line, f"{row.error} (read as one record over {lines}, as a quoted field "
                             "would be: a quote on this line is not closed where it should be; only this line is set "
                             "aside and the next lines are read as rows)", feed.keep_first_line())
                self._csv = _csv_reader(feed)
            self.bytes_read = feed.offset - self.chunk_range.start
            if row is None:  # a blank line
                continue
            if feed.decode_error is not None:
                error = feed.decode_error
                yield None, Reject(feed.first_line, self._encoding_message(error, with_path=False, row=True), feed.raw_text())
            elif isinstance(row, Reject):
                yield None, row
            else:
                yield row, None

    def _csv_record(self) -> list[str] | Reject | None:
        fields = next(self._csv)
        if not fields:
            return None
        if len(fields) != len(self.columns):
            n = len(self.columns)
            return Reject(self._feed.first_line, f"expected {n} fields as in the header, found {len(fields)}",
                          self._feed.raw_text())
        if fields == self.columns:  # `cat a.csv b.csv`: b's header is not a comment to score
            return Reject(self._feed.first_line, "the header row again (files joined with their headers?): not a "
                          "comment, left out", self._feed.raw_text())
        return fields

    def _jsonl_record(self) -> dict | Reject | None:
        line = next(self._feed)
        where = self._feed.first_line
        if not line.strip():
            return None
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            at = "at the end of the line" if error.pos >= len(line.rstrip()) else f"at column {error.pos + 1}"
            return Reject(where, f"not valid JSON: {error.msg.removesuffix(' at')} {at}", line)
        if not isinstance(row, dict):
            return Reject(where, "not a JSON object", line)
        if _SURROGATE_ESCAPE.search(line) and not _is_valid_unicode(row):
            return Reject(where, "an unpaired surrogate escape (\\ud800-\\udfff); fix or remove it", line)
        return row

    def _row_chunks(self) -> Iterator[tuple[pd.DataFrame, list[Reject]]]:
        rows: list = []
        rejects: list[Reject] = []
        for row, reject in self._records():
            if reject is None:
                rows.append(row)
            else:
                rejects.append(reject)
            if len(rows) + len(rejects) == self.chunk_rows:
                yield self._frame(rows), rejects
                rows, rejects = [], []
        if rows or rejects:
            yield self._frame(rows), rejects

    def _frame(self, rows: list) -> pd.DataFrame:
        if self.format == "csv":
            return pd.DataFrame(rows, columns=self.columns, dtype=str)
        return pd.DataFrame(rows, dtype=object)

    def _parquet_chunks(self, parquet: pq.ParquetFile) -> Iterator[tuple[pd.DataFrame, list[Reject]]]:
        schema = parquet.schema_arrow
        # Arrow dtypes keep every column's type (nullable ints stay ints) on the way back to Parquet;
        # ignoring the pandas metadata keeps a stored index as the ordinary column it is in the file.
        if not self.n_rows:
            yield schema.empty_table().to_pandas(types_mapper=pd.ArrowDtype, ignore_metadata=True), []
        end = parquet.num_row_groups if self.chunk_range.end is None else self.chunk_range.end
        groups = range(self.chunk_range.start, end)
        # A chunk range (a Dask partition) is one chunk, however many rows its row groups hold.
        batch_rows = self.chunk_rows if self.chunk_range == ChunkRange() else max(self.n_rows, 1)
        for batch in parquet.iter_batches(batch_size=batch_rows, row_groups=groups):
            table = pa.Table.from_batches([batch], schema=schema)
            yield table.to_pandas(types_mapper=pd.ArrowDtype, ignore_metadata=True), []

    def _next_chunk(self) -> tuple[pd.DataFrame, list[Reject]] | None:
        """Return the next chunk, or None at the end; reading errors become TableError."""
        try:
            return next(self._chunks)
        except StopIteration:
            return None
        except pa.ArrowException as error:
            raise TableError(f"{self.path}: not a readable Parquet file: {one_line(error)}") from error
        except OSError as error:
            raise TableError(f"{self.path}: cannot read: {error.strerror or error}") from error

    def _encoding_message(self, error: UnicodeDecodeError, where: str = "", with_path: bool = True, row: bool = False) -> str:
        """What is wrong with undecodable bytes and what to do. A ``row`` set aside is, in a run, one of a file that is
        UTF-8 beyond ASCII elsewhere (``check_file_encoding`` refuses one that is not UTF-8 at all), where re-encoding
        the whole file from another encoding would turn every good "é" into "Ã©": fixing the line comes first."""
        at = f" ({where})" if where else ""
        path = f"{self.path}: " if with_path else ""
        byte = f"byte 0x{error.object[error.start]:02x} cannot be decoded{at}"
        if self.encoding == DEFAULT_ENCODING and row:
            return (f"{path}not UTF-8 text: {byte}; where the rest of the file is UTF-8, fix this line's bytes; a file "
                    f"in another encoding: {REENCODE_HINT}")
        if self.encoding == DEFAULT_ENCODING:
            return f"{path}not UTF-8 text: {byte}; {REENCODE_HINT}"
        return f"{path}not {self.encoding} text: {byte}; check the file's encoding and pass it with --encoding"

    def require_columns(self, *names: str | None, options: Mapping[str, str] | None = None) -> None:
        """Raise TableError naming the columns found unless every given column exists (``check_columns``)."""
        check_columns(self.path, self.columns, *names, options=options)

    def chunks(self) -> Iterator[tuple[pd.DataFrame, list[Reject]]]:
        """Each chunk's frame of parsed rows and the rows that could not be parsed."""
        first, self._first = self._first, None
        yield first if first is not None else (self._frame([]), [])
        while (chunk := self._next_chunk()) is not None:
            yield chunk

    def __iter__(self) -> Iterator[pd.DataFrame]:
        for frame, _ in self.chunks():
            yield frame

    def chunk_ranges(self) -> list[ChunkRange]:
        """Where each chunk lies, read from the start: the partitions of a Dask run.

        CSV and JSON Lines: the byte range of every ``chunk_rows`` rows (parsed, as a quoted field may span
        lines). Parquet: runs of whole row groups of at least ``chunk_rows`` rows (a row group is not split).
        """
        if self.format == "parquet":
            ranges, start, rows = [], 0, 0
            metadata = self._parquet.metadata
            for group in range(metadata.num_row_groups):
                rows += metadata.row_group(group).num_rows
                if rows >= self.chunk_rows:
                    ranges.append(ChunkRange(start, group + 1))
                    start, rows = group + 1, 0
            if start < metadata.num_row_groups or not ranges:
                ranges.append(ChunkRange(start, metadata.num_row_groups))
            return ranges
        feed = self._feed
        feed.handle.seek(0)
        fresh = _LineFeed(feed.handle, ChunkRange(), self.encoding)
        self._feed = fresh
        if self.format == "csv":
            self._csv = _csv_reader(fresh)
            self._csv_header()
        ranges, start, first_line, n = [], fresh.offset, fresh.line + 1, 0
        for _ in self._records():
            n += 1
            if n == self.chunk_rows:
                ranges.append(ChunkRange(start, fresh.offset, first_line))
                start, first_line, n = fresh.offset, fresh.line + 1, 0
        if n or not ranges:
            ranges.append(ChunkRange(start, fresh.offset, first_line))
        return ranges

    def close(self) -> None:
        """Close the underlying file, if this reader opened one."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> TableReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def text_encoding(name: str) -> str:
    """The codec's own name for ``name`` (``cp1252`` for ``windows-1252``, ``utf-8`` for ``UTF8`` and ``utf-8-sig``),
    or TableError: an encoding that is unknown, or that does not write ASCII as ASCII (UTF-16, UTF-32, UTF-7), whose
    lines and separators are not the bytes a CSV or JSON Lines file is read by."""
    try:
        codec = codecs.lookup(name).name
        ascii_text = _ASCII.decode("ascii")
        ascii_compatible = _ASCII.decode(codec) == ascii_text and ascii_text.encode(codec) == _ASCII
    except LookupError:
        raise TableError(f"--encoding {name!r}: unknown encoding; give one such as utf-8, cp1252 (Windows, Excel) or "
                         "latin-1") from None
    except UnicodeError:
        ascii_compatible = False
    if not ascii_compatible:
        raise TableError(f"--encoding {name!r}: only encodings that write ASCII as ASCII are read (utf-8, cp1252, "
                         f"latin-1, ...); re-encode the file as UTF-8, e.g. `iconv -f {name} -t utf-8 IN > OUT`")
    return DEFAULT_ENCODING if codec == "utf-8-sig" else codec


def check_file_encoding(path: Path, encoding: str = DEFAULT_ENCODING) -> None:
    """Refuse, naming the line and the byte and saying what to pass, a CSV or JSON Lines file plainly not in
    ``encoding``: read as UTF-8, one with bytes that are not UTF-8 and no character beyond ASCII that is (every row
    holding an accent or a curly quote would be set aside, and the others scored); read in another encoding, one that
    is all UTF-8 with characters beyond ASCII (every accent would be read wrong). A UTF-8 file with a few damaged rows
    is read, those rows set aside as ``Reject``s."""
    bad, beyond_ascii = _scan_utf8(path)
    if encoding == DEFAULT_ENCODING and bad is not None and not beyond_ascii:
        line, byte = bad
        raise TableError(f"{path}: not UTF-8 text: byte 0x{byte:02x} cannot be decoded (line {line}), and no line is "
                         f"UTF-8 beyond ASCII: the file is in another encoding; {ENCODING_HINT}")
    if encoding != DEFAULT_ENCODING and bad is None and beyond_ascii:
        raise TableError(f"{path}: the file is UTF-8 text, with characters beyond ASCII that --encoding {encoding} "
                         "would read wrong (é as Ã©); leave out --encoding")


def _scan_utf8(path: Path) -> tuple[tuple[int, int] | None, bool]:
    """The line and value of the first byte of ``path`` that is not UTF-8 (None if none), and whether a character
    beyond ASCII is written in UTF-8 somewhere (a byte-order mark counts); stops once both are found."""
    bad, beyond_ascii, line = None, False, 1
    with open(path, "rb") as handle:
        while block := handle.read(SCAN_BLOCK_BYTES) + handle.readline():
            try:
                block.decode("utf-8")
                beyond_ascii = beyond_ascii or not block.isascii()
            except UnicodeDecodeError as error:
                bad = bad or (line + block.count(b"\n", 0, error.start), block[error.start])
                beyond_ascii = beyond_ascii or _BEYOND_ASCII.search(block.decode("utf-8", errors="replace")) is not None
            line += block.count(b"\n")
            if bad is not None and beyond_ascii:
                break
    return bad, beyond_ascii


def check_columns(path: Path, columns: list[str] | None, *names: str | None, options: Mapping[str, str] | None = None
                  ) -> None:
    """Raise TableError naming the columns found (quoted: a name may begin with a space), and the nearest name, unless
    every given column is in ``columns`` (the columns of the table at ``path``; None for an empty JSON Lines file,
    which has no rows to need them). ``options`` maps a name to the command's option that chose it, to say."""
    if columns is None:
        return
    missing = [name for name in names if name is not None and name not in columns]
    if not missing:
        return
    separator = _one_column_separator(path, columns)
    if separator is not None:
        raise TableError(f"{path}: the header is one column, {columns[0]!r}: the file looks separated by "
                         f"{separator!r}, and a .csv is read separated by commas; save it with commas as separators "
                         "(or as .jsonl or .parquet)")
    found = ", ".join(map(repr, columns)) if columns else "none"
    label = "column" if len(missing) == 1 else "columns"
    close = [match for name in missing if (match := _close_name(name, columns)) is not None]
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    chosen_by = [options[name] for name in missing if options and name in options]
    how = f" (pass {' and '.join(f'{option} NAME' for option in chosen_by)} to read another)" if chosen_by else ""
    raise TableError(f"{path}: no {label} {', '.join(map(repr, missing))}; columns found: {found}{hint}{how}")


def _one_column_separator(path: Path, columns: list[str]) -> str | None:
    """The separator a CSV header of one column holds (the file was saved with it, not commas), else None."""
    if table_format(path) != "csv" or len(columns) != 1:
        return None
    return next((separator for separator in SEPARATORS if separator in columns[0]), None)


def _csv_reader(feed: _LineFeed) -> Iterator[list[str]]:
    """A strict reader: a quote that is never closed, or text after a closing quote, is an error (so the row is set
    aside), not a field that silently swallows the rows after it."""
    return csv.reader(feed, strict=True)


def _csv_problem(error: csv.Error) -> str:
    """``csv``'s message in the user's words where it speaks of Python's file modes."""
    message = one_line(error)
    return BARE_CR_HINT if message.startswith("new-line character seen in unquoted field") else message


def _close_name(name: str, columns: list[str]) -> str | None:
    """The column a mistyped ``name`` most likely meant: the same but for case and spaces, else a close spelling."""
    same = [column for column in columns if column.strip().casefold() == name.strip().casefold()]
    return (same or difflib.get_close_matches(name, columns, n=1) or [None])[0]


def _is_valid_unicode(row: dict) -> bool:
    """True if every string of a parsed JSON row can be written as UTF-8 (no lone surrogates)."""
    try:
        json.dumps(row, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
