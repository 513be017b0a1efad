"""Score a whole comment archive: input parts streamed chunk by chunk through the scorer into resumable output.

``moderate score INPUT -o OUTPUT`` is ``run_archive``. INPUT is one table (.csv, .jsonl, .parquet) or a
folder of Parquet parts; a folder gives a folder of Parquet parts of the same names. Memory stays flat
whatever the size: one chunk is in memory at a time (a chunk per worker with ``--jobs`` or Dask). Finished
chunks are kept in a ``Spool``, so an interrupted run continues with ``--resume``; unparseable rows go to a
``.rejects`` file (JSON Lines) beside the output. The Dask engine is ``service.archive_dask``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pandas as pd

from service.archive_record import DONE_SUFFIX, check_nothing_to_resume, other_parts, record_done, refuse_foreign_parts
from model.bundle import POLICY_FILE, remove_abandoned_temporaries, replace_text, sha256_file
from model.policy import Policy, load_policy
from service.spool import STATE_FILE, Spool, Tally, spool_path
from model.normalize import is_blank
from service.html_text import html_to_text
from service.table_reader import (DEFAULT_ENCODING, TableReader, check_columns, count_non_text, text_encoding,
                                  text_values)
from service.tables import READ_AS, TableError, empty_counts, one_line, table_format

ENGINES = ("local", "dask")
LOG_INTERVAL_SECONDS = 60.0
"""Away from a terminal, one progress line this often."""
REJECTS_SHOWN = 5
"""Unparseable rows named in the end summary (all of them are in the ``.rejects`` file)."""
REJECTS_SUFFIX = ".rejects"
VISIBLE_TEXT_COLUMN = "visible_text"
"""The column ``--html`` adds: the text of each comment's HTML as a reader sees it, which is what is scored, and what
the spans of its reasons count characters of (the Perspective endpoint answers ``comment.type: HTML`` with one span over
the HTML as sent)."""
DECOMPRESS = {".gz": "gunzip -k", ".bz2": "bunzip2 -k", ".xz": "unxz -k", ".zst": "unzstd", ".zip": "unzip"}
"""Compressed inputs, which are not read, and the command that decompresses each."""
CONVERT = {
    **dict.fromkeys((".xlsx", ".xlsm", ".xls", ".ods"), "a spreadsheet workbook is not read: save the sheet from the "
                    "spreadsheet as a .csv (Excel: \"CSV UTF-8\")"),
    **dict.fromkeys((".tsv", ".tab"), "tab-separated text is not read: save it with commas (a spreadsheet's \"CSV "
                    "UTF-8\"), or as .jsonl or .parquet"),
    ".json": "a JSON document is not read, JSON Lines is (one object per line, .jsonl): an array of comments converts "
             "with `jq -c '.[]' IN.json > OUT.jsonl`",
}
"""Inputs of a format that is not read, and how to make a table that is of each."""
STREAM = "-"
"""How a command line names standard input or output, which an archive run cannot use: it reads parts of its input
again on --resume, and its output appears whole only at the end."""


@dataclass(frozen=True)
class Job:
    """One archive run: where rows come from and go, and how they are scored."""

    inputs: tuple[Path, ...]
    """Input parts, in order."""
    outputs: tuple[Path, ...]
    """One output part per input part."""
    output: Path
    """The output as the user named it (a file, or the folder of the parts)."""
    text_column: str = "text"
    id_column: str | None = None
    chunk_rows: int = 5_000
    with_spans: bool = False
    spreadsheet_safe: bool = False
    """A CSV OUTPUT for a spreadsheet: cells it would run as formulas marked as text (``service.table_writer``)."""
    encoding: str = DEFAULT_ENCODING
    """The text encoding of a CSV or JSON Lines INPUT (``service.table_reader.text_encoding``)."""
    html: bool = False
    """The texts are HTML: their visible text is scored, and added as ``VISIBLE_TEXT_COLUMN``."""

    @property
    def column_options(self) -> dict[str, str]:
        """The option of ``moderate score`` that names each column the job reads, for a message about a missing one."""
        return {self.text_column: "--text-column", **({self.id_column: "--id-column"} if self.id_column else {})}

    @property
    def suffix(self) -> str:
        """The output format's file extension."""
        return self.outputs[0].suffix.lower() if self.outputs else ".parquet"

    @property
    def rejects_path(self) -> Path:
        """The ``.rejects`` file beside the output."""
        return self.output.with_name(self.output.name + REJECTS_SUFFIX)

    def existing_outputs(self, *more: Path) -> list[Path]:
        """What an earlier run wrote that is there: the output (its parts), ``more``, then the ``.rejects`` file."""
        return [path for path in (*self.outputs, *more, self.rejects_path) if path.exists()]

    @property
    def done_path(self) -> Path:
        """The hidden record of the last complete run beside the output (``DONE_SUFFIX``)."""
        return self.output.parent / f".{self.output.name}{DONE_SUFFIX}"

    @property
    def is_folder(self) -> bool:
        """Whether OUTPUT is a folder of Parquet parts."""
        return self.outputs != (self.output,)


def plan_job(input_path: Path, output: Path, overwrite: bool = False, **options) -> Job:
    """The parts of INPUT and OUTPUT: one table to one table, or a folder of Parquet parts to another.

    Raises TableError naming what to fix (a missing input, an empty folder, an unknown extension, an output or
    ``.rejects`` file of an earlier run when ``overwrite`` is false), before anything is read or loaded.
    """
    _check_not_a_stream(input_path, output)
    if not input_path.exists():
        raise TableError(f"{input_path}: no such file or folder")
    if options.get("encoding") is not None:
        options["encoding"] = text_encoding(options["encoding"])
    else:
        options.pop("encoding", None)
    if output.resolve() == input_path.resolve():
        raise TableError(f"{output}: OUTPUT must be a different file from INPUT")
    job = _folder_job(input_path, output, **options) if input_path.is_dir() else _file_job(input_path, output, **options)
    earlier, foreign = other_parts(job)
    if foreign:
        refuse_foreign_parts(job, foreign)
    if not overwrite:
        _check_not_replacing(job, earlier)
    if input_path.is_dir():
        output.mkdir(exist_ok=True)
    return job


def _file_job(input_path: Path, output: Path, **options) -> Job:
    """One table to one table."""
    _check_not_compressed(input_path)
    if table_format(input_path) == "parquet":
        _check_no_encoding(input_path, options)
    if table_format(output) != "csv" and options.get("spreadsheet_safe"):
        raise TableError(f"{output}: --spreadsheet-safe is for a .csv OUTPUT (a spreadsheet runs formulas only in a "
                         "CSV it opens); JSON Lines and Parquet keep every cell exactly")
    _check_writable_folder(output)
    if output.is_dir():
        raise TableError(f"{output}: a folder of that name is in the way; OUTPUT must be a file name")
    return Job((input_path,), (output,), output, **options)


def _folder_job(input_path: Path, output: Path, **options) -> Job:
    """A folder of Parquet parts to a folder of the same parts."""
    if options.get("spreadsheet_safe"):
        raise TableError(f"{output}: --spreadsheet-safe is for a .csv OUTPUT; a folder INPUT gives Parquet parts, which "
                         "keep every cell exactly")
    _check_no_encoding(input_path, options)
    parts = sorted(path for path in input_path.iterdir() if path.suffix.lower() == ".parquet" and path.is_file())
    if not parts:
        raise TableError(f"{input_path}: a folder INPUT must hold Parquet parts (*.parquet); none found")
    if output.suffix.lower() in READ_AS or (output.exists() and not output.is_dir()):
        raise TableError(f"{output}: a folder of Parquet parts is written to a folder; name one without an extension")
    _check_writable_folder(output)
    return Job(tuple(parts), tuple(output / part.name for part in parts), output, **options)


def _check_no_encoding(input_path: Path, options: dict) -> None:
    """Refuse ``--encoding`` for Parquet INPUT, whose text is UTF-8 by its format."""
    if options.get("encoding", DEFAULT_ENCODING) != DEFAULT_ENCODING:
        raise TableError(f"{input_path}: --encoding is for a .csv or .jsonl INPUT; Parquet text is always UTF-8")


def _check_not_a_stream(input_path: Path, output: Path) -> None:
    """Refuse ``-`` (standard input or output), saying why and what to give instead."""
    if str(input_path) == STREAM:
        raise TableError("INPUT '-': moderate score reads a file, not standard input (a run that stops continues "
                         "from the file with --resume); save the table as a .csv, .jsonl or .parquet file first")
    if str(output) == STREAM:
        raise TableError("OUTPUT '-': moderate score writes a file, not standard output (the file appears whole when "
                         "every row is scored, so that a run that stops leaves no truncated table); name a .csv, "
                         ".jsonl or .parquet file")


def _check_not_replacing(job: Job, earlier: Sequence[Path] = ()) -> None:
    """Refuse to replace what an earlier run wrote (the output, its parts, its ``.rejects`` file) unless told to;
    ``earlier``: parts of a folder OUTPUT an earlier run wrote that this one would remove (``service.archive_record.other_parts``)."""
    existing = job.existing_outputs(*earlier)
    if not existing:
        return
    more = f" and {len(existing) - 2} more" if len(existing) > 2 else ""
    what = f"{' and '.join(map(str, existing[:2]))}{more} already exist{'s' if len(existing) == 1 else ''}"
    work = spool_path(job.output)
    resume = f"; to continue the interrupted run whose work is in {work}, pass --resume" if work.exists() else ""
    raise TableError(f"{what}: pass --overwrite to replace {'them' if len(existing) > 1 else 'it'} (each file stays until "
                     f"its replacement is complete), or choose another OUTPUT{resume}")


def _check_not_compressed(path: Path) -> None:
    """Refuse a compressed input, saying how to decompress it, and a workbook, TSV or JSON file, saying how to make a
    table that is read from it."""
    if path.suffix.lower() in CONVERT:
        raise TableError(f"{path}: {CONVERT[path.suffix.lower()]}")
    command = DECOMPRESS.get(path.suffix.lower())
    if command is not None:
        raise TableError(f"{path}: compressed files are not read; decompress it first (`{command} {path.name}`) and "
                         "score the .csv, .jsonl or .parquet file inside")


def _check_writable_folder(output: Path) -> None:
    """Refuse an OUTPUT whose folder is missing or cannot be written (the work in progress is kept there too)."""
    if not output.parent.is_dir():
        raise TableError(f"{output}: directory {output.parent} does not exist")
    if not os.access(output.parent, os.W_OK | os.X_OK):
        raise TableError(f"{output}: cannot write in directory {output.parent} (read-only, or not yours); choose an "
                         "OUTPUT in a folder you can write to")


def run_settings(job: Job, model: dict, engine: str, policy_sha256: str | None = None) -> dict:
    """What a resumed run must share with the interrupted one: inputs as they were, chunking, model, options, and the
    SHA-256 of the policy file applied instead of the bundle's own (``chosen_policy``)."""
    inputs = [[str(path.resolve()), path.stat().st_size, path.stat().st_mtime_ns] for path in job.inputs]
    return {"inputs": inputs, "outputs": [str(path.resolve()) for path in job.outputs],
            "chunk_rows": job.chunk_rows, "text_column": job.text_column, "spans": job.with_spans,
            "model": model, "engine": engine,
            # only when asked for: a run interrupted before the option existed resumes without it
            **({"spreadsheet_safe": True} if job.spreadsheet_safe else {}),
            **({"encoding": job.encoding} if job.encoding != DEFAULT_ENCODING else {}),
            **({"html": True} if job.html else {}),
            **({"policy": policy_sha256} if policy_sha256 is not None else {})}


def chosen_policy(folder: Path, policy_path: Path | None) -> tuple[Policy | None, str | None]:
    """The policy ``--policy`` (or ``$MODERATION_POLICY``) names, read and checked as the server reads its ``POLICY``
    (``model.policy.load_policy``: PolicyError naming the file when it cannot be used), and the SHA-256 of the file,
    which ``run_settings`` records for ``--resume``.

    ``(None, None)``, the bundle's own ``policy.toml``, without a file or with a copy of that one: the policy every run
    before ``--policy`` existed applied, so that their work resumes.
    """
    if policy_path is None:
        return None, None
    policy = load_policy(policy_path)
    digest = sha256_file(policy_path)
    own = folder / POLICY_FILE
    if own.is_file() and sha256_file(own) == digest:
        return None, None
    return policy, digest


def model_settings(manifest: dict, encoder_mode: str | None) -> dict:
    """The model part of ``run_settings``: the bundle (version and SHA-256) and the encoder mode it scores in."""
    return {"version": manifest["model_version"], "sha256": manifest["model_sha256"], "encoder_mode": encoder_mode}


def added_columns(attributes: Sequence[str], html: bool = False) -> list[str]:
    """The columns ``moderate score`` adds: one per attribute, then decision and reasons, then with ``html`` the
    visible text that was scored (``VISIBLE_TEXT_COLUMN``)."""
    return [*attributes, "decision", "reasons", *([VISIBLE_TEXT_COLUMN] if html else [])]


def check_no_clash(path: Path, columns: Sequence[str] | None, added: Sequence[str]) -> None:
    """Refuse an input that already has a column we would add, rather than overwrite it."""
    clash = [name for name in added if columns is not None and name in columns]
    if clash:
        raise TableError(
            f"{path}: already has column {', '.join(map(repr, clash))}, which moderate score adds; "
            "rename or drop it first"
        )


def score_frame(frame: pd.DataFrame, text_column: str, moderate: Callable, attributes: Sequence[str],
                with_spans: bool, html: bool = False) -> tuple[pd.DataFrame, Tally]:
    """Score one chunk: ``frame`` with the added columns, and its counts (the same on every engine).

    ``moderate`` is ``Scorer.moderate`` or ``ScorerPool.moderate``. With ``html`` the texts are HTML: their visible
    text (``service.html_text.html_to_text``, as the Coral and Perspective adapters read HTML) is scored, and added as
    ``VISIBLE_TEXT_COLUMN``, which the spans of the reasons point into.
    """
    texts = text_values(frame, text_column)
    if html:
        texts = [html_to_text(text) for text in texts]
    decisions = moderate(texts, with_spans=with_spans)
    results = [decision.to_dict() for decision in decisions]
    # Typed, so that a chunk with no rows (a header-only CSV) has the types of one with rows, not floats or nulls.
    columns = {name: pd.Series([r["scores"][name] for r in results], index=frame.index, dtype=float)
               for name in attributes}
    columns["decision"] = pd.Series([r["decision"] for r in results], index=frame.index, dtype=str)
    columns["reasons"] = pd.Series([json.dumps(r["reasons"], ensure_ascii=False) for r in results], index=frame.index,
                                   dtype=str)
    if html:
        columns[VISIBLE_TEXT_COLUMN] = pd.Series(texts, index=frame.index, dtype=str)
    tally = Tally(read=len(frame), scored=len(frame), empty=sum(1 for text in texts if is_blank(text)),
                  non_text=count_non_text(frame, text_column), decisions=Counter(columns["decision"]))
    return frame.assign(**columns), tally


class Progress:
    """A progress bar with rate and ETA on a terminal, else one log line a minute.

    Progress is measured in input bytes for CSV and JSON Lines (their row count is unknown until read) and in
    rows for Parquet; the rate shown is always rows per second.
    """

    def __init__(self, job: Job, stream: IO[str] | None = None):
        self.stream = stream or sys.stderr
        self.by_rows = job.inputs[0].suffix.lower() == ".parquet"
        self.total = sum(_n_rows(path) if self.by_rows else path.stat().st_size for path in job.inputs)
        self.done = 0
        self.skipped = 0
        """Units found done by an interrupted run (``--resume``): they took no time of this one."""
        self.rows = 0
        self.started = self.logged = time.monotonic()
        self._bar = None
        if self.stream.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, file=self.stream, unit=" rows" if self.by_rows else "B",
                             unit_scale=not self.by_rows, unit_divisor=1024, dynamic_ncols=True)

    def update(self, units: int, rows_scored: int) -> None:
        """``units`` more of the input done (bytes or rows), of which ``rows_scored`` scored by this run."""
        self.done += units
        self.rows += rows_scored
        rate = self.rows / max(time.monotonic() - self.started, 1e-9)
        if self._bar is not None:
            self._bar.set_postfix_str(f"{self.rows:,} rows, {rate:,.0f} rows/s", refresh=False)
            self._bar.update(units)
        elif time.monotonic() - self.logged >= LOG_INTERVAL_SECONDS:
            self.logged = time.monotonic()
            share = self.done / self.total if self.total else 1.0
            worked = self.done - self.skipped
            left = (time.monotonic() - self.started) * (self.total - self.done) / worked if worked else float("nan")
            print(f"moderate score: {self.rows:,} rows scored, {share:.0%} of the input, {rate:,.0f} rows/s, "
                  f"about {_duration(left)} left", file=self.stream, flush=True)

    def skip(self, units: int) -> None:
        """``units`` more of the input found done by an interrupted run: done, but not in the time left."""
        self.skipped += units
        self.update(units, 0)

    def close(self) -> None:
        """Stop the bar."""
        if self._bar is not None:
            self._bar.close()


def _n_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def _duration(seconds: float) -> str:
    if seconds != seconds:  # NaN: nothing done yet
        return "an unknown time"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def score_parts_locally(job: Job, spool: Spool, moderate: Callable, attributes: Sequence[str],
                        progress: Progress) -> None:
    """Score every chunk not yet done, one after the other in this process (``moderate`` may use workers)."""
    added = added_columns(attributes, job.html)
    for part, (source, target) in enumerate(zip(job.inputs, job.outputs)):
        if spool.part_done(part):
            progress.skip(_n_rows(source) if progress.by_rows else source.stat().st_size)
            continue
        with TableReader(source, job.chunk_rows, encoding=job.encoding) as reader:
            reader.require_columns(job.text_column, job.id_column, options=job.column_options)
            check_no_clash(source, reader.columns, added)
            n_chunks, position = 0, 0
            for chunk, (frame, rejects) in enumerate(reader.chunks()):
                n_chunks += 1
                units = len(frame) if progress.by_rows else reader.bytes_read - position
                position = reader.bytes_read
                if spool.chunk_done(part, chunk):
                    progress.skip(units)
                    continue
                check_no_clash(source, list(frame.columns), added)
                scored, tally = score_frame(frame, job.text_column, moderate, attributes, job.with_spans, job.html)
                tally.read += len(rejects)
                tally.rejected = len(rejects)
                spool.write_chunk(part, chunk, scored, job.suffix, tally, rejects, source.name, job.spreadsheet_safe)
                progress.update(units, len(frame))
        spool.finish_part(part, n_chunks, target, job.suffix)


def write_rejects(job: Job, spool: Spool) -> list[dict]:
    """Write the run's unparseable rows to the ``.rejects`` file (JSON Lines); remove a stale one if none."""
    rejects = list(spool.rejects())
    path = job.rejects_path
    if not rejects:
        path.unlink(missing_ok=True)
        return rejects
    replace_text(path, "".join(json.dumps(reject, ensure_ascii=False) + "\n" for reject in rejects))
    return rejects


def summary_lines(job: Job, tally: Tally, rejects: list[dict], seconds: float, rows_this_run: int) -> list[str]:
    """The end-of-run summary: rows read, scored, empty, rejected, decisions by outcome, time, rows/s."""
    decisions = ", ".join(f"{n:,} {action}" for action, n in sorted(tally.decisions.items()))
    lines = [
        f"Scored {tally.scored:,} rows into {job.output} ({decisions or 'no rows'})",
        f"  rows read {tally.read:,}; scored {tally.scored:,}; {empty_counts(tally.empty, tally.non_text)}; "
        f"rejected {tally.rejected:,}",
        f"  time {seconds:,.1f} s; {rows_this_run / seconds if seconds > 0 else 0:,.0f} rows/s "
        f"({rows_this_run:,} rows scored by this run)",
    ]
    if tally.scored and tally.empty == tally.scored:
        lines.append(f"  every text was empty or not text, so every row was approved as \"empty\": is the text of the "
                     f"comments in column {job.text_column!r}? (--text-column)")
    if rejects:
        lines.append(f"  {len(rejects):,} {'row' if len(rejects) == 1 else 'rows'} could not be parsed and "
                     f"{'is' if len(rejects) == 1 else 'are'} in {job.rejects_path}:")
        lines += [f"    {r['part']} line {r['line']}: {r['error']}" for r in rejects[:REJECTS_SHOWN]]
        if len(rejects) > REJECTS_SHOWN:
            lines.append(f"    ... and {len(rejects) - REJECTS_SHOWN} more")
    return lines


def check_inputs(job: Job, attributes: Sequence[str]) -> None:
    """Before any scoring: the columns asked for exist in every input part, and none would be overwritten.

    The first part is read from its start (JSON Lines rows name their columns); the other parts of a folder are
    Parquet, whose schema names them. A CSV or JSON Lines file plainly in another encoding than the one it is to be
    read in is refused (``service.table_reader.check_file_encoding``).
    """
    added = added_columns(attributes, job.html)
    with TableReader(job.inputs[0], job.chunk_rows, encoding=job.encoding, check_encoding=True) as reader:
        if reader.columns is None:  # JSON Lines whose first chunk has no readable row: the first chunk that has one
            reader.columns = next((list(frame.columns) for frame in reader if frame.columns.size), None)
        reader.require_columns(job.text_column, job.id_column, options=job.column_options)
        check_no_clash(job.inputs[0], reader.columns, added)
    for path in job.inputs[1:]:
        columns = _parquet_columns(path)
        check_columns(path, columns, job.text_column, job.id_column, options=job.column_options)
        check_no_clash(path, columns, added)


def _parquet_columns(path: Path) -> list[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_schema(path).names
    except (pa.ArrowException, OSError) as error:
        raise TableError(f"{path}: not a readable Parquet file: {one_line(error)}") from error


@dataclass(frozen=True)
class Outcome:
    """What ``run_archive`` did."""

    tally: Tally
    """Counts of the whole job, chunks scored by an interrupted run included."""
    rejects: list[dict]
    seconds: float
    rows_this_run: int
    """Rows this run scored itself (not those it found done)."""
    up_to_date: bool = False
    """``--resume`` found no interrupted run and OUTPUT as this run would write it: nothing was done."""


def run_archive(job: Job, model_path: Path | None = None, resume: bool = False, engine: str = "local",
                jobs: int = 1, scheduler: str | None = None, stream: IO[str] | None = None,
                on_spool: Callable[[Spool], None] | None = None, encoder_mode: str | None = None,
                overwrite: bool = False, policy_path: Path | None = None,
                default_encoder_mode: str | None = None) -> Outcome:
    """Score the job's inputs into its outputs on ``engine`` ("local": this process and ``jobs`` workers;
    "dask": ``jobs`` local Dask workers, or the cluster at ``scheduler``), in ``encoder_mode``, else
    ``default_encoder_mode`` (see ``model.bundle.chosen_encoder_mode``; every worker gets the mode chosen here, and a
    resumed run must use it too),
    deciding with the policy file at ``policy_path`` (None: the bundle's own; see ``chosen_policy``), read here once
    and sent to every worker, and which a resumed run must use too.

    ``resume`` with no interrupted run to continue: nothing is done when OUTPUT is up to date (``service.archive_record.up_to_date``), an
    OUTPUT an earlier run wrote otherwise is refused unless ``overwrite``, else the run starts from the beginning.

    Raises ``model.bundle.BundleError``, ``model.policy.PolicyError`` (before anything is read),
    ``service.tables.TableError``, ``service.spool.SpoolError`` or OSError; on any of them, or on Ctrl-C, the finished
    chunks stay in the spool (``on_spool`` is told where) for ``--resume``.
    """
    from model.bundle import chosen_encoder_mode, verify_bundle

    folder, manifest, _ = verify_bundle(model_path)
    policy, policy_sha256 = chosen_policy(folder, policy_path)
    attributes = tuple(manifest["attributes"])
    check_inputs(job, attributes)
    encoder_mode = chosen_encoder_mode(manifest, encoder_mode, default_encoder_mode)
    # Each local process's encoder gets its share of the cores (a LocalCluster's workers too; a cluster's at
    # --scheduler keep their own); asked here, so that a bad $MODERATION_ENCODER_THREADS is refused before a spool.
    encoder_threads = None
    if "encoder" in manifest and not (engine == "dask" and scheduler is not None):
        from model.parallel import threads_per_process

        encoder_threads = threads_per_process(jobs)
    settings = run_settings(job, model_settings(manifest, encoder_mode), engine, policy_sha256)
    if resume and not (spool_path(job.output) / STATE_FILE).exists():
        if check_nothing_to_resume(job, settings, overwrite, stream or sys.stderr):
            return Outcome(Tally(), [], 0.0, 0, up_to_date=True)
    remove_abandoned_temporaries([*job.outputs, job.rejects_path, job.done_path])  # once a run, not at every part
    spool = Spool(job.output, settings, resume)
    if on_spool is not None:
        on_spool(spool)
    started = time.monotonic()
    progress = Progress(job, stream)
    try:
        if engine == "dask":
            from service.archive_dask import score_parts_on_dask

            score_parts_on_dask(job, spool, folder, attributes, progress, jobs, scheduler, encoder_mode, encoder_threads,
                                policy)
        else:
            from model.parallel import ScorerPool
            from model.scoring import Scorer

            # The workers' encoders get the same threads as this one's, and its policy (ScorerPool).
            loaded = Scorer.load(folder, encoder_mode=encoder_mode, encoder_threads=encoder_threads)
            scorer = Scorer(loaded.bundle, policy)  # policy None: the bundle's own
            with ScorerPool(scorer, jobs) as pool:
                score_parts_locally(job, spool, pool.moderate, scorer.attributes, progress)
    finally:
        progress.close()
    rejects = write_rejects(job, spool)
    tally = spool.finished()
    record_done(job, settings, tally)
    spool.remove()
    return Outcome(tally, rejects, time.monotonic() - started, progress.rows)
