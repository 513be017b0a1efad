"""API keys: create, list and revoke them (only a SHA-256 of each secret is stored) and require one on a view.

A client presents its key as ``Authorization: Bearer KEY``, ``X-API-Key: KEY`` or ``?key=KEY``
(Perspective's way). ``require_api_key`` answers a missing key with 401 and an unknown or revoked
key with 403, as ``ApiError``; on success it sets ``g.api_key_id`` and ``g.api_key_name``.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, g, request
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

View = TypeVar("View", bound=Callable[..., Any])


class UnknownKey(LookupError):
    """A key name or id that matches no key, or several; the message says which."""


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


def find_active_key(session: Session, key: str) -> ApiKey | None:
    """The unrevoked key whose hash matches ``key``, or None."""
    if len(key) > MAX_KEY_CHARS:
        return None
    found = session.scalar(select(ApiKey).where(ApiKey.key_sha256 == hash_key(key)))
    return found if found is not None and found.revoked_at is None else None


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
    found = find_active_key(get_session(), key)
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

    Raises UnknownKey when nothing active matches.
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
    return rows


def ensure_local_key(session: Session) -> str | None:
    """Create the ``local`` key unless an active one exists; return the new secret, or None if none was made."""
    existing = session.scalar(select(ApiKey).where(ApiKey.name == LOCAL_KEY_NAME, ApiKey.revoked_at.is_(None)))
    if existing is not None:
        return None
    return create_key(session, LOCAL_KEY_NAME)[1]
