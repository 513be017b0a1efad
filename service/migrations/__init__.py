"""Alembic migrations of the service's database, shipped inside the package; no alembic.ini needed.

``upgrade(engine)`` brings a database to the newest schema (``moderate db upgrade`` and app start);
``check_current(engine)`` refuses a database that is behind. After changing the models in
``service.store``, write the next revision into ``versions/`` with
``MODERATION_DB_URL=sqlite:///tmp/schema.db python -m service.migrations revision --autogenerate -m "what changed"``
against a database at the current head, then read and tidy what it wrote.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from service.sqlite_errors import primary_code
from service.store import StoreError, sqlite_file

MIGRATIONS_DIR = Path(__file__).resolve().parent
MIGRATION_LOCK_ID = 0x6D6F646572617465
"""The PostgreSQL advisory lock a migration holds for its transaction ("moderate" in ASCII): one migrates at a time."""


class SchemaMismatch(StoreError):
    """A database that answers, at a schema revision (``found``) other than the newest this code knows (``needed``)."""

    def __init__(self, message: str, found: str | None, needed: str):
        super().__init__(message)
        self.found, self.needed = found, needed


def alembic_config() -> Config:
    """An Alembic configuration pointing at this folder."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The newest revision the code knows."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None when it was never migrated)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def is_known(revision: str) -> bool:
    """Whether this code has migration ``revision`` (one a newer release wrote is not)."""
    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        return False


def _newer_schema(engine: Engine, found: str) -> str:
    """The message for a database a newer release of the service migrated, which this code cannot use or change."""
    return (f"database {_where(engine)} is at schema revision {found}, which this version of the service does not know "
            f"(its newest is {head_revision()}): a newer release migrated it; run that release, or restore the backup "
            "taken before the upgrade (older code cannot downgrade a schema)")


def _where(engine: Engine) -> str:
    """The database for a message: a SQLite file by its path (the engine's URL is ``file:...?mode=rw&uri=true``, which
    names no file a person would type), a server by its URL without the password."""
    path = sqlite_file(engine.url)
    return str(path) if path is not None else engine.url.render_as_string(hide_password=True)


def _file_problem(engine: Engine, error: SQLAlchemyError) -> str | None:
    """What to do about a SQLite file this user may not write, on a full disk, that is not a database or is damaged (a
    restored backup copied as root, cut short, still compressed, or another file), or None for another error: each was
    called unreachable or "cannot migrate", which names nothing to fix."""
    code = primary_code(getattr(error, "orig", None))
    path = sqlite_file(engine.url)
    if code in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY) and path is not None and path.exists():
        refused = [str(where) for where, access in ((path, os.R_OK | os.W_OK), (path.parent, os.W_OK | os.X_OK))
                   if not os.access(where, access)]
        if refused:
            return (f"database file {path} cannot be used ({first_line(error)}): this user (uid {os.geteuid()}) must be "
                    f"able to write {' and '.join(refused)} (the folder for SQLite's -wal and -shm); run as the service's "
                    "user or `chown` them to it (a backup copied into an empty folder is its copier's, readable by no other)")
    if code == sqlite3.SQLITE_FULL:
        return (f"the disk of database file {_where(engine)} is full ({first_line(error)}): nothing was changed; free "
                "space (a migration may copy a table, so leave as much free as the database's size) and run it again")
    if code == sqlite3.SQLITE_NOTADB:
        return (f"database file {_where(engine)} is not a SQLite database ({first_line(error)}): point MODERATION_DB_URL "
                "at the service's database; a restored backup must be the file `moderate db backup` wrote, decompressed")
    if code == sqlite3.SQLITE_CORRUPT:
        return (f"database file {_where(engine)} is damaged ({first_line(error)}): with the service stopped, restore it from "
                f"the newest backup (README, Operations: backup and restore) or try `sqlite3 {_where(engine)} .recover`")
    return None


def first_line(error: BaseException) -> str:
    """SQLAlchemy's messages go on with the SQL and a link; the first line says what happened."""
    return f"{error.__class__.__name__}: {(str(error).strip().splitlines() or [''])[0]}"


@contextlib.contextmanager
def _one_transaction(engine: Engine, immediate: bool = False) -> Iterator[Connection]:
    """A connection in a transaction that takes the schema changes in too, so a failed upgrade leaves nothing behind.

    Python's sqlite3 opens a transaction only before INSERT, UPDATE and DELETE: CREATE TABLE and ALTER TABLE commit
    one by one, and a crash midway left a database at the old revision with the new tables that no later upgrade
    could get past ("table users already exists"). So on SQLite the driver leaves the transaction to us and BEGIN
    is sent first (SQLite's DDL is transactional); SQLAlchemy's commit or rollback ends it. ``immediate`` takes SQLite's
    write lock at once (``BEGIN IMMEDIATE``), waiting for another writer as long as the busy timeout says.

    On SQLite foreign keys are off meanwhile (a setting SQLite ignores inside a transaction, so it is set before BEGIN):
    a migration in batch mode copies a table and drops the old one, and with them on, dropping ``api_keys`` set every
    decision's and feedback row's ``api_key_id`` to NULL (``ON DELETE SET NULL``). On PostgreSQL the transaction first
    takes ``MIGRATION_LOCK_ID``: a second process migrating at once waits for the first, then reads the revision it left
    (both creating the tables of an empty database, all but one failed with ``duplicate key value violates unique
    constraint "pg_type_typname_nsp_index"``).
    """
    with engine.connect() as connection:
        if engine.dialect.name != "sqlite":
            with connection.begin():
                if engine.dialect.name == "postgresql":
                    connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")
                yield connection
            return
        driver = connection.connection.driver_connection
        previous = driver.isolation_level
        driver.isolation_level = None  # no implicit BEGIN (nor COMMIT) by the driver
        foreign_keys = driver.execute("PRAGMA foreign_keys").fetchone()[0]
        driver.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
                yield connection
        finally:
            with contextlib.suppress(sqlite3.ProgrammingError):  # closed after a fault: the pool replaces it
                driver.execute(f"PRAGMA foreign_keys={int(foreign_keys)}")
                driver.isolation_level = previous


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the migrations up to ``revision`` in one transaction; StoreError if the database is unreachable."""
    try:
        if not _upgraded_unless_busy(engine, revision):
            # Another process (a second instance starting, a CLI command) migrated the file meanwhile: SQLite cannot let
            # this transaction write after it read the old schema. Once that one is done, see what is left to do. Run
            # outside the first attempt's ``except``, so that its own failure (a full disk) is not chained to, and
            # named as, the first attempt's "database is locked" (``_first_failure``).
            _upgrade_once(engine, revision, immediate=True)
    except SQLAlchemyError as error:
        first = _first_failure(error)
        raise StoreError(_file_problem(engine, first) or f"cannot migrate database {_where(engine)}: {first_line(first)}") from error
    except CommandError as error:  # alembic's "Can't locate revision": a newer release's schema
        found = current_revision(engine)
        if found is not None and not is_known(found):
            raise SchemaMismatch(_newer_schema(engine, found), found, head_revision()) from error
        raise StoreError(f"cannot migrate database {_where(engine)}: {error}") from error


def _upgraded_unless_busy(engine: Engine, revision: str) -> bool:
    """``upgrade``'s first attempt: True when done, False when another connection's write made SQLite refuse it."""
    try:
        _upgrade_once(engine, revision, immediate=False)
    except OperationalError as error:
        if not _is_sqlite_busy(_first_failure(error)):
            raise
        return False
    return True


def _first_failure(error: SQLAlchemyError) -> SQLAlchemyError:
    """The database error that started ``error``'s chain. When a copy of a table in batch mode fails, Alembic drops the
    copy before it re-raises; after a full disk SQLite had rolled the whole transaction back already, copy included, so
    the drop failed too, and its "no such table: _alembic_tmp_feedback" was all the operator saw of a full disk."""
    first, earlier = error, error.__context__
    while earlier is not None:
        if isinstance(earlier, SQLAlchemyError):
            first = earlier
        earlier = earlier.__context__
    return first


def _upgrade_once(engine: Engine, revision: str, immediate: bool) -> None:
    """``upgrade``'s one attempt, in one transaction (``immediate``: holding SQLite's write lock from its start)."""
    config = alembic_config()
    with _one_transaction(engine, immediate) as connection:
        _refuse_another_applications(engine, connection)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


SERVICE_TABLES = frozenset({"api_keys", "users", "decisions", "feedback", "alembic_version"})
"""Tables any revision of the service's schema has (one of them at least)."""


def _refuse_another_applications(engine: Engine, connection: Connection) -> None:
    """StoreError for a SQLite file that holds tables and none of the service's: another application's (a mistyped
    MODERATION_DB_URL), into which an upgrade (``db upgrade``, or the server's start) wrote the service's tables."""
    from sqlalchemy import inspect

    if engine.dialect.name != "sqlite":  # a PostgreSQL database may well hold other applications' tables beside ours
        return
    names = set(inspect(connection).get_table_names())
    if names and not names & SERVICE_TABLES:
        shown = ", ".join(sorted(names)[:5]) + (" ..." if len(names) > 5 else "")
        raise StoreError(f"database {_where(engine)} holds tables of something else ({shown}) and none of the service's: "
                         "check that MODERATION_DB_URL names the service's database (a new, empty file is made into "
                         "one); nothing was changed")


def _is_sqlite_busy(error: OperationalError) -> bool:
    """Whether SQLite refused the write because another connection holds, or has just committed under, its lock."""
    return str(getattr(error.orig, "sqlite_errorname", "")).startswith("SQLITE_BUSY")


def check_current(engine: Engine) -> None:
    """Raise SchemaMismatch unless the database is at the newest revision, StoreError when it cannot be asked."""
    try:
        current = current_revision(engine)
    except SQLAlchemyError as error:
        path = sqlite_file(engine.url)
        if path is not None and not path.exists():
            raise StoreError(f"database file {path} does not exist: create it with `moderate db upgrade` "
                             "(or set DB_AUTO_UPGRADE), or restore it from a backup") from error
        raise StoreError(_file_problem(engine, error) or f"database {_where(engine)} is unreachable: {first_line(error)}") from error
    head = head_revision()
    if current is not None and current != head and not is_known(current):
        raise SchemaMismatch(_newer_schema(engine, current), current, head)
    if current != head:
        raise SchemaMismatch(
            f"database {_where(engine)} is at schema revision {current or 'none'} but this version needs {head}: "
            "run `moderate db upgrade` (or set DB_AUTO_UPGRADE)",
            current,
            head,
        )


def main(argv: list[str] | None = None) -> None:
    """Developer entry point: ``python -m service.migrations revision -m MESSAGE`` autogenerates a revision."""
    from alembic.config import CommandLine

    from service.config import load_config
    from service.store import make_engine

    engine = make_engine(load_config()["DB_URL"])
    config = alembic_config()
    try:
        with _one_transaction(engine) as connection:  # a downgrade too: foreign keys off on SQLite, one migrator at a time
            config.attributes["connection"] = connection
            cli = CommandLine(prog="python -m service.migrations")
            options = cli.parser.parse_args(argv if argv is not None else sys.argv[1:])
            cli.run_cmd(config, options)
    finally:
        engine.dispose()
