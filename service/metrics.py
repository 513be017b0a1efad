"""Prometheus metrics: requests by endpoint and status, latency, scoring time, requests in progress, decisions by
outcome, the model version.

Each app owns its registry (``app.extensions[METRICS_KEY]``), so tests can build many apps. Under gunicorn
``moderate serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` before prometheus_client is imported: every worker then
writes its counts to files there and ``/metrics``, whichever worker answers, adds them all up, those of workers
that have exited included (so a restarted worker takes no count with it). Without that variable (the test client)
the counts live in the process.

prometheus_client keeps an exited worker's counter and histogram files for good, and reads every file at each
scrape: a server whose workers are recycled (timeouts, kills, reloads) would grow its folder and slow ``/metrics``
without end. So the master adds an exited worker's values to ``counter_exited.db`` and ``histogram_exited.db`` and
removes its files (``fold_exited_files``); the folder holds the files of the live processes and these two. A scrape reads
the files under a shared lock (``metrics.lock``) and the master swaps them under the exclusive one, so a scrape
sees an exited worker's counts exactly once, in its files or in the sums, and no count goes down. The master also
answers ``/metrics`` on ``HEALTH_PORT`` (``files_exposition``), holding off its own folds with a lock of its own.

A request's timings are kept on the request (``request.environ``), not on ``g``: the parts of a Google batch are
requests of their own run inside the batch's app context, and share its ``g``.
"""

from __future__ import annotations

import fcntl
import functools
import logging
import os
import time
from collections import Counter as Tally
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, Response, current_app, has_request_context, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client import mmap_dict
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector

from service.config import EXTENSION_KEY

METRICS_KEY = "moderation.metrics"
MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS_SECONDS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""From one short comment on the TF-IDF bundle (about 2 ms) to 100 long comments with spans on the encoder (tens of
seconds; gunicorn stops a request at TIMEOUT_SECONDS, 120 by default)."""
STARTED = "moderation.metrics_started"
"""``request.environ[STARTED]``: when the request began (``time.perf_counter``)."""
IN_PROGRESS = "moderation.metrics_in_progress"
"""``request.environ`` flag: the request is counted in ``moderation_http_requests_in_progress``."""
BATCH_PART = "moderation.batch_part"
"""``request.environ`` flag of a call run inside a Google ``/batch`` (``service.google_batch``): timed and counted as a
request of its own, but not in progress apart from its batch (one batch on one of two workers read 2, "every worker
busy", while the other was idle)."""
SCORING = "moderation.scoring_seconds"
"""``request.environ[SCORING]``: seconds the request has spent in the model so far."""
UNMATCHED_ENDPOINT = "unmatched"
"""Label for requests no route matched, so random 404 paths cannot grow the label set."""
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"
"""Label for any other method name: a client can send any token as a method, and each would be a new series."""
SUMMED_KINDS = ("counter", "histogram")
"""The kinds of metric file whose values add up over processes (prometheus_client names them ``<kind>_<pid>.db``);
a gauge's ``live*`` files of an exited process are removed instead (``multiprocess.mark_process_dead``)."""
EXITED = "exited"
"""Stands for the pid in the names of the files that hold the sums of exited processes (``counter_exited.db``)."""
STAGED_SUFFIX = ".staged"
"""A sum being written: the name does not end in ``.db``, so no scrape reads it."""
LOCK_FILE = "metrics.lock"
FOLD_LOCK_SECONDS = 2.0
"""How long the master waits for scrapes to let go of the files; a scrape takes milliseconds. If they do not,
the exited worker's files stay (counted as before) and are folded at the next exit."""
LOCK_POLL_SECONDS = 0.01


log = logging.getLogger(__name__)
_lost_logged = False
"""Whether this process has logged that it could not write its metrics (once is enough)."""


class AllocatedMmapedDict(MmapedDict):
    """prometheus_client's file of one process's metrics, its disk blocks allocated (``posix_fallocate``) whenever it is
    made or grows.

    prometheus_client makes the file sparse (``truncate``) and writes through an ``mmap``: on a full disk such a write
    is a SIGBUS, which killed every worker in turn as gunicorn replaced them (and the master, writing the sums of
    exited workers), so nothing served. An allocation fails with an OSError instead, which the service lives with:
    its metrics are lost meanwhile, its requests answered (``metrics_may_fail``)."""

    def __init__(self, filename: str, read_mode: bool = False):
        if not read_mode:
            with open(filename, "a+b") as handle:
                if os.fstat(handle.fileno()).st_size == 0:
                    os.posix_fallocate(handle.fileno(), 0, mmap_dict._INITIAL_MMAP_SIZE)
        super().__init__(filename, read_mode)

    def _init_value(self, key: str) -> None:
        """prometheus_client's, with the blocks of a file that must grow allocated first."""
        needed, capacity = self._used + len(key.encode("utf-8")) + 32, self._capacity  # length, padding, two doubles
        while needed > capacity:
            capacity *= 2
        if capacity > self._capacity:
            os.posix_fallocate(self._f.fileno(), 0, capacity)
        super()._init_value(key)


values.MmapedDict = AllocatedMmapedDict  # the class prometheus_client's multiprocess values open their files with


def _file_or_memory_value(file_value: type) -> Callable[..., Any]:
    """prometheus_client's value class for a metric: ``file_value`` (kept in this process's file), or, when the file
    has no room to be made or grow, a value in this process's memory (not summed into ``/metrics``), so that making a
    metric never fails a worker's start or a request."""

    def make(*args: Any, **kwargs: Any) -> Any:
        try:
            return file_value(*args, **kwargs)
        except OSError as error:
            _warn_lost(error)
            return values.MutexValue(*args, **kwargs)

    make.__name__ = make.__qualname__ = f"FileOrMemory{file_value.__name__}"
    return make


if values.ValueClass is not values.MutexValue:  # multiprocess mode (PROMETHEUS_MULTIPROC_DIR set before the import)
    values.ValueClass = _file_or_memory_value(values.ValueClass)


def metrics_may_fail(function):
    """Run ``function`` (a request hook or a count), logging once per process and going on when the metric files
    cannot be written (``AllocatedMmapedDict``: a full disk); a hook that returns the response returns it still."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except OSError as error:
            _warn_lost(error)
            return args[0] if args and isinstance(args[0], Response) else None

    return wrapper


def _warn_lost(error: OSError) -> None:
    global _lost_logged
    if not _lost_logged:
        _lost_logged = True
        log.error("metrics not written (%s): the folder of the workers' metric files (%s) has no room; requests are "
                  "answered, and their metrics lost until it has", error.strerror or error, os.environ.get(MULTIPROC_DIR_ENV))


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
        self.scoring = Histogram(
            "moderation_scoring_duration_seconds",
            "Time a request spent in the model (scoring, spans, policy), by route; the rest of "
            "moderation_http_request_duration_seconds is parsing, keys, limits and the decision log.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS_SECONDS,
            registry=self.registry,
        )
        # "livesum" drops the values of exited workers: a worker killed mid-request leaves no request in progress.
        self.in_progress = Gauge(
            "moderation_http_requests_in_progress",
            "Requests being handled (a scrape of the main port included, not one of HEALTH_PORT); at WORKERS x THREADS "
            "further requests wait for a worker.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.decisions = Counter(
            "moderation_decisions",
            "Comments decided, by API surface and decision.",
            ["surface", "decision"],
            registry=self.registry,
        )
        self.feedback = Counter(
            "moderation_feedback",
            "Moderator feedback stored, by where it came from (v1_feedback, perspective:suggestscore, ui) and the "
            "decision it gives (none: labels only).",
            ["source", "decision"],
            registry=self.registry,
        )
        self.limited = Counter(
            "moderation_limited_requests",
            "Requests refused with 429, by the limit that refused them (requests, auth_failures, comments, characters, concurrency, coral, sign_in, sign_in_name).",
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
            directory = os.environ[MULTIPROC_DIR_ENV]
            with files_locked(directory):  # the collector lists and reads the files in generate_latest
                return files_exposition(directory)
        return generate_latest(self.registry)


def files_exposition(directory: str) -> bytes:
    """The text format of the metrics in ``directory``'s files, summed over processes; hold off ``fold_exited_files``
    meanwhile (``files_locked`` in a worker; gunicorn's master, the one that folds, has a lock of its own)."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)
    return generate_latest(registry)


class TimedScorer:
    """The app's Scorer, adding the time of each call that scores to the request's scoring time; the rest is its own."""

    def __init__(self, scorer: Any):
        self.scorer = scorer

    def __getattr__(self, name: str) -> Any:
        return getattr(self.scorer, name)

    def predict_scores(self, *args: Any, **kwargs: Any) -> Any:
        """``Scorer.predict_scores``, timed."""
        with _scoring():
            return self.scorer.predict_scores(*args, **kwargs)

    def moderate(self, *args: Any, **kwargs: Any) -> Any:
        """``Scorer.moderate``, timed."""
        with _scoring():
            return self.scorer.moderate(*args, **kwargs)


def init_metrics(app: Flask, model_version: str) -> None:
    """Create the app's metrics, time every request and the scorer's calls (``TimedScorer``)."""
    app.extensions[METRICS_KEY] = metrics = Metrics(model_version)
    if EXTENSION_KEY in app.extensions:  # not in the master of ``moderate serve``, which scores nothing
        app.extensions[EXTENSION_KEY] = TimedScorer(app.extensions[EXTENSION_KEY])
        # Now, not at the first request: a worker that had answered none, every worker after a start or a SIGHUP,
        # was missing from moderation_model_info (a dashboard saw the version vanish until traffic came).
        metrics_may_fail(metrics.mark_model)()
    app.before_request(_start_timer)
    app.after_request(_observe)
    app.teardown_request(_end_request)


@contextmanager
def _scoring() -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        if has_request_context():
            request.environ[SCORING] = request.environ.get(SCORING, 0.0) + time.perf_counter() - started


def scoring_seconds() -> float | None:
    """Seconds the current request has spent in the model; None if it scored nothing (or outside a request)."""
    return request.environ.get(SCORING) if has_request_context() else None


@metrics_may_fail
def _start_timer() -> None:
    metrics: Metrics = current_app.extensions[METRICS_KEY]
    request.environ[STARTED] = time.perf_counter()
    if not request.environ.get(BATCH_PART):  # the batch holding it is in progress already: one worker, one request
        metrics.in_progress.inc()
        request.environ[IN_PROGRESS] = True  # after: a count that could not be written is not taken back


@metrics_may_fail
def _observe(response: Response) -> Response:
    """Count the request by route template (not raw path) and status, and record its latency and scoring time."""
    metrics: Metrics = current_app.extensions[METRICS_KEY]
    endpoint = request.url_rule.rule if request.url_rule is not None else UNMATCHED_ENDPOINT
    method = request.method if request.method in KNOWN_METHODS else OTHER_METHOD
    metrics.requests.labels(endpoint=endpoint, method=method, status=str(response.status_code)).inc()
    started = request.environ.get(STARTED)
    if started is not None:
        metrics.latency.labels(endpoint=endpoint).observe(time.perf_counter() - started)
    scoring = scoring_seconds()
    if scoring is not None:
        metrics.scoring.labels(endpoint=endpoint).observe(scoring)
    return response


@metrics_may_fail
def _end_request(_error: BaseException | None = None) -> None:
    """The request is no longer in progress (also after an error no handler answered)."""
    if request.environ.get(IN_PROGRESS):
        current_app.extensions[METRICS_KEY].in_progress.dec()


@metrics_may_fail
def count_decisions(surface: str, actions: list[str]) -> None:
    """Add decisions to ``moderation_decisions_total`` (called by ``service.store.record_decisions``)."""
    metrics: Metrics = current_app.extensions[METRICS_KEY]
    for action, n in Tally(actions).items():
        metrics.decisions.labels(surface=surface, decision=action).inc(n)


@metrics_may_fail
def count_feedback(source: str, decision: str | None) -> None:
    """Add one stored piece of feedback to ``moderation_feedback_total`` (called by ``service.store.save_feedback``):
    the moderators' decisions, apart from the model's in ``moderation_decisions_total``."""
    current_app.extensions[METRICS_KEY].feedback.labels(source=source, decision=decision or "none").inc()


@metrics_may_fail
def count_limited(limit: str) -> None:
    """Add one refused request to ``moderation_limited_requests_total{limit}`` (a fixed set of names, never a key)."""
    current_app.extensions[METRICS_KEY].limited.labels(limit=limit).inc()


@metrics_may_fail
def count_coral_replay() -> None:
    """Add one to ``moderation_coral_replays_total``."""
    current_app.extensions[METRICS_KEY].coral_replays.inc()


def metrics_response() -> Response:
    """The ``/metrics`` response in Prometheus' text format."""
    metrics: Metrics = current_app.extensions[METRICS_KEY]
    # content_type, not mimetype: CONTENT_TYPE_LATEST has its charset already, and Flask would add a second one
    return Response(metrics.exposition(), content_type=CONTENT_TYPE_LATEST)


@contextmanager
def files_locked(directory: str, exclusive: bool = False, wait_seconds: float = 0.0) -> Iterator[bool]:
    """Hold the metric folder's lock: shared (scrapes; waits for it) or exclusive (``fold_exited_files``; tries for
    ``wait_seconds``). Yields whether it is held. The lock goes with the process, so a killed scrape leaves none."""
    with open(os.path.join(directory, LOCK_FILE), "a+b") as lock:
        if not exclusive:
            fcntl.flock(lock, fcntl.LOCK_SH)
            yield True
            return
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(LOCK_POLL_SECONDS)
        yield True


def metric_file(directory: str, kind: str, owner: int | str) -> str:
    """The path of ``owner``'s (a pid, or ``EXITED``) file of metrics of ``kind``, as prometheus_client names it."""
    return os.path.join(directory, f"{kind}_{owner}.db")


def fold_exited_files(directory: str, pids: Iterable[int], wait_seconds: float = FOLD_LOCK_SECONDS) -> set[int]:
    """Add the counters and histograms of the exited processes ``pids`` to the folder's sums of exited processes and
    remove their own files, so that the folder stays bounded and no count is lost. Run only in gunicorn's master,
    the one writer of the sums, once the processes are reaped. Returns the pids whose files are left (a scrape held
    the lock for ``wait_seconds``), to try again later. Raises OSError, or RuntimeError for a corrupt file."""
    pids = set(pids)
    sources = {kind: [path for pid in sorted(pids) if os.path.exists(path := metric_file(directory, kind, pid))] for kind in SUMMED_KINDS}
    staged = {kind: _stage_sums(directory, kind, paths) for kind, paths in sources.items() if paths}
    if not staged:
        return set()
    with files_locked(directory, exclusive=True, wait_seconds=wait_seconds) as held:
        if held:
            for kind, path in staged.items():
                os.replace(path, metric_file(directory, kind, EXITED))
                for source in sources[kind]:
                    os.remove(source)
            return set()
    for path in staged.values():
        os.remove(path)
    return pids


def _stage_sums(directory: str, kind: str, paths: list[str]) -> str:
    """Write the sums of ``kind`` over the exited processes so far and ``paths`` to a staged file; return its path.

    A file holds one value per sample (a histogram's buckets each on their own, not cumulated), so sums are made
    sample by sample."""
    exited = metric_file(directory, kind, EXITED)
    sums: defaultdict[str, float] = defaultdict(float)
    for path in ([exited] if os.path.exists(exited) else []) + paths:
        for key, value, _timestamp, _position in MmapedDict.read_all_values_from_file(path):
            sums[key] += value
    staged = exited + STAGED_SUFFIX
    if os.path.exists(staged):  # left by a master that stopped while writing it
        os.remove(staged)
    sums_file = AllocatedMmapedDict(staged)  # a full disk: OSError, not a SIGBUS that kills the master
    try:
        for key, value in sums.items():
            sums_file.write_value(key, value, 0.0)
    finally:
        sums_file.close()
    return staged
