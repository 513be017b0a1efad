"""One Redis client per URI, when ``RATELIMIT_STORAGE_URI`` points at Redis: what several instances share.

Flask-Limiter keeps its own connection for the rate limits; this client serves what the service shares
besides them (the key cache, concurrency slots, Coral's replay memory). Short timeouts: Redis is on the
request path, and a slow Redis must not hold a worker for long.
"""

from __future__ import annotations

import functools

from redis import Redis
from redis.exceptions import RedisError

__all__ = ["REDIS_SCHEMES", "RedisError", "redis_client"]

REDIS_SCHEMES = ("redis", "rediss")
SOCKET_TIMEOUT_SECONDS = 1.0


@functools.cache
def redis_client(uri: str) -> Redis | None:
    """The client for ``uri`` if it is a ``redis://`` or ``rediss://`` URI, else None (counts stay in this host)."""
    if uri.split("://", 1)[0] not in REDIS_SCHEMES:
        return None
    # redis-py opens connections lazily and gives a forked worker fresh ones.
    return Redis.from_url(uri, socket_timeout=SOCKET_TIMEOUT_SECONDS, socket_connect_timeout=SOCKET_TIMEOUT_SECONDS)
