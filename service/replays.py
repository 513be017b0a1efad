"""Coral's signed bodies remembered for ``CORAL_REPLAY_SECONDS``: a replay is answered from memory, not scored or logged again.

Coral signs the body only (``X-Coral-Signature``) and sends no timestamp or request id, so a captured
request stays valid for ever. Within the window, the same signed body gets the answer it got the first
time, without scoring it again and without a second decision-log row; after the window it counts as
new. It is not refused with an error: Coral skips a phase that answers an error, and a reader who posts
the same comment twice (the same author, story and text make the same body) must still be moderated.

Memory: each worker's own (bounded) with ``memory://`` rate-limit storage, Redis (shared by every
instance, expiring in Redis) when ``RATELIMIT_STORAGE_URI`` is Redis.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask

from service.redis_client import RedisError, redis_client

log = logging.getLogger(__name__)

REPLAYS_KEY = "moderation.coral_replays"
"""``app.extensions[REPLAYS_KEY]``: the app's ``ReplayMemory`` or ``RedisReplayMemory``."""
MAX_REMEMBERED = 50_000
"""Bodies a worker remembers before it forgets the oldest (Coral sends one request per comment)."""


@dataclass(frozen=True)
class Answer:
    """What was answered to a signed body: status and JSON (empty for 204)."""

    status: int
    body: bytes


def body_digest(body: bytes) -> str:
    """SHA-256 of the raw signed body: the same body has the same signature, under every secret."""
    return hashlib.sha256(body).hexdigest()


class ReplayMemory:
    """Answers by body digest for ``seconds``, in this process; thread-safe and bounded."""

    def __init__(self, seconds: float, max_entries: int = MAX_REMEMBERED, clock: Callable[[], float] = time.monotonic):
        self.seconds = float(seconds)
        self.max_entries = max_entries
        self.clock = clock
        self._entries: dict[str, tuple[float, Answer]] = {}
        self._lock = threading.Lock()

    def get(self, digest: str) -> Answer | None:
        """The answer given to this body within the window, or None."""
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None or self.clock() >= entry[0]:
                self._entries.pop(digest, None)
                return None
            return entry[1]

    def put(self, digest: str, answer: Answer) -> None:
        """Remember ``answer`` for ``seconds``; past ``max_entries`` the oldest entries (insertion order) go."""
        if self.seconds <= 0:
            return
        with self._lock:
            while len(self._entries) >= self.max_entries:
                self._entries.pop(next(iter(self._entries)))
            self._entries[digest] = (self.clock() + self.seconds, answer)


class RedisReplayMemory:
    """``ReplayMemory`` on Redis, shared by every instance; a Redis failure is logged and the body treated as new."""

    PREFIX = "moderation:coral:"

    def __init__(self, seconds: float, client: Any):
        self.seconds = float(seconds)
        self.client = client

    def get(self, digest: str) -> Answer | None:
        """The answer given to this body within the window, or None."""
        try:
            stored = self.client.get(self.PREFIX + digest)
        except RedisError as error:
            log.warning("Coral replay memory unreachable, body treated as new: %s", type(error).__name__)
            return None
        if stored is None:
            return None
        fields = json.loads(stored)
        return Answer(int(fields["status"]), fields["body"].encode("utf-8"))

    def put(self, digest: str, answer: Answer) -> None:
        """Remember ``answer`` for ``seconds``."""
        if self.seconds <= 0:
            return
        value = json.dumps({"status": answer.status, "body": answer.body.decode("utf-8")})
        try:
            self.client.set(self.PREFIX + digest, value, px=max(1, int(self.seconds * 1000)))
        except RedisError as error:
            log.warning("Coral replay memory unreachable, answer not remembered: %s", type(error).__name__)


def init_replay_memory(app: Flask) -> None:
    """Give ``app`` its replay memory for ``CORAL_REPLAY_SECONDS``."""
    seconds = float(app.config["CORAL_REPLAY_SECONDS"])
    client = redis_client(app.config["RATELIMIT_STORAGE_URI"])
    app.extensions[REPLAYS_KEY] = ReplayMemory(seconds) if client is None else RedisReplayMemory(seconds, client)
