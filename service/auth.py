"""API keys: create, list and revoke them (only a SHA-256 of each secret is stored) and require one on a view.

A client presents its key as ``Authorization: Bearer KEY``, ``X-API-Key: KEY``, ``X-Goog-Api-Key: KEY`` or
``?key=KEY`` (the last two are Google's ways, which Perspective clients use); a request carrying two different keys is
refused (400), whichever is valid. ``require_scope(scope)`` answers a missing key with 401, an unknown or revoked
key with 403 ``invalid_api_key`` and a key without the route's scope with 403 ``missing_scope``, as
``ApiError``; on success it sets ``g.api_key_id`` and ``g.api_key_name``. Failed authentications are
limited per client address (``service.auth_failures``).

Scopes are listed in ``service.scopes``.

A key found active is remembered for ``KEY_CACHE_SECONDS`` (``make_key_cache``: in the process, or in Redis
shared by every instance when ``RATELIMIT_STORAGE_URI`` is Redis), so that most requests need no database query;
a key revoked by another process (``moderate keys revoke``, or another worker's keys page) is therefore refused
within that time; by the worker that revoked it, or by every one when the cache is shared (Redis), at once.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, current_app, g, has_app_context, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.auth_failures import (
    MAX_KNOWN_KEYS,
    forget_good_key,
    init_known_keys,
    note_failure,
    refuse_if_failing,
    remember_good_key,
)
from service.budgets import limited_address
from service.errors import ApiError
from service.redis_client import RedisError
from service.scopes import ADMIN_SCOPE, DEFAULT_SCOPES, SCOPES
from service.store import KEY_NAME_CHARS, ApiKey, get_session, utc_now
from service.ttl_cache import RedisCodec, RedisTtlMemory, TtlMemory, make_ttl_memory

log = logging.getLogger(__name__)

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
MISSING_SCOPE = "missing_scope"
CONFLICTING_KEYS = "invalid_request"
"""The code of a request carrying two different keys: a 400 the client must fix, as for a bad body."""

KEY_CACHE_KEY = "moderation.key_cache"
"""``app.extensions[KEY_CACHE_KEY]`` holds the app's key cache (``make_key_cache``)."""
MAX_CACHED_KEYS = 1_024
"""Distinct keys a process's key cache holds before it starts afresh (a deployment has a handful)."""

View = TypeVar("View", bound=Callable[..., Any])


class UnknownKey(LookupError):
    """A key name or id that matches no key, or several; the message says which."""


class AmbiguousKey(UnknownKey):
    """An ID_OR_NAME that is one key's id and another key's name; the message lists both and how to choose."""


class BadKeyName(ValueError):
    """A name a new key may not have; the message, which reads after "NAME", says why."""


class UnknownScope(ValueError):
    """A scope name that is not one of ``SCOPES``; the message lists them."""


@dataclass(frozen=True)
class ActiveKey:
    """What a request needs of an active key: its id, name and scopes."""

    id: int
    name: str
    scopes: frozenset[str] = frozenset(DEFAULT_SCOPES)

    def allows(self, scope: str) -> bool:
        """True if the key holds ``scope`` or ``admin``."""
        return scope in self.scopes or ADMIN_SCOPE in self.scopes

    def to_json(self) -> str:
        """The key as JSON, for a shared cache."""
        return json.dumps({"id": self.id, "name": self.name, "scopes": sorted(self.scopes)})

    @classmethod
    def from_json(cls, text: str | bytes) -> ActiveKey:
        """The key ``to_json`` wrote."""
        fields = json.loads(text)
        return cls(int(fields["id"]), str(fields["name"]), frozenset(fields["scopes"]))


def parse_scopes(stored: str) -> frozenset[str]:
    """The scopes of a key row (space-separated in the database)."""
    return frozenset(stored.split())


KeyCache = TtlMemory[ActiveKey] | RedisTtlMemory[ActiveKey]
"""The key cache ``make_key_cache`` returns."""

KEY_CACHE_CODEC = RedisCodec("moderation:key:", ActiveKey.to_json, ActiveKey.from_json, "key cache", "asking the database", "key not cached")
"""How the shared key cache stores a key in Redis."""


def make_key_cache(config: Mapping[str, Any]) -> KeyCache:
    """The key cache: in Redis when ``RATELIMIT_STORAGE_URI`` is Redis, else in this process.

    Only active keys are put in it: an unknown or revoked key is looked up on every request, so a new key
    works at once and bad keys cannot fill it. In a process, a full cache starts afresh.
    """
    return make_ttl_memory(float(config["KEY_CACHE_SECONDS"]), config["RATELIMIT_STORAGE_URI"], KEY_CACHE_CODEC, MAX_CACHED_KEYS, forget_all_when_full=True)


def init_key_cache(app: Flask) -> None:
    """Give ``app`` its key cache, holding keys for ``KEY_CACHE_SECONDS``, and its memory of keys found active
    (``service.auth_failures``)."""
    app.extensions[KEY_CACHE_KEY] = make_key_cache(app.config)
    init_known_keys(app)


def hash_key(key: str) -> str:
    """SHA-256 hex digest of a key's UTF-8 bytes: the only form in which a key is stored."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def generate_key() -> str:
    """A new random key: ``mod_`` and 43 URL-safe characters."""
    return KEY_PREFIX + secrets.token_urlsafe(KEY_SECRET_BYTES)


KEY_HEADERS = ("X-API-Key", "X-Goog-Api-Key")
"""Headers that may carry the key: ours, and Google's (``X-goog-api-key``, documented for every Google API key)."""


BEARER_PLACE = "Authorization: Bearer"
QUERY_PLACE = "?key="


def presented_keys() -> list[tuple[str, str]]:
    """Every key the request carries, as (where, key): Authorization Bearer, X-API-Key, X-Goog-Api-Key, each ?key=."""
    found = []
    authorization = request.headers.get("Authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        found.append((BEARER_PLACE, credentials.strip()))
    for name in KEY_HEADERS:
        header = request.headers.get(name, "").strip()
        if header:
            found.append((name, header))
    found.extend((QUERY_PLACE, key) for key in request.args.getlist("key") if key)
    return found


def presented_key() -> str | None:
    """The key the request carries (the first of ``presented_keys``), or None."""
    found = presented_keys()
    return found[0][1] if found else None


def check_one_key(found: list[tuple[str, str]]) -> None:
    """Refuse (400) a request carrying two different keys, naming where each was, never the keys: which one counts
    would otherwise be a rule of this service (a valid key in a header and a bad one in ``?key=`` got 200, the reverse
    403), and a proxy or gateway that reads the other place would see another caller. Google's front ends refuse an API
    key and a credential of different projects sent together (400); the same key in two places is one key."""
    first_place, first_key = found[0]
    other_place = next((place for place, key in found if key != first_key), None)
    if other_place is not None:
        raise ApiError(400, CONFLICTING_KEYS, f"the request carries two different API keys, in {first_place} and in "
                                              f"{other_place}: send one key, in one place")


def rate_limit_identity() -> str:
    """Who a rate limit counts against: the presented key's hash, else the client address.

    With keys not required (``AUTH_REQUIRED`` false) no key is checked, so any text passes for one: the client
    address then, or a client would get a fresh budget with every made-up key. An IPv6 address counts by its /64
    network (``limited_address``), or a client would get a fresh budget with every address of its own network.
    """
    key = presented_key() if current_app.config["AUTH_REQUIRED"] else None
    if key is not None:
        return "key:" + hash_key(key[:MAX_KEY_CHARS])[:32]
    return "addr:" + limited_address()


def find_active_key(session: Session, key: str, key_sha256: str | None = None) -> ApiKey | None:
    """The unrevoked key whose hash matches ``key``, or None; ``key_sha256`` is ``hash_key(key)`` when known."""
    if len(key) > MAX_KEY_CHARS:
        return None
    found = session.scalar(select(ApiKey).where(ApiKey.key_sha256 == (key_sha256 or hash_key(key))))
    return found if found is not None and found.revoked_at is None else None


def active_key_hashes(session: Session, limit: int) -> list[str]:
    """The SHA-256 of the ``limit`` newest unrevoked keys."""
    query = select(ApiKey.key_sha256).where(ApiKey.revoked_at.is_(None)).order_by(ApiKey.id.desc()).limit(limit)
    return list(session.scalars(query))


def active_key(key: str) -> ActiveKey | None:
    """The active key ``key`` is, from the app's key cache when it holds it, else from the database.

    Before the database is asked, a client address that has failed authentication too often gets 429
    (``service.auth_failures``), unless this process found the key active lately (in the database, or in the key cache,
    which Redis shares with every worker) or finds it among the active keys it reads then (at most every
    ``ACTIVE_KEYS_REREAD_SECONDS``); a key not found counts as one more failure.
    """
    if len(key) > MAX_KEY_CHARS:
        note_failure()
        return None
    cache: KeyCache = current_app.extensions[KEY_CACHE_KEY]
    key_sha256 = hash_key(key)
    cached = cache.get(key_sha256)
    if cached is not None:
        # Found active all the same: with Redis the cache is every worker's, and a worker that only ever read the key
        # from it refused it (429) once the cache forgot it while someone at its address guessed keys.
        remember_good_key(key_sha256)
        return cached
    refuse_if_failing(key_sha256, lambda: active_key_hashes(get_session(), MAX_KNOWN_KEYS))
    # Taken before the database is read: a revocation committed after that read and before the put below is seen by
    # the put, which then keeps nothing (the key would otherwise be served from the cache for KEY_CACHE_SECONDS more).
    generation = cache.generation()
    found = find_active_key(get_session(), key, key_sha256)
    if found is None:
        forget_good_key(key_sha256)
        note_failure()
        return None
    active = ActiveKey(found.id, found.name, parse_scopes(found.scopes))
    cache.put(key_sha256, active, generation)
    remember_good_key(key_sha256)
    return active


def authenticate(scope: str | None = None) -> None:
    """Check the request's key (and that it holds ``scope``); set ``g.api_key_id``/``g.api_key_name``; else raise ApiError 400/401/403/429."""
    g.api_key_id = None
    g.api_key_name = None
    if not current_app.config["AUTH_REQUIRED"]:
        return
    found = presented_keys()
    if not found:
        raise ApiError(
            401,
            MISSING_KEY,
            "an API key is required: send it as 'Authorization: Bearer KEY', "
            + "".join(f"'{header}: KEY', " for header in KEY_HEADERS) + "or '?key=KEY' "
            "(create one with `moderate keys create NAME`)",
            headers={"WWW-Authenticate": 'Bearer realm="moderation"'},
        )
    check_one_key(found)
    active = active_key(found[0][1])
    if active is None:
        raise ApiError(403, INVALID_KEY, "the API key is unknown or revoked; ask the operator for a valid key")
    if scope is not None and not active.allows(scope):
        raise ApiError(
            403,
            MISSING_SCOPE,
            f"this API key ({active.name}) lacks the '{scope}' scope this endpoint needs; "
            f"ask the operator for a key made with `moderate keys create NAME --scope {scope}`",
        )
    g.api_key_id = active.id
    g.api_key_name = active.name


def require_scope(scope: str) -> Callable[[View], View]:
    """View decorator factory: authenticate the request's API key and require ``scope`` before the view runs."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; use one of {', '.join(SCOPES)}")

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            authenticate(scope)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def require_api_key(view: View) -> View:
    """View decorator: authenticate the request's API key, whatever its scopes, before the view runs."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        authenticate()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


# Key management (the ``moderate keys`` commands)


def check_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """The scopes, known and without repeats, in ``SCOPES`` order; raise UnknownScope naming a bad one."""
    wanted = set(scopes)
    unknown = sorted(wanted - set(SCOPES))
    if unknown:
        raise UnknownScope(f"unknown scope {unknown[0]!r}; use {', '.join(SCOPES)}")
    if not wanted:
        raise UnknownScope(f"a key needs at least one scope: {', '.join(SCOPES)}")
    return tuple(scope for scope in SCOPES if scope in wanted)


ID_SELECTOR = "id:"
"""``id:N`` selects the key with id N and nothing else (``find_keys``)."""
NAME_SELECTOR = "name:"
"""``name:X`` selects the keys named X and nothing else (``find_keys``)."""
MAX_KEY_ID = 2**63 - 1
"""No key has a larger id (a bigger number would overflow the database's integer)."""


def key_name_problem(name: str) -> str | None:
    """Why a new key may not be called ``name`` (a phrase that reads after "NAME"), or None if it may.

    Refused: empty or longer than ``KEY_NAME_CHARS``; all digits (``revoke 4`` would mean key id 4);
    starting with ``id:`` or ``name:`` (they select a key); spaces around it; control or invisible
    characters (a tab or newline breaks the columns of ``moderate keys list``).
    """
    if not name.strip() or len(name) > KEY_NAME_CHARS:
        return f"must be 1 to {KEY_NAME_CHARS} characters"
    if name.isdecimal():
        return f"must not be all digits: {name!r} would read as a key id (`moderate keys revoke {name}` means key id {name})"
    if name.startswith((ID_SELECTOR, NAME_SELECTOR)):
        return f"must not start with {ID_SELECTOR!r} or {NAME_SELECTOR!r}: they select a key by id or by name"
    if name != name.strip():
        return f"must not start or end with a space: {name!r}"
    hidden = next((char for char in name if not char.isprintable()), None)
    if hidden is not None:
        return f"must not contain control or invisible characters such as tabs or newlines (it has U+{ord(hidden):04X}): {name!r}"
    return None


def check_new_key_name(session: Session, name: str) -> None:
    """Raise BadKeyName if a new key may not be called ``name``: ``key_name_problem``, or an active key has it."""
    problem = key_name_problem(name)
    if problem is not None:
        raise BadKeyName(problem)
    holder = session.scalar(select(ApiKey.id).where(ApiKey.name == name, ApiKey.revoked_at.is_(None)).order_by(ApiKey.id).limit(1))
    if holder is not None:
        raise BadKeyName(f"{name!r} is already the name of active key {holder}: choose another name, or revoke that key first")


def _key_id(text: str) -> int | None:
    """The key id ``text`` is (digits), or None: not digits, or larger than any id."""
    if not text.isdecimal() or len(text) > len(str(MAX_KEY_ID)):
        return None
    number = int(text)
    return number if number <= MAX_KEY_ID else None


def _keys_where(session: Session, condition: Any) -> list[ApiKey]:
    """The keys meeting ``condition``, oldest first."""
    return list(session.scalars(select(ApiKey).where(condition).order_by(ApiKey.id)))


def _described(rows: list[ApiKey]) -> str:
    """``key 4 (cms)``, or ``keys 4 (cms), 7 (4, revoked)``."""
    parts = [f"{row.id} ({row.name}{', revoked' if row.revoked_at is not None else ''})" for row in rows]
    return ("key " if len(parts) == 1 else "keys ") + ", ".join(parts)


def find_keys(session: Session, reference: str, active_only: bool = False) -> list[ApiKey]:
    """The keys an ID_OR_NAME argument selects, oldest first (revoked ones too unless ``active_only``).

    ``id:N`` is the key with id N and ``name:X`` every key named X, nothing else; a number is a key id or
    a key name; any other text a key name, as typed. When a number is one key's id and another key's name
    (``4`` is key 4's id and key 7's name, allowed before names were checked), revoked keys included,
    AmbiguousKey asks for ``id:4`` or ``name:4`` rather than guessing. Raises UnknownKey when nothing (active) matches.
    """
    if reference.startswith(ID_SELECTOR):
        number = _key_id(reference.removeprefix(ID_SELECTOR))
        if number is None:
            raise UnknownKey(f"{reference!r}: {ID_SELECTOR} must be followed by a key id, as in {ID_SELECTOR}4; see `moderate keys list`")
        rows = _keys_where(session, ApiKey.id == number)
    elif reference.startswith(NAME_SELECTOR):
        rows = _keys_where(session, ApiKey.name == reference.removeprefix(NAME_SELECTOR))
    else:
        rows = _keys_where(session, ApiKey.name == reference)
        number = _key_id(reference)
        by_id = [] if number is None else _keys_where(session, ApiKey.id == number)
        if rows and by_id and rows != by_id:
            raise AmbiguousKey(
                f"{reference!r} is the id of {_described(by_id)} and the name of {_described(rows)}; "
                f"say which with {ID_SELECTOR}{number} or {NAME_SELECTOR}{reference}"
            )
        rows = rows or by_id
    revoked = [row for row in rows if row.revoked_at is not None] if active_only else []
    rows = [row for row in rows if row not in revoked]
    if not rows:
        already = f": {_described(revoked)} {'is' if len(revoked) == 1 else 'are'} already revoked" if revoked else ""
        raise UnknownKey(f"no {'active ' if active_only else ''}key with id or name {reference!r}{already}; see `moderate keys list`")
    return rows


def create_key(session: Session, name: str, scopes: Iterable[str] = DEFAULT_SCOPES) -> tuple[ApiKey, str]:
    """Store a new key named ``name`` holding ``scopes``; return the row and the secret, which is never stored or shown again."""
    held = check_scopes(scopes)
    secret = generate_key()
    row = ApiKey(name=name, key_sha256=hash_key(secret), prefix=secret[:SHOWN_PREFIX_CHARS], scopes=" ".join(held), created_at=utc_now())
    session.add(row)
    session.commit()
    return row, secret


def list_keys(session: Session) -> list[ApiKey]:
    """Every key, oldest first, revoked ones included."""
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def revoke_key(session: Session, name_or_id: str) -> list[ApiKey]:
    """Revoke the active key with this id, or every active key with this name (``find_keys``); return them.

    The revoked keys leave the key cache: the app's (inside an app context), or the shared one in Redis
    when ``RATELIMIT_STORAGE_URI`` points at it, so that every instance refuses them at once; processes
    with their own cache refuse them within ``KEY_CACHE_SECONDS``. Raises UnknownKey when nothing active
    matches, AmbiguousKey when ``name_or_id`` is one key's id and another's name.
    """
    rows = find_keys(session, name_or_id, active_only=True)
    now = utc_now()
    for row in rows:
        row.revoked_at = now
    session.commit()
    if has_app_context() and KEY_CACHE_KEY in current_app.extensions:
        cache = current_app.extensions[KEY_CACHE_KEY]
        for row in rows:
            forget_good_key(row.key_sha256)
    else:
        from service.config import load_config

        cache = make_key_cache(load_config())
    try:
        for row in rows:
            cache.forget(row.key_sha256)
    except RedisError as error:  # the revocation is stored; caches drop the key within KEY_CACHE_SECONDS anyway
        log.warning("revoked, but the shared key cache could not be told (%s): refused within KEY_CACHE_SECONDS", type(error).__name__)
    return rows


def ensure_local_key(session: Session) -> str | None:
    """Create the ``local`` key unless an active one exists; return the new secret, or None if none was made."""
    existing = session.scalar(select(ApiKey).where(ApiKey.name == LOCAL_KEY_NAME, ApiKey.revoked_at.is_(None)))
    if existing is not None:
        return None
    return create_key(session, LOCAL_KEY_NAME)[1]
