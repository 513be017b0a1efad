"""What one API key may cost, besides its request count: comments and characters per window, requests in progress.

``RATE_LIMIT`` counts requests, but one request may carry 100 comments of 20,000 characters: a few
clients with one key could keep every worker busy. A scoring view calls ``charge(n_comments, n_chars)``
once it has parsed the request:

- ``KEY_COMMENT_LIMIT`` and ``KEY_CHAR_LIMIT`` (per window, counted in the rate-limit storage like the
  request count) must have room for the request, which then spends it;
- the key may have at most ``KEY_CONCURRENT_REQUESTS`` scoring requests in progress (by default one
  fewer than the instance's workers x threads, so one key never holds them all). Slots are lock files
  on one host, or entries in Redis when ``RATELIMIT_STORAGE_URI`` is Redis (shared by every instance);
  an in-memory SQLite database (tests) counts them in its one process.

Each refusal is a 429 with Retry-After and the X-RateLimit-* headers of the budget that ran out.
Requests served with keys off (``AUTH_REQUIRED`` false) are not charged.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import stat
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, current_app, g

from service.budgets import first_spent, spend, too_many
from service.redis_client import RedisError, redis_client, warn_unreachable
from service.store import database_url

log = logging.getLogger(__name__)

SLOTS_KEY = "moderation.slots"
"""``app.extensions[SLOTS_KEY]``: the app's ``FileSlots`` or ``RedisSlots``."""
HELD_SLOT = "held_slot"
"""``g.held_slot``: the slot a request holds until it ends."""
COMMENT_SETTING = "KEY_COMMENT_LIMIT"
CHAR_SETTING = "KEY_CHAR_LIMIT"
CONCURRENCY_SETTING = "KEY_CONCURRENT_REQUESTS"
SLOTS_DIR_PREFIX = "moderation-slots-"
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
IN_MEMORY_URLS = ("sqlite:", "sqlite:///:memory:")
UNLIMITED = -1
"""``FileSlots.acquire``'s token for a request let through without a slot (no file descriptor is negative)."""


class FileSlots:
    """Slots as lock files in one directory: a request holds one with ``flock`` while it runs.

    Every worker of every instance on this host that uses the same database uses the same directory,
    and the kernel releases a dead process's locks, so a killed worker never leaks a slot. The directory's
    name in the shared temporary folder can be guessed, so one that another user made (or could write
    to) is not used: whoever holds its lock files would hold every key's slots. The request is then let
    through unlimited and the problem logged, as ``RedisSlots`` does when Redis is unreachable.
    """

    def __init__(self, directory: Path):
        self.directory = directory

    def acquire(self, identity: str, limit: int) -> int | None:
        """Lock a free slot of ``identity``'s ``limit`` and return its file descriptor (``UNLIMITED`` when the
        directory is not private), or None when all are held."""
        try:
            self.directory.mkdir(mode=PRIVATE_DIR_MODE, parents=True)
        except FileExistsError:
            pass  # made before (or a file or link in its place, which ``directory_problem`` names)
        problem = directory_problem(self.directory)
        if problem is not None:
            log.warning("concurrency slots not counted, request let through: %s", problem)
            return UNLIMITED
        stem = hashlib.sha256(identity.encode()).hexdigest()[:16]
        for index in range(limit):
            descriptor = os.open(self.directory / f"{stem}.{index}", os.O_CREAT | os.O_RDWR, PRIVATE_FILE_MODE)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(descriptor)
                continue
            return descriptor
        return None

    def release(self, token: int) -> None:
        """Free the slot ``acquire`` returned."""
        if token == UNLIMITED:
            return
        fcntl.flock(token, fcntl.LOCK_UN)
        os.close(token)


def directory_problem(directory: Path) -> str | None:
    """Why ``directory`` may not hold the slots (a link, not this user's, open to others), or None if it may."""
    found = os.lstat(directory)
    if not stat.S_ISDIR(found.st_mode):
        return f"{directory} is not a directory (a link?); remove it"
    if found.st_uid != os.geteuid():
        return f"{directory} belongs to user id {found.st_uid}, not to this service's ({os.geteuid()}); remove it"
    if stat.S_IMODE(found.st_mode) & ~PRIVATE_DIR_MODE:
        return f"{directory} may be used by other users (mode {stat.S_IMODE(found.st_mode):o}); run `chmod 700 {directory}`"
    return None


class LocalSlots:
    """Slots counted in this process: for an in-memory SQLite database, which only this process can use."""

    def __init__(self) -> None:
        self._held: Counter[str] = Counter()
        self._lock = threading.Lock()

    def acquire(self, identity: str, limit: int) -> str | None:
        """Take one of ``identity``'s ``limit`` slots; return its handle, or None when all are held."""
        with self._lock:
            if self._held[identity] >= limit:
                return None
            self._held[identity] += 1
        return identity

    def release(self, token: str) -> None:
        """Free the slot ``acquire`` returned."""
        with self._lock:
            self._held[token] -= 1


class RedisSlots:
    """Slots as members of a sorted set per key in Redis, shared by every instance.

    A member older than ``stale_seconds`` (gunicorn's worker timeout: no request lives longer) is
    dropped, so a worker killed mid-request frees its slot by then. If Redis cannot be reached the
    request is let through and the failure logged: a broken Redis must not stop moderation. A slot this
    process could not free (Redis answered late: a pause, a failover), or may have taken unawares (a
    timeout after Redis had run the commands), is freed with its next command that reaches Redis: else a
    few seconds' stall held a key's slots, and answered its every request 429, until they expired.
    """

    PREFIX = "moderation:slots:"
    MAX_UNFREED = 10_000
    """Slots kept to free later, per process; beyond it the oldest are left to expire."""

    def __init__(self, client: Any, stale_seconds: int):
        self.client = client
        self.stale_seconds = stale_seconds
        self._unfreed: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def _keep_unfreed(self, tokens: list[tuple[str, str]]) -> None:
        with self._lock:
            self._unfreed = (self._unfreed + tokens)[-self.MAX_UNFREED:]

    def _take_unfreed(self) -> list[tuple[str, str]]:
        with self._lock:
            taken, self._unfreed = self._unfreed, []
        return taken

    def acquire(self, identity: str, limit: int) -> tuple[str, str] | None:
        """Take one of ``identity``'s ``limit`` slots; return its handle, or None when all are held."""
        name, member, now = self.PREFIX + identity, uuid.uuid4().hex, time.time()
        unfreed = self._take_unfreed()
        try:
            pipeline = self.client.pipeline()
            for token in unfreed:
                pipeline.zrem(*token)
            pipeline.zremrangebyscore(name, "-inf", now - self.stale_seconds)
            pipeline.zadd(name, {member: now})
            pipeline.zcard(name)
            pipeline.expire(name, self.stale_seconds)
            held = pipeline.execute()[len(unfreed) + 2]
            if held > limit:
                self.client.zrem(name, member)
                return None
        except RedisError as error:
            self._keep_unfreed([*unfreed, (name, member)])  # the ZADD may have run: free that member too
            warn_unreachable(error, log, "concurrency slots unreachable, request let through")
            return ("", "")
        return (name, member)

    def release(self, token: tuple[str, str]) -> None:
        """Free the slot ``acquire`` returned."""
        name, member = token
        if not name:
            return
        try:
            self.client.zrem(name, member)
        except RedisError as error:
            self._keep_unfreed([token])
            warn_unreachable(error, log, "concurrency slot not freed yet: freed with the next request that reaches "
                                         "Redis, else it expires after %d s", self.stale_seconds)


def slots_directory(config: Mapping[str, Any]) -> Path:
    """The host's slot directory for this database: one per user and database URL, as the keys are the database's."""
    digest = hashlib.sha256(database_url(config["DB_URL"]).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"{SLOTS_DIR_PREFIX}{os.getuid()}-{digest}"


def concurrent_limit(config: Mapping[str, Any]) -> int:
    """``KEY_CONCURRENT_REQUESTS``, or when unset one fewer than the instance's workers x threads (at least 1); 0 is off."""
    configured = config[CONCURRENCY_SETTING]
    if configured is not None:
        return int(configured)
    return max(1, int(config["WORKERS"]) * int(config["THREADS"]) - 1)


def init_key_limits(app: Flask) -> None:
    """Give ``app`` its concurrency slots and free each request's slot when it ends."""
    client = redis_client(app.config["RATELIMIT_STORAGE_URI"])
    if client is not None:
        app.extensions[SLOTS_KEY] = RedisSlots(client, int(app.config["TIMEOUT_SECONDS"]))
    elif database_url(app.config["DB_URL"]).rstrip("/") in IN_MEMORY_URLS:
        app.extensions[SLOTS_KEY] = LocalSlots()
    else:
        app.extensions[SLOTS_KEY] = FileSlots(slots_directory(app.config))
    app.teardown_request(_release_slot)


def _release_slot(_error: BaseException | None = None) -> None:
    token = g.pop(HELD_SLOT, None)
    if token is not None:
        current_app.extensions[SLOTS_KEY].release(token)


def charge(n_comments: int, n_chars: int) -> None:
    """Charge the request's key for ``n_comments`` comments of ``n_chars`` characters in all and take a slot.

    Raises the 429 ``ApiError`` when the key's comments, characters or slots are used up; nothing is
    spent then.
    """
    key_id = g.get("api_key_id")
    if key_id is None:
        return
    identity = f"key:{key_id}"
    for setting, cost, limit_name, what in ((COMMENT_SETTING, n_comments, "comments", "comments"), (CHAR_SETTING, n_chars, "characters", "characters of comment text")):
        spent = first_spent(setting, identity, cost)
        if spent is not None:
            raise too_many(
                limit_name,
                f"this API key has sent too many {what} to score ({spent}; this request has {cost}); "
                "retry after the Retry-After header's seconds",
                item=spent,
                setting=setting,
                identity=identity,
            )
    limit = concurrent_limit(current_app.config)
    if limit:
        token = current_app.extensions[SLOTS_KEY].acquire(identity, limit)
        if token is None:
            raise too_many(
                "concurrency",
                f"this API key already has {limit} scoring request(s) in progress, its limit; "
                "wait for an answer before sending more, or retry after the Retry-After header's seconds",
            )
        g.setdefault(HELD_SLOT, token)
    spend(COMMENT_SETTING, identity, n_comments)
    spend(CHAR_SETTING, identity, n_chars)
