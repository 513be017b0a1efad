"""Prometheus metrics: requests by endpoint and status, latency, decisions by outcome, the model version.

Each app owns its registry (``app.extensions[METRICS_KEY]``), so tests can build many apps. Under
gunicorn with several workers, ``moderate serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` before
prometheus_client is imported: every worker then writes its counts to files there and ``/metrics``,
whichever worker answers, adds them all up. Without that variable (one process, or the test client)
the counts live in the process.
"""

from __future__ import annotations

import os
import time
from collections import Counter as Tally

from flask import Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client.multiprocess import MultiProcessCollector

METRICS_KEY = "moderation.metrics"
MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS_SECONDS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED_ENDPOINT = "unmatched"
"""Label for requests no route matched, so random 404 paths cannot grow the label set."""
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"
"""Label for any other method name: a client can send any token as a method, and each would be a new series."""


def multiprocess_mode() -> bool:
    """True when prometheus_client was imported in multiprocess mode (values kept in files)."""
    return values.ValueClass is not values.MutexValue and bool(os.environ.get(MULTIPROC_DIR_ENV))


class Metrics:
    """The service's Prometheus metrics."""

    def __init__(self, model_version: str):
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "moderation_http_requests",
            "HTTP requests by route, method and status code.",
            ["endpoint", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "moderation_http_request_duration_seconds",
            "Time from request start to response, by route.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS_SECONDS,
            registry=self.registry,
        )
        self.decisions = Counter(
            "moderation_decisions",
            "Comments decided, by API surface and decision.",
            ["surface", "decision"],
            registry=self.registry,
        )
        self.limited = Counter(
            "moderation_limited_requests",
            "Requests refused with 429, by the limit that refused them (requests, auth_failures, comments, characters, concurrency, coral).",
            ["limit"],
            registry=self.registry,
        )
        self.coral_replays = Counter(
            "moderation_coral_replays",
            "Signed Coral bodies seen again within CORAL_REPLAY_SECONDS, answered from memory without scoring.",
            registry=self.registry,
        )
        # An info-style gauge (Info metrics are not supported in multiprocess mode). "livemax" drops the
        # files of exited workers, so after a reload only the versions still served are reported.
        self.model = Gauge(
            "moderation_model_info",
            "The served model bundle (value 1).",
            ["model_version"],
            registry=self.registry,
            multiprocess_mode="livemax",
        )
        self.model_version = model_version
        self._model_marked = False

    def mark_model(self) -> None:
        """Set the model gauge, once per process, from a process that serves (never gunicorn's master)."""
        if not self._model_marked:
            self.model.labels(model_version=self.model_version).set(1)
            self._model_marked = True

    def exposition(self) -> bytes:
        """The text format of every metric, summed over the workers in multiprocess mode."""
        if multiprocess_mode():
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)


def init_metrics(app: Flask, model_version: str) -> None:
    """Create the app's metrics and time every request."""
    app.extensions[METRICS_KEY] = Metrics(model_version)
    app.before_request(_start_timer)
    app.after_request(_observe)


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()
    current_app.extensions[METRICS_KEY].mark_model()


def _observe(response: Response) -> Response:
    """Count the request by route template (not raw path) and status, and record its latency."""
    metrics: Metrics = current_app.extensions[METRICS_KEY]
    endpoint = request.url_rule.rule if request.url_rule is not None else UNMATCHED_ENDPOINT
    method = request.method if request.method in KNOWN_METHODS else OTHER_METHOD
    metrics.requests.labels(endpoint=endpoint, method=method, status=str(response.status_code)).inc()
    started = g.get("metrics_started")
    if started is not None:
        metrics.latency.labels(endpoint=endpoint).observe(time.perf_counter() - started)
    return response


def count_decisions(surface: str, actions: list[str]) -> None:
    """Add decisions to ``moderation_decisions_total`` (called by ``service.store.record_decisions``)."""
    metrics: Metrics = current_app.extensions[METRICS_KEY]
    for action, n in Tally(actions).items():
        metrics.decisions.labels(surface=surface, decision=action).inc(n)


def count_limited(limit: str) -> None:
    """Add one refused request to ``moderation_limited_requests_total{limit}`` (a fixed set of names, never a key)."""
    current_app.extensions[METRICS_KEY].limited.labels(limit=limit).inc()


def count_coral_replay() -> None:
    """Add one to ``moderation_coral_replays_total``."""
    current_app.extensions[METRICS_KEY].coral_replays.inc()


def metrics_response() -> Response:
    """The ``/metrics`` response in Prometheus' text format."""
    metrics: Metrics = current_app.extensions[METRICS_KEY]
    return Response(metrics.exposition(), mimetype=CONTENT_TYPE_LATEST)
