"""A worker started while its database was down checks the schema when the database answers again (issue 15).

In process, as a ``moderate serve`` worker is configured (``DB_AUTO_UPGRADE`` and ``DB_REQUIRED_AT_START``
false); ``tests/test_faults.py`` does the same against a real server.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from service.app import create_app
from service.decision_log import SPOOL_KEY
from service.migrations import head_revision, upgrade
from service.store import DecisionRecord, Feedback, app_engine, make_engine
from tests.test_decision_log import metric_value

OLDER_REVISION = "0002"
FEEDBACK = {"comment_id": "c", "decision": "reject"}


def moderate(client, comment_id: str):
    return client.post("/v1/moderate", json={"comments": [{"id": comment_id, "text": "You are a stupid clown."}]})


def migrate(url: str, revision: str) -> None:
    engine = make_engine(url)
    try:
        upgrade(engine, revision)
    finally:
        engine.dispose()


def count(app, model) -> int:
    with app_engine(app).connect() as connection:
        return connection.execute(select(func.count()).select_from(model)).scalar_one()


@pytest.fixture
def late_database(tiny_bundle_path, tmp_path):
    """(app, URL): a worker's app started while its SQLite file is missing."""
    url = f"sqlite:///{tmp_path / 'late.db'}"
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": url, "DB_AUTO_UPGRADE": False, "DB_REQUIRED_AT_START": False,
                      "AUTH_REQUIRED": False, "DECISION_SPOOL_DIR": str(tmp_path / "spool")})
    yield app, url
    app.extensions[SPOOL_KEY].dispose()
    app_engine(app).dispose()


def test_a_database_that_returns_at_an_older_schema_gets_503_until_it_is_upgraded(late_database):
    app, url = late_database
    client = app.test_client()
    # Down: as before, moderation answers (rows spooled) and what needs the database is 503.
    assert moderate(client, "down").status_code == 200
    assert client.post("/v1/feedback", json=FEEDBACK).get_json()["error"]["code"] == "database_unavailable"

    migrate(url, OLDER_REVISION)  # back, but restored from a backup one migration behind
    response = client.post("/v1/feedback", json=FEEDBACK)
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    error = response.get_json()["error"]
    assert error["code"] == "database_schema_outdated"
    assert f"schema revision {OLDER_REVISION} but this version needs {head_revision()}" in error["message"]
    assert "moderate db upgrade" in error["message"]
    ready = client.get("/readyz")
    detail = ready.get_json()["checks"]["database"]  # anyone may ask: what to do, not where the database is
    assert ready.status_code == 503 and f"schema revision {OLDER_REVISION}" in detail and "moderate db upgrade" in detail
    assert "late.db" not in detail
    assert client.get("/healthz").status_code == 200
    assert moderate(client, "behind").status_code == 200  # moderation still answers ...
    assert count(app, DecisionRecord) == 0 and count(app, Feedback) == 0  # ... but nothing went into the old tables
    assert metric_value(client.get("/metrics").get_data(as_text=True), "moderation_decision_log_spooled_rows_total") == 2

    migrate(url, "head")
    assert client.post("/v1/feedback", json=FEEDBACK).status_code == 201
    assert client.get("/readyz").status_code == 200
    app.extensions[SPOOL_KEY].next_replay = 0.0  # due now rather than in REPLAY_INTERVAL_SECONDS
    moderate(client, "current").close()  # the spooled rows are replayed once this answer is sent
    with app_engine(app).connect() as connection:
        logged = set(connection.execute(select(DecisionRecord.comment_id)).scalars())
    assert logged == {"down", "behind", "current"}


def test_a_worker_whose_database_returns_current_serves_as_usual(late_database):
    app, url = late_database
    client = app.test_client()
    migrate(url, "head")
    assert client.get("/readyz").status_code == 200
    assert client.post("/v1/feedback", json=FEEDBACK).status_code == 201
    assert count(app, Feedback) == 1


def test_a_database_that_returns_at_a_newer_releases_schema_says_to_run_that_release(late_database):
    """A newer release migrated the database while this worker waited for it: the 503 and /readyz told the operator to
    run `moderate db upgrade`, which this version refuses for a revision it does not know."""
    from sqlalchemy import text

    app, url = late_database
    client = app.test_client()
    migrate(url, "head")
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    finally:
        engine.dispose()
    error = client.post("/v1/feedback", json=FEEDBACK).get_json()["error"]
    detail = client.get("/readyz").get_json()["checks"]["database"]
    for message in (error["message"], detail):
        assert "schema revision 0099, which a newer release of the service wrote" in message and "run that release" in message
        assert "moderate db upgrade" not in message and "late.db" not in message
    assert error["code"] == "database_schema_outdated" and count(app, Feedback) == 0
