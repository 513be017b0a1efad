"""Structured logs and request ids: one JSON line per request, never a comment text unless ``LOG_TEXT``.

Every request gets an id: the client's ``X-Request-ID`` when it is a sane token, else a new one. It
is kept on ``g.request_id``, echoed in the ``X-Request-ID`` response header, written to the decision
log and put in every log line written while the request is handled. Paths are logged without their query
string, which may carry an API key (``?key=``); gunicorn's own lines have query strings and the request
lines or headers it could not parse withheld (``WithholdClientText``).

What the request's log line needs (its id, start, decisions) is kept on the request, not on ``g``: the parts of
a Google batch (``POST /batch``) are requests of their own, each in an app context of its own (its own ``g``), inside
the batch's request. Times are ISO 8601 in UTC (``2026-12-05T11:46:44.395Z``). Other libraries' warnings and errors go through the
same handler (``LIBRARY_LEVEL``), and so do Python's warnings (``warnings.warn``: a deprecation, scikit-learn's version
mismatch), as records of ``py.warnings`` (``log_warning``); a plain line (``LOG_JSON`` false) escapes the control
characters of its message.

A request's line is at INFO, WARNING for a 503 (a database down, not ready: expected states with lines of their
own) and ERROR for any other 5xx, so that an operator filtering on ERROR sees every unexpected error (500): next to
Flask's ``Exception on ...`` line, which holds the traceback, both with the request id.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from flask import Flask, Response, current_app, g, has_request_context, request
from pythonjsonlogger.json import JsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"
VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
"""A client's request id is honoured only if it is short and cannot forge log lines or headers."""
LOGGER_NAME = "service"
REQUEST_LOGGER = "service.requests"
LIBRARY_LOGGERS = ("flask-limiter",)
"""Libraries whose lines an operator needs: flask-limiter warns when the request count falls back to each worker's
memory (Redis unreachable). It gives its logger a NullHandler, so without ours its warnings went nowhere."""
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
JSON_FIELDS = ("asctime", "levelname", "name", "message")
UTC_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"
UTC_MSEC_FORMAT = "%s.%03dZ"
REQUEST_NOTES = "moderation.request_notes"
"""``request.environ[REQUEST_NOTES]``: the request's ``RequestNotes``."""
INVALID_REQUEST = "Invalid request from"
"""How gunicorn begins its warning about a request it could not parse, quoting the bad request line or header whole."""
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
"""What a plain line's message escapes (``\\n``): a path a client sent with ``%0A`` would otherwise start a line that
reads as a record of its own. JSON escapes them itself."""
LIBRARY_LEVEL = logging.WARNING
"""Other libraries' records (SQLAlchemy's pool, redis, ...) from this level up go through the same
handler, as JSON with the request id; below it they are noise. Without it Python wrote them bare (no time, no JSON)."""
WARNINGS_LOGGER = "py.warnings"
"""The logger of Python's warnings (``warnings.warn``), as ``logging.captureWarnings`` names it."""
QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
QUERY_STRING = re.compile(r"\?[^\s'\"]+")
_HANDLER_MARK = "_moderation_handler"
SERVICE_UNAVAILABLE = 503
SERVER_ERROR = 500

request_log = logging.getLogger(REQUEST_LOGGER)


@dataclass
class RequestNotes:
    """What the request's log line says besides the request itself."""

    request_id: str
    started: float
    decisions: Counter = field(default_factory=Counter)
    texts: list[str] = field(default_factory=list)


class AddRequestId(logging.Filter):
    """Give every record logged while a request is handled that request's ``request_id``."""

    def filter(self, record: logging.LogRecord) -> bool:
        rid = request_id()
        if rid is not None and not hasattr(record, "request_id"):
            record.request_id = rid
        return True


class WithholdClientText(logging.Filter):
    """Rewrite a record's message with ``withhold_client_text`` (for gunicorn's lines, which quote what clients sent)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = withhold_client_text(record.getMessage()), None
        return True


def withhold_client_text(message: str) -> str:
    """``message`` without what a client sent that may hold a secret: every query string (``?key=``) and, in gunicorn's
    warnings about requests it could not parse, every quoted request line or header (``Authorization: Bearer ...``)."""
    if message.startswith(INVALID_REQUEST):
        message = QUOTED.sub(lambda quoted: f"'[{len(quoted.group()) - 2} characters withheld]'", message)
    return QUERY_STRING.sub("?[query withheld]", message)


def configure_logging(level: str, as_json: bool) -> None:
    """Send the ``service`` loggers (and ``LIBRARY_LOGGERS``, and other libraries' records from ``LIBRARY_LEVEL`` up) to
    stderr, one JSON object (or plain line) per record, with the request id in lines written during a request;
    idempotent."""
    handler = logging.StreamHandler(sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(json_formatter() if as_json else plain_formatter())
    handler.addFilter(AddRequestId())
    number = logging.getLevelNamesMapping()[level.upper()] if isinstance(level, str) else int(level)
    for name in (LOGGER_NAME, *LIBRARY_LOGGERS):
        logger = _only_handler(logging.getLogger(name), handler)
        logger.setLevel(number)
        logger.propagate = False
    _only_handler(logging.getLogger(), handler).setLevel(max(LIBRARY_LEVEL, number))  # every other logger propagates to it
    # Python wrote warnings to stderr itself, as two plain lines (the warning, then the source line) amid the JSON ones.
    warnings.showwarning = log_warning


def log_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None,
                line: str | None = None) -> None:
    """``warnings.showwarning`` once logging is configured: the warning as one WARNING record of ``WARNINGS_LOGGER``
    (``UserWarning: text (file.py:12)``), in the configured format and with the request id. Python's filters still
    decide whether it is shown (by default once per place in the code). A warning shown into a file of its own
    (``file``) goes there, as Python would write it."""
    if file is not None:
        file.write(warnings.formatwarning(message, category, filename, lineno, line))
        return
    logging.getLogger(WARNINGS_LOGGER).warning("%s: %s (%s:%d)", category.__name__, message, filename, lineno)


def _only_handler(logger: logging.Logger, handler: logging.Handler) -> logging.Logger:
    """``logger`` with ``handler`` in place of the one an earlier ``configure_logging`` gave it (others stay)."""
    for old in [h for h in logger.handlers if getattr(h, _HANDLER_MARK, False)]:
        logger.removeHandler(old)
    logger.addHandler(handler)
    return logger


_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
"""What every LogRecord has: the rest of a record's attributes are the fields a call gave in ``extra``."""
PATH_SHOWN_AS_IS = "/:@!$&'()*+,;~"
"""Characters of a path a request line's message shows as they are (RFC 3986's path characters but ``=``)."""
PLAIN_WORD = re.compile(r"[\w.:/@+-]*")
"""A plain line's field value written as it is; any other is written as JSON (quoted, escaped)."""


class OneLineFormatter(logging.Formatter):
    """The plain format, with the control characters of each message escaped (``CONTROL_CHARACTERS``): one record
    begins one line whatever a client sent. A traceback still follows on lines of its own. The fields a record has
    beyond the message (``extra``: a request line's ``request_id``, ``duration_ms``, ``decisions``, ...; the
    ``request_id`` of every line written during a request) follow it as ``name=value``, as the JSON lines hold them;
    an ``=`` of the message itself is then written ``\\=``, so that no text a client sent reads as a field."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        """The line, its message escaped (``format`` sets ``record.message`` again for each handler)."""
        record.message = escape_control_characters(record.message)
        fields = [f"{name}={_plain_value(value)}" for name, value in record.__dict__.items()
                  if name not in _RECORD_ATTRIBUTES and not name.startswith("_")]
        if fields:  # a message may hold what a client sent (a path with %20): no "request_id=..." of its own
            record.message = record.message.replace("=", "\\=")
        return " ".join([super().formatMessage(record), *fields])


def _plain_value(value: Any) -> str:
    if isinstance(value, str) and PLAIN_WORD.fullmatch(value) and value:
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) or value is None:
        return json.dumps(value)
    return escape_control_characters(json.dumps(value, ensure_ascii=False, default=str))


def escape_control_characters(text: str) -> str:
    """``text`` with each control character or line separator written as Python would (``\\n``, ``\\x1b``, ``\\u2028``)."""
    return CONTROL_CHARACTERS.sub(lambda found: ascii(found.group())[1:-1], text)


def utc_times(formatter: logging.Formatter) -> logging.Formatter:
    """``formatter`` with ``asctime`` in ISO 8601, UTC, to the millisecond (``2026-12-05T11:46:44.395Z``)."""
    formatter.converter = time.gmtime
    formatter.default_time_format, formatter.default_msec_format = UTC_TIME_FORMAT, UTC_MSEC_FORMAT
    return formatter


def plain_formatter() -> logging.Formatter:
    """One line per record: ``time level logger message name=value ...`` (``OneLineFormatter``)."""
    return utc_times(OneLineFormatter(PLAIN_FORMAT))


def json_formatter() -> logging.Formatter:
    """One JSON object per record with ``time``, ``level``, ``logger``, ``message`` (and any extra fields)."""
    return utc_times(JsonFormatter(list(JSON_FIELDS), rename_fields={"asctime": "time", "levelname": "level", "name": "logger"}))


def init_request_logging(app: Flask) -> None:
    """Give each request an id and log it when it ends (``create_app`` has configured logging from the app's settings
    as soon as it read them, ``configure_logging``).

    Call it before other ``before_request`` hooks are added, so even a request refused early
    (rate limit) has an id.
    """
    app.before_request(_assign_request_id)
    app.after_request(_finish_request)


def _assign_request_id() -> None:
    offered = request.headers.get(REQUEST_ID_HEADER, "")
    rid = offered if VALID_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
    g.request_id = rid  # read by the views and the decision log
    request.environ[REQUEST_NOTES] = RequestNotes(rid, time.perf_counter())


def _notes() -> RequestNotes | None:
    return request.environ.get(REQUEST_NOTES) if has_request_context() else None


def request_id() -> str | None:
    """The current request's id (None outside a request)."""
    notes = _notes()
    return None if notes is None else notes.request_id


def note_decisions(counts: dict[str, int], texts: list[str] | None) -> None:
    """Add decision counts (and texts, only if ``LOG_TEXT``) to the request's log line."""
    notes = _notes()
    if notes is None:
        return
    notes.decisions.update(counts)
    if texts is not None and current_app.config["LOG_TEXT"]:
        notes.texts.extend(texts)


def _finish_request(response: Response) -> Response:
    """Echo the request id and write the request's log line."""
    notes = _notes()
    if notes is None:
        return response
    response.headers[REQUEST_ID_HEADER] = notes.request_id
    status = response.status_code
    level = request_level(status)
    if not request_log.isEnabledFor(level):  # LOG_LEVEL above it: build no line
        return response
    from service.metrics import scoring_seconds  # not at import: ``moderate serve`` imports prometheus_client later

    method, path = request.method, request.path
    record = {
        "event": "request",
        "request_id": notes.request_id,
        "method": method,
        "path": path,
        "endpoint": request.endpoint,
        "status": status,
        "duration_ms": round((time.perf_counter() - notes.started) * 1000, 2),
        "api_key_id": g.get("api_key_id"),
    }
    scoring = scoring_seconds()
    if scoring is not None:
        record["scoring_ms"] = round(scoring * 1000, 2)
    if notes.decisions:
        record["decisions"] = dict(notes.decisions)
    if notes.texts:
        record["texts"] = notes.texts
    # The message shows the path percent-encoded (the field has it as decoded): a space or "=" a client put in it
    # ("/v1/nothing%20request_id=FORGED") cannot pass for a field of a plain line.
    request_log.log(level, "%s %s %s", method, quote(path, safe=PATH_SHOWN_AS_IS), status, extra=record)
    return response


def request_level(status: int) -> int:
    """The level of a request's line: ERROR for a 5xx but 503, WARNING for a 503, INFO for the rest."""
    if status == SERVICE_UNAVAILABLE:
        return logging.WARNING
    return logging.ERROR if status >= SERVER_ERROR else logging.INFO
