"""Values remembered for a number of seconds: in this process (``TtlMemory``) or in Redis (``RedisTtlMemory``).

Both have one interface: ``get(name)``, ``put(name, value)``, ``forget(name)`` and ``clear()``; ``seconds <= 0``
keeps nothing. ``generation()`` changes with every ``forget`` and ``clear``: a caller that reads a value from elsewhere
(the database) takes it first and passes it to ``put``, which then keeps nothing when a ``forget`` came in between (a
key revoked while it was being looked up would otherwise be put back, and used, for ``seconds`` more). The key cache (``service.auth``) and Coral's replay memory (``service.replays``) use them:
``make_ttl_memory`` picks Redis when ``RATELIMIT_STORAGE_URI`` points at it (shared by every instance,
expiring in Redis itself), else each process's own bounded memory.

Redis being unreachable is not an error on ``get`` and ``put``: a ``get`` is a miss and a ``put`` keeps
nothing, each reported with ``service.redis_client.warn_unreachable`` (one warning per worker every few seconds, which
says what happens instead). ``forget`` and ``clear`` raise ``RedisError`` so that the caller can say what was not
forgotten.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from service.redis_client import RedisError, redis_client, warn_unreachable

log = logging.getLogger(__name__)

Value = TypeVar("Value")


class TtlMemory(Generic[Value]):
    """Values by name for ``seconds``, in this process; thread-safe, at most ``max_entries`` of them.

    When full, a ``put`` makes room by forgetting the oldest entry, or every entry with ``forget_all_when_full``.
    """

    def __init__(self, seconds: float, max_entries: int, clock: Callable[[], float] = time.monotonic, forget_all_when_full: bool = False):
        self.seconds = float(seconds)
        self.max_entries = max_entries
        self.clock = clock
        self.forget_all_when_full = forget_all_when_full
        self._entries: dict[str, tuple[float, Value]] = {}
        self._generation = 0
        self._lock = threading.Lock()

    def generation(self) -> int:
        """A number that changes with every ``forget`` and ``clear``, for ``put``: take it before reading the value."""
        with self._lock:
            return self._generation

    def get(self, name: str) -> Value | None:
        """The value put within the last ``seconds``, or None."""
        with self._lock:
            entry = self._entries.get(name)
            if entry is None or self.clock() >= entry[0]:
                self._entries.pop(name, None)
                return None
            return entry[1]

    def put(self, name: str, value: Value, generation: int | None = None) -> None:
        """Remember ``value`` for ``seconds`` from now; nothing if ``generation`` is given and a ``forget`` or ``clear``
        came since it was taken (the value read may be what was forgotten)."""
        if self.seconds <= 0:
            return
        with self._lock:
            if generation is not None and generation != self._generation:
                return
            if len(self._entries) >= self.max_entries and self.forget_all_when_full:
                self._entries.clear()
            while len(self._entries) >= self.max_entries:
                self._entries.pop(next(iter(self._entries)))  # the oldest: dicts keep insertion order
            self._entries[name] = (self.clock() + self.seconds, value)

    def forget(self, name: str) -> None:
        """Forget one value."""
        with self._lock:
            self._generation += 1
            self._entries.pop(name, None)

    def clear(self) -> None:
        """Forget every value."""
        with self._lock:
            self._generation += 1
            self._entries.clear()


@dataclass(frozen=True)
class RedisCodec(Generic[Value]):
    """How one kind of value is stored in Redis, and what the warnings say when Redis cannot be reached."""

    prefix: str
    """Namespace of the Redis keys, e.g. ``moderation:key:``."""
    encode: Callable[[Value], str]
    decode: Callable[[str | bytes], Value]
    what: str
    """Names the memory in warnings: ``key cache``."""
    on_missed_get: str
    """What happens when a ``get`` cannot reach Redis: ``asking the database``."""
    on_missed_put: str
    """What happens when a ``put`` cannot reach Redis: ``key not cached``."""


GENERATION_NAME = "~generation"
"""The Redis key, after the codec's prefix, counting the forgets of a ``RedisTtlMemory`` (no digest has a ``~``)."""
UNKNOWN_GENERATION = -1
"""``RedisTtlMemory.generation`` when Redis cannot be reached: no count is ever that, so ``put`` keeps nothing."""


class RedisTtlMemory(Generic[Value]):
    """``TtlMemory``'s interface on Redis, shared by every instance; entries expire in Redis after ``seconds``.

    ``forget`` counts in Redis (``GENERATION_NAME``) before it deletes; ``put`` with a ``generation`` sets, then reads
    the count again and deletes what it set if the count moved. Whichever order the calls of a lookup and a revocation
    reach Redis in, what the lookup read before the revocation does not stay: a forget counted after that read is seen
    by the second read, or deletes the value itself after the ``put`` set it.
    """

    def __init__(self, seconds: float, client: Any, codec: RedisCodec[Value]):
        self.seconds = float(seconds)
        self.client = client
        self.codec = codec

    def get(self, name: str) -> Value | None:
        """The value put within the last ``seconds``, or None (also when Redis cannot be reached)."""
        try:
            stored = self.client.get(self.codec.prefix + name)
        except RedisError as error:
            warn_unreachable(error, log, "%s unreachable, %s", self.codec.what, self.codec.on_missed_get)
            return None
        return None if stored is None else self.codec.decode(stored)

    def generation(self) -> int:
        """The count of forgets, for ``put``: take it before reading the value (``UNKNOWN_GENERATION`` when Redis
        cannot be reached). Redis is not asked when nothing is kept (``seconds <= 0``, the key cache turned off): that
        would be one more round trip on every request whose key the cache cannot hold."""
        if self.seconds <= 0:
            return 0
        try:
            return self._generation()
        except RedisError as error:
            warn_unreachable(error, log, "%s unreachable, %s", self.codec.what, self.codec.on_missed_put)
            return UNKNOWN_GENERATION

    def _generation(self) -> int:
        return int(self.client.get(self.codec.prefix + GENERATION_NAME) or 0)

    def put(self, name: str, value: Value, generation: int | None = None) -> None:
        """Remember ``value`` for ``seconds`` (nothing, with a warning, when Redis cannot be reached); nothing if
        ``generation`` is given and a ``forget`` or ``clear`` was counted since it was taken."""
        if self.seconds <= 0 or generation == UNKNOWN_GENERATION:
            return
        try:
            self.client.set(self.codec.prefix + name, self.codec.encode(value), px=max(1, int(self.seconds * 1000)))
            if generation is not None and self._generation() != generation:
                self.client.delete(self.codec.prefix + name)
        except RedisError as error:
            warn_unreachable(error, log, "%s unreachable, %s", self.codec.what, self.codec.on_missed_put)

    def forget(self, name: str) -> None:
        """Forget one value; raises RedisError if Redis cannot be reached."""
        self.client.incr(self.codec.prefix + GENERATION_NAME)  # first: see the class's docstring
        self.client.delete(self.codec.prefix + name)

    def clear(self) -> None:
        """Forget every value under the prefix; raises RedisError if Redis cannot be reached."""
        counter = self.codec.prefix + GENERATION_NAME
        self.client.incr(counter)
        for stored_name in self.client.scan_iter(match=self.codec.prefix + "*"):
            if stored_name not in (counter, counter.encode()):  # bytes unless the client decodes
                self.client.delete(stored_name)


def make_ttl_memory(
    seconds: float, storage_uri: str, codec: RedisCodec[Value], max_entries: int, forget_all_when_full: bool = False
) -> TtlMemory[Value] | RedisTtlMemory[Value]:
    """A RedisTtlMemory when ``storage_uri`` (``RATELIMIT_STORAGE_URI``) is Redis, else a TtlMemory in this process."""
    client = redis_client(storage_uri)
    if client is None:
        return TtlMemory(seconds, max_entries, forget_all_when_full=forget_all_when_full)
    return RedisTtlMemory(seconds, client, codec)
