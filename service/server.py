"""Run the service under gunicorn; every worker builds its own app and so loads the bundle itself.

Workers, not a preloaded master, load the bundle: on SIGHUP gunicorn starts new workers, which read
``bundles/CURRENT`` (see ``moderate models use``) as it is then, and stops the old ones gracefully, each
finishing its requests; connections arriving meanwhile wait in the listening socket's queue.

Gunicorn's access log is off: it would record ``?key=`` API keys from query strings. The app logs
one JSON line per request itself (``service.logs``), with the path but never the query string.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from collections.abc import Callable
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication


class ModerationServer(BaseApplication):
    """A gunicorn application whose workers each build the Flask app with ``app_factory``."""

    def __init__(self, app_factory: Callable[[], Flask], options: dict[str, Any]):
        self.app_factory = app_factory
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        """Apply our options; gunicorn's own command line and config files are not read."""
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        """Build the app in a worker (no preload_app): a worker started after SIGHUP serves the bundle selected then."""
        return self.app_factory()


def bind_address(host: str, port: int) -> str:
    """Return gunicorn's bind string, bracketing IPv6 hosts."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
_OWNED_METRICS_DIR = "MODERATION_OWNS_METRICS_DIR"
"""Set when ``prepare_metrics_dir`` made the directory, so that the server removes it on exit."""


def prepare_metrics_dir(workers: int) -> str | None:
    """For several workers, point prometheus_client at a directory of per-process metric files.

    Must run before prometheus_client is imported. An operator's ``PROMETHEUS_MULTIPROC_DIR`` is
    used (and emptied of old files, as prometheus_client requires); otherwise a temporary one is made.
    Returns the directory, or None for a single worker (metrics stay in its memory).
    """
    if workers <= 1 and not os.environ.get(METRICS_DIR_ENV):
        return None
    path = os.environ.get(METRICS_DIR_ENV)
    if path:
        os.makedirs(path, exist_ok=True)
        for stale in glob.glob(os.path.join(path, "*.db")):
            os.remove(stale)
    else:
        path = tempfile.mkdtemp(prefix="moderation-metrics-")
        os.environ[METRICS_DIR_ENV] = path
        os.environ[_OWNED_METRICS_DIR] = path
    return path


def _child_exit(_server: Any, worker: Any) -> None:
    """Drop a dead worker's live gauges from the shared metrics."""
    if os.environ.get(METRICS_DIR_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def _on_exit(_server: Any) -> None:
    """Remove the metrics directory this server made."""
    owned = os.environ.get(_OWNED_METRICS_DIR)
    if owned:
        shutil.rmtree(owned, ignore_errors=True)


def server_options(app: Flask) -> dict[str, Any]:
    """Gunicorn settings from the app's configuration (HOST, PORT, WORKERS, THREADS, TIMEOUT_SECONDS)."""
    config = app.config
    return {
        "bind": bind_address(config["HOST"], int(config["PORT"])),
        "workers": int(config["WORKERS"]),
        "threads": int(config["THREADS"]),
        "timeout": int(config["TIMEOUT_SECONDS"]),
        "preload_app": False,
        "accesslog": None,
        "errorlog": "-",
        "child_exit": _child_exit,
        "on_exit": _on_exit,
    }


def worker_settings(app: Flask) -> dict[str, Any]:
    """The settings a worker's app must get on top of ``load_config``: those the command line changed.

    Defaults, the config file and ``MODERATION_*`` are read again by each worker; ``MODEL`` stays unset
    unless it was given, so each new worker reads ``bundles/CURRENT`` afresh. The master has migrated
    the database already: workers only check it is current.
    """
    from service.config import load_config

    base = load_config()
    overrides = {key: value for key, value in app.config.items() if key in base and base[key] != value}
    return {**overrides, "DB_AUTO_UPGRADE": False}


def serve(app: Flask) -> None:
    """Serve under gunicorn until stopped (SIGTERM or SIGINT); does not return normally.

    ``app`` was built in the master to check the bundle, database and settings before any worker
    starts; the workers build their own with the same settings. SIGHUP replaces the workers gracefully.
    """
    from service.app import create_app

    options, settings = server_options(app), worker_settings(app)
    del app  # the master serves nothing: let its copy of the model go
    ModerationServer(lambda: create_app(settings), options).run()
