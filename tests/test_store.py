"""Storage on SQLite and PostgreSQL: migrations, the decision log, do_not_store, feedback and its export."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import OperationalError

from model.results import Decision, Reason
from service.app import create_app
from service.decision_log import SPOOL_KEY
from service.feedback_export import export_feedback
from service.migrations import check_current, current_revision, head_revision, upgrade
from service.store import (
    DecisionRecord,
    Feedback,
    StoreError,
    app_engine,
    database_url,
    get_session,
    make_engine,
    record_decisions,
    safe_url,
    save_feedback,
    sha256_text,
)

HOSTILE = "You are a stupid clown, the minister ignores the vote."


@pytest.fixture
def store_app(tiny_bundle_path, db_url):
    """The service on ``db_url`` (SQLite file, then PostgreSQL), migrated at start, keys off."""
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": db_url, "AUTH_REQUIRED": False})
    yield app
    app_engine(app).dispose()


def decision(action: str = "reject", toxicity: float = 0.9) -> Decision:
    return Decision(action, (Reason("toxicity", action, "toxicity", toxicity, 0.5),), {"toxicity": toxicity, "insult": 0.25}, {}, "9.9.9")


def rows(app, table) -> list:
    with app.app_context():
        return get_session().scalars(select(table).order_by(table.id)).all()


def test_the_app_migrates_a_new_database_to_head(store_app, db_url):
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) == head_revision()
        assert {"api_keys", "feedback", "decisions", "alembic_version"} <= set(inspect(engine).get_table_names())
        check_current(engine)
        upgrade(engine)  # already current: nothing to do, no error
    finally:
        engine.dispose()


def test_an_old_schema_is_refused_when_auto_upgrade_is_off(tiny_bundle_path, db_url):
    engine = make_engine(db_url)
    try:
        upgrade(engine, "base")
    finally:
        engine.dispose()
    with pytest.raises(StoreError, match=r"schema revision none but this version needs .*moderate db upgrade") as refused:
        create_app({"MODEL": str(tiny_bundle_path), "DB_URL": db_url, "DB_AUTO_UPGRADE": False})
    if db_url.startswith("sqlite:///"):  # the file by its path, not as sqlite:///file%3A...?mode=rw&uri=true
        assert str(refused.value).startswith(f"database {db_url.removeprefix('sqlite:///')} is at schema revision none")


def test_a_missing_sqlite_file_is_named_with_what_to_do_when_auto_upgrade_is_off(tiny_bundle_path, tmp_path):
    missing = tmp_path / "gone" / "moderation.db"
    url = f"sqlite:///{missing}"
    with pytest.raises(StoreError, match=rf"database file {re.escape(str(missing))} does not exist: .*moderate db upgrade"):
        create_app({"MODEL": str(tiny_bundle_path), "DB_URL": url, "DB_AUTO_UPGRADE": False})
    assert not missing.exists() and not missing.parent.exists()  # never created as an empty database, nor its folder
    other = make_engine(f"sqlite:///{tmp_path / 'dir-not-file'}", create=False)
    (tmp_path / "dir-not-file").mkdir()  # the path exists but cannot be opened: the general message stays
    try:
        with pytest.raises(StoreError, match="is unreachable"):
            check_current(other)
    finally:
        other.dispose()


def test_record_decisions_logs_hashes_scores_and_request(store_app):
    with store_app.test_request_context():
        from flask import g

        g.request_id = "r-1"
        record_decisions(["c1", None], [HOSTILE, "fine"], [decision(), decision("approve", 0.1)], surface="perspective")
    first, second = rows(store_app, DecisionRecord)
    assert (first.comment_id, first.text_sha256, first.text, first.decision, first.surface, first.request_id) == (
        "c1", sha256_text(HOSTILE), None, "reject", "perspective", "r-1"
    )
    assert first.scores == {"toxicity": 0.9, "insult": 0.25}
    assert first.reasons == ["toxicity"]
    assert first.model_version == "9.9.9"
    assert (second.comment_id, second.decision) == (None, "approve")
    assert first.created_at is not None


def test_every_decision_of_concurrent_requests_is_logged_with_its_request(store_app):
    n_threads, n_requests, n_comments = 4, 10, 3

    def send(thread: int) -> list[str]:
        client = store_app.test_client()
        ids = []
        for i in range(n_requests):
            comments = [{"id": f"{thread}-{i}-{j}", "text": f"comment {j}"} for j in range(n_comments)]
            response = client.post("/v1/moderate", json={"comments": comments})
            assert response.status_code == 200
            ids.append(response.get_json()["request_id"])
        return ids

    with ThreadPoolExecutor(n_threads) as pool:
        request_ids = [rid for ids in pool.map(send, range(n_threads)) for rid in ids]
    logged = rows(store_app, DecisionRecord)
    assert len(logged) == n_threads * n_requests * n_comments
    by_request = {}
    for row in logged:
        by_request.setdefault(row.request_id, []).append(row.comment_id)
    assert set(by_request) == set(request_ids)
    assert all([cid.rsplit("-", 1)[1] for cid in cids] == ["0", "1", "2"] for cids in by_request.values())


def test_a_batch_of_decisions_is_logged_in_order(store_app):
    ids = [f"c{i}" for i in range(150)]
    with store_app.app_context():
        record_decisions(ids, ["text"] * len(ids), [decision()] * len(ids), surface="v1")
    assert [row.comment_id for row in rows(store_app, DecisionRecord)] == ids


def test_logging_decisions_leaves_pooled_connections_transactional(store_app):
    with store_app.app_context():
        record_decisions(["c1"], [HOSTILE], [decision()], surface="v1")
        session = get_session()
        session.add(Feedback(comment_id="c1", decision="reject", source="test"))
        session.flush()
        session.rollback()
    assert rows(store_app, Feedback) == []
    assert len(rows(store_app, DecisionRecord)) == 1


def test_record_decisions_keeps_text_only_when_configured(store_app):
    store_app.config["STORE_TEXT"] = True
    with store_app.app_context():
        record_decisions(["c1"], [HOSTILE], [decision()], surface="v1")
    assert rows(store_app, DecisionRecord)[0].text == HOSTILE


def test_do_not_store_writes_nothing_but_still_counts(store_app):
    with store_app.test_request_context():
        record_decisions(["c1"], [HOSTILE], [decision()], surface="coral", do_not_store=True)
    assert rows(store_app, DecisionRecord) == []
    metrics = store_app.test_client().get("/metrics").get_data(as_text=True)
    assert 'moderation_decisions_total{decision="reject",surface="coral"} 1.0' in metrics


def test_do_not_store_through_the_api_leaves_every_table_empty(store_app):
    client = store_app.test_client()
    response = client.post("/v1/moderate", json={"comments": [{"id": "c", "text": HOSTILE}], "do_not_store": True})
    assert response.status_code == 200
    with store_app.app_context():
        session = get_session()
        assert session.scalar(select(func.count()).select_from(DecisionRecord)) == 0
        assert session.scalar(select(func.count()).select_from(Feedback)) == 0


def test_record_decisions_refuses_mismatched_lists(store_app):
    with store_app.app_context(), pytest.raises(ValueError, match="one each per comment"):
        record_decisions(["a", "b"], ["only one"], [decision()], surface="v1")


def test_save_feedback_returns_ids_and_keeps_fields(store_app):
    with store_app.app_context():
        first = save_feedback(comment_id="c1", text=None, decision="reject", labels=None, source="v1_feedback")
        second = save_feedback(comment_id=None, text=HOSTILE, decision=None, labels={"toxicity": 1, "threat": 0.0}, source="perspective", client_token="tok")
    assert second > first
    a, b = rows(store_app, Feedback)
    assert (a.comment_id, a.text, a.text_sha256, a.decision, a.labels) == ("c1", None, None, "reject", None)
    assert (b.text, b.text_sha256, b.labels, b.source, b.client_token) == (HOSTILE, sha256_text(HOSTILE), {"toxicity": 1.0, "threat": 0.0}, "perspective", "tok")


@pytest.mark.parametrize("extension", ["csv", "jsonl", "parquet"])
def test_feedback_export_is_a_training_table(store_app, tmp_path, extension):
    store_app.config["STORE_TEXT"] = True
    with store_app.app_context():
        record_decisions(["logged"], ["text from the log"], [decision()], surface="v1")
        save_feedback(comment_id="c1", text=HOSTILE, decision="reject", labels={"insult": 1.0, "toxicity": 0.75}, source="v1_feedback")
        save_feedback(comment_id="logged", text=None, decision="approve", labels=None, source="v1_feedback")
        save_feedback(comment_id="unknown", text=None, decision=None, labels={"threat": 0.0}, source="perspective")
        n_rows = export_feedback(get_session(), tmp_path / f"out.{extension}", chunk_rows=2)
    assert n_rows == 3
    path = tmp_path / f"out.{extension}"
    if extension == "csv":
        frame = pd.read_csv(path)
    elif extension == "jsonl":
        frame = pd.read_json(path, lines=True)
    else:
        frame = pq.read_table(path).to_pandas()
    assert list(frame.columns) == ["text", "comment_id", "decision", "toxicity", "insult", "threat", "created_at", "source", "moderator", "api_key_id", "api_key_name"]
    records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    assert [(r["text"], r["comment_id"], r["decision"]) for r in records] == [
        (HOSTILE, "c1", "reject"),
        ("text from the log", "logged", "approve"),
        (None, "unknown", None),
    ]
    assert [(r["toxicity"], r["insult"], r["threat"]) for r in records] == [(0.75, 1.0, None), (None, None, None), (None, None, 0.0)]
    assert all(str(r["created_at"]).startswith("20") for r in records)


def test_export_of_no_feedback_writes_the_header(store_app, tmp_path):
    with store_app.app_context():
        assert export_feedback(get_session(), tmp_path / "out.csv") == 0
    assert (tmp_path / "out.csv").read_text().strip() == "text,comment_id,decision,created_at,source,moderator,api_key_id,api_key_name"


def test_urls_postgres_means_psycopg_and_passwords_stay_hidden(tmp_path):
    assert database_url("postgresql://u:secret@h/db") == "postgresql+psycopg://u:secret@h/db"
    assert database_url(None).startswith("sqlite:///") and database_url(None).endswith("var/moderation.db")
    assert "secret" not in safe_url("postgresql+psycopg://u:secret@h/db")
    make_engine(f"sqlite:///{tmp_path}/new/dir/x.db").dispose()
    assert (tmp_path / "new" / "dir").is_dir()


@pytest.mark.parametrize("url", ["nosuchdb://x", "not a url"])
def test_an_unusable_url_is_a_store_error(url):
    with pytest.raises(StoreError, match="cannot be used"):
        make_engine(url)


@pytest.mark.parametrize("url", ["postgresql://u:pw@host:notaport/db", "postgresql://u@pw:secret/db"])
def test_a_port_that_is_not_a_number_is_a_store_error_quoting_no_password(url):
    # SQLAlchemy's parse raised a bare ValueError ("invalid literal for int() ... 'secret'"): a traceback at start,
    # quoting what it took for the port, which may be part of a password.
    with pytest.raises(StoreError, match="not a port number") as caught:
        make_engine(url)
    assert "pw" not in str(caught.value) and "secret" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert safe_url(url) == "<unparseable URL>"


def test_an_unreachable_database_fails_start_with_a_clear_message(tiny_bundle_path):
    url = "postgresql://nobody:secret@127.0.0.1:1/none"
    with pytest.raises(StoreError, match=r"cannot migrate database postgresql\+psycopg://nobody:\*\*\*@127.0.0.1:1/none") as caught:
        create_app({"MODEL": str(tiny_bundle_path), "DB_URL": url})
    assert "secret" not in str(caught.value)


def test_json_columns_round_trip_unicode(store_app):
    with store_app.app_context():
        save_feedback(comment_id="\u00e9\u00e8", text="\U0001f600 caf\u00e9", decision="review", labels={"toxicity": 0.5}, source="v1_feedback")
    (row,) = rows(store_app, Feedback)
    assert (row.comment_id, row.text) == ("\u00e9\u00e8", "\U0001f600 caf\u00e9")
    assert json.dumps(row.labels) == '{"toxicity": 0.5}'


# A PostgreSQL server that stops answering


@contextlib.contextmanager
def relay_to(url: str) -> Iterator[tuple[str, threading.Event]]:
    """A TCP relay on loopback to the server of ``url``; yields the URL through it and an event that, once set, freezes
    it: connections stay open and every byte is acknowledged by the kernel, but nothing is passed on (a stopped server
    process, as the client sees it)."""
    from sqlalchemy.engine import make_url

    target = make_url(url)
    listener = socket.create_server(("127.0.0.1", 0))
    frozen, stop, sockets = threading.Event(), threading.Event(), [listener]

    def pipe(source: socket.socket, sink: socket.socket) -> None:
        source.settimeout(0.05)
        while not stop.is_set():
            if frozen.is_set():
                time.sleep(0.05)
                continue
            try:
                data = source.recv(65_536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data or frozen.is_set():  # frozen while receiving: the bytes are dropped, never passed on
                return
            sink.sendall(data)

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            server = socket.create_connection((target.host, target.port or 5432))
            sockets.extend((client, server))
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=pipe, args=(source, sink), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield target.set(host="127.0.0.1", port=listener.getsockname()[1]).render_as_string(hide_password=False), frozen
    finally:
        stop.set()
        for opened in sockets:
            opened.close()


def in_thread(call: Callable[[], Any], seconds: float) -> Any:
    """``call()``'s result, failing the test if it takes more than ``seconds`` (the thread is left to end by itself)."""
    outcome: list[Any] = []
    thread = threading.Thread(target=lambda: outcome.append(call()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"still waiting after {seconds} s"
    return outcome[0]


QUICK_TIMEOUT_SECONDS = 4
"""gunicorn's TIMEOUT_SECONDS in these tests: a quarter of it (1 s) bounds a statement (``wait_seconds``)."""


@pytest.fixture
def pg_url() -> str:
    from tests.conftest import PG_URL_ENV, empty_postgres, postgres_test_url

    url = postgres_test_url()
    if not url:
        pytest.skip(f"{PG_URL_ENV} is not set: no PostgreSQL server to test against (.ci/run starts one)")
    empty_postgres(url)
    return url


def test_a_database_server_that_stops_answering_costs_a_request_a_bounded_wait(tiny_bundle_path, pg_url, tmp_path, monkeypatch):
    """psycopg waits for an answer as long as the server takes: a stopped server (its host still acknowledging every
    packet, so no TCP setting helps) held the worker until gunicorn killed it, 120 s later. Now 503 after the bound."""
    from service import store

    monkeypatch.setattr(store, "READ_GRACE_SECONDS", 1.0)
    with relay_to(pg_url) as (url, frozen):
        app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": url, "TIMEOUT_SECONDS": QUICK_TIMEOUT_SECONDS,
                          "DECISION_SPOOL_DIR": str(tmp_path / "spool")})
        try:
            client = app.test_client()
            assert client.get("/v1/model", headers={"X-API-Key": "mod_unknown0"}).status_code == 403  # the server answers
            frozen.set()
            started = time.monotonic()
            answer = in_thread(lambda: client.get("/v1/model", headers={"X-API-Key": "mod_unknown1"}), 15)
            assert answer.status_code == 503 and answer.get_json()["error"]["code"] == "database_unavailable"
            # The pooled connection's check waits out the bound, then a new one its connect timeout (the server that
            # accepts connections and never answers).
            bound = QUICK_TIMEOUT_SECONDS / 4 + store.READ_GRACE_SECONDS + store.CONNECT_TIMEOUT_SECONDS
            assert time.monotonic() - started < bound + 2
        finally:
            app.extensions[SPOOL_KEY].dispose()
            app_engine(app).dispose()


def test_a_query_waiting_for_a_lock_is_bounded_by_a_statement_timeout(tiny_bundle_path, pg_url, tmp_path):
    """An operator's ``ALTER TABLE api_keys`` (or ``LOCK``) held every request that looks a key up until it ended."""
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": pg_url, "TIMEOUT_SECONDS": QUICK_TIMEOUT_SECONDS,
                      "DECISION_SPOOL_DIR": str(tmp_path / "spool")})
    operator = make_engine(pg_url)
    try:
        with operator.connect() as connection:
            connection.exec_driver_sql("LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE")  # held until the rollback
            client = app.test_client()
            answer = in_thread(lambda: client.get("/v1/model", headers={"X-API-Key": "mod_unknown"}), 10)
            assert answer.status_code == 503
            connection.rollback()
        assert client.get("/v1/model", headers={"X-API-Key": "mod_unknown"}).status_code == 403  # and the worker goes on
    finally:
        operator.dispose()
        app.extensions[SPOOL_KEY].dispose()
        app_engine(app).dispose()


def test_the_statement_bound_is_per_transaction_and_yields_to_the_db_urls_own(tiny_bundle_path, pg_url, tmp_path):
    """Nothing is set for the session (a pooler such as PgBouncer hands it on), and a statement_timeout that DB_URL's
    ``options`` (or the role, or the database) sets is kept."""
    from sqlalchemy.engine import make_url

    own = make_url(pg_url)
    own = own.update_query_dict({"options": f"{own.query.get('options', '')} -cstatement_timeout=7000".strip()})
    for url, expected in ((pg_url, "1s"), (own.render_as_string(hide_password=False), "7s")):
        app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": url, "TIMEOUT_SECONDS": QUICK_TIMEOUT_SECONDS,
                          "DECISION_SPOOL_DIR": str(tmp_path / "spool")})
        try:
            with app.app_context():
                assert get_session().execute(text("SHOW statement_timeout")).scalar() == expected
            raw = app_engine(app).raw_connection()
            try:
                cursor = raw.cursor()
                cursor.execute("SHOW statement_timeout")
                assert cursor.fetchone()[0] == ("0" if expected == "1s" else expected)
            finally:
                raw.close()
        finally:
            app.extensions[SPOOL_KEY].dispose()
            app_engine(app).dispose()


def test_the_db_urls_own_connect_timeout_is_kept():
    """``connect_args`` replaced the URL's own ``?connect_timeout=``: an operator's 1 s became 5 s."""
    listener = socket.create_server(("127.0.0.1", 0))  # accepts (the kernel does), never answers
    engine = make_engine(f"postgresql://u:p@127.0.0.1:{listener.getsockname()[1]}/db?connect_timeout=1")
    try:
        started = time.monotonic()
        with pytest.raises(OperationalError), engine.connect():
            pass
        assert time.monotonic() - started < 3
    finally:
        engine.dispose()
        listener.close()


MANY_THREADS = 24
"""Request threads of one worker holding a connection at once: more than SQLAlchemy's default pool (5 + 10 overflow)."""
CHECKOUT_SECONDS = 10.0
"""How long the threads may take to get their connections together (the old pool made the 16th wait 30 s)."""


def test_every_request_thread_gets_its_connections_at_once_and_keeps_them(tiny_bundle_path, db_url):
    """With THREADS above 15, a request thread waited 30 s for a connection and failed while 15 others held one (a
    request whose key is not cached holds its session while it is scored); each thread may hold one of the app's
    engine and one of the decision log's at once (2 x threads per worker, docs/deployment.md), kept for reuse."""
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": db_url, "AUTH_REQUIRED": False, "THREADS": MANY_THREADS})
    log_engine = app.extensions[SPOOL_KEY].engine
    assert log_engine is not app_engine(app)
    everyone_holds = threading.Barrier(MANY_THREADS + 1, timeout=CHECKOUT_SECONDS)
    release = threading.Event()

    def request_thread(_number: int) -> None:
        with app.app_context(), log_engine.connect() as log_connection:
            get_session().execute(text("SELECT 1"))  # the session now holds a connection until teardown
            log_connection.execute(text("SELECT 1"))
            everyone_holds.wait()
            release.wait(CHECKOUT_SECONDS)

    try:
        with ThreadPoolExecutor(MANY_THREADS) as pool:
            futures = [pool.submit(request_thread, i) for i in range(MANY_THREADS)]
            try:
                everyone_holds.wait()
            except threading.BrokenBarrierError:
                pytest.fail(f"{MANY_THREADS} request threads did not all get their connections within {CHECKOUT_SECONDS} s")
            finally:
                release.set()
            for future in futures:
                future.result()
        # Kept for the next requests, not closed and opened again: one per thread of each engine, no more.
        assert app_engine(app).pool.checkedin() == MANY_THREADS
        assert log_engine.pool.checkedin() == MANY_THREADS
    finally:
        app_engine(app).dispose()


def test_a_database_refusal_is_logged_with_what_the_server_said_as_a_warning(store_app, caplog, monkeypatch):
    # The log said only "database unavailable: OperationalError" (and readyz "the service log says why"): an operator
    # could not tell "too many clients already" from a stopped server or a rotated password. Logged at ERROR too,
    # while the request's own line for that 503 is a WARNING (an alert on ERROR is for unexpected errors).
    import sqlite3

    from service.store import _database_unavailable, ping

    refusal = OperationalError("SELECT 1", {}, sqlite3.OperationalError("sorry, too many clients already"))
    with store_app.test_request_context(), caplog.at_level("WARNING", logger="service.store"):
        _database_unavailable(refusal)
        (line,) = [record for record in caplog.records if record.name == "service.store"]
        assert line.levelname == "WARNING"
        assert line.getMessage() == "database unavailable: OperationalError: sorry, too many clients already"
        monkeypatch.setattr(get_session(), "execute", lambda *args, **kwargs: (_ for _ in ()).throw(refusal))
        with pytest.raises(StoreError, match="is unreachable: OperationalError: sorry, too many clients already$"):
            ping()
