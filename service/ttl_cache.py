"""Values remembered for a number of seconds: in this process (``TtlMemory``) or in Redis (``RedisTtlMemory``).

Both have one interface: ``get(name)``, ``put(name, value)``, ``forget(name)`` and ``clear()``; ``seconds <= 0``
keeps nothing. The key cache (``service.auth``) and Coral's replay memory (``service.replays``) use them:
``make_ttl_memory`` picks Redis when ``RATELIMIT_STORAGE_URI`` points at it (shared by every instance,
expiring in Redis itself), else each process's own bounded memory.

Redis being unreachable is not an error on ``get`` and ``put``: a ``get`` is a miss and a ``put`` keeps
nothing, each logged as a warning that says what happens instead. ``forget`` and ``clear`` raise
``RedisError`` so that the caller can say what was not forgotten.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from service.redis_client import RedisError, redis_client

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
        self._lock = threading.Lock()

    def get(self, name: str) -> Value | None:
        """The value put within the last ``seconds``, or None."""
        with self._lock:
            entry = self._entries.get(name)
            if entry is None or self.clock() >= entry[0]:
                self._entries.pop(name, None)
                return None
            return entry[1]

    def put(self, name: str, value: Value) -> None:
        """Remember ``value`` for ``seconds`` from now."""
        if self.seconds <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries and self.forget_all_when_full:
                self._entries.clear()
            while len(self._entries) >= self.max_entries:
                self._entries.pop(next(iter(self._entries)))  # the oldest: dicts keep insertion order
            self._entries[name] = (self.clock() + self.seconds, value)

    def forget(self, name: str) -> None:
        """Forget one value."""
        with self._lock:
            self._entries.pop(name, None)

    def clear(self) -> None:
        """Forget every value."""
        with self._lock:
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


class RedisTtlMemory(Generic[Value]):
    """``TtlMemory``'s interface on Redis, shared by every instance; entries expire in Redis after ``seconds``."""

    def __init__(self, seconds: float, client: Any, codec: RedisCodec[Value]):
        self.seconds = float(seconds)
        self.client = client
        self.codec = codec

    def get(self, name: str) -> Value | None:
        """The value put within the last ``seconds``, or None (also when Redis cannot be reached)."""
        try:
            stored = self.client.get(self.codec.prefix + name)
        except RedisError as error:
            log.warning("%s unreachable, %s: %s", self.codec.what, self.codec.on_missed_get, type(error).__name__)
            return None
        return None if stored is None else self.codec.decode(stored)

    def put(self, name: str, value: Value) -> None:
        """Remember ``value`` for ``seconds`` (nothing, with a warning, when Redis cannot be reached)."""
        if self.seconds <= 0:
            return
        try:
            self.client.set(self.codec.prefix + name, self.codec.encode(value), px=max(1, int(self.seconds * 1000)))
        except RedisError as error:
            log.warning("%s unreachable, %s: %s", self.codec.what, self.codec.on_missed_put, type(error).__name__)

    def forget(self, name: str) -> None:
        """Forget one value; raises RedisError if Redis cannot be reached."""
        self.client.delete(self.codec.prefix + name)

    def clear(self) -> None:
        """Forget every value under the prefix; raises RedisError if Redis cannot be reached."""
        for stored_name in self.client.scan_iter(match=self.codec.prefix + "*"):
            self.client.delete(stored_name)


def make_ttl_memory(
    seconds: float, storage_uri: str, codec: RedisCodec[Value], max_entries: int, forget_all_when_full: bool = False
) -> TtlMemory[Value] | RedisTtlMemory[Value]:
    """A RedisTtlMemory when ``storage_uri`` (``RATELIMIT_STORAGE_URI``) is Redis, else a TtlMemory in this process."""
    client = redis_client(storage_uri)
    if client is None:
        return TtlMemory(seconds, max_entries, forget_all_when_full=forget_all_when_full)
    return RedisTtlMemory(seconds, client, codec)
