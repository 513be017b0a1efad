"""Storage through SQLAlchemy: API keys, moderator feedback and the decision log; one DB session per request.

Every API surface writes through two functions, so that what is kept (and what ``do_not_store`` keeps
out) is decided in one place:

- ``record_decisions(comment_ids, texts, decisions, *, surface, do_not_store=False, after=None)``
- ``save_feedback(*, comment_id, text, decision, labels, source, client_token=None, ...) -> id``

A request's decisions are written in one transaction before its answer is sent, so no answered
request's decisions are lost when a worker stops (there is no write queue to drain). Coral's are the exception
(``after``): they are written just after its answer has been sent, still within the request (a worker that stops
finishes it first), because Coral's phase counts only an answer that arrives within its timeout, and a write that
waited on the database (another writer's lock, a server that stopped answering) let the comment out
unmoderated. When a write fails the answer is still sent: the rows go to a local spool and are replayed later
(``service.decision_log``). Texts are kept in the decision log only when ``STORE_TEXT`` is set; their
SHA-256 always is (so a comment can be matched to its feedback without keeping it). Feedback keeps the
text it is given, because it exists to retrain the model.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from flask import Flask, Response, current_app, g, has_request_context, jsonify
from sqlalchemy import JSON, BigInteger, DateTime, Engine, ForeignKey, Integer, String, Text, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.pool import StaticPool

from model.results import Decision
from service.config import DEFAULT_DB_PATH
from service.db_guard import guard_engine, read_write_url
from service.errors import error_body
from service.scopes import DEFAULT_SCOPES

log = logging.getLogger(__name__)

STORE_KEY = "moderation.store"
"""``app.extensions[STORE_KEY]`` holds the sessionmaker bound to the app's engine."""
SCHEMA_GATE_KEY = "moderation.schema_gate"
"""``app.extensions[SCHEMA_GATE_KEY]``: the ``service.schema_gate.SchemaGate`` of an app that could not check the schema at start."""

DATABASE_UNAVAILABLE = "database_unavailable"
DATABASE_UNAVAILABLE_MESSAGE = "the database is unavailable; retry later"
SERVICE_UNAVAILABLE = 503
RETRY_AFTER_SECONDS = 5
SQLITE_BUSY_TIMEOUT_MS = 10_000
"""How long a SQLite writer waits for another worker's transaction before failing."""
CONNECT_TIMEOUT_SECONDS = 5
"""How long a worker waits for a database server that does not answer (then 503) rather than hanging."""
TCP_KEEPALIVE = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3,
                 "tcp_user_timeout": 30_000}
"""libpq's TCP settings (seconds; ``tcp_user_timeout`` in ms): a connection to a server gone from the network (a
paused VM, a route that drops packets) fails within about a minute instead of waiting for the kernel's 15 minutes
or, when idle in the pool, for ever. Client-side: a pooler such as PgBouncer never sees them."""
POOL_OPTIONS = {"pool_size": 0, "max_overflow": -1}
"""The pool of every engine but an in-memory SQLite's: no limit, so that no request thread waits for a connection.
A worker's ``THREADS`` request threads each use at most one connection of an engine at a time, so an engine opens at
most ``THREADS`` and keeps them for the next requests (with PostgreSQL 2 x threads per worker: the app's and the
decision log's, docs/deployment.md). SQLAlchemy's default pool (5, plus 10 opened and closed as needed) made the
16th thread holding one (a request whose key was not cached holds its session while it is scored) wait 30 s and
fail."""
STATEMENT_TIMEOUT_SECONDS = 20.0
"""How long a statement of the service's may run (``bound_waits``), at most a quarter of gunicorn's ``TIMEOUT_SECONDS``:
a query waiting for a lock (an operator's ``ALTER TABLE``) answers 503 rather than holding the worker until gunicorn
kills it. ``moderate`` commands (migrations, prune) are not bounded."""
READ_GRACE_SECONDS = 5.0
"""How much longer than the statement bound a worker waits for a server that does not answer at all (a frozen
process: its host still acknowledges every packet, so no TCP setting ends the wait) before it drops the connection."""
SCORE_DECIMALS = 6
AUTOCOMMIT = "AUTOCOMMIT"
ID_CHARS = 256
DECISION_CHARS = 16
SURFACE_CHARS = 32
VERSION_CHARS = 64
SHA256_HEX_CHARS = 64
KEY_NAME_CHARS = 100
KEY_PREFIX_CHARS = 16
USER_NAME_CHARS = 100
KEY_SCOPES_CHARS = 64
KEY_DEFAULT_SCOPES = " ".join(DEFAULT_SCOPES)
"""Scopes of a key made before scopes existed: what every key could do then."""

# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity for the big tables.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class StoreError(RuntimeError):
    """A database that cannot be used; the message says which and what to do."""


def utc_now() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


def sha256_text(value: str) -> str:
    """SHA-256 hex digest of a text's UTF-8 bytes."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


class Base(DeclarativeBase):
    """Declarative base of the service's tables (Alembic compares migrations against its metadata)."""


class ApiKey(Base):
    """An API key: only the SHA-256 of the secret is kept, with a short prefix to recognise it."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(KEY_NAME_CHARS), index=True)
    key_sha256: Mapped[str] = mapped_column(String(SHA256_HEX_CHARS), unique=True)
    prefix: Mapped[str] = mapped_column(String(KEY_PREFIX_CHARS))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    scopes: Mapped[str] = mapped_column(String(KEY_SCOPES_CHARS), server_default=KEY_DEFAULT_SCOPES)
    """Space-separated scopes (``service.scopes``); keys made before scopes existed hold the default."""


class Feedback(Base):
    """A moderator's final decision and/or attribute labels for one comment, kept for retraining."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utc_now, index=True)
    comment_id: Mapped[str | None] = mapped_column(String(ID_CHARS), index=True)
    text: Mapped[str | None] = mapped_column(Text)
    text_sha256: Mapped[str | None] = mapped_column(String(SHA256_HEX_CHARS), index=True)
    decision: Mapped[str | None] = mapped_column(String(DECISION_CHARS))
    labels: Mapped[dict | None] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(SURFACE_CHARS))
    client_token: Mapped[str | None] = mapped_column(String(ID_CHARS))
    request_id: Mapped[str | None] = mapped_column(String(ID_CHARS))
    moderator: Mapped[str | None] = mapped_column(String(USER_NAME_CHARS))
    """The signed-in moderator's name, for feedback given on the moderation page (``service.ui``)."""
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("decisions.id", ondelete="SET NULL"), index=True, unique=True)
    """The decision-log row this feedback judges (review queue), so a worked item leaves the queue."""
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"), index=True)


class DecisionRecord(Base):
    """One comment's decision as served: the decision log."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utc_now, index=True)
    comment_id: Mapped[str | None] = mapped_column(String(ID_CHARS), index=True)
    text_sha256: Mapped[str] = mapped_column(String(SHA256_HEX_CHARS), index=True)
    text: Mapped[str | None] = mapped_column(Text)
    scores: Mapped[dict] = mapped_column(JSON)
    decision: Mapped[str] = mapped_column(String(DECISION_CHARS))
    reasons: Mapped[list] = mapped_column(JSON)
    model_version: Mapped[str] = mapped_column(String(VERSION_CHARS))
    surface: Mapped[str] = mapped_column(String(SURFACE_CHARS))
    request_id: Mapped[str | None] = mapped_column(String(ID_CHARS))
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))


# Engine and sessions


def database_url(configured: str | None) -> str:
    """The URL to use: the configured one (``postgresql://`` means psycopg 3), else the default SQLite file."""
    if not configured:
        return f"sqlite:///{DEFAULT_DB_PATH}"
    if configured.startswith("postgresql://") or configured.startswith("postgres://"):
        return "postgresql+psycopg://" + configured.split("://", 1)[1]
    return configured


def safe_url(url: str) -> str:
    """The URL with its password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        return "<unparseable URL>"


def _tune_sqlite(dbapi_connection: Any, _record: Any, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> None:
    """Per-connection SQLite settings: foreign keys on; WAL so workers read while one writes; wait when busy."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(configured_url: str | None, create: bool = True, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> Engine:
    """Create the engine for ``DB_URL``, creating a SQLite file's directory when needed.

    With ``create`` false a SQLite file is never created: a deleted file is an error, not a new empty
    database. ``busy_timeout_ms`` bounds a SQLite writer's wait for another's lock. Connections broken
    by a fault are discarded (``service.db_guard``). Errors never quote a statement's parameters
    (``hide_parameters``): they may hold a comment's text, and errors are logged.
    Raises StoreError for a URL SQLAlchemy cannot use (unknown driver, malformed).
    """
    url_text = database_url(configured_url)
    try:
        url = _parsed_url(url_text)
        if url.get_backend_name() != "sqlite":
            # Defaults only: DB_URL's own ?connect_timeout= (or keepalives) wins (connect_args would replace it).
            defaults = {"connect_timeout": CONNECT_TIMEOUT_SECONDS, **(TCP_KEEPALIVE if url.get_backend_name() == "postgresql" else {})}
            connect_args = {name: value for name, value in defaults.items() if name not in url.query}
            engine = create_engine(url, pool_pre_ping=True, hide_parameters=True, connect_args=connect_args, **POOL_OPTIONS)
            guard_engine(engine, None)
            return engine
        path = sqlite_file(url)
        if path is None:
            # One shared connection, or every session would see a new empty database.
            engine = create_engine(url, poolclass=StaticPool, hide_parameters=True, connect_args={"check_same_thread": False})
        else:
            if create:  # without it the file must exist already: make no folder for it either
                _make_folder(path.parent)
            engine = create_engine(url if create else read_write_url(url), hide_parameters=True, **POOL_OPTIONS)
    except (ArgumentError, ImportError) as error:
        raise StoreError(f"DB_URL {safe_url(url_text)} cannot be used: {error}") from error
    event.listen(engine, "connect", partial(_tune_sqlite, busy_timeout_ms=busy_timeout_ms))
    guard_engine(engine, path)
    return engine


def _parsed_url(url_text: str) -> URL:
    """``DB_URL`` parsed; StoreError when its port is not a number (SQLAlchemy's bare ValueError).

    The message quotes neither the URL nor the ValueError: what SQLAlchemy took for the port may be part of a
    password (``user@pass:word/db`` when the user name was left out).
    """
    try:
        return make_url(url_text)
    except ValueError:
        # from None: a logged traceback would show the ValueError, which quotes the would-be port
        raise StoreError("DB_URL cannot be used: what follows the host's ':' is not a port number; write it as "
                         "postgresql://USER:PASSWORD@HOST:5432/NAME, with any ':', '/' or '@' in the password "
                         "percent-encoded (%3A, %2F, %40)") from None


def _make_folder(folder: Path) -> None:
    """Create the SQLite file's folder; StoreError naming it when it cannot be (a file in the way, no permission)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(f"DB_URL names a SQLite file in {folder}, which cannot be created ({error.strerror or error}): "
                         "create the folder for the service's user, or point MODERATION_DB_URL elsewhere") from error


def sqlite_file(url: URL) -> Path | None:
    """The file of a SQLite URL (None for an in-memory database or another backend)."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    if url.database.startswith("file:") and url.query.get("uri") == "true":  # a SQLite URI, percent-encoded
        return Path(unquote(url.database.removeprefix("file:"))).absolute()
    return Path(url.database.removeprefix("file:")).absolute()


def engine_sqlite_file(engine: Engine) -> Path | None:
    """The SQLite file ``engine`` writes to, or None."""
    return sqlite_file(engine.url)


def release_connections(engine: Engine) -> None:
    """Close pooled connections (before gunicorn forks), except an in-memory SQLite's one: it *is* the database."""
    if not isinstance(engine.pool, StaticPool):
        engine.dispose()


def wait_seconds(config: Any) -> float:
    """How long a statement of the service's may run: ``STATEMENT_TIMEOUT_SECONDS``, at most a quarter of gunicorn's
    ``TIMEOUT_SECONDS`` (the worker must answer 503 before gunicorn kills it)."""
    return min(STATEMENT_TIMEOUT_SECONDS, int(config["TIMEOUT_SECONDS"]) / 4)


def bound_waits(engine: Engine, seconds: float, lock_timeout_ms: int | None = None) -> Engine:
    """``engine`` (a PostgreSQL one; others are returned as they are), whose statements run at most ``seconds`` and whose
    connections wait at most ``READ_GRACE_SECONDS`` longer for any answer, then are dropped (an OperationalError: 503);
    with ``lock_timeout_ms``, whose statements wait at most that long for a lock (the decision log's).

    The statement bound is the server's ``statement_timeout``, set as each transaction begins (``set_config(...,
    true)``, that is ``SET LOCAL``) and only where none is set already (by DB_URL's ``options``, the role or the
    database): nothing leaks to a connection a pooler such as PgBouncer hands to another client, and no start-up
    option is sent (PgBouncer refuses ``options``). The lock bound is set by the same statement: one more round trip
    per transaction, not two (the decision log's is one per answer of /v1 and Perspective). The read bound is the
    client's own, for a server that does not answer at all.
    """
    if engine.dialect.name != "postgresql":
        return engine
    event.listen(engine, "do_connect", partial(_connect_bounded, read_seconds=seconds + READ_GRACE_SECONDS))
    bound = (f"SELECT CASE WHEN current_setting('statement_timeout') = '0' "
             f"THEN set_config('statement_timeout', '{int(seconds * 1000)}', true) END")
    if lock_timeout_ms is not None:
        bound += f", set_config('lock_timeout', '{int(lock_timeout_ms)}', true)"
    event.listen(engine, "begin", lambda connection: connection.exec_driver_sql(bound))
    return engine


def _connect_bounded(_dialect: Any, _record: Any, cargs: tuple, cparams: dict, read_seconds: float) -> Any:
    """Open the DBAPI connection as a ``_bounded_connection_class()`` one (SQLAlchemy's ``do_connect`` event)."""
    connection = _bounded_connection_class().connect(*cargs, **cparams)
    connection.read_timeout = read_seconds
    return connection


@functools.cache
def _bounded_connection_class() -> type:
    """A psycopg connection that waits at most ``read_timeout`` seconds for the server's answer to anything, then closes
    (made on first use: psycopg is imported only for PostgreSQL).

    psycopg waits for as long as the server takes: a server that stopped answering (a process stopped or swapped
    out, whose host still acknowledges every packet) held the worker until gunicorn killed it. ``wait`` is psycopg's
    one place of waiting on a connection's socket once connected, and takes a timeout (psycopg >= 3.2; setup.cfg
    pins 3.3.9).
    """
    import psycopg

    class BoundedConnection(psycopg.Connection):
        read_timeout: float | None = None

        def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
            if timeout is not None:  # psycopg's own bounded wait (cancelling a query): its timeout, its handling
                return super().wait(gen, interval=interval, timeout=timeout)
            try:
                return super().wait(gen, interval=interval, timeout=self.read_timeout)
            except psycopg.errors.OperationalError as error:
                if type(error).__name__ != "_WaitTimeout":  # psycopg's own timeout error is private
                    raise
                self.close()  # half-way through an exchange: unusable (the pool then drops it)
                raise psycopg.OperationalError(f"the database server did not answer within {self.read_timeout:g} s") from None

    return BoundedConnection


def init_store(app: Flask, engine: Engine) -> None:
    """Attach the engine's sessionmaker to ``app``, close each request's session on teardown, and answer
    a lost database with 503 rather than a bare 500. A PostgreSQL engine's waits are bounded (``bound_waits``)."""
    bound_waits(engine, wait_seconds(app.config))
    app.extensions[STORE_KEY] = sessionmaker(engine, expire_on_commit=False)
    app.teardown_appcontext(close_session)
    app.register_error_handler(OperationalError, _database_unavailable)


def describe_error(error: BaseException) -> str:
    """``Class: first line`` of a database error's cause (the driver's own error when SQLAlchemy wraps one): what the
    server said ("too many clients already", "database ... is not currently accepting connections"), never a
    password (drivers do not put it in their messages)."""
    cause = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    return f"{type(cause).__name__}: {(str(cause).splitlines() or [''])[0]}".removesuffix(": ")


def _database_unavailable(error: OperationalError) -> tuple[Response, int, dict[str, str]]:
    """503 JSON with Retry-After for a database that cannot be reached or is locked; logged with the cause, as a
    WARNING like the request's own line (an alert on ERROR is for unexpected errors)."""
    log.warning("database unavailable: %s", describe_error(error))
    body = error_body(DATABASE_UNAVAILABLE, DATABASE_UNAVAILABLE_MESSAGE)
    g.retry_after = RETRY_AFTER_SECONDS
    return jsonify(body), SERVICE_UNAVAILABLE, {"Retry-After": str(RETRY_AFTER_SECONDS)}


def app_engine(app: Flask) -> Engine:
    """The engine ``init_store`` attached to ``app`` (to dispose of it when the app is done)."""
    return app.extensions[STORE_KEY].kw["bind"]


def get_session() -> Session:
    """The current app context's DB session, opened on first use.

    In an app that could not check the schema at start, raises ApiError 503 while the database answers at
    another schema revision (``service.schema_gate``).
    """
    if "db_session" not in g:
        gate = current_app.extensions.get(SCHEMA_GATE_KEY)
        if gate is not None:
            gate.require_current()
        g.db_session = current_app.extensions[STORE_KEY]()
    return g.db_session


def close_session(_error: BaseException | None = None) -> None:
    """Close the context's session (teardown), rolling back anything uncommitted."""
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def ping() -> None:
    """Run ``SELECT 1``; raises StoreError naming the database when it is unreachable."""
    session = get_session()
    try:
        session.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        session.rollback()
        url = session.get_bind().url.render_as_string(hide_password=True)
        raise StoreError(f"database {url} is unreachable: {describe_error(error)}") from error


def _request_value(name: str) -> Any:
    """``g.<name>`` inside a request, else None (CLI and background use)."""
    return g.get(name) if has_request_context() else None


# What the API surfaces call


def record_decisions(
    comment_ids: list[str | None],
    texts: list[str],
    decisions: list[Decision],
    *,
    surface: str,
    do_not_store: bool = False,
    after: Response | None = None,
) -> None:
    """Count the decisions in the metrics and, unless ``do_not_store``, add them to the decision log.

    Call it once per request with the comments in order; ``surface`` names the API ("v1", "perspective",
    "coral"). Under ``do_not_store`` nothing reaches the database, not even the text's hash. With ``after`` the rows
    (made now, with the request's id) are written once that response has been sent, not before it.
    """
    from service.decision_log import write_decisions, write_decisions_after
    from service.logs import note_decisions
    from service.metrics import count_decisions

    if not len(comment_ids) == len(texts) == len(decisions):
        raise ValueError(f"{len(comment_ids)} ids, {len(texts)} texts and {len(decisions)} decisions: one each per comment")
    actions = [decision.action for decision in decisions]
    count_decisions(surface, actions)
    if has_request_context():
        note_decisions(dict(Counter(actions)), None if do_not_store else texts)
    if do_not_store or not decisions:
        return
    keep_text = bool(current_app.config["STORE_TEXT"])
    request_id, api_key_id = _request_value("request_id"), _request_value("api_key_id")
    now = utc_now()
    rows = [
        {
            "created_at": now,
            "comment_id": comment_id,
            "text_sha256": sha256_text(comment_text),
            "text": comment_text if keep_text else None,
            "scores": {name: round(float(value), SCORE_DECIMALS) for name, value in decision.scores.items()},
            "decision": decision.action,
            "reasons": [reason.code for reason in decision.reasons],
            "model_version": decision.model_version,
            "surface": surface,
            "request_id": request_id,
            "api_key_id": api_key_id,
        }
        for comment_id, comment_text, decision in zip(comment_ids, texts, decisions, strict=True)
    ]
    if after is None:
        write_decisions(DecisionRecord.__table__, rows)
    else:
        write_decisions_after(after, DecisionRecord.__table__, rows)


def save_feedback(
    *,
    comment_id: str | None,
    text: str | None,
    decision: str | None,
    labels: dict[str, float] | None,
    source: str,
    client_token: str | None = None,
    moderator: str | None = None,
    decision_id: int | None = None,
    api_key_id: int | None = None,
) -> int:
    """Store one piece of feedback (the caller has validated it) and return its id.

    ``moderator``, ``decision_id`` and ``api_key_id`` are set by the review queue: who decided, on which logged
    decision, and that decision's key (the comment's site, whose comment ids may be another site's too). Without
    ``api_key_id`` the feedback belongs to the request's key (the API's feedback).
    """
    row = Feedback(
        comment_id=comment_id,
        text=text,
        text_sha256=None if text is None else sha256_text(text),
        decision=decision,
        labels=None if labels is None else {name: float(value) for name, value in labels.items()},
        source=source,
        client_token=client_token,
        request_id=_request_value("request_id"),
        api_key_id=api_key_id if api_key_id is not None else _request_value("api_key_id"),
        moderator=moderator,
        decision_id=decision_id,
    )
    session = get_session()
    session.add(row)
    session.commit()
    from service.metrics import count_feedback

    count_feedback(source, decision)
    return row.id


