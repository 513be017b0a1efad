"""``moderate db prune`` and ``moderate db forget`` on SQLite and PostgreSQL: what goes, what stays, what is refused."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import sys

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.cli import cli
from service.migrations import upgrade
from service.store import DecisionRecord, Feedback, make_engine, sha256_text, utc_now

SECRET = "Reader 8841 lives at 12 Quarry Lane and hates the mayor"
"""A kept comment text that ``forget`` must leave nowhere in the database's files."""


@pytest.fixture
def lifecycle_db(db_url, tmp_path):
    """A migrated database (SQLite file, then PostgreSQL), its engine, and the environment pointing ``moderate`` at it."""
    engine = make_engine(db_url)
    upgrade(engine)
    env = {"MODERATION_DB_URL": db_url, "MODERATION_DECISION_SPOOL_DIR": str(tmp_path / "spool")}
    yield engine, env
    engine.dispose()


def decision_row(comment_id: str | None, days_ago: float = 0, text: str = "a comment") -> dict:
    """A decision-log row as ``record_decisions`` writes it (and the spool keeps it, ``created_at`` as ISO text)."""
    return {"created_at": utc_now() - dt.timedelta(days=days_ago), "comment_id": comment_id, "text_sha256": sha256_text(text),
            "text": text, "scores": {"toxicity": 0.9}, "decision": "review", "reasons": ["toxicity"], "model_version": "9.9.9",
            "surface": "v1", "request_id": None, "api_key_id": None}


def add(engine, *rows) -> list[int]:
    with Session(engine) as session:
        session.add_all(rows)
        session.commit()
        return [row.id for row in rows]


def feedback_row(comment_id: str | None, days_ago: float = 0, text: str = "a comment", decision_id: int | None = None) -> Feedback:
    return Feedback(created_at=utc_now() - dt.timedelta(days=days_ago), comment_id=comment_id, text=text,
                    text_sha256=sha256_text(text), decision="reject", source="v1", decision_id=decision_id)


def remaining(engine, model) -> list:
    with Session(engine) as session:
        return [(row.comment_id, getattr(row, "decision_id", None)) for row in session.scalars(select(model).order_by(model.id))]


def write_spool(path, *rows: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({**row, "created_at": row["created_at"].isoformat()}) + "\n" for row in rows), encoding="utf-8")


def spooled_ids(directory) -> list:
    return sorted((json.loads(line)["comment_id"] or "") for path in directory.iterdir() for line in path.read_text().splitlines())


def test_prune_deletes_old_decisions_in_batches_and_keeps_feedback(runner, lifecycle_db, tmp_path):
    engine, env = lifecycle_db
    old_id, _, _ = add(engine, *(DecisionRecord(**decision_row(name, days)) for name, days in [("old1", 100), ("old2", 95), ("new", 1)]))
    add(engine, feedback_row("old1", 100, decision_id=old_id), feedback_row("new", 1))
    write_spool(tmp_path / "spool" / "decisions-1.jsonl", decision_row("old3", 120), decision_row("new2", 0))

    result = runner.invoke(cli, ["db", "prune", "--older-than", "90d", "--batch-size", "1"], env=env)

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("pruned 2 decision-log row(s) and 1 spooled row(s) logged before ")
    assert "Kept 1 feedback row(s)" in result.stderr
    assert remaining(engine, DecisionRecord) == [("new", None)]
    assert remaining(engine, Feedback) == [("old1", None), ("new", None)]  # kept, unlinked from its pruned decision
    assert spooled_ids(tmp_path / "spool") == ["new2"]


def test_prune_dry_run_counts_and_include_feedback_prunes_it(runner, lifecycle_db):
    engine, env = lifecycle_db
    add(engine, DecisionRecord(**decision_row("old", 40)), feedback_row("old", 40), feedback_row("new", 2))

    dry = runner.invoke(cli, ["db", "prune", "--older-than", "30", "--include-feedback", "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert dry.stdout.startswith("would prune 1 decision-log row(s), 1 feedback row(s) and 0 spooled row(s)")
    assert len(remaining(engine, DecisionRecord)) == 1 and len(remaining(engine, Feedback)) == 2
    # Without --include-feedback a dry run says what it would keep: it keeps nothing itself (it said "Kept").
    kept = runner.invoke(cli, ["db", "prune", "--older-than", "30", "--dry-run"], env=env)
    assert "Would keep 1 feedback row(s)" in kept.stderr and "Kept" not in kept.stderr

    done = runner.invoke(cli, ["db", "prune", "--older-than", "4w", "--include-feedback"], env=env)
    assert done.exit_code == 0, done.output
    assert remaining(engine, DecisionRecord) == [] and remaining(engine, Feedback) == [("new", None)]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("age", "message"),
    [("-5", "is negative"), ("abc", "is not an age"), ("90y", "is not an age"), ("0", "add --all"),
     ("99999999999d", "too long ago")],
)
def test_prune_refuses_nonsense_ages(runner, lifecycle_db, age, message):
    engine, env = lifecycle_db
    add(engine, DecisionRecord(**decision_row("c", 0.5)))
    result = runner.invoke(cli, ["db", "prune", "--older-than", age], env=env)
    assert result.exit_code == 2 and message in result.output
    assert len(remaining(engine, DecisionRecord)) == 1


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_prune_refuses_a_batch_size_no_database_takes(runner, lifecycle_db):
    """A --batch-size past the largest 64-bit integer was an OverflowError traceback from the driver (exit 1)."""
    engine, env = lifecycle_db
    add(engine, DecisionRecord(**decision_row("old", 100)))
    result = runner.invoke(cli, ["db", "prune", "--older-than", "90d", "--batch-size", str(2**64)], env=env)
    assert result.exit_code == 2 and "--batch-size" in result.output and "Traceback" not in result.output
    assert len(remaining(engine, DecisionRecord)) == 1


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_prune_zero_with_all_empties_the_log(runner, lifecycle_db):
    engine, env = lifecycle_db
    add(engine, DecisionRecord(**decision_row("c", 0.001)))
    result = runner.invoke(cli, ["db", "prune", "--older-than", "0", "--all"], env=env)
    assert result.exit_code == 0, result.output
    assert remaining(engine, DecisionRecord) == []


def test_forget_deletes_every_row_about_the_ids_and_reports_the_missing(runner, lifecycle_db, tmp_path):
    engine, env = lifecycle_db
    c1_decision, *_ = add(engine, DecisionRecord(**decision_row("c1", text=SECRET)), DecisionRecord(**decision_row("c1", text=SECRET)),
                          DecisionRecord(**decision_row("c2")), DecisionRecord(**decision_row(None, text=SECRET)))
    add(engine, feedback_row("c1", text=SECRET), feedback_row(None, text=SECRET, decision_id=c1_decision), feedback_row("c2"))
    spool = tmp_path / "spool"
    write_spool(spool / "decisions-1.jsonl", decision_row("c1", text=SECRET), decision_row("c3"))
    write_spool(spool / "rejected-decisions-2.jsonl.replaying-2", decision_row("c1", text=SECRET))
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("c1\n\n  gone  \n", encoding="utf-8")

    dry = runner.invoke(cli, ["db", "forget", "--from", str(ids_file), "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert "decisions: would delete 2 row(s)" in dry.stdout and len(remaining(engine, DecisionRecord)) == 4

    result = runner.invoke(cli, ["db", "forget", "--from", str(ids_file), "--comment-id", "c1"], env=env)

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["decisions: deleted 2 row(s)", "feedback: deleted 2 row(s)", "spool: deleted 2 row(s)",
                                          "found 1 of 2 comment id(s); not found: gone"]
    assert remaining(engine, DecisionRecord) == [("c2", None), (None, None)]  # same text, no id: kept without --same-text
    assert remaining(engine, Feedback) == [("c2", None)]
    assert spooled_ids(spool) == ["c3"]


def test_forget_same_text_reaches_rows_without_a_comment_id(runner, lifecycle_db, tmp_path):
    engine, env = lifecycle_db
    add(engine, DecisionRecord(**decision_row("c1", text=SECRET)), DecisionRecord(**decision_row(None, text=SECRET)),
        DecisionRecord(**decision_row(None, text="another text")), feedback_row(None, text=SECRET))
    write_spool(tmp_path / "spool" / "decisions-1.jsonl", decision_row(None, text=SECRET))

    result = runner.invoke(cli, ["db", "forget", "--comment-id", "c1", "--same-text"], env=env)

    assert result.exit_code == 0, result.output
    assert "decisions: deleted 2 row(s)" in result.stdout and "feedback: deleted 1 row(s)" in result.stdout
    assert remaining(engine, DecisionRecord) == [(None, None)] and remaining(engine, Feedback) == []
    assert not (tmp_path / "spool" / "decisions-1.jsonl").exists()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_forget_leaves_no_copy_of_the_text_in_the_sqlite_files(runner, lifecycle_db, tmp_path):
    engine, env = lifecycle_db
    add(engine, DecisionRecord(**decision_row("c1", text=SECRET)), feedback_row("c1", text=SECRET))
    # The pool keeps its connection open, as a running server's workers do: SQLite then keeps its write-ahead log.

    result = runner.invoke(cli, ["db", "forget", "--comment-id", "c1"], env=env)

    assert result.exit_code == 0, result.output
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("moderation.db*"))
    assert SECRET.encode() not in stored


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_forget_leaves_a_file_a_live_worker_is_replaying_and_says_so(runner, lifecycle_db, tmp_path):
    _, env = lifecycle_db
    busy = tmp_path / "spool" / "decisions-7.jsonl.replaying-1"  # claimed by process 1, which always runs
    write_spool(busy, decision_row("c1"))

    result = runner.invoke(cli, ["db", "forget", "--comment-id", "c1"], env=env)

    assert result.exit_code == 0, result.output
    assert "found 0 of 1 comment id(s); not found: c1" in result.stdout
    assert "being replayed or written by a running worker" in result.stderr and busy.exists()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_forget_without_ids_is_bad_input(runner, lifecycle_db):
    result = runner.invoke(cli, ["db", "forget"], env=lifecycle_db[1])
    assert result.exit_code == 2 and "no comment id given" in result.output


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("from_stdin", [False, True])
def test_forget_reads_an_id_file_with_a_byte_order_mark(runner, lifecycle_db, tmp_path, from_stdin):
    """A list saved by Notepad or Excel (BOM, CRLF): its first id matched nothing and was reported not found."""
    engine, env = lifecycle_db
    add(engine, DecisionRecord(**decision_row("c1", text=SECRET)), DecisionRecord(**decision_row("c2")))
    listed = "\ufeffc1\r\nc2\r\n".encode()
    ids_file = tmp_path / "ids.txt"
    ids_file.write_bytes(listed)
    args, given = (["-"], listed) if from_stdin else ([str(ids_file)], None)
    result = runner.invoke(cli, ["db", "forget", "--from", *args], env=env, input=given)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "found 2 of 2 comment id(s)"
    assert remaining(engine, DecisionRecord) == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_forget_from_a_file_that_is_not_utf8_is_bad_input(runner, lifecycle_db, tmp_path):
    engine, env = lifecycle_db
    add(engine, DecisionRecord(**decision_row("c1")))
    ids_file = tmp_path / "ids.txt"
    ids_file.write_bytes("c1\ncaf\u00e9\n".encode("latin-1"))
    result = runner.invoke(cli, ["db", "forget", "--from", str(ids_file)], env=env)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.exception.__class__ is SystemExit
    assert result.stderr.splitlines() == [f"Error: --from {ids_file}: not UTF-8 text (byte 0xe9): save it as UTF-8, one comment id per line"]
    assert remaining(engine, DecisionRecord) == [("c1", None)]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_spool_that_cannot_be_swept_is_bad_input_and_deletes_nothing(runner, lifecycle_db, tmp_path):
    engine, env = lifecycle_db
    add(engine, DecisionRecord(**decision_row("c1")))
    (tmp_path / "spool" / "decisions-1.jsonl").mkdir(parents=True)  # unreadable as a file
    result = runner.invoke(cli, ["db", "forget", "--comment-id", "c1"], env=env)
    assert result.exit_code == 2 and "the decision-log spool cannot be swept" in result.output
    assert remaining(engine, DecisionRecord) == [("c1", None)]


@pytest.fixture
def sqlite_without_secure_delete():
    """SQLite connections that leave deleted rows' bytes in the file, as SQLite does unless built with SECURE_DELETE
    (Debian's is, python.org's and most others' are not)."""
    from sqlalchemy import Engine, event

    def insecure(dbapi_connection, _record):
        if type(dbapi_connection).__module__ == "sqlite3":
            dbapi_connection.execute("PRAGMA secure_delete=OFF")

    event.listen(Engine, "connect", insecure)
    yield
    event.remove(Engine, "connect", insecure)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_pruned_texts_are_overwritten_rather_than_left_for_the_next_backup(runner, sqlite_without_secure_delete, lifecycle_db, tmp_path):
    engine, env = lifecycle_db
    add(engine, DecisionRecord(**decision_row("old", 100, text=SECRET)), DecisionRecord(**decision_row("new", 1)))
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")  # logged long ago: in the database file itself

    pruned = runner.invoke(cli, ["db", "prune", "--older-than", "90d"], env=env)
    backup = runner.invoke(cli, ["db", "backup", str(tmp_path / "backup.db")], env=env)

    assert pruned.exit_code == 0 and backup.exit_code == 0, pruned.output + backup.output
    assert remaining(engine, DecisionRecord) == [("new", None)]
    assert SECRET.encode() not in (tmp_path / "backup.db").read_bytes()
    engine.dispose()  # the last connection checkpoints the write-ahead log into the file
    assert SECRET.encode() not in (tmp_path / "moderation.db").read_bytes()


class _TerminalBytes(io.BytesIO):
    """Standard input as a terminal gives it: here with its content typed in advance."""

    def isatty(self) -> bool:
        return True


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def interrupt_at_batch(monkeypatch, batch: int) -> None:
    """Ctrl-C as ``prune_older`` or ``forget_comments`` begins transaction number ``batch`` (from 1): those before it committed."""
    from service import retention

    started = []
    real = retention._overwrite_deleted

    def overwrite_deleted(session) -> None:
        started.append(1)
        if len(started) == batch:
            raise KeyboardInterrupt
        real(session)

    monkeypatch.setattr(retention, "_overwrite_deleted", overwrite_deleted)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_prune_interrupted_says_how_many_rows_went_and_that_running_it_again_finishes(runner, lifecycle_db, monkeypatch):
    """Ctrl-C printed "Aborted!" only: nothing said that the batches before it were deleted, nor that it is safe to rerun."""
    engine, env = lifecycle_db
    add(engine, *(DecisionRecord(**decision_row(f"old{n}", 100)) for n in range(5)), DecisionRecord(**decision_row("new", 1)))
    interrupt_at_batch(monkeypatch, 3)
    result = runner.invoke(cli, ["db", "prune", "--older-than", "90d", "--batch-size", "2"], env=env)
    assert result.exit_code == 130, result.output
    assert result.stderr.splitlines()[-1] == ("Interrupted: 4 decision-log row(s) were deleted (each batch of 2 is committed), "
                                              "nothing from the spool (it is swept after the database); run the same command "
                                              "again to delete the rest")
    assert len(remaining(engine, DecisionRecord)) == 2
    monkeypatch.undo()
    result = runner.invoke(cli, ["db", "prune", "--older-than", "90d", "--batch-size", "2"], env=env)
    assert result.exit_code == 0 and result.stdout.startswith("pruned 1 decision-log row(s)")
    assert remaining(engine, DecisionRecord) == [("new", None)]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_forget_interrupted_says_what_went_and_that_running_it_again_finishes(runner, lifecycle_db, monkeypatch):
    from service.retention import IDS_PER_QUERY

    engine, env = lifecycle_db
    ids = [f"c{n}" for n in range(IDS_PER_QUERY + 1)]  # two transactions: the second one is interrupted
    add(engine, DecisionRecord(**decision_row(ids[0])), DecisionRecord(**decision_row(ids[-1])))
    interrupt_at_batch(monkeypatch, 2)
    result = runner.invoke(cli, ["db", "forget", "--from", "-"], env=env, input="\n".join(ids))
    assert result.exit_code == 130, result.output
    assert result.stderr.splitlines()[-1] == (f"Interrupted: 1 decision-log row(s), 0 feedback row(s) were deleted (every "
                                              f"{IDS_PER_QUERY} ids are committed together), nothing from the spool (it is "
                                              "swept after the database); run the same command again to delete the rest")
    assert remaining(engine, DecisionRecord) == [(ids[-1], None)]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_prune_and_forget_show_a_bar_on_a_terminal(lifecycle_db, monkeypatch, capsys):
    """A prune of millions of rows said nothing until its last line."""
    engine, env = lifecycle_db
    add(engine, *(DecisionRecord(**decision_row(f"old{n}", 100)) for n in range(5)))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    cli.main(["db", "prune", "--older-than", "90d", "--batch-size", "2"], prog_name="moderate", standalone_mode=False)
    assert re.search(r"\rpruning: +0%\|.*\| 0/5 ", terminal.getvalue())  # a bar over the 5 rows to delete
    assert capsys.readouterr().out.startswith("pruned 5 decision-log row(s)")  # the summary stays on stdout, bar or not
    cli.main(["db", "forget", "--comment-id", "a", "--comment-id", "b"], prog_name="moderate", standalone_mode=False)
    assert re.search(r"\rforgetting: +0%\|.*\| 0/2 ", terminal.getvalue())


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_prune_off_a_terminal_prints_only_its_summary(runner, lifecycle_db):
    """A cron run's mail holds the summary lines, no bar."""
    engine, env = lifecycle_db
    add(engine, DecisionRecord(**decision_row("old", 100)))
    result = runner.invoke(cli, ["db", "prune", "--older-than", "90d"], env=env)
    assert result.exit_code == 0 and result.stderr == ""


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("terminal", [True, False])
def test_forget_from_standard_input_says_what_it_waits_for_on_a_terminal(runner, lifecycle_db, terminal):
    """`--from -` in a terminal waited for input, silently: it looked hung."""
    engine, env = lifecycle_db
    add(engine, DecisionRecord(**decision_row("c1")))
    typed = b"c1\n"
    result = runner.invoke(cli, ["db", "forget", "--from", "-"], env=env, input=_TerminalBytes(typed) if terminal else typed)
    assert result.exit_code == 0, result.output
    told = "reading comment ids from the terminal, one per line, until end of file (Ctrl-D on a line of its own)"
    assert (told in result.stderr) is terminal
    assert remaining(engine, DecisionRecord) == []


@pytest.mark.parametrize("command", [["prune", "--older-than", "90d"], ["forget", "--comment-id", "c1"]])
def test_a_dry_run_on_a_database_behind_migrates_nothing_and_says_to_upgrade(runner, tmp_path, command):
    """DB_AUTO_UPGRADE (on by default) must not turn a dry run into a schema migration under the running service."""
    from service.migrations import current_revision, head_revision

    url = f"sqlite:///{tmp_path / 'previous.db'}"
    engine = make_engine(url)
    try:
        upgrade(engine, "0004")
        env = {"MODERATION_DB_URL": url, "MODERATION_DECISION_SPOOL_DIR": str(tmp_path / "spool")}
        result = runner.invoke(cli, ["db", *command, "--dry-run"], env=env)
        assert result.exit_code == 2
        assert f"at schema revision 0004 but this version needs {head_revision()}" in result.output
        assert "run `moderate db upgrade` first" in result.output
        assert current_revision(engine) == "0004"
    finally:
        engine.dispose()


def lock_at_batch(monkeypatch, database, batch: int):
    """Another writer takes the SQLite file's write lock as transaction number ``batch`` (from 1) begins, and that
    transaction waits for no lock (busy_timeout 0, rather than 10 s); returns the other writer, to roll back."""
    import sqlite3

    from sqlalchemy import text

    from service import retention

    other = sqlite3.connect(database, isolation_level=None)
    started = []
    real = retention._overwrite_deleted

    def overwrite_deleted(session) -> None:
        started.append(1)
        if len(started) == batch:
            other.execute("BEGIN IMMEDIATE")
            session.execute(text("PRAGMA busy_timeout=0"))
        real(session)

    monkeypatch.setattr(retention, "_overwrite_deleted", overwrite_deleted)
    return other


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_prune_stopped_by_a_locked_database_says_what_went_in_one_line(runner, lifecycle_db, monkeypatch, tmp_path):
    """A database locked past the busy timeout (an open sqlite3 shell's transaction) ended the prune in a traceback with
    the SQL, exit 1, saying nothing of the batches already deleted."""
    engine, env = lifecycle_db
    add(engine, *(DecisionRecord(**decision_row(f"old{n}", 100)) for n in range(5)), DecisionRecord(**decision_row("new", 1)))
    other = lock_at_batch(monkeypatch, tmp_path / "moderation.db", 3)
    result = runner.invoke(cli, ["db", "prune", "--older-than", "90d", "--batch-size", "2"], env=env)
    other.execute("ROLLBACK")
    other.close()
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == ["Error: the database failed (OperationalError: database is locked): 4 decision-log "
                                          "row(s) were deleted (each batch of 2 is committed), nothing from the spool (it is "
                                          "swept after the database); run the same command again to delete the rest"]
    monkeypatch.undo()
    again = runner.invoke(cli, ["db", "prune", "--older-than", "90d"], env=env)
    assert again.exit_code == 0 and remaining(engine, DecisionRecord) == [("new", None)]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_forget_stopped_by_a_locked_database_says_what_went_in_one_line(runner, lifecycle_db, monkeypatch, tmp_path):
    from service.retention import IDS_PER_QUERY

    engine, env = lifecycle_db
    ids = [f"c{n}" for n in range(IDS_PER_QUERY + 1)]  # two transactions: the second one meets the lock
    add(engine, DecisionRecord(**decision_row(ids[0])), DecisionRecord(**decision_row(ids[-1])))
    other = lock_at_batch(monkeypatch, tmp_path / "moderation.db", 2)
    result = runner.invoke(cli, ["db", "forget", "--from", "-"], env=env, input="\n".join(ids))
    other.execute("ROLLBACK")
    other.close()
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [f"Error: the database failed (OperationalError: database is locked): 1 decision-log "
                                          f"row(s), 0 feedback row(s) were deleted (every {IDS_PER_QUERY} ids are committed "
                                          "together), nothing from the spool (it is swept after the database); run the same "
                                          "command again to delete the rest"]
    assert remaining(engine, DecisionRecord) == [(ids[-1], None)]


@pytest.mark.parametrize("command", [["prune", "--older-than", "90d"], ["forget", "--comment-id", "old0", "--comment-id", "old1"]])
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_database_failure_leaves_the_spooled_rows_for_the_next_run(runner, lifecycle_db, monkeypatch, tmp_path, command):
    """The spool was swept before the database: a database locked at the first transaction left the old rows in the
    database and the spooled ones already deleted. Now the spool is swept once the database part is done."""
    engine, env = lifecycle_db
    add(engine, DecisionRecord(**decision_row("old0", 100)), DecisionRecord(**decision_row("new", 1)))
    spool = tmp_path / "spool"
    write_spool(spool / "decisions-1.jsonl", decision_row("old1", 120), decision_row("new2", 0))
    other = lock_at_batch(monkeypatch, tmp_path / "moderation.db", 1)
    result = runner.invoke(cli, ["db", *command], env=env)
    other.execute("ROLLBACK")
    other.close()
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("Error: the database failed (OperationalError: database is locked): 0 decision-log row(s)")
    assert "nothing from the spool (it is swept after the database); run the same command again" in line
    assert spooled_ids(spool) == ["new2", "old1"]  # as it was
    monkeypatch.undo()
    again = runner.invoke(cli, ["db", *command], env=env)
    assert again.exit_code == 0, again.output
    assert remaining(engine, DecisionRecord) == [("new", None)] and spooled_ids(spool) == ["new2"]


@pytest.mark.parametrize("command", [["prune", "--older-than", "90d"], ["forget", "--comment-id", "old0", "--comment-id", "old1"]])
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_rows_a_worker_replays_while_the_database_part_runs_are_deleted_too(runner, lifecycle_db, monkeypatch, tmp_path, command):
    """With the spool swept after the database, a worker's replay between the two would put spooled rows back into the
    database once it had been pruned: the database part runs again when rows were waiting in the spool."""
    from service.cli import database
    from service.decision_log import DecisionSpool

    engine, env = lifecycle_db
    add(engine, DecisionRecord(**decision_row("old0", 100)), DecisionRecord(**decision_row("new", 1)))
    spool = tmp_path / "spool"
    write_spool(spool / "decisions-1.jsonl", decision_row("old1", 120))
    replay_engine = make_engine(env["MODERATION_DB_URL"], create=False)
    worker = DecisionSpool(spool, replay_engine, registry=None)
    real, replayed = database._sweep_spool, []

    def replayed_before_the_sweep(drop, dry_run):
        if not dry_run and not replayed:  # the database part is done: a worker replays the spool just now
            replayed.append(worker.replay(DecisionRecord.__table__))
        return real(drop, dry_run)

    monkeypatch.setattr(database, "_sweep_spool", replayed_before_the_sweep)
    try:
        result = runner.invoke(cli, ["db", *command], env=env)
    finally:
        replay_engine.dispose()
    assert replayed == [1] and result.exit_code == 0, result.output
    assert remaining(engine, DecisionRecord) == [("new", None)] and not list(spool.glob("decisions-*"))
