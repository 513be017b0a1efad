"""CSRF protection of the moderation page's forms: a random token per session, required on every POST.

Only the ``ui`` blueprint checks it; the API surfaces take no cookies (they authenticate each request
with an API key), so they need none.
"""

from __future__ import annotations

import hmac
import secrets

from flask import abort, current_app, request, session

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
CSRF_TOKEN_BYTES = 32
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORM_EXPIRED = "The form has expired or did not come from this site: reload the page and try again."
NO_COOKIE = ("Your browser sent the form without this site's cookie, so it could not be checked: allow cookies for this "
             "site (signing in needs one), then reload the page and try again.")
"""The refusal of a form sent without the session cookie: a browser that blocks cookies gets it at every sign-in."""


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
        no_cookie = current_app.config["SESSION_COOKIE_NAME"] not in request.cookies
        abort(400, description=NO_COOKIE if no_cookie else FORM_EXPIRED)
