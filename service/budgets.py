"""Budgets counted where the rate limits count (``RATELIMIT_STORAGE_URI``), and the 429 that says one is spent.

Flask-Limiter counts requests; the service also counts other things per window in the same storage
(failed authentications per address, comments and characters per key, sign-ins per user name), so that they are shared
between workers and instances exactly as the request count is. ``too_many`` builds the 429: JSON (or
Google's shape on the Perspective surface) with ``Retry-After`` and the ``X-RateLimit-*`` headers of
the budget that ran out, and counts it in ``moderation_limited_requests_total{limit}``.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import math
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app, g, request
from limits import RateLimitItem, parse_many
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from service.errors import ApiError
from service.redis_client import RedisError, warn_unreachable

log = logging.getLogger(__name__)

BUDGETS_KEY = "moderation.budgets"
"""``app.extensions[BUDGETS_KEY]`` holds the app's ``FixedWindowRateLimiter`` on the rate-limit storage."""
LIMIT_HEADERS = "limit_headers"
"""``g.limit_headers``: the headers of the budget a 429 is about, which replace Flask-Limiter's."""
TOO_MANY_REQUESTS = 429
MIN_RETRY_AFTER_SECONDS = 1
IPV6_CLIENT_PREFIX_BITS = 64
"""An IPv6 client is counted by its network of this size (``limited_address``): the least one customer is given."""
MAX_PARSED_SETTINGS = 64
"""Distinct limit strings whose parse is kept (a process has a handful: one per budget setting)."""


def init_budgets(app: Flask, storage: Storage) -> None:
    """Count the app's budgets in ``storage`` (the Limiter's, so that they are shared the same way)."""
    app.extensions[BUDGETS_KEY] = FixedWindowRateLimiter(storage)


PROCESS_MEMORY_SCHEME = "memory"
"""``RATELIMIT_STORAGE_URI``'s scheme when each server process counts in its own memory (``memory://``)."""
STORAGE_OPTIONS_SETTING = "RATELIMIT_STORAGE_OPTIONS"
"""Flask-Limiter's setting of options for its storage, which win over the service's own (``service.limits``)."""


def storage_outside_the_app(config: Mapping[str, Any]) -> Storage | None:
    """The storage the app counts its budgets in, opened as Flask-Limiter opens it (``service.limits``), for a command
    that runs outside the app; None for ``memory://``, which is each server process's own and out of its reach."""
    from service.redis_client import storage_options

    uri = config["RATELIMIT_STORAGE_URI"]
    if uri.partition("://")[0] == PROCESS_MEMORY_SCHEME:
        return None
    return storage_from_string(uri, **{**storage_options(uri), **(config.get(STORAGE_OPTIONS_SETTING) or {})})


def clear_budget(storage: Storage, limits: str, setting: str, identity: str) -> int:
    """Forget what ``identity`` spent of each of ``limits`` (the value of the budget ``setting``) in ``storage``, so that
    it has all of them again; return the largest count it had in their windows (0: nothing counted), which goes past
    a limit's amount when refused attempts went on.

    Raises the storage's own error (``RedisError`` for Redis) when it cannot be reached.
    """
    windows = FixedWindowRateLimiter(storage)
    spent = 0
    for item in _parsed(limits):
        spent = max(spent, int(storage.get(item.key_for(setting, identity)) or 0))
        windows.clear(item, setting, identity)
    return spent


def limit_items(setting: str) -> tuple[RateLimitItem, ...]:
    """The parsed rate limits of a setting such as ``KEY_CHAR_LIMIT`` ("4000000 per minute")."""
    return _parsed(current_app.config[setting])


@functools.lru_cache(maxsize=MAX_PARSED_SETTINGS)
def _parsed(limits: str) -> tuple[RateLimitItem, ...]:
    """``parse_many`` once per distinct string, rather than at each check and spend (four per scoring request)."""
    return tuple(parse_many(limits))


def client_address() -> str:
    """The client's address (after ``TRUSTED_PROXY_HOPS`` of X-Forwarded-For), as logs show it."""
    return request.remote_addr or "unknown"


def limited_address() -> str:
    """What budgets and limits per client address count against: an IPv4 address, or an IPv6 address's /64 network.

    A provider gives one customer an IPv6 /64 (or more): counted per address, such a client would have 2**64 budgets,
    one per address it can choose. An IPv4 address written as IPv6 (``::ffff:192.0.2.1``) counts as itself.
    """
    address = client_address()
    try:
        parsed = ipaddress.ip_address(address.split("%")[0])  # without a link-local zone (fe80::1%eth0)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, IPV6_CLIENT_PREFIX_BITS), strict=False))
    return address


def _windows() -> FixedWindowRateLimiter:
    return current_app.extensions[BUDGETS_KEY]


def first_spent(setting: str, identity: str, cost: int = 1) -> RateLimitItem | None:
    """The first limit of ``setting`` that ``cost`` more would exceed for ``identity``, or None if all have room.

    A shared storage that cannot be reached lets the request through (logged), as Flask-Limiter's
    in-memory fallback does for the request count: a broken Redis must not stop moderation.
    """
    windows = _windows()
    try:
        return next((item for item in limit_items(setting) if not windows.test(item, setting, identity, cost=cost)), None)
    except RedisError as error:
        warn_unreachable(error, log, "limit storage unreachable, %s not checked", setting)
        return None


def spend(setting: str, identity: str, cost: int = 1) -> None:
    """Deduct ``cost`` from every limit of ``setting`` for ``identity`` (not counted, and logged, if the storage is unreachable)."""
    windows = _windows()
    try:
        for item in limit_items(setting):
            windows.hit(item, setting, identity, cost=cost)
    except RedisError as error:
        warn_unreachable(error, log, "limit storage unreachable, %s not counted", setting)


def spend_within(setting: str, identity: str, cost: int = 1) -> RateLimitItem | None:
    """Deduct ``cost`` from every limit of ``setting`` for ``identity`` and return the first one that took it past its
    amount, or None (also, logged, when the storage is unreachable).

    One step, unlike ``first_spent`` then ``spend``: requests that arrive together cannot all pass the check before any
    of them is counted, which matters when what comes between is slow (a password hash).
    """
    windows = _windows()
    try:
        over = [item for item in limit_items(setting) if not windows.hit(item, setting, identity, cost=cost)]
    except RedisError as error:
        warn_unreachable(error, log, "limit storage unreachable, %s not checked", setting)
        return None
    return over[0] if over else None


def too_many(limit: str, message: str, *, item: RateLimitItem | None = None, setting: str = "", identity: str = "", retry_after: int = MIN_RETRY_AFTER_SECONDS) -> ApiError:
    """The 429 for a spent budget: Retry-After (seconds until ``item``'s window resets) and X-RateLimit-* headers."""
    from service.metrics import count_limited

    headers = {"Retry-After": str(retry_after)}
    if item is not None:
        reset_time, remaining = _windows().get_window_stats(item, setting, identity)
        seconds = max(MIN_RETRY_AFTER_SECONDS, math.ceil(reset_time - time.time()))
        headers = {
            "Retry-After": str(seconds),
            "X-RateLimit-Limit": str(item.amount),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(int(reset_time)),
        }
    g.setdefault(LIMIT_HEADERS, headers)
    count_limited(limit)
    log.warning("limited: %s (%s)", limit, message)
    return ApiError(TOO_MANY_REQUESTS, "too_many_requests", message, headers=headers)
