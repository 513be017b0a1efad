"""The database schema: the Alembic migrations build exactly the tables the code declares; errors hide parameters."""

from __future__ import annotations

import re

import pytest

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect, text

import service.users  # noqa: F401  (its table joins Base.metadata)
from service.migrations import alembic_config, current_revision, head_revision, upgrade
from service.store import Base, make_engine

BEFORE_SESSION_VERSIONS = "0003"
"""The head before ``users.session_version`` (server-side sign-out)."""
ADD_USER = text("INSERT INTO users (name, password_hash, role, created_at) VALUES ('mo', 'a hash', 'moderator', '2026-12-01 00:00:00')")


def schema_differences(engine: Engine) -> list:
    """What autogenerate would write to bring ``engine``'s schema to the declared tables (empty when they match)."""
    with engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), Base.metadata)


def downgrade(engine: Engine, revision: str) -> None:
    """Apply the migrations down to ``revision`` in one transaction."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def user_columns(engine: Engine) -> set[str]:
    return {column["name"] for column in inspect(engine).get_columns("users")}


def test_the_migrated_schema_matches_the_declared_tables(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'schema.db'}")
    upgrade(engine)
    differences = schema_differences(engine)
    engine.dispose()
    # A model changed without a migration (or the reverse): `python -m service.migrations revision -m ...` writes one.
    assert differences == []


def test_database_errors_never_quote_the_parameters_that_may_hold_comment_text(tmp_path):
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from service.store import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'errors.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE kept (body TEXT UNIQUE)"))
        connection.execute(text("INSERT INTO kept VALUES (:body)"), {"body": "my neighbour is a liar"})
    with pytest.raises(IntegrityError) as raised, engine.begin() as connection:
        connection.execute(text("INSERT INTO kept VALUES (:body)"), {"body": "my neighbour is a liar"})
    engine.dispose()
    assert "UNIQUE" in str(raised.value) and "liar" not in str(raised.value)


def test_the_revisions_form_one_line_numbered_as_their_files():
    """Two revisions on the same parent (say two new 0004s) would give two heads and stop `moderate db upgrade`."""
    scripts = ScriptDirectory.from_config(alembic_config())
    revisions = list(reversed(list(scripts.walk_revisions())))
    assert scripts.get_heads() == [head_revision()] == [revisions[-1].revision]
    for number, revision in enumerate(revisions, start=1):
        assert revision.revision == f"{number:04d}"
        assert revision.down_revision == (f"{number - 1:04d}" if number > 1 else None)
        assert re.fullmatch(rf"{revision.revision}_\w+\.py", revision.path.rsplit("/", 1)[-1])


def test_the_session_version_migration_goes_down_and_up_keeping_users(db_url):
    engine = make_engine(db_url)
    try:
        upgrade(engine, BEFORE_SESSION_VERSIONS)
        with engine.begin() as connection:
            connection.execute(ADD_USER)
        upgrade(engine)
        assert "session_version" in user_columns(engine)
        with engine.begin() as connection:
            assert connection.execute(text("SELECT session_version FROM users")).scalar_one() == 0  # existing users
            connection.execute(text("UPDATE users SET session_version = 3"))
        downgrade(engine, BEFORE_SESSION_VERSIONS)
        assert "session_version" not in user_columns(engine)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT name, password_hash FROM users")).all() == [("mo", "a hash")]
        upgrade(engine)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT name, session_version FROM users")).all() == [("mo", 0)]
        assert schema_differences(engine) == []  # SQLite's copy of the table on the way down kept the unique name
    finally:
        engine.dispose()


def test_moderate_db_upgrade_brings_a_database_at_the_previous_head_to_the_head(runner, tmp_path):
    from service.cli import cli

    url = f"sqlite:///{tmp_path / 'previous.db'}"
    engine = make_engine(url)
    try:
        upgrade(engine, BEFORE_SESSION_VERSIONS)
        with engine.begin() as connection:
            connection.execute(ADD_USER)
        result = runner.invoke(cli, ["db", "upgrade"], env={"MODERATION_DB_URL": url})
        assert result.exit_code == 0, result.output
        assert current_revision(engine) == head_revision() != BEFORE_SESSION_VERSIONS
        with engine.connect() as connection:
            assert connection.execute(text("SELECT name, session_version FROM users")).all() == [("mo", 0)]
    finally:
        engine.dispose()


def test_a_database_a_newer_release_migrated_is_one_clear_line(runner, tmp_path):
    """Rolling back the code after a release that migrated the schema: `db upgrade` (and a start with DB_AUTO_UPGRADE)
    was alembic's "Can't locate revision" traceback; the start-up check said to run `moderate db upgrade`, which cannot
    help."""
    from service.cli import cli
    from service.migrations import SchemaMismatch, check_current

    url = f"sqlite:///{tmp_path / 'newer.db'}"
    engine = make_engine(url)
    try:
        upgrade(engine)
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))
        for attempt in (check_current, upgrade):
            with pytest.raises(SchemaMismatch, match="revision 0099, which this version of the service does not know") as caught:
                attempt(engine)
            assert "moderate db upgrade" not in str(caught.value)
        result = runner.invoke(cli, ["db", "upgrade"], env={"MODERATION_DB_URL": url})
        assert result.exit_code == 2, result.output
        assert "a newer release migrated it" in result.output and "Traceback" not in result.output
    finally:
        engine.dispose()


def test_a_migration_that_fails_midway_leaves_nothing_behind_and_can_be_run_again(db_url, monkeypatch):
    """A crash (or a full disk) in the middle of a revision: on SQLite, CREATE TABLE committed by itself, so the
    database stayed at the old revision with the new table in it, and every later upgrade (each worker's start with
    DB_AUTO_UPGRADE) failed on "table users already exists"."""
    from alembic.operations import Operations

    engine = make_engine(db_url)
    try:
        upgrade(engine, "0001")
        with monkeypatch.context() as patched:  # 0002 creates users, then fails while it alters feedback
            patched.setattr(Operations, "batch_alter_table", lambda *args, **kwargs: (_ for _ in ()).throw(OSError("disk full")))
            with pytest.raises(OSError, match="disk full"):
                upgrade(engine)
        assert current_revision(engine) == "0001"
        assert "users" not in inspect(engine).get_table_names()
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        assert schema_differences(engine) == []
    finally:
        engine.dispose()


def test_two_processes_migrating_one_sqlite_file_at_once_both_succeed(tmp_path):
    """Two instances (or an instance and a CLI command) starting on one SQLite file, each with DB_AUTO_UPGRADE: the
    one that had read the old schema when the other committed the migration failed with "database is locked"."""
    import os
    import subprocess
    import sys

    from sqlalchemy import event

    url = f"sqlite:///{tmp_path / 'moderation.db'}"
    engine = make_engine(url)
    try:
        upgrade(engine, "0004")
        other_process = []

        def other_process_migrates(_connection, _cursor, statement, *_args) -> None:
            if not other_process and statement.lstrip().upper().startswith(("CREATE", "ALTER", "UPDATE", "INSERT")):
                # It commits after this transaction read revision 0004, before this one writes.
                other_process.append(subprocess.run([sys.executable, "-m", "service.cli", "db", "upgrade"], capture_output=True,
                                                    text=True, timeout=120, env={**os.environ, "MODERATION_DB_URL": url}))

        event.listen(engine, "before_cursor_execute", other_process_migrates)
        upgrade(engine)

        assert other_process[0].returncode == 0, other_process[0].stderr
        assert current_revision(engine) == head_revision()
        assert schema_differences(engine) == []
    finally:
        engine.dispose()


BEFORE_PAGE_FEEDBACK_KEYS = "0004"
"""The head before moderation-page feedback carried its decision's key (``0005_page_feedback_keys``)."""
PAGE_DECISIONS = {1: ("c0", 1, "a comment of site-a"), 2: ("c0", 2, "a comment of site-b"),
                  3: ("c0", None, "a comment sent without a key"), 4: ("c9", 1, "a comment of site-a since pruned")}
"""Decision-log rows (id: comment id, key id, text) the page decided before its feedback had a key: two sites' comment
c0 (site-b's key revoked since), one logged with keys off, and one whose row was pruned after the decision."""


def store_old_page_feedback(engine: Engine) -> None:
    """Bring ``engine`` to the revision before page feedback had keys and store what the code then stored: the page's
    decisions without a key, and feedback sent through the API (site-a's correction of its c0, one with keys off)."""
    upgrade(engine, BEFORE_PAGE_FEEDBACK_KEYS)
    with engine.begin() as connection:
        for key_id, name, revoked_at in ((1, "site-a", None), (2, "site-b", "2026-12-03 00:00:00")):
            connection.execute(text("INSERT INTO api_keys (id, name, key_sha256, prefix, created_at, revoked_at) "
                                    "VALUES (:id, :name, :digest, 'mod_', '2026-12-01 00:00:00', :revoked_at)"),
                               {"id": key_id, "name": name, "digest": f"{key_id:064d}", "revoked_at": revoked_at})
        for decision_id, (comment_id, key_id, comment) in PAGE_DECISIONS.items():
            connection.execute(text(
                "INSERT INTO decisions (id, created_at, comment_id, text_sha256, text, scores, decision, reasons, model_version, "
                "surface, api_key_id) VALUES (:id, '2026-12-01 00:00:00', :comment_id, :digest, :text, '{}', 'review', '[]', "
                "'2.10.0', 'v1', :key_id)"),
                {"id": decision_id, "comment_id": comment_id, "digest": f"{decision_id:064d}", "text": comment, "key_id": key_id})
            connection.execute(text("INSERT INTO feedback (created_at, comment_id, text, decision, source, moderator, decision_id) "
                                    "VALUES ('2026-12-02 00:00:00', :comment_id, :text, 'reject', 'ui', 'mo', :decision_id)"),
                               {"comment_id": comment_id, "text": comment, "decision_id": decision_id})
        connection.execute(text("DELETE FROM decisions WHERE id = 4"))  # `moderate db prune`: the feedback loses its link
        connection.execute(text("INSERT INTO feedback (created_at, comment_id, decision, source, api_key_id) "
                                "VALUES ('2026-12-04 00:00:00', 'c0', 'approve', 'v1_feedback', 1)"))
        connection.execute(text("INSERT INTO feedback (created_at, comment_id, text, decision, source) "
                                "VALUES ('2026-12-04 00:00:00', 'c7', 'sent with keys off', 'approve', 'v1_feedback')"))


def feedback_keys(engine: Engine) -> list[tuple]:
    with engine.connect() as connection:
        return connection.execute(text("SELECT source, comment_id, decision_id, api_key_id FROM feedback ORDER BY id")).all()


def test_page_feedback_stored_without_a_key_gets_the_key_of_its_logged_decision(db_url):
    """The page stored its decisions without their comment's key (before the queue passed it to save_feedback): the
    migration fills it in from the decision-log row each judges, and leaves the rows it cannot tell (no key logged,
    decision pruned) and the API's."""
    engine = make_engine(db_url)
    try:
        store_old_page_feedback(engine)
        upgrade(engine)
        migrated = [("ui", "c0", 1, 1), ("ui", "c0", 2, 2), ("ui", "c0", 3, None), ("ui", "c9", None, None),
                    ("v1_feedback", "c0", None, 1), ("v1_feedback", "c7", None, None)]
        assert feedback_keys(engine) == migrated
        downgrade(engine, BEFORE_PAGE_FEEDBACK_KEYS)  # keeps the keys; upgrading again changes nothing
        assert feedback_keys(engine) == migrated
        upgrade(engine)
        assert feedback_keys(engine) == migrated and current_revision(engine) == head_revision()
        assert schema_differences(engine) == []
    finally:
        engine.dispose()


def test_after_the_upgrade_a_sites_export_and_training_rows_have_its_earlier_page_decisions(db_url, runner, tmp_path):
    """Before the migration site-a's export missed its page decision, the two sites' page decisions on their comment c0
    were one comment (one dropped from training), and site-a's API correction did not replace its page decision."""
    import pandas as pd

    from model.training.site_data import read_site_data
    from service.cli import cli

    engine = make_engine(db_url)
    try:
        store_old_page_feedback(engine)
    finally:
        engine.dispose()
    env = {"MODERATION_DB_URL": db_url}
    assert runner.invoke(cli, ["db", "upgrade"], env=env).exit_code == 0
    for output, key in ((tmp_path / "site-a.csv", ["--key", "site-a"]), (tmp_path / "all.csv", [])):
        result = runner.invoke(cli, ["feedback", "export", "-o", str(output), *key], env=env)
        assert result.exit_code == 0, result.output
    site_a = pd.read_csv(tmp_path / "site-a.csv", keep_default_na=False)
    assert site_a[["source", "comment_id", "moderator", "api_key_name"]].values.tolist() == [
        ["ui", "c0", "mo", "site-a"], ["v1_feedback", "c0", "", "site-a"]]  # not c9: its pruned decision's key is unknown
    training = read_site_data(tmp_path / "all.csv")
    assert training.attrs["n_superseded"] == 1  # site-a's page decision, by its API correction
    assert sorted(zip(training["text"], training["decision"])) == [
        ("a comment of site-a", "approve"), ("a comment of site-a since pruned", "reject"), ("a comment of site-b", "reject"),
        ("a comment sent without a key", "reject"), ("sent with keys off", "approve")]


def test_going_down_and_up_through_the_key_scopes_keeps_every_rows_key(db_url, monkeypatch):
    """``python -m service.migrations downgrade 0002`` copies api_keys without ``scopes`` on SQLite and drops the old
    table: with foreign keys on, that deleted the keys first, so every decision's and feedback row's ``api_key_id`` was
    set to NULL (ON DELETE SET NULL), and a site's export and training rows lost all they had sent."""
    from service.migrations import main

    engine = make_engine(db_url)
    try:
        store_old_page_feedback(engine)
        upgrade(engine)
        with engine.connect() as connection:
            keys = [connection.execute(text(f"SELECT id, api_key_id FROM {table} ORDER BY id")).all()
                    for table in ("decisions", "feedback")]
        assert any(key_id is not None for rows in keys for _row_id, key_id in rows)
        monkeypatch.setenv("MODERATION_DB_URL", db_url)
        main(["downgrade", "0002"])
        upgrade(engine)
        with engine.connect() as connection:
            assert [connection.execute(text(f"SELECT id, api_key_id FROM {table} ORDER BY id")).all()
                    for table in ("decisions", "feedback")] == keys
            if engine.dialect.name == "sqlite":  # the pooled connection checks foreign keys again
                assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert schema_differences(engine) == []
    finally:
        engine.dispose()


def test_two_processes_migrating_one_empty_postgresql_database_at_once_both_succeed():
    """Two instances starting on one new PostgreSQL database, each with DB_AUTO_UPGRADE: both created the tables, and
    the second to commit failed with 'duplicate key value violates unique constraint "pg_type_typname_nsp_index"'."""
    import os
    import subprocess
    import sys
    import time

    from sqlalchemy import event
    from sqlalchemy.engine import make_url

    from tests.conftest import PG_URL_ENV, empty_postgres, postgres_test_url

    url = postgres_test_url()
    if not url:
        pytest.skip(f"{PG_URL_ENV} is not set: no PostgreSQL server to test against (.ci/run starts one)")
    empty_postgres(url)
    name = f"second-migrator-{os.getpid()}"
    second_url = make_url(url).update_query_dict({"application_name": name}).render_as_string(hide_password=False)
    engine, watcher = make_engine(url), make_engine(url)
    second: list[subprocess.Popen] = []

    def second_process_migrates(_connection, _cursor, statement, *_args) -> None:
        if second or not statement.lstrip().upper().startswith("CREATE"):
            return
        second.append(subprocess.Popen([sys.executable, "-m", "service.cli", "db", "upgrade"], stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True, env={**os.environ, "MODERATION_DB_URL": second_url}))
        deadline = time.monotonic() + 60
        while second[0].poll() is None and time.monotonic() < deadline:  # until it waits for this transaction
            with watcher.connect() as connection:
                waiting = connection.execute(text("SELECT wait_event_type FROM pg_stat_activity WHERE application_name = :name"),
                                             {"name": name}).scalar()
            if waiting == "Lock":
                return
            time.sleep(0.05)

    try:
        event.listen(engine, "before_cursor_execute", second_process_migrates)
        upgrade(engine)
        _output, errors = second[0].communicate(timeout=120)
        assert second[0].returncode == 0, errors
        assert current_revision(engine) == head_revision()
        assert schema_differences(engine) == []
    finally:
        for process in second:
            if process.poll() is None:
                process.kill()
        engine.dispose()
        watcher.dispose()


@pytest.mark.parametrize(("spoil", "message"), [
    (lambda data: __import__("gzip").compress(data), "is not a SQLite database"),  # a compressed backup restored as it is
    (lambda data: data[:len(data) // 2], "is damaged"),  # a backup cut short by a full disk or a failed transfer
], ids=["compressed", "cut-short"])
def test_a_restored_file_that_is_not_a_whole_database_says_what_to_do(runner, tmp_path, spoil, message):
    """`db upgrade` said "cannot migrate", the start-up check "database ... is unreachable": neither says what to fix."""
    from service.cli import cli

    path = tmp_path / "moderation.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        upgrade(engine)
        with engine.begin() as connection:  # pages past the schema's, so that half the file loses some
            for number in range(200):
                connection.execute(text("INSERT INTO users (name, password_hash, role, created_at) "
                                        "VALUES (:name, :hash, 'moderator', '2026-12-01 00:00:00')"),
                                   {"name": f"mo{number}", "hash": "x" * 200})
    finally:
        engine.dispose()
    path.write_bytes(spoil(path.read_bytes()))
    for auto_upgrade in ("true", "false"):
        env = {"MODERATION_DB_URL": f"sqlite:///{path}", "MODERATION_DB_AUTO_UPGRADE": auto_upgrade}
        result = runner.invoke(cli, ["keys", "list"], env=env)
        assert result.exit_code == 2, result.output
        assert f"database file {path} {message}" in result.output
        assert "unreachable" not in result.output and "cannot migrate" not in result.output


def test_a_restored_file_this_user_may_not_write_says_to_give_it_to_the_services_user(tmp_path, monkeypatch):
    """A backup copied as root into an empty folder is root's and readable by root only (or read-only for the service):
    the service's user got "database ... is unreachable: unable to open database file" (or "attempt to write a readonly
    database") and no word of whose file it is. Root may write anything, so the test's user is told it may not."""
    import os
    import sqlite3

    from service.migrations import check_current
    from service.store import StoreError

    path = tmp_path / "restored.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine, BEFORE_SESSION_VERSIONS)
    engine.dispose()
    with sqlite3.connect(path) as connection:  # as `moderate db backup` leaves it: no write-ahead log
        connection.execute("PRAGMA journal_mode=DELETE")
    access = os.access
    monkeypatch.setattr(os, "access", lambda where, mode: False if where == path and mode & os.W_OK else access(where, mode))
    read_only = make_engine(f"sqlite:///file:{path}?mode=ro&uri=true")  # the write refused, as it is to that user
    try:
        for attempt in (check_current, upgrade):
            with pytest.raises(StoreError) as caught:
                attempt(read_only)
            assert f"database file {path} cannot be used" in str(caught.value) and "`chown` them to it" in str(caught.value)
            assert "unreachable" not in str(caught.value)
    finally:
        read_only.dispose()


@pytest.fixture
def disk_full():
    """A real SQLITE_FULL error, to be raised where a migration's disk fills (an in-memory database of two pages)."""
    import sqlite3

    full = sqlite3.connect(":memory:")
    full.execute("PRAGMA max_page_count=2")
    with pytest.raises(sqlite3.OperationalError) as error:
        full.execute("CREATE TABLE t (x)")
        full.execute("INSERT INTO t VALUES (zeroblob(100000))")
    full.close()
    return error.value


def test_a_full_disk_midway_through_a_table_copy_is_named_with_what_to_do(tmp_path, disk_full):
    """On a full disk SQLite rolls the whole transaction back; Alembic then drops its copy of the table, which is gone
    too, so `db upgrade` said only "no such table: _alembic_tmp_feedback" (seen on a full tmpfs)."""

    from sqlalchemy import event

    from service.store import StoreError

    engine = make_engine(f"sqlite:///{tmp_path / 'moderation.db'}")

    def disk_fills(_connection, cursor, statement, *_args) -> None:
        if statement.lstrip().startswith("INSERT INTO _alembic_tmp_feedback"):
            cursor.connection.execute("ROLLBACK")  # what SQLite does itself after a full disk
            raise disk_full

    try:
        upgrade(engine, "0001")
        event.listen(engine, "before_cursor_execute", disk_fills)
        with pytest.raises(StoreError) as caught:
            upgrade(engine)
        assert "is full (" in str(caught.value) and "database or disk is full): nothing was changed; free space" in str(caught.value)
        assert "_alembic_tmp" not in str(caught.value)
        event.remove(engine, "before_cursor_execute", disk_fills)
        assert current_revision(engine) == "0001" and "users" not in inspect(engine).get_table_names()
        upgrade(engine)
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_a_full_disk_on_the_retry_after_another_migrator_is_named_not_the_first_attempts_lock(tmp_path, disk_full):
    """The first attempt met another process's write (SQLITE_BUSY) and the retry, holding the lock, filled the disk: the
    error named was the first attempt's "database is locked", the retry's failure having it as its context."""
    import sqlite3

    from sqlalchemy import event

    from service.store import StoreError

    holder, waiter = (sqlite3.connect(tmp_path / "locked.db", timeout=0, isolation_level=None) for _ in range(2))
    holder.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError) as busy:  # a real SQLITE_BUSY
        waiter.execute("BEGIN IMMEDIATE")
    holder.close()
    waiter.close()
    assert busy.value.sqlite_errorname.startswith("SQLITE_BUSY")
    engine = make_engine(f"sqlite:///{tmp_path / 'moderation.db'}")
    attempts: list[str] = []

    def busy_then_full(_connection, cursor, statement, *_args) -> None:
        if statement.lstrip().startswith("CREATE TABLE _alembic_tmp_feedback"):
            attempts.append(statement)
            if len(attempts) == 1:
                raise busy.value  # another process migrated meanwhile: the retry takes the write lock first
        if statement.lstrip().startswith("INSERT INTO _alembic_tmp_feedback") and len(attempts) == 2:
            cursor.connection.execute("ROLLBACK")
            raise disk_full

    try:
        upgrade(engine, "0001")
        event.listen(engine, "before_cursor_execute", busy_then_full)
        with pytest.raises(StoreError) as caught:
            upgrade(engine)
        assert len(attempts) == 2
        assert "is full (" in str(caught.value) and "locked" not in str(caught.value)
    finally:
        engine.dispose()
