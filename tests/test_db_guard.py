"""Database faults a worker must survive, in process: a replaced or deleted SQLite file, a full disk."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from service.app import create_app
from service.decision_log import SPOOL_KEY
from service.store import app_engine, make_engine


def make_sqlite(path, value: str) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (v TEXT)")
        db.execute("INSERT INTO t VALUES (?)", (value,))
    db.close()


def test_a_pooled_connection_follows_a_replaced_file_and_never_recreates_a_deleted_one(tmp_path):
    path = tmp_path / "guarded.db"
    make_sqlite(path, "old")
    engine = make_engine(f"sqlite:///{path}", create=False)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT v FROM t")).scalar() == "old"
        make_sqlite(tmp_path / "restored.db", "new")
        (tmp_path / "restored.db").replace(path)  # a restore from backup: a new file at the same path
        with engine.connect() as connection:
            assert connection.execute(text("SELECT v FROM t")).scalar() == "new"
        path.unlink()
        with pytest.raises(OperationalError, match="unable to open database file"), engine.connect() as connection:
            connection.execute(text("SELECT v FROM t"))
        assert not path.exists()
    finally:
        engine.dispose()


@pytest.fixture
def file_app(tiny_bundle_path, tmp_path):
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": f"sqlite:///{tmp_path / 'ready.db'}",
                      "DECISION_SPOOL_DIR": str(tmp_path / "spool")})
    yield app
    app.extensions[SPOOL_KEY].dispose()
    app_engine(app).dispose()


def test_readyz_reports_a_full_disk(file_app):
    client = file_app.test_client()
    assert client.get("/readyz").status_code == 200
    file_app.config["DB_MIN_FREE_MIB"] = 2**40  # more than any disk has: as if it were full
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"].startswith("disk of ")


def test_readyz_reports_a_deleted_file(file_app, tmp_path):
    client = file_app.test_client()
    assert client.get("/readyz").status_code == 200
    (tmp_path / "ready.db").unlink()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "was deleted" in response.get_json()["checks"]["database"]


@pytest.mark.parametrize("folder", ["data#1", "100%25 disk", "what%3F"])  # as written in DB_URL: %25 is '%', %3F is '?'
def test_a_worker_opens_the_file_db_url_names_whatever_its_folder_is_called(tmp_path, folder):
    """Workers open the file as a SQLite URI (``mode=rw``) whose path was not percent-encoded: in a folder named
    ``data#1`` the ``#`` began the URI's fragment, and they created and used an empty ``data`` beside it ("schema revision
    none" at start, or every decision spooled); a ``%`` or ``?`` in the name pointed them at another file too."""
    from urllib.parse import unquote

    from service.migrations import check_current, upgrade
    from service.store import sqlite_file

    url = f"sqlite:///{tmp_path}/{folder}/moderation.db"
    path = tmp_path / unquote(folder) / "moderation.db"
    creating = make_engine(url)  # as `moderate db upgrade` does
    try:
        upgrade(creating)
    finally:
        creating.dispose()
    assert path.is_file()
    worker = make_engine(url, create=False)
    try:
        assert sqlite_file(worker.url) == path
        check_current(worker)  # the migrated file, not a new empty one
        with worker.connect() as connection:
            assert connection.execute(text("PRAGMA database_list")).all()[0][2] == str(path)
    finally:
        worker.dispose()
    assert sorted(entry.name for entry in tmp_path.iterdir()) == [unquote(folder)]  # nothing created beside it
