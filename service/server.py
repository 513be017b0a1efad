"""Run the service under gunicorn; every worker builds its own app and so loads the bundle itself.

Workers, not a preloaded master, load the bundle. On SIGHUP the master first loads and checks the bundle
``bundles/CURRENT`` then names (see ``moderate models use``) in a throwaway child, starts new workers on
it, and stops the old ones (each finishing its requests) only once the new ones serve; a bad bundle
leaves the old workers serving (``service.reload``). Workers get the bundle by path, so one that gunicorn
replaces later serves the same bundle as its siblings.

Gunicorn's control socket is off: we do not use ``gunicornc``, and its default path
(``~/.gunicorn/gunicorn.ctl``) would be shared, and taken over, by a second instance on the machine.

A liveness check or a scrape waits on the main port while every sync worker is busy; the master answers
``GET /healthz`` and ``GET /metrics`` on ``HEALTH_PORT`` from a thread of its own whatever the workers are doing
(``service.health_port``).

Gunicorn's access log is off: it would record ``?key=`` API keys from query strings. The app logs
one JSON line per request itself (``service.logs``), with the path but never the query string. Gunicorn's own lines
quote a request line or header it cannot parse whole (``Invalid HTTP Header: 'Authorization Bearer mod_...'``) and
the URI of a request that failed: their query strings and quoted client text are withheld.

Every worker keeps its metrics in files (``prepare_metrics_dir``), even a single one: gunicorn replaces a worker
that was killed, timed out or reloaded, and counts kept in its memory would go with it. When a worker exits, the
master adds its counts to the sums of exited workers and removes its files (``service.metrics.fold_exited_files``),
so that the folder, and the work of each scrape, stay bounded however often workers are replaced.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger as GunicornLogger

from service.health_port import HealthListener, resolve_health_port
from service.quick_exit import freeze_at_exit
from service.reload import (
    METRICS_DIR_ENV,
    WORKER_RETRY_SECONDS,
    WORKER_START_FAILED,
    ModerationArbiter,
    ReadyMarkers,
    own_folder,
    post_worker_init,
    verify_in_child,
)

log = logging.getLogger(__name__)


class ModerationServer(BaseApplication):
    """A gunicorn application whose workers each build the Flask app from ``settings``.

    ``model_choice`` is the operator's ``MODEL`` (None: whatever ``bundles/CURRENT`` names at each reload);
    ``settings["MODEL"]`` is the verified bundle folder the workers load. ``settings`` are the command line's on top of
    the defaults, the config file and the environment; ``checked``, when given, is every setting as the master read and
    checked them from those, which each worker (a replacement too) takes as it is: an edit of the config file reaches
    the workers at a reload (SIGHUP, which checks it first), not at the next worker gunicorn replaces, where a typo
    stopped every replacement and a new limit applied to some workers and not others.
    """

    def __init__(self, settings: dict[str, Any], options: dict[str, Any], model_choice: Any = None,
                 health: HealthListener | None = None, checked: dict[str, Any] | None = None):
        self.settings = settings
        self.checked = checked
        self.options = options
        self.model_choice = model_choice
        self.health = health
        self.ready = ReadyMarkers()
        self.unfolded_pids: set[int] = set()
        """Exited workers whose metric files are not yet added to the sums (``_child_exit``)."""
        self.metrics_lock = threading.RLock()
        """Held by the master's scrapes (``master_metrics``, on the health port's thread) and its folds: the folder's
        file lock would not do there, as a worker forked during a scrape would keep the master's lock for its life.
        Reentrant: a SIGCHLD may interrupt a fold with another."""
        self._previous_model: Any = None
        self._previous_checked: dict[str, Any] | None = None
        self._versions: dict[str, str | None] = {}
        super().__init__()

    def run(self) -> None:
        """Run gunicorn's master loop with our reload (``service.reload``)."""
        try:
            ModerationArbiter(self).run()
        finally:
            self.ready.remove()

    def serving(self) -> str:
        """The bundle the workers load, for log lines."""
        return str(self.settings.get("MODEL"))

    def model_version(self) -> str | None:
        """The version in the manifest of the bundle the workers load (None if it cannot be read), for the health port."""
        from model.bundle import BundleError, read_manifest

        folder = self.serving()
        if folder not in self._versions:
            try:
                self._versions[folder] = str(read_manifest(folder)["model_version"])
            except (BundleError, OSError) as error:
                log.warning("health port: cannot read the version of %s: %s", folder, error)
                self._versions[folder] = None
        return self._versions[folder]

    def prepare_reload(self) -> str | None:
        """Load and check the bundle to switch to in a child process; None and the workers' MODEL set, or the reason not."""
        from model.bundle import BundleError, resolve_bundle_path
        from service.app import policy_warnings, verify_scorer
        from service.config import ConfigError, load_config, warn_once

        try:
            folder = resolve_bundle_path(self.model_choice)
            config = load_config(self.settings)  # as a new worker will read it
        except (BundleError, OSError, ConfigError) as error:  # no bundles/CURRENT, an unreadable one, a bad config file
            return str(error)
        problem = verify_in_child(lambda: verify_scorer(config, folder), expected=(BundleError,))
        if problem is None:
            warn_once(policy_warnings(config, folder))  # here, not in each new worker (forked from this process)
            self._warn_if_pinned(folder)
            self._warn_of_master_settings(config)
            self._previous_model, self.settings["MODEL"] = self.settings.get("MODEL"), str(folder)
            if self.checked is not None:  # the config file as read now, for the new workers
                self._previous_checked, self.checked = self.checked, {**config, "MODEL": str(folder)}
        return problem

    def _warn_of_master_settings(self, config: dict[str, Any]) -> None:
        """Name each setting of the master's own that the file now sets otherwise: a reload applied a new rate limit
        from the same edit, but a new WORKERS silently not."""
        if self.checked is None:
            return
        for name in MASTER_SETTINGS:
            if config[name] != self.checked[name]:
                log.warning("reload: %s is %r in the settings now but %r is running: it takes a restart", name,
                            config[name], self.checked[name])

    def _warn_if_pinned(self, folder: Path) -> None:
        """Say so when the bundle reloaded is one MODEL pins while bundles/CURRENT names another: a SIGHUP after
        `moderate models use` then reloaded the old bundle without a word."""
        from model.bundle import BundleError, resolve_bundle_path

        if self.model_choice is None:
            return
        try:
            current = resolve_bundle_path(None)
        except (BundleError, OSError):
            return
        if current.resolve() != folder.resolve():
            log.warning("reload: MODEL (--model, MODERATION_MODEL or the config file) pins %s, so the workers reload it; "
                        "bundles/CURRENT names %s: to serve that one, unset MODEL and restart, or restart with --model %s",
                        folder, current.name, current.name)

    def cancel_reload(self) -> None:
        """Point new workers back at the bundle (and settings) served before a reload that was abandoned."""
        self.settings["MODEL"] = self._previous_model
        if self._previous_checked is not None:
            self.checked = self._previous_checked

    def load_config(self) -> None:
        """Apply our options; gunicorn's own command line and config files are not read."""
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        """Build the app in a worker (no preload_app); if it cannot be built, exit so that gunicorn starts another.

        Gunicorn stops the whole server when a worker fails to boot; exiting with ``WORKER_START_FAILED``
        after a pause keeps the other workers serving while a replacement is tried.
        """
        from model.bundle import BundleError
        from model.policy import PolicyError
        from service.app import create_app
        from service.config import ConfigError
        from service.store import StoreError

        folder = os.environ.get(METRICS_DIR_ENV)
        try:
            if folder and os.environ.get(_OWNED_METRICS_DIR) == folder:  # made by mkdtemp: made again as it, or refused
                own_folder(folder)  # deleted under a running server (a clean of /tmp): every new worker failed
            elif folder:
                os.makedirs(folder, exist_ok=True)
        except OSError as error:
            _start_failed(error)
        try:
            if self.checked is not None:
                return create_app(self.checked, settled=True)
            return create_app(self.settings)
        except (BundleError, PolicyError, StoreError, ConfigError) as error:  # PolicyError: POLICY broken after start
            _start_failed(error)


def _start_failed(error: BaseException) -> None:
    """A worker that cannot build its app exits after a pause, with a status that has gunicorn start another."""
    log.error("worker %d cannot start, exiting in %.0f s (gunicorn starts another): %s", os.getpid(), WORKER_RETRY_SECONDS, error)
    time.sleep(WORKER_RETRY_SECONDS)
    raise SystemExit(WORKER_START_FAILED) from error


class WithholdingGunicornLogger(GunicornLogger):
    """Gunicorn's own lines (a worker booting, timing out or killed, a signal, a request it could not parse), without
    the query strings and quoted request lines or headers a client sent (``service.logs.withhold_client_text``)."""

    def setup(self, cfg: Any) -> None:
        """Gunicorn's setup, then ours on each of the error log's own handlers (setup runs again on a reload)."""
        super().setup(cfg)
        for handler in self.error_log.handlers:
            if getattr(handler, "_gunicorn", False):  # gunicorn's own (stderr), not one a logging config added
                self.adapt(handler)

    def adapt(self, handler: logging.Handler) -> None:
        """Withhold what clients sent from the lines ``handler`` writes, in the service's plain format (gunicorn's own
        ``[2026-12-07 07:38:05 +0000] [14080] [INFO] ...`` is not the documented ``time level logger message``)."""
        from service.logs import WithholdClientText

        handler.addFilter(WithholdClientText())
        handler.setFormatter(self.formatter())

    def formatter(self) -> logging.Formatter:
        """The format of gunicorn's lines."""
        from service.logs import plain_formatter

        return plain_formatter()


class JsonGunicornLogger(WithholdingGunicornLogger):
    """Gunicorn's own lines as JSON objects like the service's, so that with ``LOG_JSON`` every line on stderr parses."""

    def formatter(self) -> logging.Formatter:
        """JSON objects."""
        from service.logs import json_formatter

        return json_formatter()


def bind_address(host: str, port: int) -> str:
    """Return gunicorn's bind string, bracketing IPv6 hosts."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


_OWNED_METRICS_DIR = "MODERATION_OWNS_METRICS_DIR"
"""Set when ``prepare_metrics_dir`` made the directory, so that the server removes it on exit."""


STALE_METRIC_FILE = re.compile(r"(?:counter|histogram|summary|gauge_[a-z]+)_(?:\d+|exited)\.db(?:\.staged)?")
"""The metric files a server leaves (prometheus_client's per process and kind, ``service.metrics``' sums of exited
processes and their staged copies): the only files removed from an operator's metrics folder at start. Every
``.db`` was removed, and with it the SQLite database of an operator who kept both in one folder."""


def prepare_metrics_dir() -> str:
    """Point prometheus_client at a directory of per-process metric files, whatever the number of workers.

    Must run before prometheus_client is imported. An operator's ``PROMETHEUS_MULTIPROC_DIR`` is
    used (emptied of old metric files, as prometheus_client requires: only files named as it and ``service.metrics``
    name theirs, ``STALE_METRIC_FILE``, never another ``.db`` such as a SQLite database kept in the same folder;
    ConfigError when it cannot be made or written); otherwise a temporary one is made.
    Returns the directory. A single worker needs one too: gunicorn replaces a worker that is killed, times out
    or is reloaded, and a count kept in its memory would start again from 0.
    """
    path = os.environ.get(METRICS_DIR_ENV)
    if path:
        try:
            os.makedirs(path, exist_ok=True)
            for name in os.listdir(path):
                if STALE_METRIC_FILE.fullmatch(name):
                    os.remove(os.path.join(path, name))
            with tempfile.TemporaryFile(dir=path):  # every worker writes there: a read-only folder fails now, not in each
                pass
        except OSError as error:  # a file, a missing parent, no permission, a read-only file system: not a traceback
            from service.config import ConfigError

            raise ConfigError(f"{METRICS_DIR_ENV}={path} cannot be the folder of the workers' metric files "
                              f"({error.strerror or error}): name a folder the service may write, or unset it for a "
                              "temporary one") from error
    else:
        path = tempfile.mkdtemp(prefix="moderation-metrics-")
        os.environ[METRICS_DIR_ENV] = path
        os.environ[_OWNED_METRICS_DIR] = path
    return path


def remove_owned_metrics_dir() -> None:
    """Remove the folder ``prepare_metrics_dir`` made (never one the operator named) and forget it: at the master's
    exit, and when ``moderate serve`` stops before gunicorn runs (a bad bundle or database, a port in use), which
    left a folder in ``$TMPDIR`` at each try (``Restart=on-failure`` tries every 5 s)."""
    owned = os.environ.pop(_OWNED_METRICS_DIR, None)
    if not owned:
        return
    shutil.rmtree(owned, ignore_errors=True)
    if os.environ.get(METRICS_DIR_ENV) == owned:
        del os.environ[METRICS_DIR_ENV]


def _child_exit(server: Any, worker: Any) -> None:
    """Forget a dead worker's ready marker, drop its live gauges from the shared metrics and fold its counts into
    the sums of exited workers (with those of earlier exits a scrape kept from being folded then)."""
    server.app.ready.forget(worker.pid)
    directory = os.environ.get(METRICS_DIR_ENV)
    if not directory:
        return
    from prometheus_client import multiprocess

    from service.metrics import FOLD_LOCK_SECONDS, fold_exited_files

    multiprocess.mark_process_dead(worker.pid, directory)
    # A pid left from an earlier exit that a new worker has since been given names that worker's files now.
    pids = {pid for pid in server.app.unfolded_pids if pid not in server.WORKERS} | {worker.pid}
    try:
        with server.app.metrics_lock:
            server.app.unfolded_pids = fold_exited_files(directory, pids, wait_seconds=FOLD_LOCK_SECONDS)
    except (OSError, RuntimeError) as error:  # the master must go on; the files stay and are still counted
        log.error("metrics: cannot add the counts of exited worker(s) %s to the sums, their files stay in %s: %s",
                  sorted(pids), directory, error)
        server.app.unfolded_pids = pids
        return
    if server.app.unfolded_pids:
        log.warning("metrics: scrapes held the metric files for %.0f s; worker(s) %s are folded at the next exit",
                    FOLD_LOCK_SECONDS, sorted(server.app.unfolded_pids))


def health_status(arbiter: Any) -> dict[str, Any]:
    """What the health port answers: live workers (running, app built), the bundle's version, the master's pid."""
    live = sum(1 for pid in list(arbiter.WORKERS) if arbiter.app.ready.is_ready(pid))  # list(): the main thread changes WORKERS
    return {"status": "ok" if live else "no_live_workers", "model_version": arbiter.app.model_version(), "workers": live, "pid": arbiter.pid}


def master_metrics(server: Any) -> tuple[bytes, str]:
    """The metrics, summed from the workers' files by the master for the health port's ``/metrics``, and their content
    type: the main port's answer only once a worker is free."""
    from prometheus_client import CONTENT_TYPE_LATEST

    from service.metrics import files_exposition

    with server.app.metrics_lock:  # no fold meanwhile: it is the master's own
        return files_exposition(os.environ[METRICS_DIR_ENV]), CONTENT_TYPE_LATEST


def _when_ready(server: Any) -> None:
    """In the master once gunicorn listens, before the first worker: start answering on the health port."""
    if server.app.health is not None:
        metrics = (lambda: master_metrics(server)) if os.environ.get(METRICS_DIR_ENV) else None
        server.app.health.start(lambda: health_status(server), metrics)


def _post_fork(server: Any, _worker: Any) -> None:
    """In a new worker: close its copy of the health port's socket, which only the master serves."""
    if server.app.health is not None:
        server.app.health.close_in_worker()


def _on_exit(server: Any) -> None:
    """In the master as it exits: stop the health listener; remove the metrics directory this server made."""
    if server.app.health is not None:
        server.app.health.stop()
    remove_owned_metrics_dir()


def server_options(app: Flask) -> dict[str, Any]:
    """Gunicorn settings from the app's configuration (HOST, PORT, WORKERS, THREADS, TIMEOUT_SECONDS, LOG_LEVEL, LOG_JSON).

    ``TIMEOUT_SECONDS`` is also how long a stopping worker may take to finish its request (``graceful_timeout``)."""
    config = app.config
    return {
        "loglevel": str(config["LOG_LEVEL"]).lower(),
        "logger_class": JsonGunicornLogger if config["LOG_JSON"] else WithholdingGunicornLogger,
        "bind": bind_address(config["HOST"], int(config["PORT"])),
        "workers": int(config["WORKERS"]),
        "threads": int(config["THREADS"]),
        "timeout": int(config["TIMEOUT_SECONDS"]),
        # On SIGTERM a worker may finish the request it is on for as long as any request may take: with gunicorn's
        # default of 30 s a longer one, which TIMEOUT_SECONDS allows, was killed and its client's connection dropped.
        "graceful_timeout": int(config["TIMEOUT_SECONDS"]),
        "preload_app": False,
        "accesslog": None,
        "errorlog": "-",
        "child_exit": _child_exit,
        "on_exit": _on_exit,
        "when_ready": _when_ready,
        "post_fork": _post_fork,
        "post_worker_init": post_worker_init,
        "control_socket_disable": True,
    }


MASTER_SETTINGS = ("HOST", "PORT", "WORKERS", "THREADS", "TIMEOUT_SECONDS", "HEALTH_PORT")
"""Settings of gunicorn's master: applied at start only (a reload warns when the file changes one)."""
WORKER_ONLY = {"DB_AUTO_UPGRADE": False, "DB_REQUIRED_AT_START": False}
"""The master has migrated the database already: workers only check it is current."""


PORT_OPTIONS = {"PORT": "--port or MODERATION_PORT", "HEALTH_PORT": "--health-port or MODERATION_HEALTH_PORT"}
"""How an operator sets each port, for the messages."""
FIRST_UNPRIVILEGED_PORT = 1024
NOT_ALLOWED = (errno.EACCES, errno.EPERM)


def _unusable(config: Any, setting: str, port: int, error: OSError, fix: str) -> Exception:
    """ConfigError for a socket that cannot be bound: naming ``HOST`` when the address is the problem, the missing
    privilege when the port is one the process may not use, else ``fix`` (the port is in use)."""
    from service.config import ConfigError

    if isinstance(error, socket.gaierror) or error.errno == errno.EADDRNOTAVAIL:  # the host, not the port
        return ConfigError(f"HOST {config['HOST']} cannot be listened on ({error.strerror or error}): give an "
                           "address of this machine, such as 127.0.0.1 or 0.0.0.0")
    if error.errno in NOT_ALLOWED:  # nothing listens there: "stop what listens there" would send the operator astray
        fix = (f"ports below {FIRST_UNPRIVILEGED_PORT} need root or the capability CAP_NET_BIND_SERVICE (systemd: "
               f"AmbientCapabilities=CAP_NET_BIND_SERVICE); or choose one from {FIRST_UNPRIVILEGED_PORT} up with "
               f"{PORT_OPTIONS[setting]} (a proxy in front can listen on 80 or 443)")
    return ConfigError(f"{setting} {port} on {config['HOST']} cannot be used ({error.strerror or error}): {fix}")


def check_port(config: Any) -> None:
    """ConfigError when ``PORT`` on ``HOST`` cannot be bound now (in use, not allowed), before gunicorn starts: gunicorn
    itself would retry for five seconds and end with a traceback-like log line and exit status 1."""
    port = int(config["PORT"])
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in config["HOST"] else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds: a closing socket is no clash
            probe.bind((config["HOST"], port))
    except OSError as error:
        raise _unusable(config, "PORT", port, error, f"stop what listens there, or choose another with {PORT_OPTIONS['PORT']}") from error


def bind_health_port(config: Any) -> HealthListener | None:
    """Bind ``HEALTH_PORT`` on ``HOST`` (None when it is 0); ConfigError naming the port when it cannot be bound."""
    port = resolve_health_port(config)
    if port == 0:
        return None
    try:
        return HealthListener(config["HOST"], port)
    except OSError as error:
        raise _unusable(config, "HEALTH_PORT", port, error, f"choose another with {PORT_OPTIONS['HEALTH_PORT']}, or 0 to "
                        "turn the health listener off") from error


def serve(app: Flask, overrides: dict[str, Any] | None = None) -> None:
    """Serve under gunicorn until stopped (SIGTERM or SIGINT); does not return normally.

    ``app`` was built in the master (``create_app(load_model=False)``: the bundle loaded in a child) to check the
    bundle, database and settings before any worker starts; the workers build their own with the same settings. SIGHUP replaces the workers gracefully.
    Raises ConfigError when ``PORT`` or ``HEALTH_PORT`` cannot be bound.
    """
    from service.config import BUNDLE_PATH_KEY

    options = server_options(app)
    model_choice = app.config["MODEL"]
    served = str(app.extensions[BUNDLE_PATH_KEY])  # the bundle a child of the master just loaded
    # The command line's settings on top of what is read (again at each reload), and every setting as checked now.
    settings = {**(overrides or {}), **WORKER_ONLY, "MODEL": served}
    checked = {**app.config, **WORKER_ONLY, "MODEL": served}
    check_port(app.config)
    health = bind_health_port(app.config)
    del app  # the master serves nothing
    # Before gunicorn forks, so that its workers inherit it: no last garbage collection at exit (2 s of CPU in a worker
    # holding the model, 1.4 s in the master, at each stop and by each old worker of a reload). Nothing that must reach
    # a file waits for it: decision rows are committed or spooled (fsync) in the request, log lines are flushed as they
    # are written, and the hooks of ``server_options`` remove the master's folders first.
    freeze_at_exit()
    ModerationServer(settings, options, model_choice, health, checked).run()
