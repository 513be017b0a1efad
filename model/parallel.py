"""One scorer in several worker processes: a large batch is cut into contiguous parts scored side by side.

The TF-IDF heads, spans and policy are pure Python and NumPy on one core at a time; a machine with N cores scores
an archive up to N times faster with N workers. Each worker loads the same verified bundle and policy once
(``spawn``: no state inherited from the parent, whatever threads it runs), so starting a pool costs one bundle
load per worker, in parallel, and each worker holds its own copy of the model in memory. An encoder can use
several cores within one process instead (onnxruntime threads, ``threads_per_process``): a batch job gives each
of its processes an equal share of the cores, a server worker one.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from model.bundle import BundleError, chosen_encoder_threads, load_bundle
from model.results import Decision
from model.scoring import Scorer

_WORKER: Scorer | None = None
"""The scorer of a worker process (set by ``_start``)."""
_START_ERROR = ""
"""Why ``_start`` could not load the model, if it could not."""


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system tells it, else every core)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # no sched_getaffinity (macOS, Windows)
        return os.cpu_count() or 1


def threads_per_process(processes: int = 1) -> int:
    """onnxruntime threads for each of ``processes`` processes of a batch job sharing this machine's cores:
    ``$MODERATION_ENCODER_THREADS`` when set, else an equal share of ``usable_cores()`` (at least 1).

    A batch job scores large batches, which an encoder runs about 1.5 times faster on two threads than on one
    (`moderate score` on 5,000 archive rows, 2.8.0 in cascade mode: 168 -> 261 rows/s), with the same scores and
    no more memory; a server worker keeps one thread (docs/deployment.md: one worker per core).
    """
    return chosen_encoder_threads(fallback=max(1, usable_cores() // max(1, processes)))


def _start(model_path, policy, encoder_mode, encoder_threads=None) -> None:
    # An initializer that raises makes multiprocessing.Pool start the worker again, forever: keep the
    # error and raise it from the first task instead, where the caller sees it.
    global _WORKER, _START_ERROR
    # SIGINT is ignored from the start (``workers_ignore_ctrl_c``); SIGTERM from here on. Both go to every process
    # of a group (a terminal's Ctrl-C; `timeout`, `systemctl stop`): a worker stopped by either while it waits for
    # a task leaves the task queue locked and Pool.terminate waiting forever; the parent stops the workers itself
    # (``_kill_on_terminate``). Before this line a worker holds no lock, and a SIGTERM ends it quietly.
    if multiprocessing.parent_process() is not None:  # a worker, not a process calling this itself
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        _WORKER = Scorer(load_bundle(model_path, encoder_mode=encoder_mode, encoder_threads=encoder_threads), policy)
    except Exception as error:  # noqa: BLE001 - any failure to load is reported the same way
        _START_ERROR = f"{type(error).__name__}: {error}"


def _scorer() -> Scorer:
    if _WORKER is None:
        raise BundleError(f"a worker process could not load the model bundle: {_START_ERROR}")
    return _WORKER


def _moderate(part: tuple[list, bool]) -> list[Decision]:
    texts, with_spans = part
    return _scorer().moderate(texts, with_spans=with_spans)


def _predict_scores(texts: list) -> np.ndarray:
    return _scorer().predict_scores(texts)


@contextmanager
def workers_ignore_ctrl_c() -> Iterator[None]:
    """Worker processes started inside ignore Ctrl-C; this process still gets it, and stops them itself.

    A terminal sends Ctrl-C to every process of the command. A ``multiprocessing.Pool`` worker stopped by it can
    leave the pool's task queue locked, and ``Pool.terminate`` then waits forever (CPython issues 73945 and 78178:
    one Ctrl-C in three hung ``moderate score --jobs 2``); Dask's worker processes printed tracebacks. A process
    inherits an ignored SIGINT, and Python leaves it ignored. A Ctrl-C while they start is lost.
    """
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous is None:
        yield  # only the main thread may change a handler, and one set outside Python cannot be put back
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def _held(signum: int) -> Iterator[None]:
    """A ``signum`` arriving inside, while its handler is a Python function (``moderate score``'s SIGTERM), is
    delivered at the end, so that it stops the caller before or after what is inside, never half-way through it."""
    previous = signal.getsignal(signum)
    if threading.current_thread() is not threading.main_thread() or not callable(previous):
        yield
        return
    arrived: list[int] = []
    signal.signal(signum, lambda number, _frame: arrived.append(number))
    try:
        yield
    finally:
        signal.signal(signum, previous)
        if arrived:
            signal.raise_signal(signum)


def _kill_on_terminate(pool: multiprocessing.pool.Pool) -> None:
    """Make ``Pool.terminate`` (or the pool's finaliser) kill the workers ``pool`` has now: they ignore SIGTERM
    (``_start``), which ``Process.terminate`` sends, and the pool would wait for them forever. It stops them only once
    it holds their task queue, unlike a kill from here. A worker the pool starts later, in place of one that ended,
    is not covered: call it again before ``pool.terminate``."""
    for process in pool._pool:
        process.terminate = process.kill  # started already: the process object is not pickled again


class ScorerPool:
    """``Scorer.moderate`` and ``Scorer.predict_scores`` spread over ``jobs`` worker processes.

    With ``jobs == 1`` no process is started and the calls go to ``scorer`` itself. Results are the
    scorer's, in input order; with an encoder a worker scores a smaller batch, padded differently, which can move
    a score in its sixth decimal (seen once in 2,000 comments). Use as a context manager (the workers stop at its end).

    Parameters
    ----------
    scorer : Scorer
        The loaded scorer; each worker loads the same bundle (``scorer.bundle.path``) in the same encoder mode,
        with as many encoder threads, and uses its policy.
    jobs : int
        Worker processes, at least 1.
    """

    def __init__(self, scorer: Scorer, jobs: int):
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1, got {jobs}")
        self.scorer, self.jobs = scorer, jobs
        self._pool = None
        if jobs > 1:
            context = multiprocessing.get_context("spawn")
            try:
                # The command that owns the pool stops it on Ctrl-C or SIGTERM; a SIGTERM while the workers start
                # stops it once the pool exists, which is then shut down here.
                with _held(signal.SIGTERM), workers_ignore_ctrl_c():
                    self._pool = context.Pool(jobs, _start, (scorer.bundle.path, scorer.policy, scorer.encoder_mode,
                                                              scorer.encoder_threads))
                    if self._pool is not None:
                        _kill_on_terminate(self._pool)
            except BaseException:
                self._stop()
                raise

    def _parts(self, texts: Sequence) -> list[list]:
        """``texts`` cut into at most ``jobs`` contiguous, non-empty parts of nearly equal length."""
        texts = list(texts)
        bounds = np.linspace(0, len(texts), min(self.jobs, len(texts)) + 1).round().astype(int)
        return [texts[a:b] for a, b in zip(bounds[:-1], bounds[1:])]

    def _map(self, function: Callable, parts: list) -> list:
        return self._pool.map(function, parts, chunksize=1)

    def moderate(self, texts: Sequence, with_spans: bool = True) -> list[Decision]:
        """``Scorer.moderate(texts, with_spans)``, the parts scored in the workers."""
        if self._pool is None or len(texts) < 2:
            return self.scorer.moderate(texts, with_spans=with_spans)
        results = self._map(_moderate, [(part, with_spans) for part in self._parts(texts)])
        return [decision for part in results for decision in part]

    def predict_scores(self, texts: Sequence) -> np.ndarray:
        """``Scorer.predict_scores(texts)``, the parts scored in the workers."""
        if self._pool is None or len(texts) < 2:
            return self.scorer.predict_scores(texts)
        return np.concatenate(self._map(_predict_scores, self._parts(texts)))

    def close(self) -> None:
        """Stop the workers (after the work they have)."""
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None

    def __enter__(self) -> ScorerPool:
        return self

    def _stop(self) -> None:
        """Stop the workers at once (killed: they ignore SIGTERM), without waiting for the parts in flight."""
        if self._pool is not None:
            _kill_on_terminate(self._pool)  # a worker may have been started again since the pool was made
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is not None:
            self._stop()  # an error, Ctrl-C or SIGTERM
        self.close()
