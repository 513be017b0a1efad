"""Operations endpoints, open without a key and never rate limited: ``/healthz``, ``/readyz``, ``/metrics``.

``/readyz`` answers anyone, so its body says which check failed and what to do, never where the database is: a
SQLite file's path is withheld and a database server's own words (its host, address, user) are left out. The
full reason goes to the log (``not ready: ...``, without the password), with the request's id.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

from model.bundle import probe_tolerance
from service.config import EXTENSION_KEY, MIB
from service.db_guard import write_problem
from service.decision_log import decision_log_engine
from service.metrics import metrics_response
from service.openapi import operation
from service.schema_gate import schema_problem
from service.schemas import HealthSchema, ReadinessSchema
from service.store import SCHEMA_GATE_KEY, StoreError, engine_sqlite_file, ping

log = logging.getLogger(__name__)

bp = Blueprint("ops", __name__)

READINESS_KEY = "moderation.readiness"
"""``app.extensions[READINESS_KEY]``: the model check made once at start (``check_model``)."""
OK = "ok"
UNREACHABLE = "the database is unreachable: the service log says why"
WRITE_REFUSED = "the database does not accept a write: the service log says why"
PATH_WITHHELD = "[path withheld]"


def check_model(scorer: Any) -> str:
    """Score the manifest's probe texts again: "ok", or what differs (another numpy/BLAS, a swapped file).

    The probes are scored in the encoder mode the bundle recorded them in, whatever mode the scorer serves in.
    """
    from model.scoring import present_scores

    probe = scorer.bundle.manifest.get("probe")
    if not probe:
        return OK  # an older bundle without probe scores: the SHA-256 check at load is all we have
    attributes = list(scorer.attributes)
    expected = np.array([[row.get(name, np.nan) for name in attributes] for row in probe["scores"]], dtype=float)
    model, recorded = scorer.bundle.model, scorer.bundle.manifest.get("mode")
    if recorded and getattr(model, "mode", recorded) != recorded:
        # Served in the other encoder mode (MODERATION_ENCODER_MODE=cascade): the probes were scored in the
        # bundle's own mode, and checking the same parts in that mode checks what the cascade runs.
        model = model.in_mode(recorded)
    actual = present_scores(model, probe["texts"], len(attributes))
    # The scorer gives empty texts 0 on purpose; manifests before 2.3.0 hold the raw model's scores for them.
    present = np.array([bool(text.strip()) for text in probe["texts"]])
    difference = float(np.nanmax(np.abs(actual[present] - expected[present]))) if present.any() else 0.0
    tolerance = probe_tolerance(scorer.bundle.manifest)
    if not difference <= tolerance:
        return f"probe scores differ from the manifest by {difference:.3g} (tolerance {tolerance}): check library versions"
    return OK


@bp.get("/healthz")
@operation(summary="Liveness: the process answers and the model is loaded", public=True, response=HealthSchema)
def healthz() -> ResponseReturnValue:
    """Report that the model is loaded (``create_app`` loads it before serving)."""
    return jsonify({"status": "ok", "model_version": current_app.extensions[EXTENSION_KEY].model_version})


@bp.get("/readyz")
@operation(summary="Readiness: model verified and database accepting writes", public=True, response=ReadinessSchema, errors=("not_ready",))
def readyz() -> ResponseReturnValue:
    """200 when the model passed its start-up check and the database takes a write, else 503 naming the failure.

    For SQLite the file must still be the one opened, writable, on a disk with ``DB_MIN_FREE_MIB`` free; a worker
    that could not check the schema at start must have found it current since (``service.schema_gate``).
    """
    model = current_app.extensions[READINESS_KEY]
    database, detail = database_check()
    checks = {"model": model, "database": database}
    ready = all(value == OK for value in checks.values())
    if not ready:
        log.warning("not ready: model: %s; database: %s", model, detail)
    body = {"status": "ready" if ready else "not_ready", "model_version": current_app.extensions[EXTENSION_KEY].model_version, "checks": checks}
    return jsonify(body), 200 if ready else 503


def database_check() -> tuple[str, str]:
    """The database check: what ``/readyz`` tells anyone, and the reason for the log (both ``OK`` when it passed)."""
    try:
        gate_problem = schema_problem(current_app)
        if gate_problem is not None:  # the answer the routes that need the database give too
            return current_app.extensions[SCHEMA_GATE_KEY].message, gate_problem
        engine = decision_log_engine(current_app)
        path = engine_sqlite_file(engine)
        if path is None:
            ping()  # a server that does not answer is unreachable (write_problem would say it refuses a write)
        problem = write_problem(engine, path, int(current_app.config["DB_MIN_FREE_MIB"] * MIB))
        if problem is None:
            ping()  # the request's own session too
            return OK, OK
    except StoreError as error:
        return UNREACHABLE, str(error)
    if path is None:  # a server's words name its host, address or user
        return WRITE_REFUSED, problem
    return problem.replace(str(path), PATH_WITHHELD), problem


@bp.get("/metrics")
@operation(summary="Prometheus metrics", public=True, content_type="text/plain")
def metrics() -> ResponseReturnValue:
    """Serve the Prometheus metrics."""
    return metrics_response()
