"""Database faults a long-running worker must survive: a SQLite file deleted or replaced, a read-only spell,
a full disk, a lost server. ``guard_engine`` makes the pool drop connections that such a fault left broken;
``write_problem`` is ``/readyz``'s check that the database still accepts a write.

SQLite keeps writing to a file that was deleted under it (the data goes nowhere), and a connection opened
while the file was read-only stays read-only after the file is writable again. So each pooled SQLite
connection remembers the file (device and inode) it opened and is replaced when the path no longer names
that file; a connection whose statement failed as read-only or with an I/O error is discarded. A worker
engine opens the file with ``mode=rw``: a deleted file gives "unable to open database file" (503) rather
than a new empty database.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, event
from sqlalchemy.engine import URL
from sqlalchemy.exc import DisconnectionError, SQLAlchemyError

FILE_ID = "moderation.file_id"
"""``ConnectionRecord.info[FILE_ID]``: (device, inode) of the SQLite file the connection opened."""
BROKEN_SQLITE_ERRORS = ("SQLITE_READONLY", "SQLITE_IOERR", "SQLITE_CANTOPEN")
"""SQLite error names (and their extended forms) after which a connection is not used again."""


def read_write_url(url: URL) -> URL:
    """A SQLite file URL that opens the file read-write but never creates it (``mode=rw``).

    The path is percent-encoded, as a SQLite URI needs: a ``#`` in it began the URI's fragment, which took ``mode=rw``
    with it, so that in a folder named ``data#1`` workers created and used an empty database ``data`` beside it.
    """
    return url.set(database=f"file:{quote(url.database)}", query={**url.query, "mode": "rw", "uri": "true"})


def _file_id(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except FileNotFoundError:
        return None
    return status.st_dev, status.st_ino


def guard_engine(engine: Engine, sqlite_path: Path | None) -> None:
    """Discard pooled connections broken by a fault (see the module docstring); ``sqlite_path`` None for a server database."""
    event.listen(engine, "handle_error", _discard_broken_sqlite_connection)
    if sqlite_path is None:
        return

    def remember_file(_dbapi_connection: Any, record: Any) -> None:
        record.info[FILE_ID] = _file_id(sqlite_path)

    def check_file(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if _file_id(sqlite_path) != record.info.get(FILE_ID):
            # The pool closes this connection and opens another, which fails if the file is gone.
            raise DisconnectionError(f"SQLite file {sqlite_path} was deleted or replaced since the connection opened it")

    event.listen(engine, "connect", remember_file)
    event.listen(engine, "checkout", check_file)


def _discard_broken_sqlite_connection(context: Any) -> None:
    """Treat read-only, I/O and cannot-open SQLite errors as a lost connection, so the pool opens a new one."""
    error = context.original_exception
    if isinstance(error, sqlite3.Error) and str(getattr(error, "sqlite_errorname", "")).startswith(BROKEN_SQLITE_ERRORS):
        context.is_disconnect = True


def write_problem(engine: Engine, sqlite_path: Path | None, min_free_bytes: int) -> str | None:
    """None when the database accepts a write now, else what stops it (for ``/readyz``).

    Pass the decision log's engine: its short busy timeout bounds the probe, and a locked file is reported.
    """
    if sqlite_path is not None:
        if not sqlite_path.exists():
            return f"database file {sqlite_path} was deleted: restore it or run `moderate db upgrade`; workers reconnect by themselves"
        if not os.access(sqlite_path, os.W_OK):
            return f"database file {sqlite_path} is read-only: make it writable again; workers reconnect by themselves"
        free = shutil.disk_usage(sqlite_path.parent).free
        if free < min_free_bytes:
            return f"disk of {sqlite_path} is full: {free} bytes free, DB_MIN_FREE_MIB asks for {min_free_bytes}"
    try:
        with engine.connect() as connection:
            if sqlite_path is None and engine.dialect.name != "sqlite":
                if connection.exec_driver_sql("SHOW transaction_read_only").scalar() == "on":
                    return "database accepts no writes (transaction_read_only is on)"
                return None
            # Writing user_version unchanged is a real write transaction, refused by a read-only file or connection.
            version = int(connection.exec_driver_sql("PRAGMA user_version").scalar() or 0)
            connection.exec_driver_sql(f"PRAGMA user_version={version}")
    except SQLAlchemyError as error:
        return f"database does not accept a write: {type(error).__name__}: {(str(error.orig or error).splitlines() or [''])[0]}"
    return None
