"""The Flask application factory."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

from flask import Flask

from service.api_v1 import bp as api_v1
from service.auth import init_key_cache
from service.config import BUNDLE_PATH_KEY, EXTENSION_KEY, deferred_warnings, load_config, warn_once
from service.coral import bp as coral
from service.decision_log import init_decision_log
from service.discovery import bp as discovery
from service.cors import init_cors
from service.errors import register_error_handlers
from service.google_batch import bp as google_batch
from service.key_limits import init_key_limits
from service.limits import init_rate_limits
from service.logs import configure_logging, init_request_logging
from service.metrics import METRICS_KEY, init_metrics
from service.migrations import check_current, upgrade
from service.openapi import bp as docs
from service.ops import OK, READINESS_KEY, check_model
from service.ops import bp as ops
from service.perspective import bp as perspective
from service.schema_gate import init_schema_gate
from service.store import StoreError, init_store, make_engine, release_connections
from service.ui import init_ui, init_ui_limits

log = logging.getLogger(__name__)


def load_scorer(config: Mapping[str, Any], model_path: str | Path | None = None) -> Any:
    """Load and verify the bundle the settings name (``model_path`` instead of ``MODEL`` when given) into a Scorer
    with their ``POLICY``, ``ENCODER_MODE`` and ``ENCODER_THREADS`` (the last two ignored by a bundle without an
    encoder). Imported here so that ``moderate --help`` stays fast."""
    from model.scoring import Scorer

    return Scorer.load(model_path=model_path if model_path is not None else config["MODEL"], policy_path=config["POLICY"],
                       default_encoder_mode=config["ENCODER_MODE"], encoder_threads=config["ENCODER_THREADS"])


def verify_scorer(config: Mapping[str, Any], model_path: str | Path) -> None:
    """Load a bundle as ``load_scorer`` does and re-score its probe texts; raise BundleError unless both succeed
    (a reload's check)."""
    from model.bundle import BundleError

    problem = check_model(load_scorer(config, model_path))
    if problem != OK:
        raise BundleError(f"{model_path}: {problem}")


def policy_warnings(config: Mapping[str, Any], folder: Path) -> list[str]:
    """``model.policy.span_floor_warnings`` of the policy a scorer of the bundle in ``folder`` applies: the ``POLICY``
    file, else the bundle's own ``policy.toml``. For the master, which loads the bundle only in a child (read there
    already: a file that cannot be read now is refused by each worker, and warned about by none)."""
    from model.bundle import POLICY_FILE
    from model.policy import PolicyError, dropped_attribute_warnings, load_policy, policy_file_warnings

    warnings = policy_file_warnings(config["POLICY"] or folder / POLICY_FILE)
    if config["POLICY"]:
        try:
            warnings += dropped_attribute_warnings(load_policy(config["POLICY"]), load_policy(folder / POLICY_FILE),
                                                   config["POLICY"])
        except PolicyError:  # refused with its reason where it is loaded for scoring
            pass
    return warnings


def _loadable_in_child(config: Mapping[str, Any]) -> Path:
    """The bundle folder ``MODEL`` names, after a forked child loaded it; BundleError with the child's reason if not."""
    from model.bundle import BundleError, resolve_bundle_path
    from service.reload import verify_in_child

    folder = resolve_bundle_path(config["MODEL"])
    problem = verify_in_child(lambda: load_scorer(config, folder), expected=(BundleError,))
    if problem is not None:
        raise BundleError(problem)
    return folder


def compile_before_forking() -> None:
    """Compile the threat phrases (``model.threats.threat_pattern``) in the master of ``moderate serve``: the child that
    checks the bundle and every worker forked later (at start, on a reload, as a replacement) inherit the compiled
    pattern instead of each compiling it again in its ``Scorer.warm_up``, the larger part of a worker's start on a small
    bundle (1 to 2.5 s of CPU on a loaded 2-core machine). A regular expression only, no part of the model: nothing of
    onnxruntime's comes into the process that forks."""
    from model.threats import threat_pattern

    threat_pattern()


RELOAD_MARGIN = 2
"""``TIMEOUT_SECONDS`` should allow this many times the master's load of the bundle: workers started together share the
cores, and each also checks its probe scores and the database before it serves."""


def slow_load_warning(load_seconds: float, timeout_seconds: int) -> str | None:
    """A warning when a worker may need ``TIMEOUT_SECONDS`` or more to start: a reload (SIGHUP) gives up on new workers
    not serving within that time (``service.reload``), so every reload would be abandoned."""
    if load_seconds * RELOAD_MARGIN < timeout_seconds:
        return None
    return (f"loading the bundle took {load_seconds:.1f} s; a worker, which also checks its probe scores and the database "
            f"while its siblings load, may take {RELOAD_MARGIN} times that, and a reload (SIGHUP) gives up on new workers "
            f"not serving within TIMEOUT_SECONDS ({timeout_seconds} s): set TIMEOUT_SECONDS to at least "
            f"{math.ceil(load_seconds * RELOAD_MARGIN) + 1}")


def prepare_database(app: Flask) -> None:
    """Connect to ``DB_URL``, migrate it (``DB_AUTO_UPGRADE``) or check it is current, and attach sessions.

    Raises ``service.store.StoreError`` when the database is unreachable or behind, unless
    ``DB_REQUIRED_AT_START`` is false: then the app starts anyway, answers 503 where the database is needed
    until it returns, and checks the schema again then (``service.schema_gate``).
    """
    engine = make_engine(app.config["DB_URL"], create=bool(app.config["DB_AUTO_UPGRADE"]))
    migrate = partial(upgrade if app.config["DB_AUTO_UPGRADE"] else check_current, engine)
    try:
        migrate()
    except StoreError as error:
        if app.config["DB_REQUIRED_AT_START"]:
            engine.dispose()
            raise
        log.error("database unavailable at start, serving anyway (503 on the routes that need it until it returns): %s", error)
        init_schema_gate(app, migrate, error)  # the check is made again once the database answers
    # No pooled connection may cross gunicorn's fork into the workers: each opens its own.
    release_connections(engine)
    init_store(app, engine)


def create_app(config: Mapping[str, Any] | None = None, load_model: bool = True, settled: bool = False) -> Flask:
    """Create the service: defaults, config file, ``MODERATION_*`` environment, then ``config``; load the model once.

    With ``load_model=False`` (the master of ``moderate serve``, which forks the workers and serves nothing) the
    bundle is loaded and checked in a forked child that exits, and ``app.extensions[BUNDLE_PATH_KEY]`` names it:
    an encoder's onnxruntime session must not exist in a process that forks (its children hang or abort at exit).
    With ``settled``, ``config`` is every setting, as the master of ``moderate serve`` read and checked them: a worker
    takes them as they are, without reading the config file again (``service.server.ModerationServer``).

    Raises ``model.bundle.BundleError`` when the bundle cannot be loaded, ``service.store.StoreError``
    when the database cannot be used and ``service.config.ConfigError`` for a bad setting.
    """
    app = Flask(__name__)
    with deferred_warnings() as pending:
        app.config.from_mapping(config if settled else load_config(config))
    # Logging as the settings say before anything is logged: the settings' warnings, "database unavailable at start".
    configure_logging(app.config["LOG_LEVEL"], bool(app.config["LOG_JSON"]))
    warn_once(pending)
    app.json.sort_keys = False  # keep "id" first and scores in attribute order

    if load_model:
        from model.policy import span_floor_warnings

        scorer = load_scorer(app.config)
        warn_once(span_floor_warnings(scorer.policy))  # a worker forked from the master that logged them: not again
        app.extensions[EXTENSION_KEY] = scorer
        app.extensions[READINESS_KEY] = check_model(scorer)
        app.extensions[BUNDLE_PATH_KEY] = scorer.bundle.path
        model_version = scorer.model_version
    else:
        from model.bundle import verify_bundle

        # A missing or broken bundle (a mistyped --model) is reported at once, not after the second the compile takes;
        # the forked child then loads what was checked.
        verify_bundle(app.config["MODEL"])
        compile_before_forking()
        started = time.monotonic()
        folder = _loadable_in_child(app.config)
        warning = slow_load_warning(time.monotonic() - started, int(app.config["TIMEOUT_SECONDS"]))
        if warning is not None:
            log.warning(warning)
        warn_once(policy_warnings(app.config, folder))
        app.extensions[BUNDLE_PATH_KEY] = folder
        app.extensions[READINESS_KEY] = OK  # each worker checks the probe scores itself
        from model.bundle import read_manifest

        model_version = str(read_manifest(folder)["model_version"])
    prepare_database(app)
    init_key_cache(app)

    # Hook order matters: request ids first, so that every later hook and log line can use them.
    init_request_logging(app)
    init_metrics(app, model_version)
    init_decision_log(app, app.extensions[METRICS_KEY].registry)
    register_error_handlers(app)

    for blueprint in (ops, docs, api_v1):
        app.register_blueprint(blueprint)
    for blueprint in (perspective, google_batch, discovery, coral):
        app.register_blueprint(blueprint)
    init_ui(app)
    init_cors(app)
    # Rate limits attach to API blueprints by name, so every API surface is registered before this line.
    init_ui_limits(app, init_rate_limits(app))
    init_key_limits(app)
    if app.extensions[READINESS_KEY] != "ok":
        log.warning("model check failed: %s", app.extensions[READINESS_KEY])
    return app
