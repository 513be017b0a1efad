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
