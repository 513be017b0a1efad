"""``moderate db backup``: a consistent, checked, owner-only copy of the SQLite database, taken while it is written."""

from __future__ import annotations

import sqlite3
import stat

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from service import backup as backup_module
from service.auth import create_key
from service.cli import cli
from service.migrations import upgrade
from service.store import ApiKey, DecisionRecord, make_engine
from tests.test_db_lifecycle import decision_row, write_spool


@pytest.fixture
def served_db(tmp_path):
    """A migrated SQLite database with one API key and two decisions, its engine (open, as a server's) and the environment."""
    url = f"sqlite:///{tmp_path / 'moderation.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with Session(engine) as session:
        create_key(session, "cms")
        session.add_all([DecisionRecord(**decision_row("c1")), DecisionRecord(**decision_row("c2"))])
        session.commit()
    yield engine, {"MODERATION_DB_URL": url, "MODERATION_DECISION_SPOOL_DIR": str(tmp_path / "spool")}
    engine.dispose()


def count(path, table: str) -> int:
    with sqlite3.connect(path) as connection:
        return connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_backup_copies_the_committed_rows_while_a_writer_holds_a_transaction(runner, served_db, tmp_path):
    engine, env = served_db
    out = tmp_path / "backups" / "moderation-2026-12-05.db"
    out.parent.mkdir()
    writer = sqlite3.connect(tmp_path / "moderation.db")
    writer.execute("BEGIN IMMEDIATE")  # a worker in the middle of a write: its row is not committed
    writer.execute("DELETE FROM decisions")

    result = runner.invoke(cli, ["db", "backup", str(out)], env=env)
    writer.rollback()
    writer.close()

    assert result.exit_code == 0, result.output
    assert count(out, "decisions") == 2 and count(out, "api_keys") == 1
    assert f"to {out}" in result.stdout and "1 api_keys" in result.stdout and "2 decisions" in result.stdout
    with sqlite3.connect(out) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one file: no -wal to carry along
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # key digests, password hashes, maybe comment texts
    assert sorted(path.name for path in out.parent.iterdir()) == [out.name]  # no partial file left


def test_a_restored_backup_is_a_working_database(runner, served_db, tmp_path):
    _, env = served_db
    out = tmp_path / "copy.db"
    assert runner.invoke(cli, ["db", "backup", str(out)], env=env).exit_code == 0

    engine = make_engine(f"sqlite:///{out}", create=False)
    try:
        upgrade(engine)  # already current: nothing to do, and no error
        with Session(engine) as session:
            assert [key.name for key in session.scalars(select(ApiKey))] == ["cms"]
    finally:
        engine.dispose()
    listed = runner.invoke(cli, ["keys", "list"], env={**env, "MODERATION_DB_URL": f"sqlite:///{out}"})
    assert listed.exit_code == 0 and "cms" in listed.output


def test_restoring_as_the_help_says_after_a_crash_gives_the_backups_rows(runner, served_db, tmp_path):
    """A service killed mid-run leaves its -wal: copied over the database alone (the help said only that), the backup
    came back with the crashed database's rows, since SQLite replays the log it finds beside the file."""
    import shutil
    import subprocess
    import sys

    engine, env = served_db
    database, out = tmp_path / "moderation.db", tmp_path / "copy.db"
    assert runner.invoke(cli, ["db", "backup", str(out)], env=env).exit_code == 0
    engine.dispose()
    crash = ("import os, sqlite3, sys; connection = sqlite3.connect(sys.argv[1]); connection.execute('PRAGMA wal_autocheckpoint=0'); "
             "connection.execute('DELETE FROM decisions'); connection.commit(); os._exit(9)")
    subprocess.run([sys.executable, "-c", crash, str(database)], check=False, timeout=60)
    assert (tmp_path / "moderation.db-wal").exists()
    help_text = " ".join(runner.invoke(cli, ["db", "backup", "--help"]).output.split())

    assert "stop the service, delete the database's -wal and -shm files" in help_text
    for name in ("moderation.db-wal", "moderation.db-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    shutil.copyfile(out, database)
    assert count(database, "decisions") == 2


def test_an_existing_output_is_kept_unless_overwrite(runner, served_db, tmp_path):
    _, env = served_db
    out = tmp_path / "copy.db"
    out.write_text("last week's backup")

    refused = runner.invoke(cli, ["db", "backup", str(out)], env=env)
    assert refused.exit_code == 2 and "exists already" in refused.output and "--overwrite" in refused.output
    assert out.read_text() == "last week's backup"

    replaced = runner.invoke(cli, ["db", "backup", str(out), "--overwrite"], env=env)
    assert replaced.exit_code == 0, replaced.output
    assert count(out, "decisions") == 2


def test_a_copy_failing_the_integrity_check_leaves_nothing(runner, served_db, tmp_path, monkeypatch):
    _, env = served_db
    out = tmp_path / "copy.db"
    out.write_text("last week's backup")
    real_connect = sqlite3.connect

    class Damaged:
        """The copy's connection, answering the integrity check as a damaged file would."""

        def __init__(self, connection):
            self.connection = connection

        def execute(self, sql, *args):
            if sql.startswith("PRAGMA integrity_check"):
                return iter([("row 3 missing from index",)])
            return self.connection.execute(sql, *args)

        def close(self):
            self.connection.close()

    def connect(database, *args, **kwargs):
        connection = real_connect(database, *args, **kwargs)
        return Damaged(connection) if "mode=ro" in str(database) else connection

    monkeypatch.setattr(backup_module.sqlite3, "connect", connect)
    result = runner.invoke(cli, ["db", "backup", str(out), "--overwrite"], env=env)

    assert result.exit_code == 2 and "integrity check" in result.output and "row 3 missing" in result.output
    assert out.read_text() == "last week's backup"  # the old backup stays until a good one replaces it
    assert not backup_module.partial_path(out).exists()


def test_two_backups_to_one_output_do_not_take_each_others_copy(runner, served_db, tmp_path, monkeypatch):
    """A cron backup and a person's to the same file: the second removed the first's unfinished copy, renamed its own
    over the output while the first was checking it, and the first ended in a traceback (or renamed a copy still being
    written)."""
    import os
    import subprocess
    import sys

    _engine, env = served_db
    out = tmp_path / "moderation-backup.db"
    real_copy = backup_module._copy

    def copy_while_another_backup_runs(source, partial):
        real_copy(source, partial)
        other = subprocess.run([sys.executable, "-m", "service.cli", "db", "backup", str(out), "--overwrite"],
                               env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
        assert other.returncode == 0, other.stderr

    monkeypatch.setattr(backup_module, "_copy", copy_while_another_backup_runs)
    result = runner.invoke(cli, ["db", "backup", str(out), "--overwrite"], env=env)

    assert result.exit_code == 0, result.output
    assert count(out, "decisions") == 2
    assert not [path.name for path in tmp_path.iterdir() if path.name.endswith(".partial")]


def test_a_copy_left_by_a_killed_backup_is_removed(runner, served_db, tmp_path):
    from tests.test_cli_training_safety import finished_process_id

    _engine, env = served_db
    out = tmp_path / "moderation-backup.db"
    left = out.with_name(f".{out.name}.{finished_process_id()}.partial")
    left.write_bytes(b"half a copy of the database")
    journal = left.with_name(f"{left.name}-journal")  # SQLite's, beside the copy it was writing when killed
    journal.write_bytes(b"pages of the half copy")
    result = runner.invoke(cli, ["db", "backup", str(out)], env=env)
    assert result.exit_code == 0, result.output
    assert not left.exists() and not journal.exists() and count(out, "decisions") == 2


def test_a_copy_failing_midway_leaves_no_file_beside_the_output(served_db, tmp_path):
    """A disk that fills up during the copy (here a file-size limit, which SQLite meets the same way) after SQLite
    spilled pages of the copy (a database bigger than its page cache): the copy's journal stayed beside the output,
    under a name no later run removed."""
    import os
    import resource
    import signal
    import subprocess
    import sys

    engine, env = served_db
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE filler (data BLOB)")
        connection.exec_driver_sql("INSERT INTO filler VALUES " + ", ".join(["(randomblob(1000))"] * 4_000))  # 4 MB: over 2 MiB of cache
    out = tmp_path / "backups" / "moderation-backup.db"
    out.parent.mkdir()

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (500_000, 500_000))

    failed = subprocess.run([sys.executable, "-m", "service.cli", "db", "backup", str(out)], env={**os.environ, **env},
                            capture_output=True, text=True, timeout=120, preexec_fn=small_disk)

    assert failed.returncode == 2 and "nothing was written" in failed.stderr, failed.stderr
    assert list(out.parent.iterdir()) == [], failed.stderr


@pytest.mark.parametrize(
    ("target", "message"),
    [("moderation.db", "is the database itself"), ("moderation.db-wal", "is the database itself"),
     ("missing/copy.db", "does not exist"), (".", "is a directory")],
)
def test_outputs_that_cannot_be_a_backup_are_refused(runner, served_db, tmp_path, target, message):
    _, env = served_db
    result = runner.invoke(cli, ["db", "backup", str(tmp_path / target)], env=env)
    assert result.exit_code == 2 and message in result.output
    assert count(tmp_path / "moderation.db", "decisions") == 2


@pytest.mark.parametrize(
    ("url", "message"),
    [("postgresql://moderation:s3cret@db.internal/moderation", "pg_dump --format=custom"),
     ("sqlite://", "in-memory database"), ("sqlite:///{tmp}/nowhere/moderation.db", "no database at")],
)
def test_databases_without_a_file_to_copy_are_refused_with_what_to_do(runner, tmp_path, url, message):
    result = runner.invoke(cli, ["db", "backup", str(tmp_path / "copy.db")], env={"MODERATION_DB_URL": url.format(tmp=tmp_path)})
    assert result.exit_code == 2 and message in result.output
    assert "s3cret" not in result.output
    assert not (tmp_path / "copy.db").exists() and not (tmp_path / "nowhere").exists()


def test_rows_waiting_in_the_spool_are_named_as_not_in_the_backup(runner, served_db, tmp_path):
    _, env = served_db
    write_spool(tmp_path / "spool" / "decisions-1.jsonl", decision_row("c3"), decision_row("c4"))
    result = runner.invoke(cli, ["db", "backup", str(tmp_path / "copy.db")], env=env)
    assert result.exit_code == 0, result.output
    assert "2 decision-log row(s) wait in the spool" in result.stderr
    assert count(tmp_path / "copy.db", "decisions") == 2


def test_rows_the_database_refused_are_named_apart_from_those_waiting(runner, served_db, tmp_path):
    """Rows in rejected-* files were counted as waiting rows "the service writes once the database answers": nothing
    writes them, and a backup without a copy of them loses them."""
    _, env = served_db
    write_spool(tmp_path / "spool" / "decisions-1.jsonl", decision_row("c3"))
    write_spool(tmp_path / "spool" / "rejected-decisions-999-1.jsonl", decision_row("c4"), decision_row("c5"))
    result = runner.invoke(cli, ["db", "backup", str(tmp_path / "copy.db")], env=env)
    assert result.exit_code == 0, result.output
    assert "1 decision-log row(s) wait in the spool" in result.stderr
    assert "2 decision-log row(s) the database refused are in rejected-* files" in result.stderr
    assert "keep a copy of those files with the backup" in result.stderr


@pytest.mark.parametrize("alias", ["link/moderation.db", "link/moderation.db-wal", "sub/../moderation.db"])
def test_the_database_under_another_name_is_refused_even_with_overwrite(runner, served_db, tmp_path, alias):
    """Through a symlinked folder or a `..` the database is the same file: --overwrite replaced the live database (and
    left its write-ahead log beside a file it does not belong to)."""
    _, env = served_db
    (tmp_path / "link").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "sub").mkdir()
    database = tmp_path / "moderation.db"
    inode = database.stat().st_ino
    result = runner.invoke(cli, ["db", "backup", str(tmp_path / alias), "--overwrite"], env=env)
    assert result.exit_code == 2 and "is the database itself" in result.output
    assert database.stat().st_ino == inode and count(database, "decisions") == 2


def test_a_file_that_is_not_a_database_is_refused_saying_what_to_check(runner, tmp_path):
    """The message ended "nothing was written; try again": running it again fails the same way."""
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database, but the file MODERATION_DB_URL names by mistake\n" * 20, encoding="utf-8")
    result = runner.invoke(cli, ["db", "backup", str(tmp_path / "copy.db")], env={"MODERATION_DB_URL": f"sqlite:///{notes}"})
    assert result.exit_code == 2, result.output
    assert f"Error: {notes} is not a SQLite database (file is not a database): check that MODERATION_DB_URL names the " \
           "service's database file" in result.stderr
    assert "try again" not in result.stderr
    assert not (tmp_path / "copy.db").exists()


def _foreign_database(path) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE notes (text TEXT)")


@pytest.mark.parametrize(
    ("make", "message"),
    [(lambda path: path.touch(), "is an empty database (no tables)"),
     (_foreign_database, "has none of the service's tables (api_keys, users, decisions, feedback) nor a schema revision")],
)
def test_a_database_with_nothing_of_the_services_is_refused_not_copied(runner, tmp_path, make, message):
    """A 0-byte file printed "schema revision none: " with nothing after the colon, and left a "backup" that, restored
    over the real database later, would lose every key and row."""
    database = tmp_path / "moderation.db"
    make(database)
    result = runner.invoke(cli, ["db", "backup", str(tmp_path / "copy.db")], env={"MODERATION_DB_URL": f"sqlite:///{database}"})
    assert result.exit_code == 2, result.output
    assert f"Error: {database} {message}: there is nothing of the service's to back up; check that MODERATION_DB_URL " \
           "names the service's database file" in result.stderr
    assert "`moderate db upgrade`" in result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["moderation.db"]  # no copy, no partial file


def test_a_new_database_without_rows_is_still_backed_up(runner, tmp_path):
    """The service's tables with no rows yet are the service's database: it is copied, and the counts say 0."""
    url = f"sqlite:///{tmp_path / 'moderation.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    result = runner.invoke(cli, ["db", "backup", str(tmp_path / "copy.db")], env={"MODERATION_DB_URL": url})
    assert result.exit_code == 0, result.output
    assert "0 api_keys, 0 users, 0 decisions, 0 feedback)" in result.stdout
    assert count(tmp_path / "copy.db", "decisions") == 0


def test_an_output_on_a_read_only_file_system_is_one_line_saying_what_to_do(runner, served_db, tmp_path, monkeypatch):
    """On a read-only mount, removing a stale copy that is not there fails with EROFS rather than ENOENT: it was a
    traceback (exit 1) before the check that names the folder."""
    import errno
    import pathlib

    unlink = pathlib.Path.unlink

    def read_only(path, *args, **kwargs):
        if path.name.endswith(".partial"):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return unlink(path, *args, **kwargs)

    _, env = served_db
    out = tmp_path / "mounted" / "moderation.db"
    out.parent.mkdir()
    monkeypatch.setattr(pathlib.Path, "unlink", read_only)
    result = runner.invoke(cli, ["db", "backup", str(out)], env=env)
    assert result.exit_code == 2, result.output
    assert f"cannot write in {out.parent} (Read-only file system)" in result.output and "give another output" in result.output
    assert list(out.parent.iterdir()) == []


def test_the_rename_to_the_output_is_synced_to_disk_too(runner, served_db, tmp_path, monkeypatch):
    """The copy was fsynced, but not the folder holding its new name: after a power cut a backup reported made (and
    older ones expired on the strength of it) could be missing."""
    import os

    fsync, synced = os.fsync, []

    def recording(descriptor: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{descriptor}"))
        fsync(descriptor)

    _, env = served_db
    out = tmp_path / "backups" / "moderation.db"
    out.parent.mkdir()
    monkeypatch.setattr(os, "fsync", recording)
    assert runner.invoke(cli, ["db", "backup", str(out)], env=env).exit_code == 0
    assert synced[-1] == str(out.parent) and len(synced) >= 2  # the copy first, then the folder after the rename


@pytest.mark.parametrize("extended, says", [
    (779, "is damaged"),  # SQLITE_CORRUPT_INDEX
    (267, "is damaged"),  # SQLITE_CORRUPT_VTAB
    (261, "stayed locked"),  # SQLITE_BUSY_RECOVERY
    (262, "stayed locked"),  # SQLITE_LOCKED_SHAREDCACHE
])
def test_an_extended_sqlite_error_code_gets_the_advice_of_its_primary_code(tmp_path, extended, says):
    """The backup's reasons compared SQLite's code as given: an extended code (a damaged index, a database busy
    recovering) was told to check the disk of the output (full?), which names nothing to fix."""
    import sqlite3

    from service.backup import _copy_failure

    error = sqlite3.DatabaseError("the copy failed")
    error.sqlite_errorcode = extended
    assert says in _copy_failure(tmp_path / "moderation.db", error)
