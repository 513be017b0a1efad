"""The decision log's spool: a failed write still answers, the rows wait in a local file and are replayed."""

from __future__ import annotations

import shutil
import json
import logging
import os
import sqlite3
import threading
import time

import pytest
from sqlalchemy import event, text
from sqlalchemy.pool import Pool

from service.app import create_app
from service.decision_log import SPOOL_KEY
from service.logs import LOGGER_NAME
from service.store import DecisionRecord, app_engine, sha256_text
from tests.test_ops import metric_value

SECRET_TEXT = "my neighbour Alice Example is a stupid clown"
BODY = {"comments": [{"id": "a", "text": "You shill."}, {"id": "b", "text": "Thanks for the article."}]}
ONE = {"comments": [{"id": "a", "text": "You shill."}]}
"""The usual request, whose row is written by its own path (one INSERT in autocommit mode)."""
BODIES = pytest.mark.parametrize("body", [ONE, BODY], ids=["one comment", "two comments"])


@pytest.fixture
def file_app(tiny_bundle_path, tmp_path):
    """The service on a SQLite file, keys off, with its spool in ``tmp_path/spool``."""
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": f"sqlite:///{tmp_path / 'log.db'}",
                      "AUTH_REQUIRED": False, "DECISION_SPOOL_DIR": str(tmp_path / "spool")})
    yield app
    app.extensions[SPOOL_KEY].dispose()
    app.extensions[SPOOL_KEY].autocommit_engine.dispose()
    app_engine(app).dispose()


@pytest.fixture
def sql_statements():
    """The SQL statements that pooled connections run while the test does (sqlite3's trace callback)."""
    statements: list[str] = []

    def trace(dbapi_connection, _record, _proxy):
        dbapi_connection.set_trace_callback(statements.append)

    event.listen(Pool, "checkout", trace)
    yield statements
    event.remove(Pool, "checkout", trace)


def statement_heads(statements: list[str]) -> list[str]:
    """``INSERT INTO decisions (created_at, ...) VALUES ...`` -> ``INSERT INTO decisions``."""
    return [statement.split(" (")[0].strip() for statement in statements]


def logged_ids(app) -> list[str]:
    with app_engine(app).connect() as connection:
        return sorted(row[0] for row in connection.execute(text("SELECT comment_id FROM decisions")))


@BODIES
def test_a_failed_log_write_answers_spools_counts_and_is_replayed(file_app, tmp_path, body):
    ids = [comment["id"] for comment in body["comments"]]
    engine = app_engine(file_app)
    DecisionRecord.__table__.drop(engine)  # every decision-log write now fails
    client = file_app.test_client()
    response = client.post("/v1/moderate", json=body)
    assert response.status_code == 200
    assert [result["id"] for result in response.get_json()["results"]] == ids
    spooled = [json.loads(line) for path in (tmp_path / "spool").glob("decisions-*.jsonl") for line in path.read_text().splitlines()]
    assert [row["comment_id"] for row in spooled] == ids
    metrics = client.get("/metrics").get_data(as_text=True)
    assert metric_value(metrics, "moderation_decision_log_write_failures_total") == 1
    assert metric_value(metrics, "moderation_decision_log_spooled_rows_total") == len(ids)

    DecisionRecord.__table__.create(engine)
    spool = file_app.extensions[SPOOL_KEY]
    spool.next_replay = 0.0  # due now rather than in REPLAY_INTERVAL_SECONDS
    client.get("/healthz").close()  # the replay runs once the answer is sent
    assert logged_ids(file_app) == ids
    assert not list((tmp_path / "spool").glob("decisions-*"))
    assert metric_value(client.get("/metrics").get_data(as_text=True), "moderation_decision_log_replayed_rows_total") == len(ids)


def test_a_one_comment_request_is_logged_by_one_insert_that_commits_itself(file_app, sql_statements):
    client = file_app.test_client()
    assert client.post("/v1/moderate", json=ONE).status_code == 200  # opens the pooled connections
    sql_statements.clear()
    assert client.post("/v1/moderate", json=ONE).status_code == 200
    # Nothing before or after it: SQLite locks the file only while the INSERT runs, and the connection is not switched
    # to autocommit and back (a PRAGMA) on every request.
    assert statement_heads(sql_statements) == ["INSERT INTO decisions"]
    assert logged_ids(file_app) == ["a", "a"]  # committed, as another connection sees


def test_the_rows_of_a_request_are_logged_in_one_transaction(file_app, sql_statements):
    assert file_app.test_client().post("/v1/moderate", json=BODY).status_code == 200
    assert statement_heads(sql_statements) == ["BEGIN", "INSERT INTO decisions", "INSERT INTO decisions", "COMMIT"]
    assert logged_ids(file_app) == ["a", "b"]


def test_rows_the_database_refuses_are_kept_for_an_operator(file_app, tmp_path):
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    (spool_dir / "decisions-1.jsonl").write_text('{"comment_id": "cut sho\n', encoding="utf-8")  # a line cut by a crash
    assert file_app.extensions[SPOOL_KEY].replay(DecisionRecord.__table__) == 0
    assert [path.name for path in spool_dir.iterdir()] == [f"rejected-decisions-1.jsonl.replaying-{os.getpid()}"]
    assert logged_ids(file_app) == []


@BODIES
def test_the_decision_log_waits_briefly_for_a_locked_file(file_app, tmp_path, body):
    holder = sqlite3.connect(tmp_path / "log.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        assert file_app.test_client().post("/v1/moderate", json=body).status_code == 200
        assert time.monotonic() - started < 2.0  # the service's 10 s busy timeout would stall the answer
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert len(list((tmp_path / "spool").glob("decisions-*.jsonl"))) == 1


@pytest.mark.parametrize("log_text", [False, True])
def test_rows_that_cannot_be_spooled_are_logged_with_their_text_only_under_log_text(tiny_bundle_path, tmp_path, log_text):
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": f"sqlite:///{tmp_path / 'log.db'}", "AUTH_REQUIRED": False,
                      "DECISION_SPOOL_DIR": str(tmp_path / "spool"), "STORE_TEXT": True, "LOG_TEXT": log_text})
    # A file where the spool folder should be, put there after the start (which refuses one): nothing can be spooled.
    shutil.rmtree(tmp_path / "spool", ignore_errors=True)
    (tmp_path / "spool").write_text("a file where the spool folder should be", encoding="utf-8")
    DecisionRecord.__table__.drop(app_engine(app))  # every decision-log write now fails, and the spool cannot be written
    messages: list[str] = []
    collector = logging.Handler()
    collector.emit = lambda record: messages.append(record.getMessage())
    logging.getLogger(LOGGER_NAME).addHandler(collector)
    try:
        assert app.test_client().post("/v1/moderate", json={"comments": [{"id": "a", "text": SECRET_TEXT}]}).status_code == 200
    finally:
        logging.getLogger(LOGGER_NAME).removeHandler(collector)
        app.extensions[SPOOL_KEY].dispose()
        app.extensions[SPOOL_KEY].autocommit_engine.dispose()
        app_engine(app).dispose()
    (lost,) = [message for message in messages if "the rows:" in message]
    assert '"comment_id": "a"' in lost and sha256_text(SECRET_TEXT) in lost  # the row can still be matched and restored
    assert (SECRET_TEXT in lost) is log_text


def spool_row(comment_id: str) -> dict:
    """A decision row as ``record_decisions`` hands it to the spool."""
    from service.store import utc_now

    return {"created_at": utc_now(), "comment_id": comment_id, "text_sha256": sha256_text(comment_id), "text": None,
            "scores": {"toxicity": 0.5}, "decision": "approve", "reasons": [], "model_version": "9.9.9", "surface": "v1",
            "request_id": None, "api_key_id": None}


def test_a_spool_write_cut_short_by_a_full_disk_leaves_no_half_line_to_spoil_the_rows_around_it(file_app, tmp_path):
    """The spool's disk fills up (often the database's disk, which is why the write failed) in the middle of an append:
    its half line stayed, the next append was glued onto it, and the replay refused the whole file, rows answered
    before and after included. A file size limit gives the same short write as a full disk."""
    import resource
    import signal

    spool = file_app.extensions[SPOOL_KEY]
    spool.append([spool_row("before")], OSError("database is full"))
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an EFBIG error rather than the signal's exit
    logging.disable(logging.CRITICAL)  # the limit holds for pytest's capture files too: log nothing meanwhile
    resource.setrlimit(resource.RLIMIT_FSIZE, (spool.own_file().stat().st_size + 40, limits[1]))
    try:
        spool.append([spool_row("cut")], OSError("database is full"))  # 40 bytes of it fit: logged whole, counted lost
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, previous_handler)
        logging.disable(logging.NOTSET)
    spool.append([spool_row("after")], OSError("database is full"))
    assert metric_value(file_app.test_client().get("/metrics").get_data(as_text=True), "moderation_decision_log_lost_rows_total") == 1
    assert [json.loads(line)["comment_id"] for line in spool.own_file().read_text().splitlines()] == ["before", "after"]
    assert spool.replay(DecisionRecord.__table__) == 2
    assert logged_ids(file_app) == ["after", "before"]
    assert not list((tmp_path / "spool").iterdir())



def run_first(monkeypatch, owner, name: str, action, when=lambda *args: True) -> list:
    """Patch ``owner.name`` so that its first call for which ``when(*args)`` holds runs ``action()`` first; the list
    gets what ``action`` returned."""
    real = getattr(owner, name)
    results: list = []

    def patched(*args):
        if not results and when(*args):
            results.append(action())
        return real(*args)

    monkeypatch.setattr(owner, name, patched)
    return results


@pytest.mark.parametrize("step", ["write", "lock"])
def test_rows_appended_while_another_worker_replays_the_file_are_not_lost(file_app, tmp_path, monkeypatch, step):
    """Two workers share the spool folder. One appends to its file while the other claims that file by renaming it:
    the appender's rows went into the renamed file after the replayer had read it, and the replayer then deleted it.
    The other worker (a second spool on the same folder) replays just before the appender writes, or, the other
    order, after the appender has opened the file and before it holds the file's lock."""
    import fcntl

    from service.decision_log import DecisionSpool

    spool = file_app.extensions[SPOOL_KEY]
    other_worker = DecisionSpool(spool.directory, spool.engine, None)
    spool.append([spool_row("earlier")], OSError("database is locked"))
    replay = lambda: other_worker.replay(DecisionRecord.__table__)  # noqa: E731
    if step == "write":
        replays = run_first(monkeypatch, os, "write", replay)
    else:
        replays = run_first(monkeypatch, fcntl, "flock", replay, when=lambda _descriptor, operation: operation == fcntl.LOCK_EX)
    spool.append([spool_row("meanwhile")], OSError("database is locked"))
    monkeypatch.undo()
    other_worker.replay(DecisionRecord.__table__)
    assert logged_ids(file_app) == ["earlier", "meanwhile"]
    # Before the write the file was locked: left for the next replay. Before the lock "earlier" could be replayed,
    # and "meanwhile" went to a new file.
    assert replays == ([0] if step == "write" else [1])
    assert not list((tmp_path / "spool").iterdir())

def test_a_sweep_leaves_a_file_a_worker_is_appending_to_and_says_so(file_app, tmp_path, monkeypatch):
    """``moderate db forget`` sweeps the spool while a worker appends to a file: the sweep rewrote the file without the
    forgotten rows and deleted it, and the rows the worker was writing went with it."""
    from service.decision_log import drop_spooled_rows, spooled_about

    spool = file_app.extensions[SPOOL_KEY]
    spool.append([spool_row("forget me")], OSError("database is locked"))
    sweeps = run_first(monkeypatch, os, "write", lambda: drop_spooled_rows(spool.directory, spooled_about({"forget me"})))
    spool.append([spool_row("meanwhile")], OSError("database is locked"))
    monkeypatch.undo()
    spool.replay(DecisionRecord.__table__)  # the rows must still be somewhere: in the spool or in the database
    assert "meanwhile" in logged_ids(file_app)
    assert sweeps[0].n_rows == 0 and sweeps[0].busy == [spool.own_file()]  # the command says to run it again


def test_a_spool_file_that_cannot_be_locked_is_closed_again(file_app, monkeypatch):
    """flock can fail (ENOLCK: the kernel's lock table is full; a file system without locks): the append's rows are
    then logged whole, and the descriptor opened for them stayed open, one more at every failed write."""
    import errno
    import fcntl

    spool = file_app.extensions[SPOOL_KEY]
    spool.append([spool_row("first")], OSError("database is locked"))  # the folder and the file exist

    def no_lock(_descriptor, _operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_lock)
    opened = len(os.listdir("/proc/self/fd"))
    for _ in range(5):
        spool.append([spool_row("not spooled")], OSError("database is locked"))
    assert len(os.listdir("/proc/self/fd")) == opened


def test_two_sweeps_at_once_do_not_put_back_each_others_deleted_rows(file_app, tmp_path, monkeypatch):
    """``db forget`` and ``db prune`` at once: each rewrote a rejected file from what it had read, so the one that
    finished last put back the rows the other had deleted (here the forgotten comment). The two sweeps run in threads
    of one process here, where they also shared the name of their partial file: the old code lost the forget's rewrite
    that way, two processes as in the first sentence."""
    import threading
    import time as clock

    from service.decision_log import drop_spooled_rows, spooled_about

    spool_dir = file_app.extensions[SPOOL_KEY].directory
    spool_dir.mkdir(parents=True, exist_ok=True)
    rows = [spool_row(comment_id) for comment_id in ("forget me", "old", "kept")]
    (spool_dir / "rejected-decisions-1.jsonl").write_text("".join(json.dumps({**row, "created_at": row["created_at"].isoformat()}) + "\n"
                                                                  for row in rows), encoding="utf-8")
    other = threading.Thread(target=drop_spooled_rows, args=(spool_dir, spooled_about({"old"})))

    def start_the_other_sweep():
        other.start()
        clock.sleep(0.5)  # the other sweep runs to its end meanwhile, unless it waits for this one

    # Only this thread's first rename starts it (the other sweep renames too).
    this_thread = threading.get_ident()
    run_first(monkeypatch, os, "replace", start_the_other_sweep, when=lambda *_args: threading.get_ident() == this_thread)
    forgotten = drop_spooled_rows(spool_dir, spooled_about({"forget me"}))
    monkeypatch.undo()
    other.join(timeout=10)
    assert forgotten.n_rows == 1 and not other.is_alive()
    left = [json.loads(line)["comment_id"] for line in (spool_dir / "rejected-decisions-1.jsonl").read_text().splitlines()]
    assert left == ["kept"]


def test_a_sweep_killed_after_writing_the_kept_rows_does_not_bring_the_dropped_ones_back(file_app, tmp_path, monkeypatch):
    """``db forget`` killed between writing a waiting file's kept rows and removing the file it had claimed: the claimed
    file, still whole, was replayed later (its claimer dead), the forgotten comment's row with it."""
    from pathlib import Path

    from service.decision_log import CLAIMED_SUFFIX, drop_spooled_rows, spooled_about

    class Killed(BaseException):
        pass

    spool = file_app.extensions[SPOOL_KEY]
    spool.append([spool_row("forget me"), spool_row("kept")], OSError("database is locked"))
    real_rename, real_unlink = os.rename, Path.unlink

    def killed_rename(source, target):
        if CLAIMED_SUFFIX in os.fspath(source):
            raise Killed
        return real_rename(source, target)

    def killed_unlink(path, missing_ok=False):
        if CLAIMED_SUFFIX in path.name:
            raise Killed
        return real_unlink(path, missing_ok=missing_ok)

    monkeypatch.setattr(os, "rename", killed_rename)  # the step after the kept rows are written, whichever it is
    monkeypatch.setattr(Path, "unlink", killed_unlink)
    with pytest.raises(Killed):
        drop_spooled_rows(spool.directory, spooled_about({"forget me"}))
    monkeypatch.undo()
    spool.replay(DecisionRecord.__table__)  # a claim of this process's pid counts as a dead claimer's
    assert logged_ids(file_app) == ["kept"]


def test_an_answer_waits_only_briefly_for_a_lock_on_the_decision_log_sqlite_or_postgresql(tiny_bundle_path, db_url, tmp_path):
    # PostgreSQL's INSERT waited as long as the lock was held (an operator's CREATE INDEX or VACUUM FULL on
    # decisions): every /v1 and Perspective answer with it. Now both wait LOG_BUSY_TIMEOUT_MS, then spool the rows.
    from tests.test_coral import LOCK_SECONDS, hold_write_lock

    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": db_url, "AUTH_REQUIRED": False,
                      "DECISION_SPOOL_DIR": str(tmp_path / "spool")})
    client = app.test_client()
    try:
        assert client.post("/v1/moderate", json=ONE).status_code == 200  # opens the pooled connections
        release = hold_write_lock(db_url)
        safety = threading.Timer(LOCK_SECONDS, release)  # a write that waits for the lock does not wait for ever
        safety.start()
        try:
            started = time.monotonic()
            assert client.post("/v1/moderate", json=ONE).status_code == 200
            assert time.monotonic() - started < LOCK_SECONDS / 2
        finally:
            release()
            safety.cancel()
        assert len(list((tmp_path / "spool").glob("decisions-*.jsonl"))) == 1
        spool = app.extensions[SPOOL_KEY]
        spool.next_replay = 0.0  # due now rather than in REPLAY_INTERVAL_SECONDS
        client.get("/healthz").close()  # the lock is gone: the replay puts the row in the log
        with app_engine(app).connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM decisions")).scalar() == 2
    finally:
        app.extensions[SPOOL_KEY].dispose()
        app_engine(app).dispose()


def test_the_decision_log_writes_to_the_schema_the_db_url_chooses(tiny_bundle_path, tmp_path):
    # DB_URL's ?options=-csearch_path=... (how tests/conftest.py gives each pytest-xdist worker its schema) was replaced
    # by the decision log's lock_timeout: its rows went to another schema's decisions table, or were spooled for ever.
    from sqlalchemy.engine import make_url

    from service.store import make_engine
    from tests.conftest import PG_URL_ENV, postgres_test_url

    url = postgres_test_url()
    if not url:
        pytest.skip(f"{PG_URL_ENV} is not set: no PostgreSQL server to test against (.ci/run starts one)")
    schema = "decision_log_own_schema"
    admin = make_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    in_schema = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": in_schema, "AUTH_REQUIRED": False,
                      "DECISION_SPOOL_DIR": str(tmp_path / "spool")})
    try:
        assert app.test_client().post("/v1/moderate", json=ONE).status_code == 200
        assert not list((tmp_path / "spool").glob("decisions-*.jsonl"))
        with admin.connect() as connection:
            assert connection.execute(text(f"SELECT count(*) FROM {schema}.decisions")).scalar() == 1
    finally:
        app.extensions[SPOOL_KEY].dispose()
        app_engine(app).dispose()
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()


def test_disposing_the_apps_engine_closes_the_decision_logs_connections(tiny_bundle_path, db_url, tmp_path):
    # The decision log's engines of their own (a SQLite file's, PostgreSQL's with its lock_timeout) kept their pooled
    # connections when the app's engine was disposed: on PostgreSQL each app thrown away left them open, and psycopg's
    # ResourceWarning then failed whichever test ran next.
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": db_url, "AUTH_REQUIRED": False,
                      "DECISION_SPOOL_DIR": str(tmp_path / "spool")})
    spool = app.extensions[SPOOL_KEY]
    try:
        client = app.test_client()
        assert client.post("/v1/moderate", json=ONE).status_code == 200  # one row: the autocommit engine
        assert client.post("/v1/moderate", json={"comments": [ONE["comments"][0], {"id": "b", "text": "Hi."}]}).status_code == 200
        assert spool.engine.pool.checkedin() + spool.autocommit_engine.pool.checkedin() > 0
        app_engine(app).dispose()
        assert spool.engine.pool.checkedin() == spool.autocommit_engine.pool.checkedin() == 0
    finally:
        spool.dispose()
        app_engine(app).dispose()


@pytest.fixture
def postgres_log_app(tiny_bundle_path, tmp_path):
    """The service on the emptied PostgreSQL of ``$MODERATION_TEST_PG_URL``, keys off; skipped when it is unset."""
    from tests.conftest import empty_postgres, postgres_test_url

    url = postgres_test_url()
    if not url:
        pytest.skip("MODERATION_TEST_PG_URL is not set: no PostgreSQL server to test against (.ci/run starts one)")
    empty_postgres(url)
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": url, "AUTH_REQUIRED": False,
                      "DECISION_SPOOL_DIR": str(tmp_path / "spool")})
    yield app
    app.extensions[SPOOL_KEY].dispose()
    app_engine(app).dispose()


def test_the_postgresql_decision_log_sets_its_two_bounds_in_one_statement(postgres_log_app):
    # The statement bound (service.store.bound_waits) came as a second statement beside the lock bound's SET LOCAL:
    # one more round trip to the server in every answer of /v1 and Perspective. One statement now sets both.
    from service.store import wait_seconds

    app, spool = postgres_log_app, postgres_log_app.extensions[SPOOL_KEY]
    sent: list[str] = []
    event.listen(spool.engine, "before_cursor_execute", lambda _c, _cursor, statement, *_rest: sent.append(statement))
    client = app.test_client()
    assert client.post("/v1/moderate", json=ONE).status_code == 200  # opens the pooled connection
    sent.clear()
    assert client.post("/v1/moderate", json=ONE).status_code == 200
    assert len(sent) == 2 and sent[1].startswith("INSERT INTO decisions"), sent
    with spool.engine.begin() as connection:
        assert connection.exec_driver_sql("SHOW lock_timeout").scalar() == "250ms"
        statement_ms = connection.exec_driver_sql("SELECT current_setting('statement_timeout')::interval").scalar()
        assert statement_ms.total_seconds() == wait_seconds(app.config)


def test_the_postgresql_lock_bound_is_set_per_transaction_not_as_a_start_up_option(postgres_log_app):
    # A start-up option (``-c lock_timeout``) is refused by PgBouncer unless told to ignore it, and a session setting
    # would be carried by a pooler to other clients: every decision-log transaction sets it for itself instead.
    app, spool = postgres_log_app, postgres_log_app.extensions[SPOOL_KEY]
    raw = spool.engine.raw_connection()  # a session as a pooler would hand it on: no transaction of ours
    try:
        cursor = raw.cursor()
        cursor.execute("SHOW lock_timeout")
        assert cursor.fetchone()[0] == "0"  # the server's default: nothing set for the session
    finally:
        raw.close()
    with spool.engine.begin() as connection:
        assert connection.exec_driver_sql("SHOW lock_timeout").scalar() == "250ms"
    assert app.test_client().post("/v1/moderate", json=ONE).status_code == 200
    with app_engine(app).connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM decisions")).scalar() == 1
