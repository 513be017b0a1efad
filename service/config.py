"""Service configuration: the one place for defaults, the optional config file and ``MODERATION_*`` overrides."""

from __future__ import annotations

import difflib
import logging
import os
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Config

MIB = 1024 * 1024

EXTENSION_KEY = "moderation"
"""``app.extensions[EXTENSION_KEY]`` holds the loaded Scorer, the app's only shared model state."""
BUNDLE_PATH_KEY = "moderation.bundle_path"
"""``app.extensions[BUNDLE_PATH_KEY]``: the folder of the bundle the app serves (or, in the master, that its workers load)."""

ENV_PREFIX = "MODERATION"
CONFIG_FILE_ENV = "MODERATION_CONFIG"
"""Names an optional TOML or Python file of settings, read after the defaults and before the environment."""
OTHER_VARIABLES = frozenset({"CONFIG", "DATA_DIR", "BUNDLES_DIR", "OWNS_METRICS_DIR"})
"""``MODERATION_*`` variables that are not settings: the settings file, the training data and bundle folders, the
metrics folder's owner mark (``MODERATION_TEST_*`` are the test suite's)."""

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DB_PATH = PROJECT_ROOT / "var" / "moderation.db"
DEFAULT_SECRET_KEY_PATH = PROJECT_ROOT / "var" / "secret_key"
DEFAULT_REPORTS_DIR = PROJECT_ROOT / "reports"


class ConfigError(RuntimeError):
    """A configuration file that cannot be read; the message names the file and the problem."""


CORAL_BODY_FORMATS = ("HTML", "PLAIN_TEXT")
"""The body formats of Coral's external moderation phase (``CORAL_BODY_FORMAT``); here, not in ``service.coral``, so
that checking the settings imports nothing that registers metrics before the server sets them up."""


class Defaults:
    """Configuration defaults, loaded first by ``load_config``.

    Any key can be overridden by the file named in ``MODERATION_CONFIG`` and then by an environment
    variable with the ``MODERATION_`` prefix (``MODERATION_MODEL=/srv/bundle``, ``MODERATION_WORKERS=4``);
    Flask parses environment values as JSON when it can, so numbers become numbers and ``false`` a bool.
    """

    MODEL = None
    """Bundle directory; ``None`` means the committed default bundle."""

    POLICY = None
    """Policy TOML file; ``None`` means the bundle's own ``policy.toml``."""

    ENCODER_MODE = None
    """For a bundle with an encoder: ``encoder`` (it reads every comment, best ranking) or ``cascade`` (the TF-IDF heads
    score every comment and the encoder only those whose decision could change: about twice the requests per second,
    worse at ranking; MODEL_CARD.md *Speed of 2.7.0*). ``None`` means the bundle's own mode. A bundle without an
    encoder ignores it."""
    ENCODER_THREADS = None
    """onnxruntime threads per worker for a bundle's encoder; ``None`` means 1, so that the workers do not fight over
    cores. Raise it when there are more cores than workers (one worker on four cores: 4)."""

    MAX_COMMENTS_PER_REQUEST = 100
    MAX_BATCH_REQUESTS = 100
    """Most requests one Google batch (``POST /batch``, ``service.google_batch``) may hold; each counts against the
    key's limits as if sent alone."""
    MAX_COMMENT_CHARS = 20_000
    MAX_REQUEST_CHARS = 100_000
    """Characters of comment text one HTTP request may carry to be scored, in all: the texts of a ``/v1/moderate``'s
    comments, or of a Google batch's (``POST /batch``) comments:analyze calls (HTML as sent; twice with
    ``spanAnnotations``, which scores every sentence again). More is refused whole with 413 (code ``too_much_text``;
    Google's shape on the batch) before anything is scored, telling the client to split the request, so that no
    request outlasts ``TIMEOUT_SECONDS``. Scoring time depends on the text, not only its length: ``python -m
    service.request_cost`` times the slowest texts found at this value (docs/deployment.md, *The load balancer*).
    At least ``MAX_COMMENT_CHARS`` and ``PERSPECTIVE_MAX_TEXT_CHARS``, so that one comment always fits."""
    MAX_ID_CHARS = 256
    """Longest comment id, client token or label name accepted."""
    MAX_URL_CHARS = 2_048

    MAX_CONTENT_LENGTH = 8 * MIB
    """Largest request body in bytes; larger bodies get 413. At least 12 x ``MAX_REQUEST_CHARS`` (JSON's longest
    character, an escaped emoji) or a start-up warning says that a request the character limit allows may get 413
    (``service.config_checks.body_size_warnings``); 8 MiB is 12 bytes a character for about 700,000 characters."""

    SCORE_CHUNK_ROWS = 5_000
    """Rows ``moderate score`` reads, scores and writes at a time."""

    HOST = "127.0.0.1"
    PORT = 8000
    WORKERS = 2
    THREADS = 1
    """Threads per worker. 1 = gunicorn's sync workers: the connection closes after each answer, so every
    request goes to whichever worker is free. With more threads (gthread) a kept-alive connection stays on
    one worker and load can pile onto it: at concurrency 8 on 2 workers p99 swung from 35 to 79 ms between
    runs with 2 threads and stayed at 28-47 ms with 1 (`python -m service.loadtest --threads N`, repeated). Raise it when many slow or idle
    clients connect directly (or put nginx in front), or so that the main port's /healthz answers during long batches
    (``HEALTH_PORT`` answers whatever the workers are doing)."""
    HEALTH_PORT = None
    """Port (on ``HOST``) where gunicorn's master answers ``GET /healthz`` and ``GET /metrics`` while every worker is busy
    scoring (``service.health_port``): 200 with the live workers, 503 when none is live. ``None`` = ``PORT`` + 1; 0 = off."""
    TIMEOUT_SECONDS = 120
    """Gunicorn restarts a worker silent for longer than this, and its request is lost (the client's connection drops);
    ``MAX_REQUEST_CHARS`` keeps the slowest request well inside it. Raise both together. A reload (SIGHUP) waits as long
    for new workers to serve, so it must also exceed a worker's start: a start-up warning says when it may not
    (``service.app.slow_load_warning``)."""

    DB_URL = None
    """SQLAlchemy URL of the database; ``None`` means the SQLite file ``var/moderation.db`` in the project."""
    DB_AUTO_UPGRADE = True
    """Run the Alembic migrations when the app starts; when false, refuse to start on an old schema."""
    DB_REQUIRED_AT_START = True
    """Refuse to start when the database cannot be used. ``moderate serve``'s workers set it false (the master
    checked the database): a worker started while the database is down serves, with 503 where it is needed."""
    DB_MIN_FREE_MIB = 64
    """``/readyz`` reports a SQLite database not ready when its disk has less free space than this."""
    DECISION_SPOOL_DIR = None
    """Where decision-log rows the database refused wait to be replayed; ``None`` means ``var/spool`` in the project."""
    STORE_TEXT = False
    """Keep comment texts in the decision log (otherwise only their SHA-256)."""

    AUTH_REQUIRED = True
    """Require an API key on the API surfaces (``/v1``, ``/v1alpha1``)."""
    KEY_CACHE_SECONDS = 2.0
    """How long a worker trusts a key it found active before asking the database again: a key revoked by
    ``moderate keys revoke`` is refused within this time. 0 asks on every request."""
    RATE_LIMIT = "600 per minute"
    """Requests allowed per API key across the API surfaces (Flask-Limiter syntax, ``;`` separates several)."""
    RATELIMIT_STORAGE_URI = "memory://"
    """Where Flask-Limiter counts; ``memory://`` counts per worker process, ``redis://...`` shares counts."""
    RATELIMIT_HEADERS_ENABLED = True
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    """When a shared storage (Redis) cannot be reached, count in each worker's memory until it is back, rather than answer 500."""
    KEY_COMMENT_LIMIT = "6000 per minute"
    """Comments one API key may send to be scored per window, across the API surfaces (``RATE_LIMIT`` counts requests)."""
    KEY_CHAR_LIMIT = "4000000 per minute"
    """Characters of comment text one key may send to be scored per window; must let one full request through
    (``MAX_REQUEST_CHARS``, or ``MAX_COMMENTS_PER_REQUEST`` x ``MAX_COMMENT_CHARS`` when that is smaller)."""
    KEY_CONCURRENT_REQUESTS = None
    """Scoring requests one key may have in progress at once; ``None`` = WORKERS x THREADS - 1 (at least 1), so
    that one key cannot hold every worker; 0 turns the check off. Shared like the rate limits (see docs/deployment.md)."""
    AUTH_FAILURE_LIMIT = "30 per minute"
    """Requests with an unknown or revoked key allowed per client address; past it they get 429 without a look-up of each key (``service.auth_failures``)."""
    TRUSTED_PROXY_HOPS = 0
    """Proxies in front of the service whose ``X-Forwarded-For`` is trusted to name the client address (0: none)."""
    CORS_ORIGINS = None
    """Web sites (origins such as ``"https://news.example"``, or ``"*"`` for any) whose pages may call the API
    surfaces from the browser (``service.cors``); ``None``: none may."""
    CORAL_RATE_LIMIT = "1200 per minute"
    """Requests allowed to ``/coral/v1/moderate`` per client address (Coral's server)."""
    CORAL_REPLAY_SECONDS = 600
    """How long a signed Coral body is remembered: the same signature again within this time is answered from memory."""

    LOG_LEVEL = "INFO"
    LOG_JSON = True
    """One JSON object per log line (gunicorn's own lines too: a worker booting, timing out, killed); false gives plain text for a terminal."""
    LOG_TEXT = False
    """Put comment texts into the logs (never by default: they are personal data)."""

    PERSPECTIVE_MAX_TEXT_CHARS = 20_480
    """Longest ``comment.text`` the Perspective-compatible API scores: Perspective's own limit is 20 KB (20,480 bytes,
    which is never fewer characters), so whatever a Perspective client sends fits; earlier it stopped at 3,000 bytes."""

    CORAL_SECRET = None
    """Signing secret of Coral's external moderation phase (a list while rotating); ``None`` turns /coral/v1/moderate off (503)."""
    CORAL_BODY_FORMAT = "HTML"  # or "PLAIN_TEXT": CORAL_BODY_FORMATS
    """The *Format* of Coral's external moderation phase (its admin form): ``HTML`` (Coral's default; the markup is
    read as HTML) or ``PLAIN_TEXT`` (the body is taken as typed, so a reader's literal "<script>" hides nothing)."""
    CORAL_MAX_SCORED_CHARS = 5_000
    """Longest Coral comment (text without markup) scored: a longer one is withheld for a person without scoring, since
    scoring grows with length (one sentence at a time) and Coral publishes whatever its phase's timeout cuts off. With
    bundle 2.9.0 on 2 cores a 5,000-character comment took 0.20 s to score and a 20,000-character one 0.71 s (2.8.0,
    whose windows overlapped: 0.34 and 1.27 s; SFU comments joined, one at a time, one encoder thread, best of 3; a
    one-off measurement of ``Scorer.moderate`` in stop 41, script not committed); the longest SFU news comment has
    4,573 characters."""

    # The moderation page at /ui (service/ui): see README, "The moderation page".
    SECRET_KEY = None
    """Signs the moderation page's session cookies; ``None`` means a random key made once and kept in ``SECRET_KEY_FILE``."""
    SECRET_KEY_FILE = None
    """Where the generated key is kept (mode 600); ``None`` means ``var/secret_key`` in the project."""
    SESSION_COOKIE_SECURE = True
    """Send the session cookie over HTTPS only; set false only to sign in over plain HTTP on localhost."""
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    PERMANENT_SESSION_LIFETIME = 8 * 60 * 60
    """Seconds a moderator stays signed in (one shift)."""
    SIGN_IN_RATE_LIMIT = "10 per minute"
    """Sign-in attempts allowed per client address (Flask-Limiter syntax)."""
    SIGN_IN_NAME_LIMIT = "20 per hour"
    """Sign-ins allowed per user name, from all addresses together, before more as that name are refused unchecked
    (429); a browser that has signed in as that user before is neither counted nor refused (``service.ui.name_limit``)."""
    REPORTS_DIR = None
    """Where the model page finds ``moderate eval``'s eval.json and plots; ``None`` means ``reports/`` in the project."""


def _read_config_file(config: Config, path: Path) -> None:
    """Update ``config`` from a ``.toml`` file (keys upper-cased) or a ``.py`` file (upper-case names)."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            with open(path, "rb") as handle:
                values = tomllib.load(handle)
            _refuse_one_setting_twice(path, values)
            config.from_mapping({key.upper(): value for key, value in values.items()})
            warn_once(unknown_file_keys(path, values))
        elif suffix == ".py":
            _read_python_file(config, path)
        else:
            raise ConfigError(f"{CONFIG_FILE_ENV}={path}: use a .toml or .py file")
    except FileNotFoundError as error:
        raise ConfigError(f"{CONFIG_FILE_ENV}={path}: no such file") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{CONFIG_FILE_ENV}={path}: not valid TOML: {error}") from error
    except (OSError, SyntaxError) as error:
        raise ConfigError(f"{CONFIG_FILE_ENV}={path}: cannot be read: {error}") from error


def _refuse_one_setting_twice(path: Path, values: Mapping[str, Any]) -> None:
    """ConfigError for a TOML file that gives one setting under two keys (``port`` and ``PORT``): keys are read in any
    case, and the later one won without a word."""
    keys_of: dict[str, list[str]] = {}
    for key in values:
        keys_of.setdefault(key.upper(), []).append(key)
    twice = {name: keys for name, keys in keys_of.items() if len(keys) > 1}
    if twice:
        name, keys = sorted(twice.items())[0]
        raise ConfigError(f"{CONFIG_FILE_ENV}={path}: {' and '.join(keys)} both set {name} (keys are read in any case): "
                          "keep one")


def _read_python_file(config: Config, path: Path) -> None:
    """``config.from_pyfile``; a file whose code raises (``WORKERS = FOUR``: a NameError) is a ConfigError, not a traceback."""
    try:
        config.from_pyfile(str(path))
    except (OSError, SyntaxError):
        raise  # _read_config_file's messages
    except Exception as error:  # the operator's own code: whatever it raises, the file is what to fix
        raise ConfigError(f"{CONFIG_FILE_ENV}={path}: its code stops with {type(error).__name__}: {error}") from error


def _settings() -> list[str]:
    return sorted(name for name in dir(Defaults) if name.isupper())


def _libraries_settings() -> frozenset[str]:
    """The settings Flask and Flask-Limiter read from the same place (``SESSION_COOKIE_DOMAIN``, ``RATELIMIT_STRATEGY``),
    passed on without a word. Their names exactly, not their prefixes: ``RATELIMIT_STORAGE_URL`` for ``_URI`` is a typo
    that would leave the limits counted in each worker without a word."""
    from flask import Flask
    from flask_limiter.constants import ConfigVars

    return frozenset(Flask.default_config) | {value for name, value in vars(ConfigVars).items() if name.isupper()}


def _is_passed_on(name: str) -> bool:
    """Whether an upper-case name is a setting, or Flask's or Flask-Limiter's own (passed on without a word)."""
    return name in _settings() or name in _libraries_settings()


def _not_a_setting(given: str, name: str, spell: str) -> str:
    """The warning for ``given`` (upper-cased ``name``), with the setting it resembles spelt as ``spell`` spells it."""
    near = difflib.get_close_matches(name.upper(), _settings(), n=1)  # MODERATION_workers: MODERATION_WORKERS
    hint = f" (did you mean {spell.format(near[0])}?)" if near else ""
    return f"{given} is not a setting and is ignored{hint}; the settings are those of service/config.py"


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """Warnings for the ``MODERATION_*`` variables that name no setting (a misspelt one is otherwise ignored)."""
    found = []
    for variable in sorted(environ):
        prefix, name = variable[: len(ENV_PREFIX) + 1], variable[len(ENV_PREFIX) + 1 :]
        if prefix.upper() != f"{ENV_PREFIX}_" or (prefix == f"{ENV_PREFIX}_" and (
                _is_passed_on(name) or name in OTHER_VARIABLES or name.startswith("TEST_"))):
            continue
        if name.upper() in OTHER_VARIABLES:  # moderation_config=...: names are upper case
            found.append(f"{variable} is ignored (did you mean {ENV_PREFIX}_{name.upper()}?)")
        else:
            found.append(_not_a_setting(variable, name, f"{ENV_PREFIX}_{{}}"))  # moderation_workers too
    return found


def unknown_file_keys(path: Path, values: Mapping[str, Any]) -> list[str]:
    """Warnings for the keys of a TOML settings file that name no setting (a misspelt one or a ``[table]``)."""
    return [_not_a_setting(f"{CONFIG_FILE_ENV}={path}: {key}", key.upper(), "{}")
            for key in sorted(values) if not _is_passed_on(key.upper())]


_WARNED: set[str] = set()
"""Warnings this process has logged: ``moderate serve`` reads the settings several times at start."""


def check_nested_variables(environ: Mapping[str, str]) -> None:
    """ConfigError for a ``MODERATION_<SETTING>__<KEY>`` variable: Flask reads a double underscore as a key inside the
    setting's value, which holds none, and stopped with a TypeError traceback."""
    for variable in sorted(environ):
        name = variable.removeprefix(f"{ENV_PREFIX}_")
        setting, nested, _ = name.partition("__")
        if name != variable and nested and setting in _settings():
            raise ConfigError(f"{variable} is not a setting (a double underscore names a key inside a setting, and "
                              f"{setting} has none): write {ENV_PREFIX}_{setting}")


def warn_unknown_variables(environ: Mapping[str, str]) -> None:
    """Log ``unknown_variables`` as warnings, each once per process."""
    warn_once(unknown_variables(environ))


_DEFERRED: list[list[str]] = []
"""The lists ``deferred_warnings`` blocks collect into, innermost last."""


@contextmanager
def deferred_warnings() -> Iterator[list[str]]:
    """Collect what ``warn_once`` would log inside the block, for the caller to give ``warn_once`` once logging is
    configured: the settings' warnings come while the settings that say how to log (``LOG_JSON``) are read, and were
    written as bare lines amid the JSON ones. A block that raises logs them at once (before the error is reported)."""
    pending: list[str] = []
    _DEFERRED.append(pending)
    try:
        yield pending
    except BaseException:
        _DEFERRED.remove(pending)
        warn_once(pending)  # the error ends the caller: these may say why ("did you mean MODERATION_PORT?")
        raise
    _DEFERRED.remove(pending)


def warn_once(warnings: list[str]) -> None:
    """Log each warning once per process: the settings', and others found at start, such as the served policy's
    (``service.app.policy_warnings``). Gunicorn's workers, forked from the master that logged one, do not log it again.
    Inside a ``deferred_warnings`` block they are collected instead."""
    for warning in warnings:
        if warning in _WARNED:
            continue
        if _DEFERRED:
            if warning not in _DEFERRED[-1]:
                _DEFERRED[-1].append(warning)
            continue
        _WARNED.add(warning)
        logging.getLogger("service.config").warning(warning)


def load_config(overrides: Mapping[str, Any] | None = None, override_sources: Mapping[str, str] | None = None) -> Config:
    """Return the settings: ``Defaults``, then the ``MODERATION_CONFIG`` file, then ``MODERATION_*``, then ``overrides``.

    ``override_sources`` names where overrides were given (``{"HOST": "--host"}``) for the messages, which otherwise
    name ``MODERATION_<NAME>``. Raises ``ConfigError`` when the named file is missing or unreadable, or a setting has
    the wrong type or range.
    """
    from flask import Config  # here, not at the top: `moderate --help` and `moderate score` need only Defaults

    config = Config(str(PROJECT_ROOT))
    config.from_object(Defaults)
    config_file = os.environ.get(CONFIG_FILE_ENV)
    from_file: set[str] = set()
    if config_file:
        before = dict(config)
        _read_config_file(config, Path(config_file))
        from_file = {name for name, value in config.items() if name not in before or value is not before[name]}
    check_nested_variables(os.environ)
    config.from_prefixed_env(ENV_PREFIX)
    config.pop("CONFIG", None)  # MODERATION_CONFIG itself is not a setting
    warn_unknown_variables(os.environ)
    if overrides is not None:
        config.from_mapping(overrides)
    from service.config_checks import check_config, setting_warnings  # it imports ConfigError from here

    # A bad value read from the file is named as the file's, not as MODERATION_<NAME> (which may not be set at all).
    replaced = {variable.removeprefix(f"{ENV_PREFIX}_") for variable in os.environ if variable.startswith(f"{ENV_PREFIX}_")}
    replaced |= set(overrides or ())
    sources = {name: f"in {CONFIG_FILE_ENV}={config_file}" for name in from_file - replaced}
    sources.update({name: source for name, source in (override_sources or {}).items() if name in (overrides or {})})
    check_config(config, sources)
    warn_once(setting_warnings(config))
    return config
