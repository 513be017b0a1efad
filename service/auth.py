"""API keys: create, list and revoke them (only a SHA-256 of each secret is stored) and require one on a view.

A client presents its key as ``Authorization: Bearer KEY``, ``X-API-Key: KEY`` or ``?key=KEY``
(Perspective's way). ``require_api_key`` answers a missing key with 401 and an unknown or revoked
key with 403, as ``ApiError``; on success it sets ``g.api_key_id`` and ``g.api_key_name``.

A key found active is remembered by each app for ``KEY_CACHE_SECONDS`` (``KeyCache``), so that most
requests need no database query; a key revoked by another process (``moderate keys revoke``) is
therefore refused within that time, one revoked through the app at once.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, current_app, g, has_app_context, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.errors import ApiError
from service.store import ApiKey, get_session, utc_now

KEY_PREFIX = "mod_"
KEY_SECRET_BYTES = 32
"""256 random bits: a plain SHA-256 of the secret is then safe to store (no salt or slow hash needed)."""
SHOWN_PREFIX_CHARS = 10
"""How much of a key ``moderate keys list`` shows, enough to tell keys apart without revealing them."""
LOCAL_KEY_NAME = "local"
MAX_KEY_CHARS = 200
"""Longer "keys" are refused before hashing; real ones are 47 characters."""

MISSING_KEY = "missing_api_key"
INVALID_KEY = "invalid_api_key"

KEY_CACHE_KEY = "moderation.key_cache"
"""``app.extensions[KEY_CACHE_KEY]`` holds the app's ``KeyCache``."""
MAX_CACHED_KEYS = 1_024
"""Distinct keys a KeyCache holds before it starts afresh (a deployment has a handful)."""

View = TypeVar("View", bound=Callable[..., Any])


class UnknownKey(LookupError):
    """A key name or id that matches no key, or several; the message says which."""


@dataclass(frozen=True)
class ActiveKey:
    """What a request needs of an active key: its id and name."""

    id: int
    name: str


class KeyCache:
    """Keys found active in the database within the last ``seconds``, by SHA-256; thread-safe.

    Only active keys are kept: an unknown or revoked key is looked up on every request, so a new key
    works at once and bad keys cannot fill the cache. ``seconds <= 0`` keeps nothing.
    """

    def __init__(self, seconds: float, max_entries: int = MAX_CACHED_KEYS, clock: Callable[[], float] = time.monotonic):
        self.seconds = float(seconds)
        self.max_entries = max_entries
        self.clock = clock
        self._entries: dict[str, tuple[float, ActiveKey]] = {}
        self._lock = threading.Lock()

    def get(self, key_sha256: str) -> ActiveKey | None:
        """The cached key, or None when absent or checked more than ``seconds`` ago."""
        entry = self._entries.get(key_sha256)
        if entry is None:
            return None
        expires, key = entry
        if self.clock() >= expires:
            with self._lock:
                self._entries.pop(key_sha256, None)
            return None
        return key

    def put(self, key_sha256: str, key: ActiveKey) -> None:
        """Remember ``key`` as active for ``seconds`` from now."""
        if self.seconds <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key_sha256] = (self.clock() + self.seconds, key)

    def clear(self) -> None:
        """Forget every key (after a revocation)."""
        with self._lock:
            self._entries.clear()


def init_key_cache(app: Flask) -> None:
    """Give ``app`` its KeyCache, holding keys for ``KEY_CACHE_SECONDS``."""
    app.extensions[KEY_CACHE_KEY] = KeyCache(float(app.config["KEY_CACHE_SECONDS"]))


def hash_key(key: str) -> str:
    """SHA-256 hex digest of a key's UTF-8 bytes: the only form in which a key is stored."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def generate_key() -> str:
    """A new random key: ``mod_`` and 43 URL-safe characters."""
    return KEY_PREFIX + secrets.token_urlsafe(KEY_SECRET_BYTES)


def presented_key() -> str | None:
    """The key the request carries (Authorization Bearer, then X-API-Key, then ?key=), or None."""
    authorization = request.headers.get("Authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    header = request.headers.get("X-API-Key", "").strip()
    if header:
        return header
    return request.args.get("key") or None


def rate_limit_identity() -> str:
    """Who a rate limit counts against: the presented key's hash, else the client address."""
    key = presented_key()
    if key is not None:
        return "key:" + hash_key(key[:MAX_KEY_CHARS])[:32]
    return "addr:" + (request.remote_addr or "unknown")


def find_active_key(session: Session, key: str, key_sha256: str | None = None) -> ApiKey | None:
    """The unrevoked key whose hash matches ``key``, or None; ``key_sha256`` is ``hash_key(key)`` when known."""
    if len(key) > MAX_KEY_CHARS:
        return None
    found = session.scalar(select(ApiKey).where(ApiKey.key_sha256 == (key_sha256 or hash_key(key))))
    return found if found is not None and found.revoked_at is None else None


def active_key(key: str) -> ActiveKey | None:
    """The active key ``key`` is, from the app's KeyCache when it holds it, else from the database."""
    if len(key) > MAX_KEY_CHARS:
        return None
    cache: KeyCache = current_app.extensions[KEY_CACHE_KEY]
    key_sha256 = hash_key(key)
    cached = cache.get(key_sha256)
    if cached is not None:
        return cached
    found = find_active_key(get_session(), key, key_sha256)
    if found is None:
        return None
    active = ActiveKey(found.id, found.name)
    cache.put(key_sha256, active)
    return active


def authenticate() -> None:
    """Check the request's key and set ``g.api_key_id``/``g.api_key_name``; raise ApiError 401/403 otherwise."""
    g.api_key_id = None
    g.api_key_name = None
    if not current_app.config["AUTH_REQUIRED"]:
        return
    key = presented_key()
    if key is None:
        raise ApiError(
            401,
            MISSING_KEY,
            "an API key is required: send it as 'Authorization: Bearer KEY', 'X-API-Key: KEY' or '?key=KEY' "
            "(create one with `moderate keys create NAME`)",
            headers={"WWW-Authenticate": 'Bearer realm="moderation"'},
        )
    found = active_key(key)
    if found is None:
        raise ApiError(403, INVALID_KEY, "the API key is unknown or revoked; ask the operator for a valid key")
    g.api_key_id = found.id
    g.api_key_name = found.name


def require_api_key(view: View) -> View:
    """View decorator: authenticate the request's API key before the view runs (401/403 ApiError if not)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        authenticate()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


# Key management (the ``moderate keys`` commands)


def create_key(session: Session, name: str) -> tuple[ApiKey, str]:
    """Store a new key named ``name``; return the row and the secret, which is never stored or shown again."""
    secret = generate_key()
    row = ApiKey(name=name, key_sha256=hash_key(secret), prefix=secret[:SHOWN_PREFIX_CHARS], created_at=utc_now())
    session.add(row)
    session.commit()
    return row, secret


def list_keys(session: Session) -> list[ApiKey]:
    """Every key, oldest first, revoked ones included."""
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def revoke_key(session: Session, name_or_id: str) -> list[ApiKey]:
    """Revoke the active key with this id, or every active key with this name; return them.

    Inside an app context the app's KeyCache is emptied, so the app refuses the key at once; other
    processes refuse it within their ``KEY_CACHE_SECONDS``. Raises UnknownKey when nothing active matches.
    """
    query = select(ApiKey).where(ApiKey.revoked_at.is_(None))
    if name_or_id.isdigit():
        query = query.where(ApiKey.id == int(name_or_id))
    else:
        query = query.where(ApiKey.name == name_or_id)
    rows = list(session.scalars(query))
    if not rows:
        raise UnknownKey(f"no active key with id or name {name_or_id!r}; see `moderate keys list`")
    now = utc_now()
    for row in rows:
        row.revoked_at = now
    session.commit()
    if has_app_context() and KEY_CACHE_KEY in current_app.extensions:
        current_app.extensions[KEY_CACHE_KEY].clear()
    return rows


def ensure_local_key(session: Session) -> str | None:
    """Create the ``local`` key unless an active one exists; return the new secret, or None if none was made."""
    existing = session.scalar(select(ApiKey).where(ApiKey.name == LOCAL_KEY_NAME, ApiKey.revoked_at.is_(None)))
    if existing is not None:
        return None
    return create_key(session, LOCAL_KEY_NAME)[1]
