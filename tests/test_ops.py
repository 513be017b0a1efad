"""Operations endpoints: /healthz, /readyz (model verified, database reachable) and /metrics."""

from __future__ import annotations

import json
import logging
import shutil

import pytest

from service.app import create_app
from service.decision_log import SPOOL_KEY
from service.ops import OK, UNREACHABLE, WRITE_REFUSED, check_model
from service.store import DATABASE_UNAVAILABLE_MESSAGE, StoreError, app_engine

HOSTILE = "You are a stupid clown, the minister ignores the vote."


def test_healthz_reports_the_loaded_model(client, scorer):
    assert client.get("/healthz").get_json() == {"status": "ok", "model_version": scorer.model_version}


def test_readyz_is_ready_when_the_model_and_database_are(client, scorer):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "model_version": scorer.model_version, "checks": {"model": "ok", "database": "ok"}}


def not_ready_lines(caplog) -> list[logging.LogRecord]:
    """The ``not ready`` warnings logged so far."""
    return [record for record in caplog.records if record.levelno == logging.WARNING and record.getMessage().startswith("not ready")]


def test_readyz_is_503_naming_an_unreachable_database(client, monkeypatch, caplog):
    def down() -> None:
        raise StoreError("database sqlite:///srv/secret/m.db is unreachable: OperationalError")

    monkeypatch.setattr("service.ops.ping", down)
    response = client.get("/readyz", headers={"X-Request-ID": "ready-1"})
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "not_ready"
    assert body["checks"] == {"model": "ok", "database": UNREACHABLE}
    (line,) = not_ready_lines(caplog)
    assert "sqlite:///srv/secret/m.db is unreachable" in line.getMessage() and line.request_id == "ready-1"


def test_readyz_never_tells_anyone_where_the_database_server_is(tiny_bundle_path, caplog):
    """A server that was down at start: the answer says so, the log says which server, neither has the password."""
    url = "postgresql+psycopg://mod_user:pa55word@127.0.0.1:1/mod_db"  # nothing listens on port 1: refused at once
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": url, "DB_REQUIRED_AT_START": False})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"] == DATABASE_UNAVAILABLE_MESSAGE
    for secret in ("mod_user", "127.0.0.1", "mod_db", "pa55word"):
        assert secret not in response.get_data(as_text=True)
    (line,) = not_ready_lines(caplog)
    assert "mod_user:***@127.0.0.1:1/mod_db" in line.getMessage() and "pa55word" not in line.getMessage()


def test_readyz_says_a_stopped_database_server_is_unreachable(client, monkeypatch, caplog):
    """A stopped PostgreSQL (seen with a real one, ``pg_ctl stop``): /readyz said "the database does not accept a write",
    as for a read-only server, where README's fault table and the truth say it is unreachable."""
    refused = 'database does not accept a write: OperationalError: connection failed: connection to server at "127.0.0.1", port 5432 failed: Connection refused'

    def down() -> None:
        raise StoreError("database postgresql+psycopg://moderation@127.0.0.1/moderation is unreachable: OperationalError")

    monkeypatch.setattr("service.ops.engine_sqlite_file", lambda _engine: None)  # as for a server
    monkeypatch.setattr("service.ops.write_problem", lambda *_args: refused)  # what it answers for a stopped server
    monkeypatch.setattr("service.ops.ping", down)
    response = client.get("/readyz")
    assert (response.status_code, response.get_json()["checks"]["database"]) == (503, UNREACHABLE)
    (line,) = not_ready_lines(caplog)
    assert "is unreachable: OperationalError" in line.getMessage()


def test_readyz_leaves_out_a_database_servers_own_words(client, monkeypatch, caplog):
    said = 'database does not accept a write: OperationalError: connection to server at "db.internal" (10.1.2.3), port 5432 failed'
    monkeypatch.setattr("service.ops.engine_sqlite_file", lambda _engine: None)  # as for a server
    monkeypatch.setattr("service.ops.write_problem", lambda *_args: said)
    response = client.get("/readyz")
    assert (response.status_code, response.get_json()["checks"]["database"]) == (503, WRITE_REFUSED)
    (line,) = not_ready_lines(caplog)
    assert said in line.getMessage()


def test_readyz_withholds_the_path_of_a_sqlite_file(tiny_bundle_path, tmp_path, caplog):
    path = tmp_path / "ready.db"
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": f"sqlite:///{path}", "DECISION_SPOOL_DIR": str(tmp_path / "spool")})
    try:
        client = app.test_client()
        assert client.get("/readyz").status_code == 200
        path.unlink()
        response = client.get("/readyz")
        database = response.get_json()["checks"]["database"]
        assert response.status_code == 503 and database.startswith("database file [path withheld] was deleted: restore it")
        assert str(tmp_path) not in response.get_data(as_text=True)
        (line,) = not_ready_lines(caplog)
        assert f"database file {path} was deleted" in line.getMessage()
    finally:
        app.extensions[SPOOL_KEY].dispose()
        app_engine(app).dispose()


def test_the_model_check_catches_probe_scores_that_moved(tiny_bundle_path, tmp_path, scorer):
    assert check_model(scorer) == OK
    copy = tmp_path / "bundle"
    shutil.copytree(tiny_bundle_path, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["probe"]["scores"][0] = {name: 0.5 for name in manifest["probe"]["scores"][0]}
    (copy / "manifest.json").write_text(json.dumps(manifest))
    client = create_app({"TESTING": True, "MODEL": str(copy), "DB_URL": "sqlite://"}).test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["model"].startswith("probe scores differ from the manifest")
    assert client.get("/healthz").status_code == 200


def metric_value(text: str, line_start: str) -> float:
    """The value of the first exposition line that starts with ``line_start``."""
    for line in text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no line starting {line_start!r} in:\n{text}")


def test_metrics_count_requests_latency_decisions_and_model(client, auth, scorer):
    client.post("/v1/moderate", json={"comments": [{"id": "h", "text": HOSTILE}, {"id": "e", "text": ""}]}, headers=auth)
    client.post("/v1/moderate", json={"comments": []}, headers=auth)
    client.get("/v1/nowhere/at/all")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    assert metric_value(text, 'moderation_http_requests_total{endpoint="/v1/moderate",method="POST",status="200"}') == 1
    assert metric_value(text, 'moderation_http_requests_total{endpoint="/v1/moderate",method="POST",status="400"}') == 1
    assert metric_value(text, 'moderation_http_requests_total{endpoint="unmatched",method="GET",status="404"}') == 1
    assert "/v1/nowhere" not in text
    assert metric_value(text, 'moderation_http_request_duration_seconds_count{endpoint="/v1/moderate"}') == 2
    assert metric_value(text, 'moderation_http_request_duration_seconds_bucket{endpoint="/v1/moderate",le="+Inf"}') == 2
    decided = scorer.moderate([HOSTILE])[0].action
    assert metric_value(text, f'moderation_decisions_total{{decision="{decided}",surface="v1"}}') == 1
    assert metric_value(text, 'moderation_decisions_total{decision="approve",surface="v1"}') == 1
    assert metric_value(text, f'moderation_model_info{{model_version="{scorer.model_version}"}}') == 1


@pytest.mark.parametrize("status", [401, 403])
def test_metrics_count_refused_requests(client, status):
    headers = {} if status == 401 else {"X-API-Key": "wrong"}
    client.get("/v1/model", headers=headers)
    text = client.get("/metrics").get_data(as_text=True)
    assert metric_value(text, f'moderation_http_requests_total{{endpoint="/v1/model",method="GET",status="{status}"}}') == 1


def test_a_lost_database_is_503_json_not_500(client, auth, monkeypatch):
    from sqlalchemy.exc import OperationalError

    def lost(*_args, **_kwargs):
        raise OperationalError("SELECT 1", {}, ConnectionError("server closed the connection"))

    monkeypatch.setattr("service.auth.find_active_key", lost)
    response = client.get("/v1/model", headers=auth)
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "database_unavailable"
    assert response.headers["Retry-After"] == "5"


def test_a_worker_reports_its_model_version_before_its_first_request(tiny_bundle_path):
    # moderation_model_info was set at a worker's first main-port request: after a start or a SIGHUP, the health
    # port's /metrics (which no worker answers) showed no version until traffic came.
    from service.metrics import METRICS_KEY

    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://"})
    text = app.extensions[METRICS_KEY].exposition().decode()
    version = app.extensions["moderation"].model_version
    assert metric_value(text, f'moderation_model_info{{model_version="{version}"}}') == 1
