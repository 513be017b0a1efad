"""One Redis client per URI, when ``RATELIMIT_STORAGE_URI`` points at Redis: what several instances share.

Flask-Limiter keeps its own connection for the rate limits; this client serves what the service shares
besides them (the key cache, concurrency slots, Coral's replay memory). Short timeouts: Redis is on the
request path, and a slow Redis must not hold a worker for long.

A Redis that does not answer (frozen, or a network that drops packets) costs a request its timeout at every one of
the ten or so calls it makes there (limits, budgets, key cache, concurrency slots): with limits' own 5 s that made
every request wait more than 30 s while the service was meant to go on without Redis. So both clients (this one and
the limit storage's, ``storage_options``) connect through ``FailFastConnection``: after a connection error or a
timeout, every call to that server fails at once for ``UNREACHABLE_RETRY_SECONDS`` (the callers' fallbacks take over
without waiting), and then one call tries again.

Each of those calls used to log its own warning: about eight lines per request while Redis was down. The callers report
a failure with ``warn_unreachable``, which writes one line at most every ``UNREACHABLE_RETRY_SECONDS`` per process
saying what every feature does without Redis (``FALLBACKS``); each caller's own line goes to DEBUG.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from typing import Any

from redis import Redis
from redis.backoff import NoBackoff
from redis.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

__all__ = ["REDIS_SCHEMES", "RedisError", "redis_client", "storage_options", "warn_unreachable"]

log = logging.getLogger(__name__)

REDIS_SCHEMES = ("redis", "rediss", "redis+unix")
"""URIs of one Redis server, which this module's client serves too (``redis+unix://`` is limits' name for a Unix socket)."""
SENTINEL_SCHEMES = ("redis+sentinel",)
"""A Redis found through Sentinel: its limit storage gets the same short timeouts and asks once, without retries
(``storage_options``), but neither the fail-fast connections (its server is known only once Sentinel has named it) nor
this module's client."""
UNIX_SCHEME = "redis+unix"
SOCKET_TIMEOUT_SECONDS = 1.0
UNREACHABLE_RETRY_SECONDS = 10.0
"""How long every call to a Redis server that just failed (connection refused or lost, a timeout) fails at once
instead of waiting for its timeout again; the first call after it tries the server."""
TRYING_SECONDS = 2 * SOCKET_TIMEOUT_SECONDS
"""How long the one call that asks a server again after ``UNREACHABLE_RETRY_SECONDS`` may take (to connect, then to
read) before a call from another thread may ask it instead."""
UNREACHABLE_ERRORS = (RedisConnectionError, RedisTimeoutError)
FALLBACKS = ("the request limits (RATE_LIMIT, CORAL_RATE_LIMIT, SIGN_IN_RATE_LIMIT) count in each worker's memory; the "
             "comment, character, failed-authentication and sign-in name budgets and the concurrency slots let requests "
             "through uncounted; the key cache asks the database; Coral's replay memory treats bodies as new")
"""What the service does while Redis cannot be reached, as ``warn_unreachable`` says it."""


class _Unreachable:
    """The Redis servers of this process that failed lately, by address, and until when calls to them fail at once."""

    def __init__(self) -> None:
        self._until: dict[Any, float] = {}
        self._trying: dict[Any, int] = {}
        """The thread asking each server again once its retry time has passed (``threading.get_ident``)."""
        self._lock = threading.Lock()

    def check(self, address: Any) -> None:
        """Raise ConnectionError while ``address`` is marked unreachable. Once its retry time has passed, one thread
        asks it again; calls from the others go on failing at once while it does (for at most ``TRYING_SECONDS``):
        under gthread workers every request in flight then waited for its own timeout."""
        if address not in self._until:
            return
        with self._lock:
            until = self._until.get(address)
            if until is None or self._trying.get(address) == threading.get_ident():
                return
            now = time.monotonic()
            if now >= until:
                self._until[address] = now + TRYING_SECONDS
                self._trying[address] = threading.get_ident()
                return
        raise RedisConnectionError(f"Redis at {_shown(address)} did not answer lately; not asked again for "
                                   f"{until - now:.0f} s")

    def mark(self, address: Any) -> None:
        """``address`` failed: fail calls to it at once for ``UNREACHABLE_RETRY_SECONDS``."""
        with self._lock:
            self._until[address] = time.monotonic() + UNREACHABLE_RETRY_SECONDS
            self._trying.pop(address, None)

    def clear(self, address: Any) -> None:
        """``address`` answered: ask it again as usual."""
        if address in self._until:
            with self._lock:
                self._until.pop(address, None)
                self._trying.pop(address, None)


UNREACHABLE = _Unreachable()


class _Warned:
    """When this process last warned that Redis cannot be reached (``warn_unreachable``)."""

    def __init__(self) -> None:
        self._next = 0.0
        self._lock = threading.Lock()

    def due(self) -> bool:
        """True at most once every ``UNREACHABLE_RETRY_SECONDS``."""
        with self._lock:
            now = time.monotonic()
            if now < self._next:
                return False
            self._next = now + UNREACHABLE_RETRY_SECONDS
            return True


WARNED = _Warned()


def warn_unreachable(error: BaseException, caller_log: logging.Logger, message: str, *args: Any) -> None:
    """Report that a call to Redis failed with ``error``: ``message % args`` (what the caller did instead) at DEBUG on
    ``caller_log``, and at most once every ``UNREACHABLE_RETRY_SECONDS`` in this process one WARNING naming the error
    and what the service does until Redis answers (``FALLBACKS``)."""
    caller_log.debug(message + ": %s", *args, type(error).__name__)
    if WARNED.due():
        failure = "unreachable" if isinstance(error, UNREACHABLE_ERRORS) else "refused a command"  # full, read-only
        log.warning("Redis %s (%s: %s): until it answers, %s; said again in %.0f s while it lasts", failure,
                    type(error).__name__, (str(error).splitlines() or [""])[0], FALLBACKS, UNREACHABLE_RETRY_SECONDS)


def _shown(address: Any) -> str:
    if isinstance(address, str):  # a Unix socket's path
        return address
    host, port = address
    return f"{host}:{port}"


class _FailFast:
    """A Redis connection that fails at once while its server is marked unreachable, and marks it on a failure."""

    host: str
    port: int

    def _server(self) -> tuple[str, int] | str:
        return (self.host, self.port)

    def connect_check_health(self, *args: Any, **kwargs: Any) -> Any:
        """Connect (redis-py calls it for each command on a connection that has none), unless the server failed lately."""
        UNREACHABLE.check(self._server())
        return self._marking(super().connect_check_health, *args, **kwargs)  # type: ignore[misc]

    def send_packed_command(self, *args: Any, **kwargs: Any) -> Any:
        """Send a command (marking the server on a failure)."""
        UNREACHABLE.check(self._server())
        return self._marking(super().send_packed_command, *args, **kwargs)  # type: ignore[misc]

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        """Read an answer (marking the server on a failure, forgetting an earlier one on success)."""
        response = self._marking(super().read_response, *args, **kwargs)  # type: ignore[misc]
        UNREACHABLE.clear(self._server())
        return response

    def _marking(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        except UNREACHABLE_ERRORS:
            UNREACHABLE.mark(self._server())
            raise


class FailFastConnection(_FailFast, Connection):
    """``redis://``: a TCP connection that fails at once while its server is marked unreachable."""


class FailFastSSLConnection(_FailFast, SSLConnection):
    """``rediss://``: the same over TLS."""


class FailFastUnixConnection(_FailFast, UnixDomainSocketConnection):
    """``redis+unix://``: the same over a Unix socket (marked by its path)."""

    path: str

    def _server(self) -> str:
        return self.path


CONNECTION_CLASSES = {"redis": FailFastConnection, "rediss": FailFastSSLConnection, UNIX_SCHEME: FailFastUnixConnection}


def _scheme(uri: str) -> str:
    return uri.split("://", 1)[0]


def storage_options(uri: str) -> dict[str, Any]:
    """Options for a Redis client of ``uri`` (``REDIS_SCHEMES``, ``SENTINEL_SCHEMES``; else none): short timeouts
    (redis-py's own are 5 s), and for one server calls that fail at once while it is marked unreachable. Flask-Limiter
    passes them to its storage too; a Sentinel storage gives the timeouts to its connections to Sentinel as well."""
    timeouts = {"socket_timeout": SOCKET_TIMEOUT_SECONDS, "socket_connect_timeout": SOCKET_TIMEOUT_SECONDS}
    if _scheme(uri) in SENTINEL_SCHEMES:
        # Without fail-fast connections redis-py's own retries (3, with back-off) each wait for the timeout again, for
        # the master and then the replicas: a call to a silent Sentinel took 30 s (117 s with redis-py's timeouts).
        once = {**timeouts, "retry": Retry(NoBackoff(), 0)}
        return {**once, "sentinel_kwargs": dict(once)}
    if _scheme(uri) not in REDIS_SCHEMES:
        return {}
    return {**timeouts, "connection_class": CONNECTION_CLASSES[_scheme(uri)]}


@functools.cache
def redis_client(uri: str) -> Redis | None:
    """The client for ``uri`` if it names one Redis server (``REDIS_SCHEMES``), else None (counts stay in this host)."""
    if _scheme(uri) not in REDIS_SCHEMES:
        return None
    # redis-py opens connections lazily and gives a forked worker fresh ones; it names a Unix socket unix://.
    return Redis.from_url(uri.replace(f"{UNIX_SCHEME}://", "unix://", 1), **storage_options(uri))
