"""A consistent copy of the SQLite database, taken while the service runs: ``moderate db backup``.

SQLite's online backup API copies the database as of one moment: the committed rows, never half a transaction,
while workers go on writing (in WAL mode a reader does not block them). The copy is written beside the output
under a hidden ``.partial`` name, readable by its owner only (it holds API-key digests, password hashes and,
with ``STORE_TEXT``, comment texts), checked with ``PRAGMA integrity_check``, turned into one self-contained
file (rollback journal, no ``-wal`` beside it), and only then renamed to the output: a failed or interrupted
backup never leaves a file that looks like one. Nor does a database with none of the service's tables (an empty
file where ``MODERATION_DB_URL`` points): it is refused, as its copy restored later would lose everything.
PostgreSQL has ``pg_dump`` for this; the command says so.
"""

from __future__ import annotations

import contextlib
import glob
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from model.bundle import remove_abandoned_temporaries, temporary_beside
from service.sqlite_errors import primary_code

TABLES = ("api_keys", "users", "decisions", "feedback")
"""Tables whose row counts the summary reports (every table is copied)."""
OWNER_ONLY = 0o600
JOURNAL_SUFFIXES = ("-journal", "-wal", "-shm")
"""What SQLite names the files it keeps beside a database being written."""


class BackupError(Exception):
    """The backup cannot be made; the message says what to fix. Nothing was written at the output."""


@dataclass
class BackupSummary:
    """What ``backup_sqlite`` copied: the output's size, the schema revision and rows per table."""

    target: Path
    n_bytes: int
    revision: str | None
    rows: dict[str, int] = field(default_factory=dict)


def partial_path(target: Path) -> Path:
    """Where this process writes the copy before it is complete and checked: a hidden file beside ``target``, named
    with the process id, so that two backups to one output (cron and a person) never write or rename each other's."""
    return temporary_beside(target)


def backup_sqlite(source: Path, target: Path, overwrite: bool = False) -> BackupSummary:
    """Copy the SQLite database ``source`` to ``target`` as of one moment; BackupError (nothing written) if it cannot.

    ``target`` must not exist unless ``overwrite``; it is replaced only once the whole copy has passed the
    integrity check.
    """
    source, target = Path(source).absolute(), Path(target).absolute()
    _check_paths(source, target, overwrite)
    remove_abandoned_temporaries([target])  # copies of killed backups (a running backup's is left alone)
    _remove_orphaned_journals(target)
    partial = partial_path(target)
    try:
        _create_owner_only(partial)
        _copy(source, partial)
        summary = _checked(partial, target, source)
        _sync(partial)
        os.replace(partial, target)
    except BaseException:
        _remove_with_journals(partial)
        raise
    with contextlib.suppress(OSError):  # a file system that cannot sync a folder still has the copy, renamed
        _sync(target.parent)  # the rename on disk too: a power cut after "backed up" cannot take the new name away
    return summary


def _remove_with_journals(partial: Path) -> None:
    """Remove an unfinished copy and the journal SQLite kept beside it: a copy that failed midway (a full disk) left its
    ``-journal``, which nothing removed later."""
    for path in (partial, *_journals(partial)):
        with contextlib.suppress(OSError):
            path.unlink()


def _journals(partial: Path) -> tuple[Path, ...]:
    """The files SQLite may write beside the copy ``partial`` while it is written."""
    return tuple(partial.with_name(partial.name + suffix) for suffix in JOURNAL_SUFFIXES)


def _remove_orphaned_journals(target: Path) -> None:
    """Remove the journals of copies to ``target`` that are gone (their backup was killed, and its copy removed by
    ``remove_abandoned_temporaries``); a running backup's copy exists, so its journal is left alone."""
    for suffix in JOURNAL_SUFFIXES:
        for journal in target.parent.glob(f".{glob.escape(target.name)}.*.partial{suffix}"):
            if not journal.with_name(journal.name.removesuffix(suffix)).exists():
                with contextlib.suppress(OSError):
                    journal.unlink()


def _check_paths(source: Path, target: Path, overwrite: bool) -> None:
    if not source.is_file():
        raise BackupError(f"no database at {source}: check MODERATION_DB_URL")
    if _is_database_file(source, target):
        raise BackupError(f"{target} is the database itself (or its write-ahead log): give another file")
    if not target.parent.is_dir():
        raise BackupError(f"the folder {target.parent} does not exist: create it or give another output")
    if target.is_dir():
        raise BackupError(f"{target} is a folder: give a file name, e.g. {target / 'moderation-backup.db'}")
    if target.exists() and not overwrite:
        raise BackupError(f"{target} exists already: give another name, or add --overwrite to replace it")


def _is_database_file(source: Path, target: Path) -> bool:
    """Whether ``target`` names the database or its write-ahead log, also through a symlink, a ``..`` or a hard link."""
    source, target = source.resolve(), target.resolve()
    siblings = (source.name, f"{source.name}-wal", f"{source.name}-shm")
    return (target.parent == source.parent and target.name in siblings) or (target.exists() and target.samefile(source))


def _create_owner_only(path: Path) -> None:
    """An empty file at ``path`` that only its owner can read, made before SQLite writes into it."""
    try:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # left by a killed run whose process id this one has (a read-only folder refuses even to look)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY))
    except OSError as error:
        raise BackupError(f"cannot write in {path.parent} ({error.strerror or error}): "
                          "run the command as a user who may, or give another output") from error


def _copy(source: Path, partial: Path) -> None:
    """The whole database into ``partial`` in one step, as one read transaction sees it."""
    try:
        reading = sqlite3.connect(f"{source.as_uri()}?mode=rw", uri=True)  # never creates a file
    except sqlite3.Error as error:
        raise BackupError(f"cannot open {source} ({error}): run the command as the service's user") from error
    try:
        writing = sqlite3.connect(partial)
        try:
            reading.execute("PRAGMA busy_timeout=30000")
            reading.backup(writing)  # pages=-1: one step, so writers in between cannot make it start over
            writing.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal to carry along
            writing.commit()
        finally:
            writing.close()
    except sqlite3.Error as error:
        raise BackupError(_copy_failure(source, error)) from error
    finally:
        reading.close()


def _copy_failure(source: Path, error: sqlite3.Error) -> str:
    """What to check when SQLite could not copy ``source``: the file itself, or (a busy database) the moment. An extended
    code (``SQLITE_CORRUPT_INDEX``, ``SQLITE_BUSY_RECOVERY``) counts as its primary one: it was told to check the disk."""
    code = primary_code(error)
    if code == sqlite3.SQLITE_NOTADB:
        return (f"{source} is not a SQLite database ({error}): check that MODERATION_DB_URL names the service's database "
                "file, not another file (or one that is encrypted); nothing was written")
    if code == sqlite3.SQLITE_CORRUPT:
        return (f"{source} is damaged ({error}): restore it from an earlier backup, or try `sqlite3 {source} .recover`; "
                "nothing was written")
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return f"{source} stayed locked by another process ({error}): nothing was written; run the backup again"
    return f"the backup of {source} failed ({error}): nothing was written; check the disk holding the output (full?)"


def _sync(path: Path) -> None:
    """``path`` on disk: the copy before it is renamed (a crash right after cannot leave an empty file under the
    output's name), then the output's folder, which holds the rename."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _checked(partial: Path, target: Path, source: Path) -> BackupSummary:
    """The summary of the finished copy of ``source``; BackupError if SQLite finds it damaged or it is not the service's."""
    copy = sqlite3.connect(f"{partial.as_uri()}?mode=ro", uri=True)
    try:
        problems = [row[0] for row in copy.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise BackupError(f"the copy failed SQLite's integrity check ({'; '.join(problems[:3])}): the database itself "
                              "may be damaged; nothing was written")
        names = {row[0] for row in copy.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        rows = {table: copy.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in TABLES if table in names}
        revision = copy.execute("SELECT version_num FROM alembic_version").fetchone() if "alembic_version" in names else None
    finally:
        copy.close()
    if revision is None and not rows:
        raise BackupError(_not_the_services(source, names))
    return BackupSummary(target, partial.stat().st_size, revision[0] if revision else None, rows)


def _not_the_services(source: Path, names: set[str]) -> str:
    """Why a database with neither the service's tables nor a schema revision is not backed up, and what to check.

    Such a copy holds nothing of the service's: restored over its database later, it would lose every key and row.
    """
    found = "is an empty database (no tables)" if not names else f"has none of the service's tables ({', '.join(TABLES)}) nor a schema revision"
    return (f"{source} {found}: there is nothing of the service's to back up; check that MODERATION_DB_URL names the "
            "service's database file (the service creates its tables at start, or `moderate db upgrade` does); "
            "nothing was written")
