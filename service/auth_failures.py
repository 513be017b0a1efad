"""Failed authentication limited per client address, so that made-up keys cannot be tried without end.

Every request whose key is unknown or revoked spends one of ``AUTH_FAILURE_LIMIT`` (e.g. 30 per minute)
for its client address (for IPv6, its /64 network: ``service.budgets.limited_address``). Once it is spent, a
request from that address whose key the key cache does not already hold as active gets 429 before any database
look-up, unless this process has found that key active within ``KNOWN_KEY_SECONDS`` (``remember_good_key``: in the
database, or in the key cache, which Redis shares with every worker): a client behind the same address as an attacker
(a NAT) keeps being served, its key looked up as usual (so a revocation is seen at once), though the key cache forgets
it after ``KEY_CACHE_SECONDS`` (2 s by default). A process that has not met the key yet (a worker started or replaced,
a reload, a key just created) reads every active key's hash from the database before it refuses, at most once per
``ACTIVE_KEYS_REREAD_SECONDS`` however many requests the address sends: without that, a guesser at the address
locked every other client there out after each restart or reload, for as long as it kept guessing.

A key is written to that memory when it is new there, and again only once it has been there ``KNOWN_KEY_RENEW_SECONDS``
(half of ``KNOWN_KEY_SECONDS``), not at every request (each write takes the memory's lock): a key used at least that
often is never forgotten, and one that falls silent is let past the limit for between half and all of
``KNOWN_KEY_SECONDS`` after its last use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from flask import Flask, current_app

from service.budgets import first_spent, limited_address, spend, too_many
from service.ttl_cache import TtlMemory

SETTING = "AUTH_FAILURE_LIMIT"
LIMIT_NAME = "auth_failures"
KNOWN_KEYS = "moderation.known_keys"
"""``app.extensions[KNOWN_KEYS]``: the hashes of the keys this process found active lately, each with the time (on the
memory's clock) it was written."""
KNOWN_KEY_SECONDS = 24 * 60 * 60
"""How long a key found active still gets past a spent ``AUTH_FAILURE_LIMIT``: the key cache forgets it within
``KEY_CACHE_SECONDS``, after which its client was refused (429) at every look-up while someone at its address guessed."""
KNOWN_KEY_RENEW_SECONDS = KNOWN_KEY_SECONDS / 2
"""How long a key stays in the memory before it is written again when found active (``remember_good_key``)."""
MAX_KNOWN_KEYS = 1_024
"""Keys remembered per process (a deployment has a handful); the oldest is forgotten first."""
ACTIVE_KEYS_REREAD_SECONDS = 5.0
"""While an address's failures are spent, how often at most this process reads every active key's hash from the
database to learn the keys it has not met (one query, however many requests come)."""
ACTIVE_KEYS_READ_AT = "moderation.active_keys_read_at"
"""``app.extensions[ACTIVE_KEYS_READ_AT]``: when (on the known keys' clock) this process last read the active keys."""


def init_known_keys(app: Flask) -> None:
    """Give ``app`` its memory of the keys found active (one per process: each worker learns its clients' keys)."""
    app.extensions[KNOWN_KEYS] = TtlMemory[float](KNOWN_KEY_SECONDS, MAX_KNOWN_KEYS)
    app.extensions[ACTIVE_KEYS_READ_AT] = None


def _known_keys() -> TtlMemory[float]:
    return current_app.extensions[KNOWN_KEYS]


def remember_good_key(key_sha256: str) -> None:
    """Note that the key with this SHA-256 was found active: it is not refused by ``refuse_if_failing``. Written only
    when the memory does not hold it or has held it ``KNOWN_KEY_RENEW_SECONDS`` (a cache hit was a write each time)."""
    memory = _known_keys()
    now = memory.clock()
    written_at = memory.get(key_sha256)
    if written_at is None or now - written_at >= KNOWN_KEY_RENEW_SECONDS:
        memory.put(key_sha256, now)


def forget_good_key(key_sha256: str) -> None:
    """Stop letting the key with this SHA-256 past a spent limit (it was revoked, or not found)."""
    _known_keys().forget(key_sha256)


def _learned_active_keys(active_hashes: Callable[[], Iterable[str]]) -> bool:
    """Remember every active key ``active_hashes`` reads, unless this process read them less than
    ``ACTIVE_KEYS_REREAD_SECONDS`` ago; whether it read them now."""
    memory = _known_keys()
    now, read_at = memory.clock(), current_app.extensions[ACTIVE_KEYS_READ_AT]
    if read_at is not None and now - read_at < ACTIVE_KEYS_REREAD_SECONDS:
        return False
    current_app.extensions[ACTIVE_KEYS_READ_AT] = now
    for key_sha256 in active_hashes():
        remember_good_key(key_sha256)
    return True


def refuse_if_failing(key_sha256: str | None = None, active_hashes: Callable[[], Iterable[str]] | None = None) -> None:
    """Raise the 429 when the client's address has used up its failed authentications for this window, unless
    ``key_sha256`` is that of a key this process found active lately, or finds among ``active_hashes()`` (the SHA-256
    of every active key, read at most once per ``ACTIVE_KEYS_REREAD_SECONDS``)."""
    known = _known_keys()
    if key_sha256 is not None and known.get(key_sha256) is not None:
        return
    address = limited_address()
    spent = first_spent(SETTING, address)
    if spent is not None:
        if key_sha256 is not None and active_hashes is not None and _learned_active_keys(active_hashes):
            if known.get(key_sha256) is not None:
                return
        raise too_many(
            LIMIT_NAME,
            f"too many requests with an unknown or revoked API key from this address ({spent}); "
            "retry after the Retry-After header's seconds with a valid key",
            item=spent,
            setting=SETTING,
            identity=address,
        )


def note_failure() -> None:
    """Count one failed authentication against the client's address."""
    spend(SETTING, limited_address())
