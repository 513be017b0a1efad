"""The decision log's write path, kept off the moderation answer's critical path.

A comment that was scored gets its answer even when its decision cannot be logged: Coral skips a phase
that fails, so a 503 there would let the comment through unmoderated. ``write_decisions`` tries the
database once, waiting at most ``LOG_BUSY_TIMEOUT_MS`` for a SQLite or PostgreSQL lock (the rest of the service waits
10 s for SQLite's, as long as PostgreSQL's server says), and on failure appends the rows as JSON lines to this process's spool file under
``DECISION_SPOOL_DIR`` (flushed to disk before the answer), logs ``decision log write failed`` and counts
it in ``/metrics``. Coral's answer does not wait even for that: its rows are written once it has been sent
(``write_decisions_after``), since its phase lets out unmoderated a comment whose answer comes after its timeout.
After a later answer has been sent, any worker replays spooled files (claiming each by renaming it, so that two
workers never insert the same rows) at most every ``REPLAY_INTERVAL_SECONDS``. An append
holds the file's lock (``flock``) and a claim takes it first, so no row is appended to a file already read.

Rows are never dropped silently: rows the database refuses outright on replay (not a lost connection but,
say, a constraint) are moved to a ``rejected-*`` file; rows that cannot even be spooled are logged whole, except a
kept comment text (``STORE_TEXT``), which reaches the log only with ``LOG_TEXT``. ``moderate db prune`` and ``moderate
db forget`` remove spooled rows, waiting or rejected, with ``drop_spooled_rows``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import functools
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app
from prometheus_client import Counter
from sqlalchemy import Engine, event, insert
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from service.config import DEFAULT_DB_PATH
from service.schema_gate import schema_problem
from service.store import (AUTOCOMMIT, DecisionRecord, StoreError, app_engine, bound_waits, describe_error, engine_sqlite_file,
                           make_engine, wait_seconds)

log = logging.getLogger(__name__)

SPOOL_KEY = "moderation.decision_spool"
"""``app.extensions[SPOOL_KEY]`` holds the app's ``DecisionSpool``."""
DEFAULT_SPOOL_DIR = DEFAULT_DB_PATH.parent / "spool"
LOG_BUSY_TIMEOUT_MS = 250
"""How long a decision-log write waits for another SQLite writer before the rows go to the spool."""
REPLAY_INTERVAL_SECONDS = 5.0
"""How often a worker looks for spooled rows to replay (after sending an answer)."""
SPOOL_GLOB = "decisions-*.jsonl"
CLAIMED_SUFFIX = ".replaying-"
REJECTED_PREFIX = "rejected-"
REFUSED_ROWS = (IntegrityError, DataError, ValueError, KeyError)
"""Errors that retrying cannot fix (the database refuses the rows, or a line was cut short by a crash); after any
other error the rows stay spooled for the next replay (the database is away, locked or read-only)."""


class DecisionSpool:
    """Decision rows the database did not take, as JSON lines in per-process files, and their replay."""

    def __init__(self, directory: Path, engine: Engine, registry: Any, log_text: bool = False, autocommit_engine: Engine | None = None,
                 one_row_autocommit: bool = True):
        self.directory, self.engine = directory, engine
        # One-row writes: an INSERT that commits itself (see ``write_decisions``), unless every write must be a
        # transaction (PostgreSQL's, which begins by bounding its wait for a lock: ``service.store.bound_waits``).
        self.autocommit_engine = autocommit_engine or engine.execution_options(isolation_level=AUTOCOMMIT)
        self.one_row_autocommit = one_row_autocommit
        self.log_text = log_text  # LOG_TEXT: whether rows logged whole may show their comment text
        self.lock = threading.Lock()  # gthread workers: one append or replay at a time per process
        self.next_replay = 0.0
        self.failures = Counter("moderation_decision_log_write_failures", "Decision-log writes that failed and were spooled.", registry=registry)
        self.spooled = Counter("moderation_decision_log_spooled_rows", "Decision rows written to the local spool.", registry=registry)
        self.replayed = Counter("moderation_decision_log_replayed_rows", "Spooled decision rows written to the database.", registry=registry)
        self.rejected = Counter("moderation_decision_log_rejected_rows", "Spooled rows the database refused, kept in rejected-* files.", registry=registry)
        self.lost = Counter("moderation_decision_log_lost_rows", "Decision rows neither written nor spooled (logged whole instead).", registry=registry)

    def dispose(self) -> None:
        """Close both engines' pooled connections (tests, and an app being thrown away)."""
        self.engine.dispose()
        self.autocommit_engine.dispose()

    def own_file(self) -> Path:
        return self.directory / f"decisions-{os.getpid()}.jsonl"

    def append(self, rows: list[dict[str, Any]], error: BaseException) -> None:
        """Spool ``rows`` durably (fsync) after a failed write; if even that fails, log them whole."""
        self.failures.inc()
        lines = _json_lines(rows, with_text=True)
        try:
            with self.lock:
                self.directory.mkdir(parents=True, exist_ok=True)
                _append_durably(self.own_file(), lines.encode("utf-8"))
        except OSError as spool_error:
            self.lost.inc(len(rows))
            log.error("decision log write failed (%s) and the spool %s cannot be written (%s); the rows: %s",
                      describe_error(error), self.directory, spool_error, _json_lines(rows, self.log_text).strip())
            return
        self.spooled.inc(len(rows))
        log.error("decision log write failed (%s): %d row(s) spooled to %s, replayed when the database takes writes again",
                  describe_error(error), len(rows), self.own_file())

    def pending(self) -> list[Path]:
        """Spool files to replay: unclaimed ones, and ones claimed by a process that has since died."""
        if not self.directory.is_dir():
            return []
        claimed = [path for path in self.directory.glob(f"decisions-*{CLAIMED_SUFFIX}*") if not _alive(_claimer(path))]
        return sorted(self.directory.glob(SPOOL_GLOB)) + claimed

    def replay_due(self) -> bool:
        """True at most every REPLAY_INTERVAL_SECONDS, and only when spooled files exist."""
        now = time.monotonic()
        if now < self.next_replay:
            return False
        self.next_replay = now + REPLAY_INTERVAL_SECONDS
        return bool(self.pending())

    def replay(self, table: Any) -> int:
        """Insert every pending file's rows (one transaction per file); return how many rows went in."""
        n_replayed = 0
        with self.lock:
            for path in self.pending():
                claimed = _claim(path)
                if claimed is None:
                    continue  # another worker claimed it first, or is appending to it: the next replay takes it
                rows: list[dict[str, Any]] = []
                try:
                    rows = [_decode(json.loads(line)) for line in claimed.read_text(encoding="utf-8").splitlines() if line.strip()]
                    if rows:
                        with self.engine.begin() as connection:
                            connection.execute(insert_statement(table), rows)
                except REFUSED_ROWS as error:
                    rejected = claimed.with_name(REJECTED_PREFIX + claimed.name)
                    os.rename(claimed, rejected)
                    self.rejected.inc(len(rows))
                    log.error("decision log replay refused (%s): %d row(s) kept in %s for an operator", describe_error(error), len(rows), rejected)
                    continue
                except SQLAlchemyError as error:
                    # A fresh name: renaming back could overwrite the spool file this process has started since.
                    os.rename(claimed, _fresh_spool_file(self.directory))
                    log.warning("decision log replay postponed (%s): %d row(s) stay spooled", describe_error(error), len(rows))
                    break
                claimed.unlink()
                self.replayed.inc(len(rows))
                n_replayed += len(rows)
        if n_replayed:
            log.info("decision log: %d spooled row(s) replayed into the database", n_replayed)
        return n_replayed


def _append_durably(path: Path, data: bytes) -> None:
    """Append ``data`` to ``path`` and fsync it; on failure (a full disk) cut the file back to where it ended.

    A half-written line left behind would be glued to the next append's first row, and the replay would then refuse
    the whole file, rows spooled before and after included.
    """
    descriptor = _open_locked(path)
    try:
        end = os.lseek(descriptor, 0, os.SEEK_END)
        try:
            written = 0
            while written < len(data):
                written += os.write(descriptor, data[written:])
            os.fsync(descriptor)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(descriptor, end)
            raise
    finally:
        os.close(descriptor)


def _open_locked(path: Path) -> int:
    """``path`` opened for appending and locked (``flock``) against a replay or sweep claiming it meanwhile.

    A file that another worker claimed (renamed) after the open and before the lock is left to it, and a new file is
    opened under the name: rows appended to the claimed one after it was read would be deleted with it.
    """
    while True:
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            if _still_named(path, descriptor):
                return descriptor
        except BaseException:  # flock refused (ENOLCK): the caller logs the rows; the descriptor must not stay open
            os.close(descriptor)
            raise
        os.close(descriptor)


def _claim(path: Path) -> Path | None:
    """Rename the spool file ``path`` to this process's claim name and return that name; None when it is not ours to
    take: a worker is appending to it (it holds the file's lock), or another process claimed it first.

    Taking the lock first means every append begun before the rename has ended, and an append begun after it finds
    the name gone (``_open_locked``): the claimed file is complete when it is read.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if not _still_named(path, descriptor):
            return None
        claimed = _claim_name(path)
        os.rename(path, claimed)
        return claimed
    except BlockingIOError:
        return None
    finally:
        os.close(descriptor)


def _still_named(path: Path, descriptor: int) -> bool:
    """Whether ``path`` still names the file open as ``descriptor`` (no other process renamed it away)."""
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(descriptor)
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


def _claim_name(path: Path) -> Path:
    """The name that claims a spool file for this process (a replay, or a sweep by ``drop_spooled_rows``)."""
    return path.with_name(f"{path.name.split(CLAIMED_SUFFIX)[0]}{CLAIMED_SUFFIX}{os.getpid()}")


def _fresh_spool_file(directory: Path) -> Path:
    """A spool file name no process writes to yet: rows put back must not overwrite a file a worker has started since."""
    return directory / f"decisions-{os.getpid()}-{time.time_ns()}.jsonl"


def _encode(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "created_at": row["created_at"].isoformat()}


def _json_lines(rows: list[dict[str, Any]], with_text: bool) -> str:
    """One JSON line per row; without ``with_text`` a kept comment text (``STORE_TEXT``) is left out, its SHA-256 stays."""
    return "".join(json.dumps(_encode(row if with_text else {**row, "text": None})) + "\n" for row in rows)


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "created_at": dt.datetime.fromisoformat(row["created_at"])}


def _claimer(path: Path) -> int:
    try:
        return int(path.name.rsplit(CLAIMED_SUFFIX, 1)[1])
    except (IndexError, ValueError):
        return 0


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if pid == os.getpid():
        return False  # our own claim left by a failed replay in this process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def init_decision_log(app: Flask, registry: Any) -> None:
    """Attach the spool (``DECISION_SPOOL_DIR``) and replay spooled rows after answers are sent.

    A SQLite file gets engines of its own whose connections wait only ``LOG_BUSY_TIMEOUT_MS`` for a lock: one for
    transactions, and one whose connections are in autocommit mode from the start (``autocommit_sqlite_engine``).
    A PostgreSQL server gets one whose statements wait as long for a lock (its ``lock_timeout``): an operator's
    ``CREATE INDEX`` or ``VACUUM FULL`` on ``decisions`` made every answer wait until it finished (a ``SET LOCAL`` as
    each transaction begins, then spooled); its statements and its waits for an answer are bounded as the app's are, by
    the same statement (``service.store.bound_waits``).
    """
    engine = app_engine(app)
    autocommit_engine = None
    one_row_autocommit = True
    if engine_sqlite_file(engine) is not None:
        engine = make_engine(app.config["DB_URL"], create=False, busy_timeout_ms=LOG_BUSY_TIMEOUT_MS)
        autocommit_engine = autocommit_sqlite_engine(app.config["DB_URL"])
    elif engine.dialect.name == "postgresql":
        engine = bound_waits(make_engine(app.config["DB_URL"], create=False), wait_seconds(app.config),
                             lock_timeout_ms=LOG_BUSY_TIMEOUT_MS)
        one_row_autocommit = False  # the bound is set as each transaction begins: an autocommit INSERT has none
    spool = DecisionSpool(spool_directory(app.config), engine, registry, log_text=bool(app.config["LOG_TEXT"]),
                          autocommit_engine=autocommit_engine, one_row_autocommit=one_row_autocommit)
    app.extensions[SPOOL_KEY] = spool
    if engine is not app_engine(app):
        # Its connections close with the app's: an app thrown away with only its own engine disposed left the decision
        # log's PostgreSQL connections open (psycopg's ResourceWarning; tests make many apps).
        event.listen(app_engine(app), "engine_disposed", lambda _engine: spool.dispose())
    app.after_request(_replay_after_answer)


def autocommit_sqlite_engine(db_url: str) -> Engine:
    """An engine on the SQLite file ``db_url`` names whose connections are put in autocommit mode once, when opened.

    Asking for autocommit per connection (``execution_options``) sets it at each checkout and sets the default back,
    with a ``PRAGMA``, at each return to the pool: that cost the usual one-comment request more than its INSERT did.
    """
    engine = make_engine(db_url, create=False, busy_timeout_ms=LOG_BUSY_TIMEOUT_MS)
    dialect = engine.dialect

    def autocommit(dbapi_connection: Any, _record: Any) -> None:
        dialect.set_isolation_level(dbapi_connection, AUTOCOMMIT)

    event.listen(engine, "connect", autocommit)
    return engine


def spool_directory(config: Mapping[str, Any]) -> Path:
    """The spool folder the settings name (``DECISION_SPOOL_DIR``, default ``var/spool``)."""
    configured = config["DECISION_SPOOL_DIR"]
    return Path(configured) if configured else DEFAULT_SPOOL_DIR


def decision_log_engine(app: Flask) -> Engine:
    """The engine decision-log transactions go through (``/readyz`` probes writes with it); one-row writes use
    ``DecisionSpool.autocommit_engine``, on the same database."""
    return app.extensions[SPOOL_KEY].engine


def write_decisions(table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert decision rows (one transaction); on a database error spool them instead of failing the answer."""
    spool: DecisionSpool = current_app.extensions[SPOOL_KEY]
    problem = schema_problem(current_app)
    if problem is not None:  # unchecked tables may have another shape: keep the rows until the schema is current
        spool.append(rows, StoreError(problem))
        return
    statement = insert_statement(table)
    try:
        if len(rows) == 1 and spool.one_row_autocommit:
            # The usual request. One INSERT in autocommit mode is a transaction that SQLite locks only while the
            # statement runs; an INSERT then a COMMIT would hold the write lock across the Python between them,
            # GIL waits included, while the other workers' writers sleep in SQLite's busy handler.
            with spool.autocommit_engine.connect() as connection:
                connection.execute(statement, rows[0])
        else:
            with spool.engine.begin() as connection:  # one transaction
                connection.execute(statement, rows)
    except SQLAlchemyError as error:
        spool.append(rows, error)


def write_decisions_after(response: Response, table: Any, rows: list[dict[str, Any]]) -> None:
    """``write_decisions`` once ``response`` has been sent, in the app's context (the request's is gone by then).

    For Coral, whose phase counts only an answer that arrives within its timeout (200 ms by default): a write that
    waits on the database (another writer's lock, a server that stopped answering) let the comment out unmoderated.
    The server closes the response, and so writes the rows, within the request: a worker that stops finishes it first.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def write() -> None:
        with app.app_context():
            write_decisions(table, rows)

    response.call_on_close(write)


@functools.cache
def insert_statement(table: Any) -> Any:
    """``INSERT INTO table``, built once: SQLAlchemy then finds its compiled form without building a cache key anew."""
    return insert(table)


def _replay_after_answer(response: Response) -> Response:
    """Schedule a replay of spooled rows for after this response is sent, when one is due."""
    spool: DecisionSpool = current_app.extensions[SPOOL_KEY]
    if spool.replay_due() and schema_problem(current_app) is None:
        response.call_on_close(lambda: spool.replay(DecisionRecord.__table__))
    return response


# Deleting spooled rows (``moderate db prune`` and ``moderate db forget``)


@dataclass
class SpoolSweep:
    """What ``drop_spooled_rows`` removed (or would remove): rows, their comment ids, and the files it had to leave."""

    n_rows: int = 0
    n_rejected: int = 0
    """Of ``n_rows``, those in ``rejected-*`` files: the database refused them, and nothing replays them."""
    comment_ids: set[str] = field(default_factory=set)
    busy: list[Path] = field(default_factory=list)
    """Files a live worker is replaying or appending to right now: run the command again."""


def spooled_before(cutoff: dt.datetime) -> Callable[[dict[str, Any]], bool]:
    """Whether a spooled row was logged before ``cutoff``."""
    return lambda row: dt.datetime.fromisoformat(row["created_at"]) < cutoff


def spooled_about(comment_ids: Collection[str], same_text: Collection[str] = ()) -> Callable[[dict[str, Any]], bool]:
    """Whether a spooled row has one of ``comment_ids``, or no comment id and a text SHA-256 in ``same_text``."""
    return lambda row: row["comment_id"] in comment_ids or (row["comment_id"] is None and row["text_sha256"] in same_text)


def drop_spooled_rows(directory: Path, drop: Callable[[dict[str, Any]], bool], dry_run: bool = False) -> SpoolSweep:
    """Remove the spooled rows, waiting or rejected, for which ``drop`` is true; with ``dry_run`` only count them.

    A waiting file is claimed by renaming it, as a replay does, so no worker replays it meanwhile; its other rows go
    back under a fresh name. A line that cannot be read is kept as it is (the replay sets it aside).
    """
    sweep = SpoolSweep()
    if not directory.is_dir():
        return sweep
    with contextlib.nullcontext() if dry_run else _one_sweep_at_a_time(directory):  # a count writes nothing
        _sweep(directory, drop, dry_run, sweep)
    return sweep


SWEEP_LOCK = ".sweep.lock"
"""The file (outside ``SPOOL_GLOB``, left in place) whose lock one sweep holds at a time."""


@contextlib.contextmanager
def _one_sweep_at_a_time(directory: Path) -> Iterator[None]:
    """Hold the spool folder's sweep lock: two sweeps at once (``db prune`` and ``db forget``) each rewrote a file from
    what they had read, so the later one put back the rows the earlier one had deleted (or skipped a file the other
    had claimed, leaving its rows to forget)."""
    descriptor = os.open(directory / SWEEP_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def _sweep(directory: Path, drop: Callable[[dict[str, Any]], bool], dry_run: bool, sweep: SpoolSweep) -> None:
    """``drop_spooled_rows``'s work, under the sweep lock."""
    for path in sorted(directory.glob("decisions-*")) + sorted(directory.glob(f"{REJECTED_PREFIX}*")):
        if not path.name.startswith(REJECTED_PREFIX) and CLAIMED_SUFFIX in path.name and _alive(_claimer(path)):
            sweep.busy.append(path)
            continue
        try:
            dropped = _split_lines(path.read_text(encoding="utf-8"), drop)[1]
            if dropped and not dry_run:
                dropped = _rewrite_without(path, drop)
        except FileNotFoundError:
            continue  # a worker replayed it meanwhile: its rows are in the database
        except BlockingIOError:
            sweep.busy.append(path)
            continue
        sweep.n_rows += len(dropped)
        if path.name.startswith(REJECTED_PREFIX):
            sweep.n_rejected += len(dropped)
        sweep.comment_ids.update(row["comment_id"] for row in dropped if row["comment_id"] is not None)


def _split_lines(lines: str, drop: Callable[[dict[str, Any]], bool]) -> tuple[list[str], list[dict[str, Any]]]:
    """The lines to keep, and the rows of those to drop."""
    kept, dropped = [], []
    for line in lines.splitlines(keepends=True):
        try:
            row = json.loads(line)
            if drop(row):
                dropped.append(row)
                continue
        except (ValueError, KeyError, TypeError):
            pass  # not a whole row: keep it
        kept.append(line)
    return kept, dropped


def _rewrite_without(path: Path, drop: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """Write ``path`` again without the rows to drop (fsynced, renamed into place); return the dropped rows.

    A waiting file is claimed first (``_claim``); ``BlockingIOError`` when a worker is appending to it, and
    ``FileNotFoundError`` when another process claimed it first.
    """
    rejected = path.name.startswith(REJECTED_PREFIX)
    source = path if rejected else _claim(path)
    if source is None:
        raise (BlockingIOError if path.exists() else FileNotFoundError)(f"{path} is being written or replayed")
    kept, dropped = _split_lines(source.read_text(encoding="utf-8"), drop)
    if not kept:
        source.unlink()
        return dropped
    partial = path.with_name(f".sweep-{os.getpid()}.tmp")  # outside SPOOL_GLOB: no replay reads it half written
    with open(partial, "w", encoding="utf-8") as spool:
        spool.write("".join(kept))
        spool.flush()
        os.fsync(spool.fileno())
    # The kept rows take the place of the file read, in one step: a sweep killed at any point leaves the dropped rows
    # either all there (nothing changed yet) or gone, never back (a claimed file is replayed once its claimer is dead).
    os.replace(partial, source)
    if not rejected:
        os.rename(source, _fresh_spool_file(path.parent))  # back among the waiting files
    return dropped
