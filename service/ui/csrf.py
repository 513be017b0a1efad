"""CSRF protection of the moderation page's forms: a random token per session, required on every POST.

Only the ``ui`` blueprint checks it; the API surfaces take no cookies (they authenticate each request
with an API key), so they need none.
"""

from __future__ import annotations

import hmac
import secrets

from flask import abort, request, session

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
CSRF_TOKEN_BYTES = 32
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token() -> str:
    """This session's token (made on first use), for a hidden form field."""
    if CSRF_FIELD not in session:
        session[CSRF_FIELD] = secrets.token_urlsafe(CSRF_TOKEN_BYTES)
    return session[CSRF_FIELD]


def check_csrf() -> None:
    """Refuse (400) an unsafe request whose form field or header does not carry the session's token."""
    if request.method in SAFE_METHODS:
        return
    expected = session.get(CSRF_FIELD)
    sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    # Compared as bytes: compare_digest raises TypeError (a 500) for a str with any non-ASCII character.
    if not expected or not sent or not hmac.compare_digest(str(sent).encode("utf-8"), str(expected).encode("utf-8")):
        abort(400, description="The form has expired or did not come from this site: reload the page and try again.")
