"""Structured request logs: one JSON line per request with its id, never a comment text unless configured."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import subprocess
import sys
from types import SimpleNamespace

import pytest

from service.app import create_app
from service.logs import LOGGER_NAME, configure_logging

SECRET_TEXT = "my neighbour Alice Example is a stupid clown"


def service_handler() -> logging.Handler:
    """The one stderr handler ``configure_logging`` installed."""
    (handler,) = [h for h in logging.getLogger(LOGGER_NAME).handlers if getattr(h, "_moderation_handler", False)]
    return handler


@pytest.fixture
def request_lines():
    """A function returning the request log lines written so far, as the JSON the service's handler emits."""
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    collector = Collect()
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(collector)
    yield lambda: [json.loads(service_handler().format(r)) for r in records if getattr(r, "event", None) == "request"]
    logger.removeHandler(collector)


def test_each_request_logs_one_json_line_with_its_id_and_no_text(client, api_key, auth, request_lines):
    # The same key in ?key= as in the header (two different keys are refused): the query string is never logged.
    response = client.post(f"/v1/moderate?key={api_key}", json={"comments": [{"id": "c1", "text": SECRET_TEXT}]}, headers=auth)
    assert response.status_code == 200
    (line,) = request_lines()
    assert {"time", "level", "logger", "message"} <= set(line)
    assert line["request_id"] == response.headers["X-Request-ID"]
    assert (line["method"], line["path"], line["status"], line["endpoint"]) == ("POST", "/v1/moderate", 200, "api_v1.moderate")
    assert line["api_key_id"] is not None and line["duration_ms"] > 0
    assert 0 < line["scoring_ms"] <= line["duration_ms"]  # time in the model, apart from the rest of the request
    assert sum(line["decisions"].values()) == 1
    raw = json.dumps(line)
    assert "Alice" not in raw and api_key not in raw


def test_log_text_setting_adds_texts_except_under_do_not_store(tiny_bundle_path, request_lines):
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "AUTH_REQUIRED": False, "LOG_TEXT": True})
    app.test_client().post("/v1/moderate", json={"comments": [{"id": "c1", "text": SECRET_TEXT}]})
    app.test_client().post("/v1/moderate", json={"comments": [{"id": "c2", "text": SECRET_TEXT}], "do_not_store": True})
    first, second = request_lines()
    assert first["texts"] == [SECRET_TEXT]
    assert "texts" not in second


def test_refusals_are_logged_with_the_clients_id(client, request_lines):
    response = client.post("/v1/moderate", data=b"{", headers={"X-Request-ID": "abc-1"})
    assert response.headers["X-Request-ID"] == "abc-1"
    (line,) = request_lines()
    assert (line["status"], line["request_id"]) == (401, "abc-1")


def test_plain_text_logs_and_idempotent_setup():
    configure_logging("WARNING", as_json=False)
    configure_logging("INFO", as_json=True)
    logger = logging.getLogger(LOGGER_NAME)
    assert len([h for h in logger.handlers if getattr(h, "_moderation_handler", False)]) == 1
    assert logger.level == logging.INFO and logger.propagate is False


def key_headers(app, **headers: str) -> dict[str, str]:
    """Headers carrying a new key stored in ``app``'s database, and ``headers``."""
    from service.auth import create_key
    from service.store import get_session

    with app.app_context():
        return {"X-API-Key": create_key(get_session(), "k")[1], **headers}


def stderr_lines(capsys) -> list[dict]:
    """Every line written to stderr so far, each parsed as JSON (a line that is not JSON fails the test)."""
    return [json.loads(line) for line in capsys.readouterr().err.splitlines()]


def batch_body(parts: list[str]) -> tuple[bytes, str]:
    """A Google batch (``POST /batch``) of the HTTP requests ``parts``, and its content type."""
    chunks = [f"--b0undary\r\nContent-Type: application/http\r\nContent-ID: <{i}>\r\n\r\n{part}\r\n" for i, part in enumerate(parts, 1)]
    return ("".join(chunks) + "--b0undary--\r\n").encode(), 'multipart/mixed; boundary="b0undary"'


def analyze_part(key: str) -> str:
    """One Perspective request inside a batch."""
    return (f"POST /v1alpha1/comments:analyze?key={key} HTTP/1.1\nContent-Type: application/json\n\n"
            '{"comment": {"text": "Nice park."}, "requestedAttributes": {"TOXICITY": {}}}')


def test_every_line_written_during_a_request_carries_its_id(capsys, tiny_bundle_path):
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "AUTH_FAILURE_LIMIT": "1 per minute"})
    client = app.test_client()
    answers = [client.get("/v1/model", headers={"X-API-Key": "mod_made_up", "X-Request-ID": f"rid-{i}"}) for i in range(2)]
    assert [answer.status_code for answer in answers] == [403, 429]
    lines = stderr_lines(capsys)
    (limited,) = [line for line in lines if line["message"].startswith("limited: auth_failures")]
    assert limited["request_id"] == "rid-1"
    assert {line["request_id"] for line in lines} == {"rid-0", "rid-1"}


def test_the_request_limits_fallback_to_memory_is_logged(capsys, tiny_bundle_path):
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1/0"})
    assert app.test_client().get("/v1/model", headers=key_headers(app)).status_code == 200
    fallbacks = [line for line in stderr_lines(capsys) if line["logger"] == "flask-limiter"]
    assert fallbacks and "falling back to in-memory storage" in fallbacks[0]["message"]
    assert fallbacks[0]["level"] == "WARNING" and fallbacks[0]["request_id"]


def test_times_are_iso_8601_in_utc(capsys, tiny_bundle_path):
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://"})
    app.test_client().get("/healthz")
    (line,) = stderr_lines(capsys)
    logged = dt.datetime.fromisoformat(line["time"])
    assert logged.utcoffset() == dt.timedelta(0)
    assert abs(logged - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(minutes=10)  # UTC, not local time labelled UTC


def test_a_batch_keeps_its_own_request_id_and_each_part_logs_its_own(tiny_bundle_path, tmp_path, request_lines):
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": f"sqlite:///{tmp_path / 'm.db'}"})
    key = key_headers(app)["X-API-Key"]
    body, content_type = batch_body([analyze_part(key), analyze_part("mod_wrong")])
    response = app.test_client().post("/batch", data=body, content_type=content_type, headers={"X-Request-ID": "batch-1"})
    assert response.status_code == 200 and response.headers["X-Request-ID"] == "batch-1"
    scored, refused, batch = request_lines()
    assert (scored["status"], refused["status"], batch["path"], batch["request_id"]) == (200, 403, "/batch", "batch-1")
    assert len({scored["request_id"], refused["request_id"], "batch-1"}) == 3
    assert sum(scored["decisions"].values()) == 1
    assert "decisions" not in refused and "decisions" not in batch  # each part's decisions are its own
    body, content_type = batch_body([analyze_part("mod_wrong"), analyze_part(key)])
    app.test_client().post("/batch", data=body, content_type=content_type)
    refused, scored, batch = request_lines()[-3:]
    assert scored["api_key_id"] is not None and batch["api_key_id"] is None  # the batch itself has no key


@pytest.mark.parametrize("as_json", [True, False])
@pytest.mark.parametrize("message", [
    "Invalid request from ip=127.0.0.1: Invalid HTTP request line: 'GET /v1/model?key={key}\\x01 HTTP/1.1'",
    "Invalid request from ip=127.0.0.1: Invalid HTTP Header: 'Authorization Bearer {key}'",
    "Error handling request POST /v1alpha1/comments:analyze?key={key}",
])
def test_gunicorn_lines_never_show_a_key_a_client_sent(capsys, as_json, message):
    from gunicorn.config import Config as GunicornConfig

    from service.server import server_options

    key = "mod_" + "k" * 43
    config = GunicornConfig()
    config.set("errorlog", "-")
    settings = {"LOG_LEVEL": "INFO", "LOG_JSON": as_json, "HOST": "127.0.0.1", "PORT": 8000, "WORKERS": 1, "THREADS": 1, "TIMEOUT_SECONDS": 30}
    logger = server_options(SimpleNamespace(config=settings))["logger_class"](config)
    logger.warning(message.format(key=key))
    (line,) = capsys.readouterr().err.splitlines()
    assert message[:30] in line  # what went wrong is still said
    assert "kkkk" not in line


def test_an_unexpected_error_is_logged_at_error_with_its_id_and_one_traceback(capsys, tiny_bundle_path):
    app = create_app({"MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://"})  # not TESTING: Flask answers the 500 itself

    def broken():
        raise RuntimeError("kaboom")

    app.add_url_rule("/broken", "broken", broken)
    assert app.test_client().get("/broken", headers={"X-Request-ID": "rid-500"}).status_code == 500
    errors = [line for line in stderr_lines(capsys) if line["level"] == "ERROR"]
    (request_line,) = [line for line in errors if line.get("event") == "request"]
    assert (request_line["status"], request_line["path"]) == (500, "/broken")
    assert {line["request_id"] for line in errors} == {"rid-500"}
    assert [("RuntimeError: kaboom" in line.get("exc_info", "")) for line in errors].count(True) == 1


def test_a_503_is_logged_as_a_warning(client, monkeypatch, request_lines):
    from service.store import StoreError

    def down() -> None:
        raise StoreError("database sqlite:// is unreachable: OperationalError")

    monkeypatch.setattr("service.ops.ping", down)
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200
    assert [(line["status"], line["level"]) for line in request_lines()] == [(503, "WARNING"), (200, "INFO")]


def test_below_log_level_no_request_line_is_written_but_the_id_is_still_echoed(tiny_bundle_path, monkeypatch, request_lines):
    from service.store import StoreError

    def down() -> None:
        raise StoreError("database sqlite:// is unreachable: OperationalError")

    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "LOG_LEVEL": "WARNING"})
    client = app.test_client()
    try:
        assert client.get("/healthz", headers={"X-Request-ID": "rid-quiet"}).headers["X-Request-ID"] == "rid-quiet"
        monkeypatch.setattr("service.ops.ping", down)
        assert client.get("/readyz", headers={"X-Request-ID": "rid-503"}).status_code == 503
        assert [(line["status"], line["level"], line["request_id"]) for line in request_lines()] == [(503, "WARNING", "rid-503")]
    finally:
        configure_logging("INFO", as_json=True)  # the level the other tests' apps set


FORGED = "2026-12-06T06:00:00.000Z ERROR service.auth forged"


@pytest.mark.parametrize("separator", ["%0A", "%0D", "%E2%80%A8", "%1B%5B2K"])
def test_a_path_cannot_start_a_plain_log_line_of_its_own(capsys, tiny_bundle_path, separator):
    # gunicorn decodes %0A in the path, and the request line printed it: a second, made-up record (JSON escapes it).
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "LOG_JSON": False})
    try:
        assert app.test_client().get(f"/x{separator}{FORGED.replace(' ', '%20')}").status_code == 404
        (line,) = capsys.readouterr().err.splitlines()
        assert line.split(" ", 3)[1:3] == ["INFO", "service.requests"] and FORGED in line
        assert line.isprintable()  # nor a terminal escape that rewrites what is shown (ESC [2K clears the line)
    finally:
        configure_logging("INFO", as_json=True)  # the setting the other tests' apps use


def pool_reset_fails(folder) -> None:
    """Make SQLAlchemy's pool log its own error (``Exception during reset or similar``, with a traceback): the
    rollback of a connection given back fails, as when a database server goes away."""
    import sqlite3

    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{folder / 'pool.db'}")
    with engine.connect() as connection:
        connection.execute(text("select 1"))

    def rollback_fails(_dbapi_connection) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    engine.dialect.do_rollback = rollback_fails
    engine.raw_connection().close()  # back to the pool, which resets it
    engine.dispose()


def test_other_libraries_errors_are_json_lines_with_the_request_id(capsys, tiny_bundle_path, tmp_path):
    # They went to Python's last resort: a bare message and traceback on stderr, no time, no JSON, no request id.
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://"})

    def library_lines() -> str:
        pool_reset_fails(tmp_path)
        logging.getLogger("sqlalchemy.engine").info("below LIBRARY_LEVEL: not written")
        return "done"

    app.add_url_rule("/library", "library", library_lines)
    assert app.test_client().get("/library", headers={"X-Request-ID": "rid-lib"}).status_code == 200
    lines = stderr_lines(capsys)
    (pool,) = [line for line in lines if line["logger"].startswith("sqlalchemy.pool")]
    assert (pool["level"], pool["message"], pool["request_id"]) == ("ERROR", "Exception during reset or similar", "rid-lib")
    assert "disk I/O error" in pool["exc_info"]
    assert not [line for line in lines if line["logger"] == "sqlalchemy.engine"]
    assert {"time", "level", "logger", "message"} <= set(pool)



WARNING_SCRIPT = """
import sys, warnings
from service.app import create_app
app = create_app({"TESTING": True, "MODEL": sys.argv[1], "DB_URL": "sqlite://", "LOG_JSON": sys.argv[2] == "json"})
def deprecated():
    warnings.warn("this call is deprecated", FutureWarning, stacklevel=1)
    return "done"
app.add_url_rule("/deprecated", "deprecated", deprecated)
for _ in range(2):
    assert app.test_client().get("/deprecated", headers={"X-Request-ID": "rid-warn"}).status_code == 200
"""


@pytest.mark.parametrize("as_json", [True, False])
def test_python_warnings_are_one_log_line_in_the_configured_format(tiny_bundle_path, as_json):
    # Python wrote them to stderr itself: two plain lines (the warning, then its source line) amid the JSON ones.
    # A process of its own: pytest records warnings itself, so none would reach stderr here.
    env = {name: value for name, value in os.environ.items() if name != "PYTHONWARNINGS"}
    done = subprocess.run([sys.executable, "-c", WARNING_SCRIPT, str(tiny_bundle_path), "json" if as_json else "plain"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    if as_json:
        records = [json.loads(line) for line in lines]  # every line parses
        (warned,) = [record for record in records if record["logger"] == "py.warnings"]  # once, as Python's filter says
        assert (warned["level"], warned["request_id"]) == ("WARNING", "rid-warn")
        assert warned["message"].startswith("FutureWarning: this call is deprecated (<string>:")
    else:
        (warned,) = [line for line in lines if "deprecated" in line and "GET" not in line]
        assert warned.split(" ", 3)[1:3] == ["WARNING", "py.warnings"] and "FutureWarning: this call is deprecated" in warned


def test_plain_lines_carry_the_request_fields_as_name_value_pairs(capsys, tiny_bundle_path):
    # LOG_JSON=false wrote only "POST /v1/moderate 200": no request id (echoed to the client, kept in the decision
    # log), duration, key or decisions, and LOG_TEXT=true showed no text, against deployment.md's list of fields.
    app = create_app({"MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "AUTH_REQUIRED": False, "LOG_JSON": False,
                      "LOG_TEXT": True})
    body = {"comments": [{"id": "a", "text": "Thanks for the\nreport."}]}
    assert app.test_client().post("/v1/moderate", json=body, headers={"X-Request-ID": "my-req-1"}).status_code == 200
    (line,) = [line for line in capsys.readouterr().err.splitlines() if "service.requests" in line]
    assert re.fullmatch(r"\S+Z INFO service\.requests POST /v1/moderate 200 event=request request_id=my-req-1 method=POST "
                        r"path=/v1/moderate endpoint=api_v1\.moderate status=200 duration_ms=[\d.]+ api_key_id=null "
                        r'scoring_ms=[\d.]+ decisions=\{"approve": 1\} texts=\["Thanks for the\\nreport\."\]', line), line


def test_the_settings_warnings_at_start_are_lines_of_the_configured_format(capsys, tiny_bundle_path, monkeypatch):
    # They came before logging was configured: Python's last resort wrote them bare ("MODERATION_... is not a
    # setting ...") amid the JSON lines, with no time, level or logger.
    monkeypatch.setenv("MODERATION_NOT_A_SETTING_AT_ALL", "1")
    create_app({"MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "LOG_JSON": True})
    lines = stderr_lines(capsys)  # each parsed as JSON
    (warning,) = [line for line in lines if "MODERATION_NOT_A_SETTING_AT_ALL" in line["message"]]
    assert (warning["level"], warning["logger"]) == ("WARNING", "service.config")


def test_the_settings_warnings_are_still_logged_when_a_setting_is_refused(monkeypatch):
    # Collected until logging was configured, they were dropped when the settings were refused: "MODERATION_PROT is
    # not a setting (did you mean MODERATION_PORT?)" was the line that said why.
    from service.config import ConfigError, deferred_warnings, warn_once

    logged: list[str] = []
    monkeypatch.setattr(logging.getLogger("service.config"), "warning", logged.append)
    with pytest.raises(ConfigError), deferred_warnings():
        warn_once(["MODERATION_PROT is not a setting and is ignored (did you mean MODERATION_PORT?)"])
        assert logged == []  # held while the settings are read
        raise ConfigError("setting WORKERS (MODERATION_WORKERS) is 'many'")
    assert logged == ["MODERATION_PROT is not a setting and is ignored (did you mean MODERATION_PORT?)"]


def test_a_client_cannot_write_fields_of_its_own_into_a_plain_line(capsys, tiny_bundle_path):
    # The request line's message held the decoded path: "/v1/nothing%20request_id=FORGED" read as a request_id
    # field, before the real one, to a logfmt reader.
    app = create_app({"MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "LOG_JSON": False})
    app.test_client().get("/v1/nothing%20request_id=FORGED%20status=200", headers={"X-Request-ID": "real-id"})
    (line,) = [line for line in capsys.readouterr().err.splitlines() if "service.requests" in line]
    # Read as logfmt: fields are the space-separated name=value tokens outside double quotes.
    tokens = re.findall(r'(?:[^\s"]|"(?:\\.|[^"\\])*")+', line)
    fields = [token.split("=", 1) for token in tokens if "=" in token and not token.startswith('"')]
    assert [value for name, value in fields if name == "request_id"] == ["real-id"]
    assert [value for name, value in fields if name == "status"] == ["404"]
    assert "GET /v1/nothing%20request_id%3DFORGED%20status%3D200 404" in line
