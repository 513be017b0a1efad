"""Structured request logs: one JSON line per request with its id, never a comment text unless configured."""

from __future__ import annotations

import json
import logging

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


def test_each_request_logs_one_json_line_with_its_id_and_no_text(client, auth, request_lines):
    response = client.post("/v1/moderate?key=should-not-appear", json={"comments": [{"id": "c1", "text": SECRET_TEXT}]}, headers=auth)
    assert response.status_code == 200
    (line,) = request_lines()
    assert {"time", "level", "logger", "message"} <= set(line)
    assert line["request_id"] == response.headers["X-Request-ID"]
    assert (line["method"], line["path"], line["status"], line["endpoint"]) == ("POST", "/v1/moderate", 200, "api_v1.moderate")
    assert line["api_key_id"] is not None and line["duration_ms"] > 0
    assert sum(line["decisions"].values()) == 1
    raw = json.dumps(line)
    assert "Alice" not in raw and "should-not-appear" not in raw


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
