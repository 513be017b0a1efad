"""CSRF protection of the moderation page's forms: a random token per session, required on every POST.

Only the ``ui`` blueprint checks it; the API surfaces take no cookies (they authenticate each request
with an API key), so they need none.
"""

from __future__ import annotations

import hmac
import logging
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
NO_COOKIE_OVER_HTTP = (
    "Your browser sent the form without this site's cookie: this page came over plain HTTP, and the server sends its "
    "cookie over HTTPS only. Open the page at an https:// address (or, for plain HTTP on this machine only, the operator "
    "sets MODERATION_SESSION_COOKIE_SECURE=false), then try again. If you did use HTTPS, allow cookies for this site."
)
"""The same refusal when the request came over plain HTTP and the cookie is Secure (``SESSION_COOKIE_SECURE``): a
browser keeps no Secure cookie from an http:// page other than localhost's, so no sign-in can work."""
WARNED_OVER_HTTP = "moderation.warned_cookie_over_http"
"""``app.extensions`` flag: this process has logged once that the page is used over plain HTTP with a Secure cookie."""

log = logging.getLogger(__name__)


def csrf_token() -> str:
    """This session's token (made on first use), for a hidden form field."""
    if CSRF_FIELD not in session:
        session[CSRF_FIELD] = secrets.token_urlsafe(CSRF_TOKEN_BYTES)
    return session[CSRF_FIELD]


def check_csrf() -> None:
    """Refuse (400) an unsafe request whose form field or header does not carry the session's token: 401 when the
    browser signed out since the page was drawn, a redirect to sign-in for a second Sign out (``refuse_signed_out_form``)."""
    if request.method in SAFE_METHODS:
        return
    expected = session.get(CSRF_FIELD)
    sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    # Compared as bytes: compare_digest raises TypeError (a 500) for a str with any non-ASCII character.
    if not expected or not sent or not hmac.compare_digest(str(sent).encode("utf-8"), str(expected).encode("utf-8")):
        from service.ui.signin import refuse_signed_out_form  # signin imports this module

        session_sent = current_app.config["SESSION_COOKIE_NAME"] in request.cookies
        refuse_signed_out_form(session_sent)
        if session_sent:
            abort(400, description=FORM_EXPIRED)
        if current_app.config["SESSION_COOKIE_SECURE"] and not request.is_secure:
            _warn_over_http()
            abort(400, description=NO_COOKIE_OVER_HTTP)
        abort(400, description=NO_COOKIE)


def _warn_over_http() -> None:
    """Tell the operator, once per process, why no one can sign in over plain HTTP."""
    if not current_app.extensions.get(WARNED_OVER_HTTP):
        current_app.extensions[WARNED_OVER_HTTP] = True
        log.warning("a moderation page form came over plain HTTP without the session cookie: browsers keep the "
                       "Secure cookie (SESSION_COOKIE_SECURE) only over HTTPS, so no one can sign in this way; serve "
                       "/ui behind a TLS proxy (with TRUSTED_PROXY_HOPS, so that X-Forwarded-Proto is read), or set "
                       "MODERATION_SESSION_COOKIE_SECURE=false for plain HTTP on localhost")
