"""Sign-ins limited per user name, except from a browser that has signed in as that user before.

``SIGN_IN_RATE_LIMIT`` counts attempts per client address, so guesses spread over many addresses (or an IPv6 network's)
against one user name were never slowed. Each sign-in as a name also spends one of ``SIGN_IN_NAME_LIMIT`` (e.g. 20 per
hour) for that name, whether or not a user has it (so the limit tells nothing of which names exist); past it, a sign-in
as that name is refused with 429 before its password is checked, right or wrong. It is counted before the password is
checked, in one step, so that guesses sent together cannot all pass while the first ones are being hashed.

An attacker who kept guessing would so keep the user out for as long as they kept at it. A sign-in that works therefore
gives the browser a signed cookie (``TRUSTED_COOKIE``, ``TRUSTED_SECONDS``; HttpOnly, and Secure and SameSite as the
session cookie) holding a digest of the user's id and password hash (not their name: it would stay readable on a shared
computer), OWASP's "device cookie": as that user, such a browser is neither refused nor counted by the name's limit
while its cookie's own budget of the same size lasts (so a copied cookie adds at most that many guesses an hour; its
address's limit still applies too). A new password ends it.
"""

from __future__ import annotations

import hashlib

from flask import Response, current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from limits import RateLimitItem
from limits.storage import Storage

from service.budgets import clear_budget, spend_within
from service.ui.blueprint import bp
from service.users import User

SETTING = "SIGN_IN_NAME_LIMIT"
LIMIT_NAME = "sign_in_name"
"""The ``limit`` label of its refusals in ``moderation_limited_requests_total``."""
TRUSTED_COOKIE = "signed_in_before"
TRUSTED_SALT = "moderation-signed-in-before"
"""Keeps this cookie's signatures apart from the session cookie's, though both are made with ``SECRET_KEY``."""
TRUSTED_SECONDS = 90 * 24 * 60 * 60
"""How long a browser stays trusted after its last sign-in as a user."""
MAX_TRUSTED_USERS = 8
"""Users one browser is trusted for (a shared desk computer); the longest unused is dropped first."""
BROWSER_STAMP_CHARS = 32


def identity(name: str) -> str:
    """What sign-ins as the name are counted under: a digest, so any text typed as a name makes a short storage key."""
    return "name:" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def unlock(storage: Storage, limits: str, name: str) -> int:
    """Give ``name`` back every sign-in of ``limits`` (the value of ``SIGN_IN_NAME_LIMIT``) in the limit storage
    ``storage`` (``moderate users unlock``); return how many it had used. A trusted browser's own budget is left."""
    return clear_budget(storage, limits, SETTING, identity(name))


def _browser_stamp(user: User) -> str:
    """What a trusted browser keeps of ``user``: a digest of their id and password hash (whose random salt keeps it from
    being guessed), so a new password gives a new one."""
    return hashlib.sha256(f"{user.id}:{user.password_hash}".encode()).hexdigest()[:BROWSER_STAMP_CHARS]


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=TRUSTED_SALT)  # type: ignore[arg-type]


def _trusted() -> list[str]:
    """The stamps this browser's cookie holds, the latest sign-in last; none when it has no cookie, or one that is
    forged, altered or too old."""
    value = request.cookies.get(TRUSTED_COOKIE)
    if not value:
        return []
    try:
        stamps = _serializer().loads(value, max_age=TRUSTED_SECONDS)
    except BadSignature:  # also SignatureExpired
        return []
    return [stamp for stamp in stamps if isinstance(stamp, str)] if isinstance(stamps, list) else []


def browser_trusted(user: User | None) -> bool:
    """True when this browser has signed in as ``user`` with their current password before."""
    return user is not None and _browser_stamp(user) in _trusted()


def count_sign_in(name: str, user: User | None) -> RateLimitItem | None:
    """Count one sign-in as ``name``; the limit it went past, or None while there is room.

    A browser trusted for ``user`` (``browser_trusted``) spends its own cookie's budget (the same limit), not the name's,
    while that lasts: copied from the browser (a shared computer keeps it after sign-out), the cookie would otherwise
    let guesses from any number of addresses past the name's limit for its 90 days. Past its budget it counts as the
    name, like any browser. A sign-in that works sets a new cookie, with a budget of its own.
    """
    if browser_trusted(user) and spend_within(SETTING, _cookie_identity()) is None:
        return None
    return spend_within(SETTING, identity(name))


def _cookie_identity() -> str:
    """What sign-ins from this browser's trusted cookie are counted under: a digest of the cookie as set."""
    return "browser:" + hashlib.sha256(request.cookies.get(TRUSTED_COOKIE, "").encode()).hexdigest()[:32]


def trust_browser(response: Response, user: User) -> None:
    """Set the cookie that lets this browser sign in as ``user`` past the name's limit (renewed at each sign-in); its path
    is the moderation page's, under the prefix a trusted proxy serves the service at."""
    stamp = _browser_stamp(user)
    stamps = [kept for kept in _trusted() if kept != stamp] + [stamp]
    config = current_app.config
    response.set_cookie(TRUSTED_COOKIE, _serializer().dumps(stamps[-MAX_TRUSTED_USERS:]), max_age=TRUSTED_SECONDS,
                        path=request.script_root + bp.url_prefix, secure=config["SESSION_COOKIE_SECURE"], httponly=True,
                        samesite=config["SESSION_COOKIE_SAMESITE"])
