"""Liveness and metrics on a port of their own: ``GET /healthz`` and ``GET /metrics`` on ``HEALTH_PORT``, answered by
gunicorn's master while every worker is busy.

Gunicorn's sync workers answer ``/healthz`` on the main port only when one of them is free: with every worker
scoring long comments a liveness check waited 15.7 s, long enough for a load balancer or an orchestrator to
declare a working server dead. The master never scores. ``moderate serve`` binds ``HEALTH_PORT`` in the master
before any worker starts, and once gunicorn is ready a thread of the master answers there from what the master
knows (``service.server.health_status``): 200 while at least one worker is live (running, its app built), else
503; JSON with ``status``, ``model_version``, ``workers`` (the live ones) and ``pid`` (the master's). Workers
close their inherited copy of the socket, so only the master ever answers on it.

``/metrics`` there is the main port's, summed from the workers' metric files by the master
(``service.server.master_metrics``): the main port's waits for a free worker like any request, and a scrape of a
server whose workers all score requests longer than the scrape's timeout (10 s by default; a full request on the
encoder bundle took 13 s) failed, leaving the metrics blank exactly when the server was saturated.

It tells that the server is alive and has a worker, not that a request would be answered soon: the main
port's ``/readyz`` says whether the model and database are fit to serve. ``HEALTH_PORT`` defaults to ``PORT`` + 1
on the same ``HOST``; 0 turns the listener off.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"
CONNECTION_TIMEOUT_SECONDS = 5.0
"""How long a health-check connection may take to send its request, so that a silent client holds no thread for long."""
OFF = 0
MAX_PORT = 65_535


def resolve_health_port(config: Mapping[str, Any]) -> int:
    """The port to listen on: ``HEALTH_PORT``, or when it is None ``PORT`` + 1 (off when ``PORT`` is 0 or the last port)."""
    configured = config.get("HEALTH_PORT")
    if configured is not None:
        return int(configured)
    port = int(config["PORT"])
    return port + 1 if 0 < port < MAX_PORT else OFF


MAX_CONNECTIONS = 16
"""Connections the listener serves at once; one more is closed unanswered. Each is a thread of gunicorn's master, which
whoever reaches the port could otherwise multiply without limit (silent connections hold theirs for
``CONNECTION_TIMEOUT_SECONDS``); a load balancer's or Prometheus' checks need one or two."""


class _HealthServer(ThreadingHTTPServer):
    """One thread per connection, at most ``MAX_CONNECTIONS`` at once."""

    daemon_threads = True
    status: Callable[[], dict[str, Any]]
    metrics: Callable[[], tuple[bytes, str]] | None = None

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve the connection in a thread of its own when one of the ``MAX_CONNECTIONS`` is free, else close it."""
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()  # no thread was started to release it
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


class _HealthHandler(BaseHTTPRequestHandler):
    """Answers ``GET /healthz`` (and ``HEAD``) with the master's status, ``GET /metrics`` with the metrics when the
    server has them; 404 for any other path."""

    server: _HealthServer
    timeout = CONNECTION_TIMEOUT_SECONDS
    server_version = "moderation-health"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        """Send the status as JSON, or the metrics."""
        self._answer(send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        """As GET, without the body."""
        self._answer(send_body=False)

    def _answer(self, send_body: bool) -> None:
        path = urlsplit(self.path).path
        content_type = "application/json"
        if path == METRICS_PATH and self.server.metrics is not None:
            payload, content_type = self.server.metrics()
            status = 200
        elif path != HEALTH_PATH:
            served = f"GET {HEALTH_PATH} and GET {METRICS_PATH} are" if self.server.metrics is not None else f"GET {HEALTH_PATH} is"
            body = {"error": {"code": "not_found", "message": f"only {served} served on HEALTH_PORT"}}
            status, payload = 404, json.dumps(body).encode("utf-8")
        else:
            body = self.server.status()
            status, payload = 200 if body["workers"] > 0 else 503, json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if send_body:
            self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        """No access log: a probe every few seconds would drown the request log (the main port logs its requests)."""


class HealthListener:
    """The health port's socket, bound at once (``OSError`` when it cannot be), served by a thread after ``start``."""

    def __init__(self, host: str, port: int):
        server_class = type("HealthServer", (_HealthServer,), {"address_family": socket.AF_INET6 if ":" in host else socket.AF_INET})
        self.server = server_class((host, port), _HealthHandler)
        self.host, self.port = host, self.server.server_address[1]
        self._thread: threading.Thread | None = None
        self._owner = os.getpid()

    def start(self, status: Callable[[], dict[str, Any]], metrics: Callable[[], tuple[bytes, str]] | None = None) -> None:
        """Answer health checks with ``status()`` (a dict with at least ``workers``), and scrapes with ``metrics()`` (the
        body and its content type) when given, from a daemon thread."""
        self.server.status = status
        self.server.metrics = metrics
        self._owner = os.getpid()
        self._thread = threading.Thread(target=self.server.serve_forever, name="health-listener", daemon=True)
        self._thread.start()
        paths = HEALTH_PATH + (f" and {METRICS_PATH}" if metrics is not None else "")
        log.info("health listener on http://%s:%d: GET %s answered while the workers are busy", self.host, self.port, paths)

    def close_in_worker(self) -> None:
        """In a forked worker: close the inherited socket (the serving thread is the master's alone)."""
        self.server.socket.close()

    def stop(self) -> None:
        """Stop answering and release the port (in the process that started it: elsewhere the thread does not exist)."""
        if os.getpid() != self._owner:
            return
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join()
            self._thread = None
        self.server.server_close()
