"""The work of an archive run kept beside its output, so that ``moderate score --resume`` continues it.

A run scores each input part chunk by chunk. Every scored chunk is written to its own segment file in a
hidden folder beside the output (``.out.csv.partial/``), then a small JSON record of the chunk (its counts
and unparseable rows) marks it done: a chunk is done once its record exists, and a record is written only
after its segment is complete and flushed to the disk (each file is written to a temporary name and renamed). The
record also holds the segment's size: a segment that differs from it (cut short by a crash of the machine) makes its
chunk not done, to be scored again by ``--resume``, and is never joined. When a part's chunks are all done they are
joined into the part's output, flushed, renamed into place, and the segments removed.

An interrupted run (Ctrl-C, a killed process, a full disk) leaves only whole segments and records; the
resumed run skips the chunks that are done and scores the rest with the same chunk size, so its output is
the uninterrupted run's, byte for byte for CSV and JSON Lines, row for row for Parquet. A run killed while joining
leaves the hidden file it joined into (``model.bundle.temporary_beside``), which the next run into that output removes.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from model.bundle import temporary_beside
from service.table_reader import Reject
from service.table_writer import TableWriter
from service.tables import TableError, one_line

STATE_FILE = "state.json"
COPY_BLOCK_BYTES = 1 << 20


class SpoolError(Exception):
    """Work left by an earlier run that this run cannot use; the message says what to do."""


@dataclass
class Tally:
    """What a run (or one chunk of it) read, scored and decided."""

    read: int = 0
    """Rows read, the unparseable ones included."""
    scored: int = 0
    empty: int = 0
    """Scored rows whose text was missing or blank (approved as "empty")."""
    non_text: int = 0
    """Scored rows whose text cell held a value that is not text (a number, a list): scored as empty."""
    rejected: int = 0
    decisions: Counter = field(default_factory=Counter)

    def add(self, other: Tally) -> None:
        """Add ``other``'s counts to these."""
        self.read += other.read
        self.scored += other.scored
        self.empty += other.empty
        self.non_text += other.non_text
        self.rejected += other.rejected
        self.decisions.update(other.decisions)

    def to_dict(self) -> dict:
        """JSON-ready counts."""
        return {"read": self.read, "scored": self.scored, "empty": self.empty, "non_text": self.non_text,
                "rejected": self.rejected, "decisions": dict(sorted(self.decisions.items()))}

    @classmethod
    def from_dict(cls, data: dict) -> Tally:
        """The counts ``to_dict`` wrote."""
        return cls(data["read"], data["scored"], data["empty"], data["non_text"], data["rejected"],
                   Counter(data["decisions"]))


SETTING_NAMES = {"chunk_rows": "--chunk-size", "text_column": "--text-column", "spans": "--spans",
                 "engine": "--engine", "outputs": "OUTPUT", "spreadsheet_safe": "--spreadsheet-safe",
                 "encoding": "--encoding", "html": "--html", "policy": "--policy"}
"""How a user names each of ``run_settings``' keys."""
SHA256_SHOWN = 16
"""Hex digits of a policy file's SHA-256 a message shows."""


def _model_text(model: object) -> str:
    """A run's model setting as a user reads it: version and encoder mode."""
    if not isinstance(model, dict):
        return repr(model)
    return f"{model.get('version')} (encoder mode {model.get('encoder_mode') or 'of the bundle'})"


def _policy_text(sha256: object) -> str:
    """A run's policy setting as a user reads it: the bundle's own, or the SHA-256 of the file given."""
    if not sha256:
        return "the bundle's policy.toml"
    return f"a file of SHA-256 {str(sha256)[:SHA256_SHOWN]}..."


def describe_change(key: str, before: object, now: object) -> str:
    """One difference between an interrupted run's settings and this run's, in the user's words."""
    if key == "inputs":
        return "INPUT changed since (its size or modification time differs)"
    if key == "model":
        return f"the model was {_model_text(before)}, now {_model_text(now)}"
    if key in ("spreadsheet_safe", "html"):  # recorded only when given
        return f"{SETTING_NAMES[key]} was {'given' if before else 'not given'}, now {'given' if now else 'not given'}"
    if key == "encoding":  # recorded only when not the default, UTF-8
        return f"--encoding was {before or 'utf-8'}, now {now or 'utf-8'}"
    if key == "policy":  # recorded only when not the bundle's own; $MODERATION_POLICY gives one without the option
        return f"--policy (or $MODERATION_POLICY) was {_policy_text(before)}, now {_policy_text(now)}"
    return f"{SETTING_NAMES.get(key, key)} was {before!r}, now {now!r}"


def _write_json_atomically(path: Path, data: dict) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(data, handle, ensure_ascii=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _sync(path: Path) -> None:
    """Flush a written file (or a folder's entries, after a rename into it) to the disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _segment_problem(folder: Path, record: dict) -> str | None:
    """Why the segment a chunk's record describes is not there whole, or None. A record from before segments were
    measured (an older run's) names none: it is taken as it is."""
    if "segment" not in record:
        return None
    segment = folder / record["segment"]
    if not segment.exists():
        return f"the work file {segment} is missing"
    size = segment.stat().st_size
    if size != record["bytes"]:
        return f"the work file {segment} has {size:,} bytes where {record['bytes']:,} were written (cut short by a crash?)"
    return None


def spool_path(output: Path) -> Path:
    """The hidden folder beside ``output`` where a run keeps its finished chunks."""
    return output.parent / f".{output.name}.partial"


class Spool:
    """Finished chunks of one run, by part and chunk number; see the module docstring.

    Parameters
    ----------
    output : Path
        The run's output (a file, or the folder of a Parquet directory's parts).
    settings : dict
        What makes two runs the same run (inputs, chunk size, model, options): a resumed run must match.
    resume : bool
        Continue the work found; without it, finding work left by another run is an error.
    """

    def __init__(self, output: Path, settings: dict, resume: bool):
        self.root = spool_path(output)
        self.chunk_rows = int(settings.get("chunk_rows", 0))
        """Rows read per chunk, to say where in its part a chunk starts."""
        self.single_output = len(settings.get("outputs", ())) == 1
        """One output file (not a folder of parts): a run that scored none of its rows leaves it as it was."""
        state = self.root / STATE_FILE
        if state.exists() and not resume and next(self._all_records(), None) is None:
            shutil.rmtree(self.root)  # a run stopped before it finished a chunk: nothing to keep or continue
        if state.exists():
            earlier = json.loads(state.read_text(encoding="utf-8"))
            if not resume:
                raise SpoolError(
                    f"{output}: an interrupted run left its work in {self.root} ({self.finished().scored} rows "
                    "scored); pass --resume to continue it, or delete that folder to start again"
                )
            keys = list(settings) + [key for key in earlier if key not in settings]  # a setting recorded only when given
            changed = [key for key in keys if earlier.get(key) != settings.get(key)]
            if changed:
                what = ", ".join(describe_change(key, earlier.get(key), settings.get(key)) for key in changed)
                raise SpoolError(
                    f"{output}: cannot resume: the interrupted run differs ({what}); rerun it as it was, "
                    f"or delete {self.root} to start again"
                )
        else:
            if self.root.exists():  # a run killed before its state was written: nothing in it is done
                shutil.rmtree(self.root)
            self.root.mkdir()
            _write_json_atomically(state, settings)

    def _part(self, part: int) -> Path:
        folder = self.root / f"part-{part:05d}"
        folder.mkdir(exist_ok=True)
        return folder

    def _record(self, part: int, chunk: int) -> Path:
        return self._part(part) / f"chunk-{chunk:06d}.json"

    def segment(self, part: int, chunk: int, suffix: str) -> Path:
        """Where chunk ``chunk`` of part ``part`` is written."""
        return self._part(part) / f"chunk-{chunk:06d}{suffix}"

    def part_done(self, part: int) -> bool:
        """True when part ``part`` is in its output already."""
        return (self._part(part) / "done.json").exists()

    def chunk_done(self, part: int, chunk: int) -> bool:
        """True when chunk ``chunk`` of part ``part`` is scored and written. A chunk whose segment is not the one its
        record describes (cut short or lost by a crash of the machine after the record reached the disk) is not done:
        its record is removed and it is scored again."""
        if self.part_done(part):
            return True
        record = self._record(part, chunk)
        if not record.exists():
            return False
        if _segment_problem(self._part(part), json.loads(record.read_text(encoding="utf-8"))) is None:
            return True
        record.unlink()
        return False

    def write_chunk(self, part: int, chunk: int, frame: pd.DataFrame, suffix: str, tally: Tally,
                    rejects: list[Reject], part_name: str, spreadsheet_safe: bool = False) -> None:
        """Write one scored chunk as a segment of its part, then mark it done (``spreadsheet_safe``: see TableWriter)."""
        options: dict = {"spreadsheet_safe": spreadsheet_safe}
        if chunk > 0 and suffix == ".csv":
            options |= {"columns": self._columns(part), "header": False}
        segment = self.segment(part, chunk, suffix)
        try:
            with TableWriter(segment, first_row=chunk * self.chunk_rows, **options) as writer:
                writer.write(frame)
        except TableError as error:  # name the part the user gave, not our work file
            raise TableError(str(error).replace(str(segment), f"{part_name} (its output)")) from error
        _sync(segment)  # on the disk before the record that says it is done
        record = {"tally": tally.to_dict(), "columns": list(frame.columns) if chunk == 0 else None,
                  "rejects": [{"part": part_name, **reject.to_dict()} for reject in rejects],
                  "segment": segment.name, "bytes": segment.stat().st_size}
        _write_json_atomically(self._record(part, chunk), record)

    def _columns(self, part: int) -> list[str]:
        return json.loads(self._record(part, 0).read_text(encoding="utf-8"))["columns"]

    def _records(self, part: int) -> list[Path]:
        return sorted(self._part(part).glob("chunk-*.json"))

    def finish_part(self, part: int, n_chunks: int, output: Path, suffix: str) -> None:
        """Join the part's ``n_chunks`` segments into ``output`` (renamed into place), then drop them."""
        segments = [self.segment(part, chunk, suffix) for chunk in range(n_chunks)]
        missing = [chunk for chunk in range(n_chunks) if not self._record(part, chunk).exists()]
        if missing:
            raise SpoolError(f"{output}: chunks {missing[:5]} were not scored")
        records = [json.loads(path.read_text(encoding="utf-8")) for path in self._records(part)]
        problems = [problem for record in records if (problem := _segment_problem(self._part(part), record))]
        if problems:  # checked again here: never join a cut segment into an output and report its rows as scored
            raise SpoolError(f"{output}: {problems[0]}; run the command again with --resume to score those rows again")
        tally = Tally()
        for record in records:
            tally.add(Tally.from_dict(record["tally"]))
        # A run that could parse no row of its one input (it exits 3) does not replace an earlier output with nothing.
        if not (self.single_output and output.exists() and tally.read > 0 and tally.scored == 0):
            _join(segments, output, suffix)
        rejects = [reject for record in records for reject in record["rejects"]]
        _write_json_atomically(self._part(part) / "done.json", {"tally": tally.to_dict(), "rejects": rejects})
        for path in [*segments, *self._records(part)]:
            path.unlink(missing_ok=True)

    def finished(self) -> Tally:
        """Counts of every chunk done so far, in every part."""
        tally = Tally()
        for _, record in self._all_records():
            tally.add(Tally.from_dict(record["tally"]))
        return tally

    def _all_records(self) -> Iterator[tuple[Path, dict]]:
        for folder in sorted(self.root.glob("part-*")):
            done = folder / "done.json"
            paths = [done] if done.exists() else sorted(folder.glob("chunk-*.json"))
            for path in paths:
                yield path, json.loads(path.read_text(encoding="utf-8"))

    def rejects(self) -> Iterator[dict]:
        """Every unparseable row of the run, in order of part and line."""
        for _, record in self._all_records():
            yield from record["rejects"]

    def remove(self) -> None:
        """Delete the folder: the run is complete."""
        shutil.rmtree(self.root)


def _join(segments: list[Path], output: Path, suffix: str) -> None:
    """Join ``segments`` into ``output`` under a temporary name, flushed to the disk before it replaces the old output
    (and before the segments go), then renamed into place."""
    partial = temporary_beside(output)
    try:
        if suffix == ".parquet":
            _join_parquet(segments, partial, output)
        else:
            with open(partial, "wb") as joined:
                for segment in segments:
                    with open(segment, "rb") as source:
                        shutil.copyfileobj(source, joined, COPY_BLOCK_BYTES)
        _sync(partial)
        os.replace(partial, output)
        _sync(output.parent)
    finally:
        partial.unlink(missing_ok=True)


def _join_parquet(segments: list[Path], partial: Path, output: Path) -> None:
    """Write the Parquet ``segments`` (one per chunk, each with the types its own rows gave) as one table.

    A column can have no type in one chunk and one in another (a JSON Lines id missing from the first 5,000 rows is
    ``null``, then ``int64``): the types are unified, a null column taking the other chunks' type. Where they cannot be
    (text in one chunk, numbers in another), every chunk is cast to the first one's types, as pandas would read them.
    A chunk whose rows were all set aside as unparseable adds no row and has no types to give (a JSON Lines one not even
    the input's columns): it is left out, unless no chunk has rows. A JSON Lines key first met in a later chunk (an
    optional field: a reply's parent id) is a column of the output, after the others, null in the rows without it.
    """
    segments = [segment for segment in segments if pq.read_metadata(segment).num_rows] or segments[:1]
    schemas = [pq.read_schema(segment) for segment in segments]
    try:
        schema = pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowException, ValueError):
        schema = _first_types(schemas)
    try:
        with pq.ParquetWriter(partial, schema) as joined:
            for segment in segments:
                joined.write_table(_conformed(pq.read_table(segment), schema, output))
    except (pa.ArrowException, ValueError, TypeError) as error:
        raise _type_clash(output, "a column", error) from error


def _type_clash(output: Path, column: str, error: Exception) -> TableError:
    """The error of a Parquet output whose ``column`` cannot have one type."""
    return TableError(f"{output}: cannot write Parquet, {column} holds values of different types in different rows "
                      f"({one_line(error)}); write .csv or .jsonl instead, or give the column one type")


def _first_types(schemas: list[pa.Schema]) -> pa.Schema:
    """The first chunk's columns and types, then the columns only later chunks have, each of the type it first has."""
    fields = list(schemas[0])
    for schema in schemas[1:]:
        fields += [column for column in schema if column.name not in {known.name for known in fields}]
    return pa.schema(fields)


def _conformed(table: pa.Table, schema: pa.Schema, output: Path) -> pa.Table:
    """``table`` with the columns of ``schema``, in its order and of its types; a column the table lacks (a JSON Lines
    key no row of its chunk had) is null. TableError naming the column whose values cannot take its type."""
    columns = []
    for column in schema:
        if column.name not in table.column_names:
            columns.append(pa.nulls(table.num_rows, column.type))
            continue
        try:
            columns.append(table.column(column.name).cast(column.type))
        except (pa.ArrowException, ValueError, TypeError) as error:
            raise _type_clash(output, f"column {column.name!r}", error) from error
    return pa.Table.from_arrays(columns, schema=schema)
