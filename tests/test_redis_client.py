"""A Redis that stops answering (frozen, or a network that drops packets) must not hold every request for its timeouts:
moderation goes on without it, as docs/deployment.md (*Why Redis*) says. Fake servers on loopback, no real Redis."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from service import redis_client as redis_module
from service.redis_client import RedisError, redis_client

ONE_TIMEOUT_SECONDS = redis_module.SOCKET_TIMEOUT_SECONDS
HELLO_ANSWER = b"%1\r\n+proto\r\n:3\r\n"
"""RESP3's answer to the ``HELLO 3`` that redis-py sends on connecting."""
N_REQUESTS = 3


@contextmanager
def listener(answer: bool, port: int = 0) -> Iterator[int]:
    """A TCP server on loopback that accepts connections and never answers (``answer`` false, a frozen Redis), or
    answers ``+PONG`` to every command but the handshake (enough for a client's ``ping``); yields its port."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(16)
    server.settimeout(0.1)
    stop, connections = threading.Event(), []

    def serve(connection: socket.socket) -> None:
        buffer = b""
        while not stop.is_set():
            try:
                chunk = connection.recv(65_536)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            commands, buffer = _complete_commands(buffer)
            connection.sendall(b"".join(HELLO_ANSWER if name.upper() == b"HELLO" else b"+PONG\r\n" for name in commands))

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connections.append(connection)
            if answer:
                threading.Thread(target=serve, args=(connection,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for connection in connections:
            connection.close()
        server.close()


def _complete_commands(buffer: bytes) -> tuple[list[bytes], bytes]:
    """The names of the whole RESP commands (``*N`` arrays of ``$len`` strings) ``buffer`` starts with, and what follows."""
    names = []
    while buffer.startswith(b"*"):
        header, separator, rest = buffer.partition(b"\r\n")
        if not separator:
            break
        parts = []
        for _ in range(int(header[1:])):
            length_line, separator, rest = rest.partition(b"\r\n")
            length = int(length_line[1:]) if separator else -1
            if length < 0 or len(rest) < length + 2:
                return names, buffer
            parts.append(rest[:length])
            rest = rest[length + 2:]
        names.append(parts[0])
        buffer = rest
    return names, buffer


@pytest.fixture
def frozen_redis() -> Iterator[str]:
    """The URI of a Redis that accepts connections and never answers."""
    with listener(answer=False) as port:
        yield f"redis://127.0.0.1:{port}/0"


def request_durations(app) -> list[float]:
    """Seconds each of ``N_REQUESTS`` one-comment ``/v1/moderate`` requests took on ``app`` (each answered 200)."""
    from service.auth import create_key
    from service.store import get_session

    with app.app_context():
        headers = {"Authorization": f"Bearer {create_key(get_session(), 'cms')[1]}"}
    client = app.test_client()
    durations = []
    for n in range(N_REQUESTS):
        started = time.monotonic()
        answer = client.post("/v1/moderate", json={"comments": [{"id": f"c{n}", "text": "You are kind."}]}, headers=headers)
        durations.append(time.monotonic() - started)
        assert answer.status_code == 200, answer.get_json()
    return durations


def test_requests_go_on_at_once_while_redis_does_not_answer(tiny_bundle_path, frozen_redis):
    """Each request makes about ten calls to Redis (request count, failed keys, key cache, comment and character budgets,
    concurrency slots): waiting for a timeout at each made every request take over 30 s. Now one call waits; the
    rest, and the next requests, go on without Redis at once."""
    from service.app import create_app

    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "RATELIMIT_STORAGE_URI": frozen_redis})
    durations = request_durations(app)
    assert durations[0] < 3 * ONE_TIMEOUT_SECONDS, durations  # the call that found Redis silent, and little else
    assert max(durations[1:]) < ONE_TIMEOUT_SECONDS, durations  # nothing waited for Redis again


def test_a_silent_redis_fails_at_once_until_the_retry_time_then_is_asked_again(monkeypatch):
    """After a timeout, calls to that server fail without waiting; once ``UNREACHABLE_RETRY_SECONDS`` have passed the
    next call reaches it again (here it answers by then), so the service returns to sharing its counts."""
    monkeypatch.setattr(redis_module, "UNREACHABLE_RETRY_SECONDS", 1.0)
    with listener(answer=False) as port:
        client = redis_client(f"redis://127.0.0.1:{port}/0")
        started = time.monotonic()
        with pytest.raises(RedisError):
            client.ping()
        assert time.monotonic() - started >= ONE_TIMEOUT_SECONDS * 0.9  # it waited for the timeout once
        started = time.monotonic()
        with pytest.raises(RedisError, match="did not answer lately"):
            client.ping()
        assert time.monotonic() - started < ONE_TIMEOUT_SECONDS / 10
    with listener(answer=True, port=port):
        with pytest.raises(RedisError, match="did not answer lately"):  # still within the retry time
            client.ping()
        time.sleep(redis_module.UNREACHABLE_RETRY_SECONDS)
        client.ping()
        client.ping()  # and it stays reachable


N_THREADS = 8
"""Requests in flight at once in one worker (gthread: WORKERS x THREADS)."""


def test_once_the_retry_time_has_passed_one_thread_asks_the_silent_redis_again(monkeypatch):
    """The others go on failing at once while it waits for its timeout: every request in flight used to ask the server
    again, each waiting its own timeout, every ``UNREACHABLE_RETRY_SECONDS``."""
    monkeypatch.setattr(redis_module, "UNREACHABLE_RETRY_SECONDS", 1.0)
    with listener(answer=False) as port:
        client = redis_client(f"redis://127.0.0.1:{port}/0")
        with pytest.raises(RedisError):
            client.ping()
        time.sleep(redis_module.UNREACHABLE_RETRY_SECONDS)
        durations: list[float] = []
        start = threading.Barrier(N_THREADS)

        def call() -> None:
            start.wait()
            started = time.monotonic()
            with pytest.raises(RedisError):
                client.ping()
            durations.append(time.monotonic() - started)

        threads = [threading.Thread(target=call) for _ in range(N_THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    durations.sort()
    assert durations[-1] >= ONE_TIMEOUT_SECONDS * 0.9, durations  # one asked the server, and waited for its timeout
    assert durations[-2] < ONE_TIMEOUT_SECONDS / 2, durations  # the others did not wait for it


@pytest.mark.parametrize(("uri", "expected"), [("memory://", {}), ("memcached://127.0.0.1:11211", {})])
def test_other_storages_get_no_redis_options(uri, expected):
    assert redis_module.storage_options(uri) == expected


def test_a_tls_redis_keeps_its_tls_connection():
    """``rediss://`` connects over TLS: the fail-fast connection class given for it must be the TLS one."""
    from redis.connection import SSLConnection

    assert issubclass(redis_module.storage_options("rediss://cache.example:6380/0")["connection_class"], SSLConnection)


@pytest.fixture
def not_warned_yet(monkeypatch) -> None:
    """This process has not yet warned that Redis is unreachable (another test's warning would hold back the next)."""
    monkeypatch.setattr(redis_module, "WARNED", redis_module._Warned())


def test_an_unreachable_redis_is_one_warning_per_retry_time_saying_what_falls_back(tiny_bundle_path, capsys, not_warned_yet):
    """Each call that found Redis down logged its own warning: about eight lines per request (key cache twice, each
    budget checked and counted, the concurrency slot) for as long as Redis was down."""
    from service.app import create_app
    from service.auth import create_key
    from service.store import get_session

    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://",
                      "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1/0"})  # nothing listens: refused at once
    with app.app_context():
        headers = {"Authorization": f"Bearer {create_key(get_session(), 'cms')[1]}"}
    client = app.test_client()

    def warnings_of_requests() -> list[dict]:
        capsys.readouterr()
        for n in range(N_REQUESTS):
            answer = client.post("/v1/moderate", json={"comments": [{"id": f"c{n}", "text": "You are kind."}]}, headers=headers)
            assert answer.status_code == 200, answer.get_json()
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
        # Flask-Limiter's own line says once that the request count falls back to memory.
        return [line for line in lines if line["level"] == "WARNING" and line["logger"] != "flask-limiter"]

    (warned,) = warnings_of_requests()
    assert warned["logger"] == "service.redis_client"
    assert warned["message"].startswith("Redis unreachable (ConnectionError: ")
    for fallback in ("count in each worker's memory", "concurrency slots let requests through", "key cache asks the database"):
        assert fallback in warned["message"]
    redis_module.WARNED._next = 0.0  # UNREACHABLE_RETRY_SECONDS have passed: said again, once
    (again,) = warnings_of_requests()
    assert again["message"] == warned["message"]


@contextmanager
def silent_unix_socket(path) -> Iterator[str]:
    """A Unix socket at ``path`` that accepts connections and never answers (a frozen Redis); yields its path."""
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen(16)
    try:
        yield str(path)
    finally:
        server.close()


def test_a_unix_socket_redis_gets_the_short_timeouts_and_is_shared(tiny_bundle_path, tmp_path):
    """``redis+unix://`` kept redis-py's 5 s timeouts (every request then waited 5 s for the limits while Redis was
    frozen) and none of the service's own shared state: key cache, concurrency slots and Coral's replay memory stayed
    in each worker, as without Redis."""
    from service.app import create_app
    from service.key_limits import SLOTS_KEY, RedisSlots

    with silent_unix_socket(tmp_path / "redis.sock") as path:
        uri = f"redis+unix://{path}?db=0"
        assert redis_client(uri) is not None
        app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "RATELIMIT_STORAGE_URI": uri})
        assert isinstance(app.extensions[SLOTS_KEY], RedisSlots)
        durations = request_durations(app)
    assert durations[0] < 3 * ONE_TIMEOUT_SECONDS, durations
    assert max(durations[1:]) < ONE_TIMEOUT_SECONDS, durations


def test_a_sentinel_redis_gets_the_short_timeouts_for_sentinel_too(frozen_redis):
    """``redis+sentinel://`` kept redis-py's 5 s timeouts, towards Sentinel and towards the Redis it names."""
    from limits.storage import storage_from_string

    uri = frozen_redis.replace("redis://", "redis+sentinel://").replace("/0", "/mymaster")  # a Sentinel that never answers
    storage = storage_from_string(uri, **redis_module.storage_options(uri))
    started = time.monotonic()
    with pytest.raises(RedisError):
        storage.get("moderation-test")
    assert time.monotonic() - started < 3 * ONE_TIMEOUT_SECONDS
    assert storage.storage.connection_pool.connection_kwargs["socket_timeout"] == ONE_TIMEOUT_SECONDS  # the Redis it names
