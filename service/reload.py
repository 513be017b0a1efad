"""SIGHUP without a pause or a crash: verify the new bundle first, stop old workers only once new ones serve.

Gunicorn's own reload starts the new workers and stops the old ones at once, so for as long as the new
workers take to load the model (about 14 s for the full bundle) nobody answers; and a new worker that
cannot load its bundle exits with gunicorn's boot-error code, on which the master stops every worker
and exits. ``ModerationArbiter.reload`` instead:

1. loads and checks the newly selected bundle in a forked child of the master (the master keeps no
   model), and on failure logs ``reload refused`` and leaves the old workers serving;
2. starts the new workers on that bundle (by path, so that a worker replaced later loads the same one);
3. waits until each has built its app (a marker file written by ``post_worker_init``), and only then
   stops the old workers gracefully; if a new worker dies or stays silent, logs ``reload abandoned``,
   stops the new ones and keeps the old. Every new worker is gone before gunicorn's loop runs again: that loop
   stops the oldest workers of too many, which would be the old ones still serving (``_stop_new_workers``).

A worker that cannot build its app (``ModerationServer.load``) exits with ``WORKER_START_FAILED`` after
``WORKER_RETRY_SECONDS`` rather than with the boot-error code: gunicorn replaces it and the workers that
do run keep serving.
"""

from __future__ import annotations

import errno
import logging
import math
import os
import shutil
import signal
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gunicorn.arbiter import Arbiter
from gunicorn.errors import HaltServer

log = logging.getLogger(__name__)

METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""The folder of the workers' metric files (``service.server.prepare_metrics_dir``)."""
WORKER_START_FAILED = 1
"""Exit status of a worker that could not build its app; gunicorn's own 3 would stop the whole server."""
WORKER_RETRY_SECONDS = 5.0
"""How long a worker that cannot start waits before exiting, so that gunicorn's replacements do not spin."""
READY_POLL_SECONDS = 0.1
STOP_MARGIN_SECONDS = 2.0
"""Beyond the graceful timeout, how long a stopping new worker may take before it is killed: its own graceful wait
begins only once its current turn of the accept loop (up to 1 s) ends."""
KILL_WAIT_SECONDS = 5.0
"""How long the master waits for a killed (SIGKILL) worker to be reaped."""
VERIFY_MESSAGE_BYTES = 4_096


def verify_in_child(check: Callable[[], None], expected: tuple[type[BaseException], ...] = ()) -> str | None:
    """Run ``check`` in a forked child (its memory goes with it); None when it passed, else its error message.

    The message of an ``expected`` error (one whose message says what to fix, such as BundleError) is its text alone;
    any other error's begins with its class name (``MemoryError: ``), without which it may say nothing.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave without running the master's exit handlers
        os.close(read_fd)
        status = 0
        try:
            check()
        except BaseException as error:  # noqa: BLE001 - any failure refuses the bundle; the message says which
            os.write(write_fd, _failure_message(error, expected).encode()[:VERIFY_MESSAGE_BYTES])
            status = 1
        finally:
            os._exit(status)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        message = pipe.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    _forget_metric_files(pid)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return None
    return message or f"the check process ended with status {status}"


def _failure_message(error: BaseException, expected: tuple[type[BaseException], ...]) -> str:
    """What ``verify_in_child`` reports for ``error``: an ``expected`` error's own message, else ``Class: message``."""
    if isinstance(error, expected) and str(error):
        return str(error)
    return f"{type(error).__name__}: {error}".removesuffix(": ")


def _forget_metric_files(pid: int) -> None:
    """Remove the per-process metric files a check child left (it served nothing: its counters are all zero)."""
    folder = os.environ.get(METRICS_DIR_ENV)
    if folder:
        for path in Path(folder).glob(f"*_{pid}.db"):
            path.unlink(missing_ok=True)


FRESH_SECONDS = 60 * 60
"""How often the master touches its folders in the temporary directory and every file in them (``keep_fresh``)."""


def keep_fresh(*folders: str) -> None:
    """Set the times of ``folders`` and of every file in them to now.

    systemd-tmpfiles (daily on most distributions, a service's ``PrivateTmp`` included) deletes what in ``/tmp`` has
    not been touched for 10 days: a ready marker is written once, at a worker's start, so after ten days the health
    port said no worker was live (and an orchestrator restarted a healthy server), and a replaced worker could not
    write its marker in the deleted folder and failed to start again and again."""
    for folder in folders:
        try:
            names = os.listdir(folder)
            os.utime(folder)
        except OSError:
            continue
        for name in names:
            try:
                os.utime(os.path.join(folder, name))
            except OSError:  # gone meanwhile (a worker exited)
                pass


def own_folder(path: str) -> None:
    """Make the folder ``path`` as ``mkdtemp`` made it (mode 700) when something deleted it, and check it is this user's
    own folder: OSError for one another user made in its place, or a link (it would show planted ready markers, or
    take metric files elsewhere)."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    found = os.lstat(path)
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid():
        raise OSError(errno.EPERM, f"{path} is not a folder of this user's (another user made it, or it is a link): "
                                   "remove it, and the server makes it again")


class ReadyMarkers:
    """A directory where each worker leaves a file named after its pid once its app is built."""

    def __init__(self) -> None:
        self.path = tempfile.mkdtemp(prefix="moderation-ready-")
        self.owner = os.getpid()
        self._seen: set[int] = set()
        """Workers the master has found ready: still ready if their marker is deleted under it (until ``forget``)."""

    def mark(self, pid: int) -> None:
        """Called in the worker by gunicorn's ``post_worker_init``; makes the folder again when something deleted it."""
        own_folder(self.path)
        with open(os.path.join(self.path, str(pid)), "w", encoding="utf-8"):
            pass

    def is_ready(self, pid: int) -> bool:
        if pid in self._seen:
            return True
        if os.path.exists(os.path.join(self.path, str(pid))):
            self._seen.add(pid)
            return True
        return False

    def forget(self, pid: int) -> None:
        """Called in the master when a worker exits."""
        self._seen.discard(pid)
        try:
            os.remove(os.path.join(self.path, str(pid)))
        except FileNotFoundError:
            pass

    def remove(self) -> None:
        """Called as the master exits. A worker's exit unwinds through the master's frames it was forked in
        (gunicorn raises SystemExit in the child), so this runs there too: only the master may remove the directory."""
        if os.getpid() == self.owner:
            shutil.rmtree(self.path, ignore_errors=True)


class ModerationArbiter(Arbiter):
    """Gunicorn's master with a reload that never leaves the socket without a serving worker.

    ``self.app`` is a ``service.server.ModerationServer``: ``prepare_reload()`` returns None when the new
    bundle loaded and passed its checks (and points new workers at it), else the reason; ``ready`` holds
    the workers' markers; ``serving`` names the bundle for log lines.
    """

    _fresh_at = -math.inf
    """When (``time.monotonic``) ``manage_workers`` last kept the folders fresh; never, at first."""

    def manage_workers(self) -> None:
        """Gunicorn's step of its loop (about once a second), and every ``FRESH_SECONDS`` ``keep_fresh`` on the
        ready markers and the metrics folder."""
        super().manage_workers()
        now = time.monotonic()
        if now - self._fresh_at >= FRESH_SECONDS:
            self._fresh_at = now
            keep_fresh(self.app.ready.path, *filter(None, [os.environ.get(METRICS_DIR_ENV)]))

    def reload(self) -> None:
        """Verify the new bundle, start new workers, and stop the old ones once every new one is ready."""
        problem = self.app.prepare_reload()
        if problem is not None:
            log.error("reload refused, still serving %s: %s", self.app.serving(), problem)
            return
        self.log.reopen_files()
        old = set(self.WORKERS)
        new = [self.spawn_worker() for _ in range(self.num_workers)]
        problem = self._wait_until_ready(new)
        if problem is None:
            # Logged before the old workers are told to stop, so the log shows the order that keeps answers coming.
            log.info("reload: %d new workers serve %s; the old ones finish their requests and stop", len(new), self.app.serving())
            for pid in old:
                self.kill_worker(pid, signal.SIGTERM)
            self._wait_for_exit(old)
            return
        log.error("reload abandoned, the old workers keep serving: %s", problem)
        self.app.cancel_reload()
        self._stop_new_workers(new)

    def reap_workers(self) -> None:
        """Reap exited workers; one that failed to boot stops the server only when no other worker serves."""
        try:
            super().reap_workers()
        except HaltServer as halt:
            if not self.WORKERS:
                raise
            log.error("%s %d other worker(s) keep serving; gunicorn starts a replacement", halt.reason, len(self.WORKERS))

    def _wait_until_ready(self, pids: list[int]) -> str | None:
        """None once every worker in ``pids`` has built its app; else why not (one exited, or the timeout)."""
        deadline = time.monotonic() + self.timeout
        while True:
            self.reap_workers()
            exited = [pid for pid in pids if pid not in self.WORKERS]
            if exited:
                return f"new worker(s) {exited} exited before serving (see the lines above)"
            if all(self.app.ready.is_ready(pid) for pid in pids):
                return None
            if time.monotonic() > deadline:
                return f"new workers not ready after {self.timeout} s"
            time.sleep(READY_POLL_SECONDS)

    def _stop_new_workers(self, pids: list[int]) -> None:
        """Stop the workers of an abandoned reload, and return only once every one has exited.

        One left running would make one worker too many when gunicorn's loop runs next, and gunicorn stops the
        oldest: an old worker, still serving, while the new one was still loading (a SIGTERM only asks a worker to
        stop after it has built its app, several seconds for an encoder bundle). So a new worker not yet ready is
        told to quit at once (SIGQUIT): it has accepted no connection, and will accept none, as the SIGTERM it got
        first stops it before its accept loop. A ready one finishes its requests; any still running after the
        graceful timeout is killed.
        """
        for pid in pids:
            if pid in self.WORKERS:
                self.kill_worker(pid, signal.SIGTERM)
        for pid in pids:  # checked after every SIGTERM was sent: a worker ready only later never accepts
            if pid in self.WORKERS and not self.app.ready.is_ready(pid):
                self.kill_worker(pid, signal.SIGQUIT)
        waited = self.cfg.graceful_timeout + STOP_MARGIN_SECONDS
        self._wait_for_exit(pids, waited)
        left = [pid for pid in pids if pid in self.WORKERS]
        if left:
            log.warning("reload abandoned: new worker(s) %s still running after %s s, killing them", left, waited)
            for pid in left:
                self.kill_worker(pid, signal.SIGKILL)
            self._wait_for_exit(left, KILL_WAIT_SECONDS)

    def _wait_for_exit(self, pids: set[int] | list[int], seconds: float | None = None) -> None:
        """Reap ``pids`` (for up to ``seconds``, default the graceful timeout), so that ``manage_workers`` does not
        signal them again."""
        deadline = time.monotonic() + (self.cfg.graceful_timeout if seconds is None else seconds)
        while any(pid in self.WORKERS for pid in pids) and time.monotonic() < deadline:
            self.reap_workers()
            time.sleep(READY_POLL_SECONDS)


def post_worker_init(worker: Any) -> None:
    """Gunicorn hook, in the worker once its app is built: tell the master it serves."""
    worker.app.ready.mark(worker.pid)
