"""A worker that could not check the database schema at start checks it before it uses the database.

``moderate serve``'s master migrates the database before any worker starts, and each worker checks that the
schema is current. A worker that gunicorn starts later while the database is down cannot check, and serves
anyway (``DB_REQUIRED_AT_START`` false). The database that comes back need not be the one the master migrated:
it may be restored from an older backup, or be a new empty server. So until such a worker has seen the schema
current, ``SchemaGate`` keeps requests off the database and runs the start's check again (``check_current``,
or ``upgrade`` with ``DB_AUTO_UPGRADE``) each time a request would open a database session, write the decision
log, or asks ``/readyz``; that costs no more than the request's own attempt would (one connection, one query):

- the database is still unreachable (or another thread is asking it right now): 503 ``database_unavailable``
  where it is needed, as before;
- it answers at another schema revision: 503 ``database_schema_outdated`` naming both revisions and what to
  run, ``/readyz`` 503 with the same, and a log line ``database answers at another schema revision``;
- it is current: the gate opens for good (log ``database schema checked and current``); spooled decision rows
  are replayed as usual.

Moderation answers keep coming throughout, their decision rows going to the spool (Coral skips a phase that
fails, so a scored comment is answered even when its decision cannot be logged).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from flask import Flask, g

from service.errors import ApiError
from service.migrations import SchemaMismatch, is_known
from service.store import DATABASE_UNAVAILABLE, DATABASE_UNAVAILABLE_MESSAGE, RETRY_AFTER_SECONDS, SCHEMA_GATE_KEY, SERVICE_UNAVAILABLE, StoreError

log = logging.getLogger(__name__)

SCHEMA_OUTDATED = "database_schema_outdated"


class SchemaGate:
    """The schema check a worker could not pass at start, run again until it passes; thread-safe.

    ``current`` turns true once the check passed; until then ``code`` and ``detail`` say why not.
    """

    def __init__(self, check: Callable[[], None], first_error: StoreError):
        self.check = check
        self.current = False
        self.code, self.message, self.detail = DATABASE_UNAVAILABLE, DATABASE_UNAVAILABLE_MESSAGE, str(first_error)
        self._lock = threading.Lock()
        self._note(first_error)

    def problem(self) -> str | None:
        """None once the schema was found current; else the operator's reason (the database is asked again first)."""
        if self.current:
            return None
        # One thread asks at a time; the others answer with the last result rather than queue behind a slow connect.
        if self._lock.acquire(blocking=False):
            try:
                self._ask()
            finally:
                self._lock.release()
        return None if self.current else self.detail

    def require_current(self) -> None:
        """Raise ApiError 503 (``database_unavailable`` or ``database_schema_outdated``) until the schema was found current."""
        if self.problem() is not None:
            g.retry_after = RETRY_AFTER_SECONDS  # kept by service.limits, which drops other Retry-After headers
            raise ApiError(SERVICE_UNAVAILABLE, self.code, self.message, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})

    def _ask(self) -> None:
        try:
            self.check()
        except StoreError as error:
            self._note(error)
        else:
            self.current = True
            log.info("database schema checked and current: this worker uses the database again")

    def _note(self, error: StoreError) -> None:
        """Remember why the check failed; log when the database is first found at another revision."""
        if isinstance(error, SchemaMismatch):
            if self.code != SCHEMA_OUTDATED or str(error) != self.detail:
                log.error("database answers at another schema revision, 503 %s where it is needed: %s", SCHEMA_OUTDATED, error)
            self.code = SCHEMA_OUTDATED
            self.message = _what_to_run(error)
        else:
            self.code, self.message = DATABASE_UNAVAILABLE, DATABASE_UNAVAILABLE_MESSAGE
        self.detail = str(error)


def _what_to_run(error: SchemaMismatch) -> str:
    """The 503's message (and ``/readyz``'s): the two revisions and what the operator must run, without the database's
    name. A revision a newer release wrote cannot be upgraded from (``moderate db upgrade`` fails on it): that release
    must run instead."""
    if error.found is not None and not is_known(error.found):
        return (f"the database is at schema revision {error.found}, which a newer release of the service wrote (this "
                f"version knows up to {error.needed}): the operator must run that release, or restore the backup taken "
                "before its upgrade; retry later")
    return (f"the database is at schema revision {error.found or 'none'} but this version needs {error.needed}: "
            "the operator must run `moderate db upgrade`; retry later")


def init_schema_gate(app: Flask, check: Callable[[], None], first_error: StoreError) -> None:
    """Keep ``app`` off its database until ``check`` passes (see the module docstring); ``first_error``: why it failed at start."""
    app.extensions[SCHEMA_GATE_KEY] = SchemaGate(check, first_error)


def schema_problem(app: Flask) -> str | None:
    """Why ``app`` must not use its database yet, or None (always None for an app that checked the schema at start)."""
    gate: SchemaGate | None = app.extensions.get(SCHEMA_GATE_KEY)
    return None if gate is None else gate.problem()
