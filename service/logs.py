"""Structured logs and request ids: one JSON line per request, never a comment text unless ``LOG_TEXT``.

Every request gets an id: the client's ``X-Request-ID`` when it is a sane token, else a new one. It
is kept on ``g.request_id``, echoed in the ``X-Request-ID`` response header, written to the decision
log and put in every log line about the request. Paths are logged without their query string, which
may carry an API key (``?key=``).
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid

from flask import Flask, Response, current_app, g, request
from pythonjsonlogger.json import JsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"
VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
"""A client's request id is honoured only if it is short and cannot forge log lines or headers."""
LOGGER_NAME = "service"
REQUEST_LOGGER = "service.requests"
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
JSON_FIELDS = ("asctime", "levelname", "name", "message")
_HANDLER_MARK = "_moderation_handler"


def configure_logging(level: str, as_json: bool) -> None:
    """Send the ``service`` loggers to stderr, one JSON object (or plain line) per record; idempotent."""
    logger = logging.getLogger(LOGGER_NAME)
    for handler in [h for h in logger.handlers if getattr(h, _HANDLER_MARK, False)]:
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(json_formatter() if as_json else logging.Formatter(PLAIN_FORMAT))
    logger.addHandler(handler)
    logger.setLevel(level.upper() if isinstance(level, str) else level)
    logger.propagate = False


def json_formatter() -> logging.Formatter:
    """One JSON object per record with ``time``, ``level``, ``logger``, ``message`` (and any extra fields)."""
    return JsonFormatter(list(JSON_FIELDS), rename_fields={"asctime": "time", "levelname": "level", "name": "logger"})


def init_request_logging(app: Flask) -> None:
    """Configure logging from the app's settings, give each request an id and log it when it ends.

    Call it before other ``before_request`` hooks are added, so even a request refused early
    (rate limit) has an id.
    """
    configure_logging(app.config["LOG_LEVEL"], bool(app.config["LOG_JSON"]))
    app.before_request(_assign_request_id)
    app.after_request(_finish_request)


def _assign_request_id() -> None:
    g.request_started = time.perf_counter()
    offered = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = offered if VALID_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex


def request_id() -> str | None:
    """The current request's id."""
    return g.get("request_id")


def note_decisions(counts: dict[str, int], texts: list[str] | None) -> None:
    """Add decision counts (and texts, only if ``LOG_TEXT``) to the request's log line."""
    g.log_decisions = {**g.get("log_decisions", {}), **counts}
    if texts is not None and current_app.config["LOG_TEXT"]:
        g.log_texts = [*g.get("log_texts", []), *texts]


def _finish_request(response: Response) -> Response:
    """Echo the request id and write the request's log line."""
    rid = g.get("request_id")
    if rid is not None:
        response.headers[REQUEST_ID_HEADER] = rid
    started = g.get("request_started")
    record = {
        "event": "request",
        "request_id": rid,
        "method": request.method,
        "path": request.path,
        "endpoint": request.endpoint,
        "status": response.status_code,
        "duration_ms": None if started is None else round((time.perf_counter() - started) * 1000, 2),
        "api_key_id": g.get("api_key_id"),
    }
    if "log_decisions" in g:
        record["decisions"] = g.log_decisions
    if "log_texts" in g:
        record["texts"] = g.log_texts
    logging.getLogger(REQUEST_LOGGER).info("%s %s %s", request.method, request.path, response.status_code, extra=record)
    return response
