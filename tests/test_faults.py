"""Faults on a real ``moderate serve`` (gunicorn, loopback, ephemeral ports): issue 15, items 1-3, 9, 10 and 12.

Each test breaks something under a running server (the database goes away, the SQLite file is deleted or
made read-only, a writer holds SQLite's lock, a bad bundle is selected, a reload, a second instance) and
checks what a trusted service must do: answers keep coming, nothing acknowledged is lost, and the server
recovers by itself. Every wait is bounded.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PG_URL_ENV, empty_postgres, postgres_test_url

REQUEST_SECONDS = 15
RECOVERY_SECONDS = 45
REPLAY_SECONDS = 30
CORAL_TIMEOUT_SECONDS = 0.8
"""Coral's external moderation phase gives up after 800 ms and lets the comment through."""
MAX_GAP_SECONDS = 0.4
"""Longest time without any answer allowed during a reload."""
HOSTILE = "You are a stupid clown."
FEEDBACK = {"comment_id": "c", "decision": "reject"}


def call(base: str, path: str, body: dict | None = None, key: str | None = None, timeout: float = REQUEST_SECONDS) -> tuple[int, dict]:
    """One request: (status, JSON body), for error statuses too."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
    try:
        with urllib.request.urlopen(urllib.request.Request(base + path, data=data, headers=headers), timeout=timeout) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.load(error)


def moderate(base: str, comment_id: str, key: str | None = None) -> tuple[int, dict]:
    return call(base, "/v1/moderate", {"comments": [{"id": comment_id, "text": HOSTILE}]}, key=key)


def wait_for(condition: Callable[[], bool], seconds: float, what: str, log: Callable[[], str] = str) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` (and the server log) after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not within {seconds} s\n{log()}")
        time.sleep(0.2)


def worker_pids(master: int) -> set[int]:
    """The gunicorn master's child processes (its workers)."""
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    except FileNotFoundError:
        return set()
    return {int(pid) for pid in children}


def logged_comment_ids(db_url: str) -> set[str]:
    """Comment ids in the decision log, read with a fresh engine."""
    from sqlalchemy import text

    from service.store import make_engine

    engine = make_engine(db_url)
    try:
        with engine.connect() as connection:
            return {row[0] for row in connection.execute(text("SELECT comment_id FROM decisions"))}
    finally:
        engine.dispose()


def metric(base: str, name: str) -> float:
    """Sum of a metric's samples in ``/metrics`` (0 when absent)."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=REQUEST_SECONDS) as response:
        lines = response.read().decode().splitlines()
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.split("{")[0].split(" ")[0] == name)


def server_env(db_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The server's environment: its database, its own spool directory, settings from ``extra``."""
    return {**os.environ, "MODERATION_DB_URL": db_url, "MODERATION_DECISION_SPOOL_DIR": str(tmp_path / "spool"), **extra}


def keyless_sqlite_server(tmp_path: Path, name: str) -> tuple[Path, str, dict[str, str]]:
    """(file, URL, environment) of a server on its own SQLite file with API keys off."""
    path = tmp_path / name
    db_url = f"sqlite:///{path}"
    return path, db_url, server_env(db_url, tmp_path, MODERATION_AUTH_REQUIRED="false")


def migrate(db_url: str) -> None:
    """Create the database at ``db_url`` or bring it to the current schema, as ``moderate db upgrade`` does (the same
    ``service.migrations.upgrade``, in this process: the command takes seconds just to start)."""
    from service.migrations import upgrade
    from service.store import make_engine

    engine = make_engine(db_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


def create_key(db_url: str) -> str:
    """A new key in the database at ``db_url``, migrated first as ``moderate keys create`` does (in this process, see
    ``migrate``); its name unique: an active key's name cannot be given again, and a PostgreSQL database is shared."""
    from sqlalchemy.orm import Session

    from service.auth import create_key as store_key
    from service.store import make_engine

    migrate(db_url)
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            return store_key(session, f"faults-{secrets.token_hex(4)}")[1]
    finally:
        engine.dispose()


def replayed(base: str, db_url: str, answered: set[str]) -> Callable[[], bool]:
    """A condition: every answered comment id is in the decision log (readyz requests trigger the replay)."""

    def check() -> bool:
        call(base, "/readyz")
        return answered <= logged_comment_ids(db_url)

    return check


# Item 1: a worker that starts while the database is down


class TcpProxy:
    """A loopback TCP forwarder to a database server that the test can take down and bring back."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = 0
        self.listener: socket.socket | None = None
        self.connections: list[socket.socket] = []
        self.lock = threading.Lock()

    def up(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def down(self) -> None:
        """Close the listener and cut every forwarded connection, as a database server that stopped."""
        if self.listener is None:
            return
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread; close() alone would not
        self.listener.close()
        self.listener = None
        with self.lock:
            for connection in self.connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                connection.close()
            self.connections.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self.lock:
                self.connections += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def postgres_url() -> str:
    """``$MODERATION_TEST_PG_URL``; skipped without it, except under CI, which must run every test."""
    url = postgres_test_url()
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {PG_URL_ENV} is not set: .ci/run must start PostgreSQL (.ci/postgres.sh)")
        pytest.skip(f"{PG_URL_ENV} is not set: no PostgreSQL server to test against (.ci/run starts one)")
    return url


@contextmanager
def database_outage(backend: str, tmp_path: Path) -> Iterator[tuple[str, str, Callable[[], None], Callable[[], None]]]:
    """(server URL, direct URL, down, up): PostgreSQL behind a proxy, or a SQLite file moved away and back."""
    if backend == "postgresql":
        from sqlalchemy.engine import make_url

        direct = postgres_url()
        empty_postgres(direct)
        url = make_url(direct)
        proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
        proxy.up()
        try:
            yield url.set(port=proxy.port).render_as_string(hide_password=False), direct, proxy.down, proxy.up
        finally:
            proxy.down()
        return
    path = tmp_path / "outage.db"
    away = tmp_path / "away"
    away.mkdir()

    def down() -> None:
        for name in os.listdir(tmp_path):
            if name.startswith(path.name):
                os.rename(tmp_path / name, away / name)

    def up() -> None:
        for name in os.listdir(away):
            os.rename(away / name, tmp_path / name)

    yield f"sqlite:///{path}", f"sqlite:///{path}", down, up


@contextmanager
def worker_started_while_down(backend: str, workers: int, tiny_bundle_path: Path, tmp_path: Path, serve: Callable) -> Iterator[tuple[Any, str, str, Callable[[], None]]]:
    """(server, key, direct URL, up): a server that answered, then lost its database and had a worker replaced meanwhile."""
    with database_outage(backend, tmp_path) as (server_url, direct_url, down, up):
        env = server_env(server_url, tmp_path, MODERATION_KEY_CACHE_SECONDS="0")
        key = create_key(direct_url)
        with serve(["--workers", str(workers), "--model", str(tiny_bundle_path)], env, tmp_path / "server.log") as server:
            assert moderate(server.base, "before", key)[0] == 200
            down()
            os.kill(min(worker_pids(server.process.pid)), signal.SIGKILL)
            wait_for(lambda: "database unavailable at start" in server.log_tail(20_000) or server.process.poll() is not None,
                     RECOVERY_SECONDS, "the replacement worker's start", server.log_tail)
            yield server, key, direct_url, up


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_worker_started_while_the_database_is_down_answers_503_and_recovers(backend, tiny_bundle_path, tmp_path, serve):
    with worker_started_while_down(backend, 2, tiny_bundle_path, tmp_path, serve) as (server, key, direct_url, up):
        answered = set()
        for i in range(20):
            assert server.process.poll() is None, f"the server exited:\n{server.log_tail()}"
            status, body = moderate(server.base, f"down-{i}", key)
            assert (status, body.get("error", {}).get("code")) in {(200, None), (503, "database_unavailable")}, body
            if status == 200:
                answered.add(f"down-{i}")
            assert call(server.base, "/healthz")[0] == 200
        assert call(server.base, "/readyz")[0] == 503
        up()
        wait_for(lambda: call(server.base, "/readyz")[0] == 200, RECOVERY_SECONDS, "readiness after the database returned", server.log_tail)
        for i in range(10):
            status, body = moderate(server.base, f"up-{i}", key)
            assert status == 200, body
            answered.add(f"up-{i}")
        wait_for(replayed(server.base, direct_url, answered), REPLAY_SECONDS, "every answered decision in the log", server.log_tail)


OLDER_REVISION = "0002"


def back_at_an_older_schema(backend: str, direct_url: str, up: Callable[[], None]) -> None:
    """The database returns one migration behind: SQLite as a new file from an old backup, PostgreSQL downgraded."""
    from alembic import command

    from service.migrations import alembic_config, upgrade
    from service.store import make_engine

    engine = make_engine(direct_url)
    try:
        if backend == "sqlite":
            upgrade(engine, OLDER_REVISION)
            return
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, OLDER_REVISION)
    finally:
        engine.dispose()
    up()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_worker_started_while_the_database_is_down_checks_the_schema_when_it_returns(backend, tiny_bundle_path, tmp_path, serve):
    from service.migrations import upgrade
    from service.store import make_engine

    with worker_started_while_down(backend, 1, tiny_bundle_path, tmp_path, serve) as (server, key, direct_url, up):
        back_at_an_older_schema(backend, direct_url, up)

        def refused_as_outdated() -> bool:
            status, body = moderate(server.base, "behind", key)
            return (status, body.get("error", {}).get("code")) == (503, "database_schema_outdated")

        wait_for(refused_as_outdated, RECOVERY_SECONDS, "503 database_schema_outdated", server.log_tail)
        status, body = call(server.base, "/readyz")
        assert status == 503 and f"schema revision {OLDER_REVISION}" in body["checks"]["database"], body
        assert "database answers at another schema revision" in server.log_tail(20_000)
        assert call(server.base, "/healthz")[0] == 200

        engine = make_engine(direct_url)
        try:
            upgrade(engine)
        finally:
            engine.dispose()
        wait_for(lambda: call(server.base, "/readyz")[0] == 200, RECOVERY_SECONDS, "readiness once the schema is current", server.log_tail)
        fresh_key = create_key(direct_url)  # the SQLite backup had no keys
        assert moderate(server.base, "current", fresh_key)[0] == 200
        assert "database schema checked and current" in server.log_tail(20_000)


# Items 1 and 10: SIGHUP reload


class Traffic:
    """Threads sending /v1/moderate back to back, recording (finished at, seconds taken, status, model version)."""

    def __init__(self, base: str, n_threads: int = 2):
        self.base, self.stop = base, threading.Event()
        self.lock = threading.Lock()
        self.answers: list[tuple[float, float, int, str]] = []
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(n_threads)]

    def _run(self, number: int) -> None:
        i = 0
        while not self.stop.is_set():
            i += 1
            started = time.monotonic()
            try:
                status, body = moderate(self.base, f"{number}-{i}")
            except OSError as error:
                status, body = 0, {"error": repr(error)}
            finished = time.monotonic()
            with self.lock:
                self.answers.append((finished, finished - started, status, body.get("model_version", "")))

    def versions(self) -> list[str]:
        with self.lock:
            return [version for *_, version in self.answers]

    def __enter__(self) -> Traffic:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=REQUEST_SECONDS * 2)


def reload_env(bundles: Path, tmp_path: Path) -> dict[str, str]:
    from model.bundle import BUNDLES_DIR_ENV

    return server_env(f"sqlite:///{tmp_path / 'reload.db'}", tmp_path, **{BUNDLES_DIR_ENV: str(bundles), "MODERATION_AUTH_REQUIRED": "false",
                                                                          "MODERATION_RATE_LIMIT": "100000 per minute"})


def select_bundle(bundles: Path, name: str) -> None:
    (bundles / "CURRENT").write_text(name + "\n", encoding="utf-8")


@pytest.mark.slow
def test_sighup_with_a_bad_bundle_keeps_the_old_one_serving(versioned_bundles, tmp_path, serve):
    bundles = tmp_path / "bundles"
    shutil.copytree(versioned_bundles, bundles)
    with (bundles / "site" / "model.joblib").open("ab") as model:
        model.write(b"tampered")
    with serve(["--workers", "2"], reload_env(bundles, tmp_path), tmp_path / "server.log") as server:
        for selected, n_refusals in (("site", 1), ("no-such-bundle", 2)):
            select_bundle(bundles, selected)
            server.process.send_signal(signal.SIGHUP)
            wait_for(lambda n=n_refusals: server.log_tail(50_000).count("reload refused") >= n or server.process.poll() is not None,
                     RECOVERY_SECONDS, f"the refusal of bundle {selected!r}", server.log_tail)
            for i in range(6):
                status, body = moderate(server.base, f"{selected}-{i}")
                assert (status, body["model_version"]) == (200, "public"), server.log_tail()
        assert "SHA-256" in server.log_tail(50_000)
        # A worker that dies now is replaced on the bundle that was verified, not on what CURRENT names: the
        # replacement serves (one on CURRENT's bundle could not start at all).
        killed = min(worker_pids(server.process.pid))
        os.kill(killed, signal.SIGKILL)
        wait_for(lambda: killed not in worker_pids(server.process.pid), RECOVERY_SECONDS, "the killed worker reaped", server.log_tail)
        server.wait_for_workers(2)
        for i in range(6):
            assert moderate(server.base, f"after-kill-{i}")[1]["model_version"] == "public"


@pytest.mark.slow
def test_a_healthy_sighup_never_pauses_answers(versioned_bundles, tmp_path, serve):
    """Old workers stop only once the new ones serve: no answer waits anywhere near Coral's 800 ms timeout."""
    bundles = tmp_path / "bundles"
    shutil.copytree(versioned_bundles, bundles)
    with serve(["--workers", "2"], reload_env(bundles, tmp_path), tmp_path / "server.log") as server:
        with Traffic(server.base) as traffic:
            time.sleep(1)
            select_bundle(bundles, "site")
            signalled = time.monotonic()
            server.process.send_signal(signal.SIGHUP)
            wait_for(lambda: traffic.versions()[-10:] == ["site"] * 10, RECOVERY_SECONDS, "answers from the new bundle", server.log_tail)
            time.sleep(1)
        answers = traffic.answers
        # The whole log: each answer logs a line of some 400 characters, and on a fast machine the two clients' lines
        # pushed "new workers serve" out of a 200,000-character tail (a CI run on an idle machine failed so).
        log = server.log_path.read_text(errors="replace")
    assert all(status == 200 for _, _, status, _ in answers), server.log_tail()
    assert {version for *_, version in answers} == {"public", "site"}
    # The order that makes a reload pause-free: the new workers serve before any old one is told to stop.
    assert "new workers serve" in log and log.index("new workers serve") < log.index("Worker exiting"), log[-3000:]
    finished = sorted(done for done, *_ in answers)
    gaps = [(a, b - a) for a, b in zip(finished, finished[1:], strict=False)]
    usual_gap = max(gap for at, gap in gaps if at < signalled)
    longest_gap = max(gap for _, gap in gaps)
    slowest = max(seconds for _, seconds, _, _ in answers)
    # Here the old reload gave a 0.71 s gap (0.84 s answers) with these small bundles, 14 s with the real one;
    # this one gives gaps of 0.12-0.13 s, the time two clients take to get answers. On a loaded machine every
    # answer is slower, so the gap is also judged against the longest one before the signal.
    assert slowest < max(CORAL_TIMEOUT_SECONDS, 4 * usual_gap), (slowest, usual_gap, server.log_tail())
    assert longest_gap < max(MAX_GAP_SECONDS, 4 * usual_gap), (longest_gap, usual_gap, server.log_tail())


# Item 2: the SQLite file is deleted while serving


@pytest.mark.slow
def test_deleting_the_sqlite_file_is_noticed_and_nothing_acknowledged_is_lost(tiny_bundle_path, tmp_path, serve):
    path, db_url, env = keyless_sqlite_server(tmp_path, "deleted.db")
    with serve(["--workers", "2", "--model", str(tiny_bundle_path)], env, tmp_path / "server.log") as server:
        # Both workers must have started on the file: one that starts after the deletion reports the database
        # unreachable at start, not deleted (a CI run deleted it while the second worker was still loading).
        server.wait_for_workers(2)
        assert call(server.base, "/v1/feedback", FEEDBACK)[0] == 201
        path.unlink()
        answered = set()
        for i in range(10):
            status, body = call(server.base, "/readyz")
            assert status == 503 and "was deleted" in body["checks"]["database"], body
            status, body = call(server.base, "/v1/feedback", FEEDBACK)
            assert (status, body["error"]["code"]) == (503, "database_unavailable"), body  # never acknowledged into a deleted file
            status, body = moderate(server.base, f"deleted-{i}")
            assert status == 200, body  # scored, answered, and spooled
            answered.add(f"deleted-{i}")
        assert metric(server.base, "moderation_decision_log_spooled_rows_total") >= len(answered)
        migrate(db_url)  # an operator's `moderate db upgrade` makes a new file
        wait_for(lambda: call(server.base, "/readyz")[0] == 200, RECOVERY_SECONDS, "readiness on the new file", server.log_tail)
        for i in range(6):  # each another comment's: the same feedback again is a retry, answered without a write
            assert call(server.base, "/v1/feedback", {**FEEDBACK, "comment_id": f"after-{i}"})[0] == 201
        wait_for(replayed(server.base, db_url, answered), REPLAY_SECONDS, "the spooled decisions in the new file", server.log_tail)


# Item 3: a read-only spell


def obeying_file_modes() -> tuple[str, ...]:
    """A command prefix under which the server cannot write a read-only file: root's override dropped (setpriv)."""
    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but setpriv (util-linux) is missing: root writes read-only files without it")
        pytest.skip("running as root without setpriv: root writes read-only files, so there is no read-only spell")
    dropped = "-dac_override,-dac_read_search"
    return ("setpriv", "--bounding-set", dropped, "--inh-caps", dropped)


@pytest.mark.slow
def test_after_a_read_only_spell_writes_recover_without_a_restart(tiny_bundle_path, tmp_path, serve):
    path, db_url, env = keyless_sqlite_server(tmp_path, "readonly.db")
    with serve(["--workers", "2", "--model", str(tiny_bundle_path)], env, tmp_path / "server.log", obeying_file_modes()) as server:
        assert call(server.base, "/v1/feedback", FEEDBACK)[0] == 201
        path.chmod(0o444)
        assert call(server.base, "/readyz")[0] == 503
        # A worker started during the spell opens its connections read-only. (Waiting for two worker pids passed at
        # once: the killed worker is listed until it is reaped, so the requests below could all miss the new one.)
        killed = min(worker_pids(server.process.pid))
        os.kill(killed, signal.SIGKILL)
        wait_for(lambda: killed not in worker_pids(server.process.pid), RECOVERY_SECONDS, "the killed worker reaped", server.log_tail)
        server.wait_for_workers(2)
        answered = set()
        for i in range(10):
            status, body = moderate(server.base, f"spell-{i}")
            assert status == 200, body
            answered.add(f"spell-{i}")
            status, body = call(server.base, "/readyz")
            assert status == 503 and "read-only" in body["checks"]["database"], body
        path.chmod(0o644)
        wait_for(lambda: call(server.base, "/readyz")[0] == 200, RECOVERY_SECONDS, "readiness after the spell", server.log_tail)
        for i in range(10):  # both workers, each with its own pool; each another comment's, so that each is written
            status, body = call(server.base, "/v1/feedback", {**FEEDBACK, "comment_id": f"after-{i}"})
            assert status == 201, (body, server.log_tail())
        wait_for(replayed(server.base, db_url, answered), REPLAY_SECONDS, "the spooled decisions", server.log_tail)


# Item 9: the decision log off the answer's critical path


@pytest.mark.slow
def test_a_locked_database_neither_fails_nor_stalls_the_answer(tiny_bundle_path, tmp_path, serve):
    path, db_url, env = keyless_sqlite_server(tmp_path, "locked.db")
    with serve(["--workers", "2", "--model", str(tiny_bundle_path)], env, tmp_path / "server.log") as server:
        assert moderate(server.base, "warm")[0] == 200
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another writer holds SQLite's write lock
        answered = set()
        try:
            for i in range(8):
                started = time.monotonic()
                status, body = moderate(server.base, f"locked-{i}")
                assert status == 200 and body["results"][0]["decision"], body
                assert time.monotonic() - started < 2 * CORAL_TIMEOUT_SECONDS
                answered.add(f"locked-{i}")
            assert metric(server.base, "moderation_decision_log_write_failures_total") >= len(answered)
            assert "decision log write failed" in server.log_tail(50_000)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        wait_for(replayed(server.base, db_url, answered), REPLAY_SECONDS, "the spooled decisions", server.log_tail)
        # The counter moves just after the rows are committed: wait for it rather than race it.
        wait_for(lambda: metric(server.base, "moderation_decision_log_replayed_rows_total") >= len(answered), REPLAY_SECONDS,
                 "the replayed rows counted in /metrics", server.log_tail)


# Item 12: several instances on one machine


@pytest.mark.slow
def test_two_instances_do_not_share_a_control_socket(tiny_bundle_path, tmp_path, serve):
    home = tmp_path / "home"
    home.mkdir()
    env = server_env(f"sqlite:///{tmp_path / 'two.db'}", tmp_path, HOME=str(home))
    env.pop("XDG_RUNTIME_DIR", None)  # gunicorn would put its socket there instead of under $HOME
    with serve(["--workers", "1", "--model", str(tiny_bundle_path)], env, tmp_path / "one.log") as one:
        with serve(["--workers", "1", "--model", str(tiny_bundle_path)], env, tmp_path / "two.log") as two:
            assert call(one.base, "/healthz")[0] == call(two.base, "/healthz")[0] == 200
            assert not list(home.rglob("*.ctl")), "a gunicorn control socket in the shared home directory"
