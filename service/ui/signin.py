"""Who is signed in to the moderation page: sign in and out, the current user, and views that need a role.

The session cookie (Flask's, signed with SECRET_KEY; Secure, HttpOnly, SameSite from the config) holds
the user's id, a stamp of their password hash and session version, so a new password, a sign-out (which
raises the version) or a deleted user ends every session at the next request, a copy of the cookie
included, and the time of sign-in: a session ends ``PERMANENT_SESSION_LIFETIME`` after it, however often
it is used (Flask renews the cookie on every request). Each failed sign-in is logged at WARNING with the user name
as typed (at most ``MAX_SHOWN_NAME_CHARS``, quoted and escaped) and the client address, never the password, so an
operator can see names or passwords being guessed before ``SIGN_IN_RATE_LIMIT`` refuses the address, or
``SIGN_IN_NAME_LIMIT`` the name (``service.ui.name_limit``: guesses at one name from many addresses).
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

from flask import Flask, abort, current_app, flash, g, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_limiter import Limiter
from limits import RateLimitItem

from service.budgets import client_address, limited_address, too_many
from service.errors import shown_name
from service.limits import SIGN_IN_ENDPOINT
from service.redis_client import RedisError
from service.store import get_session
from service.ui.blueprint import bp
from service.ui.csrf import csrf_token
from service.ui import name_limit
from service.ui.name_limit import count_sign_in, trust_browser
from service.users import User, end_sessions, find_signing_in_user, password_matches

SIGN_OUT_ENDPOINT = "ui.sign_out"
"""``sign_out``'s endpoint: a Sign out that finds no one signed in has nothing to refuse or to lose."""
USER_ID = "user_id"
STAMP = "stamp"
SIGNED_IN_AT = "signed_in_at"
TOO_MANY_REQUESTS = 429
SIGNED_OUT = "You are signed out, so nothing was saved: reload the page and sign in again."
FAILED_SIGN_IN = "That user name and password do not match. Check both and try again."
GUESSED_NAME = ("Too many sign-ins as this user from browsers that have not signed in as them before, so the "
                "password was not checked. Sign in from a browser you have signed in with before, or try again in {wait}.")
SIGN_IN_LIMITED = "Too many sign-in attempts from this address. Try again in {wait}."
SIGNED_OUT_EVERYWHERE = "You are signed out on every device and browser where you were signed in. Sign in again to go on."
SESSION_ENDED = "You were signed out: a session lasts {lifetime} from signing in. Sign in again to go on."
SESSION_REVOKED = ("You were signed out: you signed out on another device, or your password was changed. "
                   "Sign in again to go on.")
SECONDS_PER_MINUTE = 60
SECONDS_PER = (("day", 24 * 60 * 60), ("hour", 60 * 60), ("minute", 60), ("second", 1))
DOT_SEGMENTS = frozenset({".", ".."})
"""Path segments a browser resolves away (RFC 3986 section 5.2.4): a ``next`` holding one may leave the page."""

View = TypeVar("View", bound=Callable[..., Any])

log = logging.getLogger(__name__)


def load_user() -> None:
    """Set ``g.user`` from the session (None when nobody, or a stale session, is signed in)."""
    g.user = None
    user_id = session.get(USER_ID)
    if user_id is None:
        return
    user = get_session().get(User, user_id)
    if user is None or user.session_stamp != session.get(STAMP):
        forget_session(SESSION_REVOKED)
    elif session_expired():
        forget_session(SESSION_ENDED.format(lifetime=duration_words(current_app.permanent_session_lifetime.total_seconds())))
    else:
        g.user = user


def refuse_signed_out_form(session_sent: bool) -> None:
    """For a form whose CSRF token did not match, sent by a browser whose session has no user (signed out in another
    tab since the page was drawn): for Sign out, go to the sign-in page (there is nothing left to do); else, when the
    browser sent its session (``session_sent``), say it is signed out with 401 (the queue's script then tells the user
    to sign in again) instead of "the form has expired". Returns in every other case."""
    if request.endpoint == SIGN_IN_ENDPOINT or session.get(USER_ID) is not None:
        return
    if request.endpoint == SIGN_OUT_ENDPOINT:
        abort(redirect(url_for(SIGN_IN_ENDPOINT), code=303))
    if session_sent:
        abort(401, description=SIGNED_OUT)


def forget_session(why: str) -> None:
    """Forget the session and say ``why`` on the next page (the sign-in page it is sent to): else the sign-in form
    came back unexplained, as if the user had never signed in."""
    session.clear()
    flash(why)


def duration_words(seconds: float) -> str:
    """``seconds`` in the largest unit that divides it: "8 hours", "90 minutes", "1 day"."""
    name, size = next((name, size) for name, size in SECONDS_PER if seconds % size == 0 or size == 1)
    count = round(seconds / size)
    return f"{count} {name}{'' if count == 1 else 's'}"


def session_expired() -> bool:
    """True when the session was signed in ``PERMANENT_SESSION_LIFETIME`` ago or more (or before sign-in times were
    kept): Flask renews a permanent session's cookie on every request, so a session in use would otherwise never end."""
    signed_in_at = session.get(SIGNED_IN_AT)
    if not isinstance(signed_in_at, int | float):
        return True
    return time.time() - signed_in_at >= current_app.permanent_session_lifetime.total_seconds()


def wants_json() -> bool:
    """True when the page's script asked (it sends ``Accept: application/json``), so it can stay on the page."""
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"


def page_path() -> str:
    """This page's path and query as the browser asked for them: under the prefix a trusted proxy serves the service at
    (``X-Forwarded-Prefix``, ``request.script_root``), which ``request.full_path`` leaves out; a ``next`` of the latter
    sent the browser out of the prefix (a 404 from the proxy, or another application's page) after signing in."""
    return request.script_root + request.full_path.rstrip("?")


def return_path() -> str | None:
    """Where to go back after signing in: the page asked for, or for a form (a POST cannot be repeated by a
    redirect) the page it was sent from: its ``next`` field, else the Referer when it is this site."""
    if request.method == "GET":
        return page_path()
    if request.form.get("next"):
        return request.form["next"]
    referrer = urlsplit(request.referrer or "")
    if referrer.netloc == request.host:
        return urlunsplit(("", "", referrer.path, referrer.query, ""))
    return None


def signed_in(admin: bool = False) -> Callable[[View], View]:
    """View decorator: send a visitor to the sign-in page (a script gets 401: a redirect would read as success);
    refuse (403) a moderator where ``admin`` is needed."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if g.user is None:
                if wants_json():
                    abort(401, description=SIGNED_OUT)
                if request.method == "POST" and request.endpoint != SIGN_OUT_ENDPOINT:  # a form sent without the script:
                    flash(SIGNED_OUT)  # say it was not saved, not only "signed out" (a Sign out has nothing to save)
                return redirect(url_for(SIGN_IN_ENDPOINT, next=return_path()))
            if admin and not g.user.is_admin:
                abort(403, description="This page is for admins; ask one to give you the admin role.")
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def local_target(target: str | None) -> str:
    """``target`` when it is a path on this site's moderation page (under the proxy's prefix, as ``page_path`` makes
    them), else the page's start: no open redirects; no ``..`` either, which the browser resolves (``/ui/../v1/model``
    is ``/v1/model``, out of the page); no control characters (a line break in a ``Location`` header is a 500)."""
    if target and target.isprintable() and "\\" not in target:
        parts = urlsplit(target)
        # Browsers take %2e as a dot in a path, so segments are compared unquoted.
        if (not parts.scheme and not parts.netloc and parts.path.startswith(request.script_root + bp.url_prefix + "/")
                and not DOT_SEGMENTS.intersection(unquote(parts.path).split("/"))):
            return target
    return url_for("ui.queue")


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> ResponseReturnValue:
    """The sign-in form; on success a new session (new CSRF token) and a redirect to where the user was going."""
    target = local_target(request.values.get("next"))
    if request.method == "GET":
        if g.user is not None:
            return redirect(target)
        return render_template("ui/sign_in.html", next=target, error=None)
    name = request.form.get("name", "").strip()
    database = get_session()
    user = find_signing_in_user(database, name)
    spent = count_sign_in(name, user)
    if spent is not None:
        return refuse_guessed_name(name, user, target, spent)
    if not password_matches(database, user, request.form.get("password", "")):
        log_failed_sign_in(name, user)
        return render_template("ui/sign_in.html", next=target, error=FAILED_SIGN_IN, fields_invalid=True, name=name), 401
    session.clear()  # a fresh session: nothing chosen before sign-in survives it
    session.permanent = True
    session[USER_ID] = user.id
    session[STAMP] = user.session_stamp
    session[SIGNED_IN_AT] = time.time()
    csrf_token()
    log.info("sign-in to the moderation page as %s (%s) from %s", shown_name(user.name), user.role, client_address())
    response = redirect(target)
    trust_browser(response, user)
    return response


def log_failed_sign_in(name: str, user: User | None) -> None:
    """One WARNING line for a failed sign-in, with the client's address, and the user name when it is a user's (quoted,
    its control characters escaped, so a line break cannot forge a line of its own). A name that is no user's is not
    logged: people type their password into the name field, and it would be kept in the log."""
    if user is not None:
        log.warning("failed sign-in to the moderation page as user %r from %s", shown_name(name), client_address())
    else:
        log.warning("failed sign-in to the moderation page with a name that is no user's (not logged) from %s",
                    client_address())


def refuse_guessed_name(name: str, user: User | None, target: str, spent: RateLimitItem) -> ResponseReturnValue:
    """The sign-in form again with 429 and Retry-After, its password unchecked: ``SIGN_IN_NAME_LIMIT`` is spent for
    ``name`` (``service.ui.name_limit``). The log names the user as ``log_failed_sign_in`` does."""
    shown = f"user {shown_name(name)!r}" if user is not None else "a name that is no user's (not logged)"
    log.warning("sign-in to the moderation page as %s from %s refused: too many sign-ins as that name", shown,
                client_address())
    error = too_many(name_limit.LIMIT_NAME, f"too many sign-ins as one user name ({spent})", item=spent,
                     setting=name_limit.SETTING, identity=name_limit.identity(name))
    wait = duration_words(math.ceil(int(error.headers["Retry-After"]) / SECONDS_PER_MINUTE) * SECONDS_PER_MINUTE)
    page = render_template("ui/sign_in.html", next=target, error=GUESSED_NAME.format(wait=wait), name=name)
    return page, TOO_MANY_REQUESTS, error.headers


@bp.post("/sign-out")
@signed_in()
def sign_out() -> ResponseReturnValue:
    """End every session of the signed-in user, on the server too: a copy of this cookie no longer works."""
    end_sessions(get_session(), g.user)
    session.clear()
    flash(SIGNED_OUT_EVERYWHERE)
    return redirect(url_for(SIGN_IN_ENDPOINT))


def _sign_in_limit() -> str:
    return current_app.config["SIGN_IN_RATE_LIMIT"]


def _client_address() -> str:
    return "sign-in:" + limited_address()


def limit_sign_in(app: Flask, limiter: Limiter) -> None:
    """Put sign-in attempts (POST) under ``SIGN_IN_RATE_LIMIT`` per client address, an IPv6 one's /64 network (checked
    with every other setting by ``service.config_checks``, before anything starts).

    Flask-Limiter checks a decorated limit when the decorated function runs, so the registered view is replaced by its
    limited wrapper (the view is registered before the Limiter exists).
    """
    view = app.view_functions[SIGN_IN_ENDPOINT]
    app.view_functions[SIGN_IN_ENDPOINT] = limiter.limit(_sign_in_limit, key_func=_client_address, methods=["POST"])(view)


def sign_in_wait() -> str:
    """How long until this address may sign in again (``SIGN_IN_RATE_LIMIT``), in whole minutes or more, as the 429's
    Retry-After counts it: "1 minute" for the default limit, "45 minutes" for one of 10 per hour spent 15 minutes in."""
    limiter = next(iter(current_app.extensions.get("limiter", ())), None)
    spent = limiter.current_limit if limiter is not None else None
    try:
        seconds = spent.window.reset_time - time.time() if spent is not None else SECONDS_PER_MINUTE
    except RedisError:  # the limit storage answered the check a moment ago; the page is shown all the same
        seconds = SECONDS_PER_MINUTE
    return duration_words(max(1, math.ceil(seconds / SECONDS_PER_MINUTE)) * SECONDS_PER_MINUTE)


@bp.errorhandler(TOO_MANY_REQUESTS)
def too_many_sign_ins(_error: Exception) -> ResponseReturnValue:
    """Show the sign-in page again, name and destination kept, with a plain message instead of the API's JSON 429: how
    long to wait (it said "Wait a minute" whatever the limit, so that under "10 per hour" a moderator came back every
    minute to the same refusal)."""
    message = SIGN_IN_LIMITED.format(wait=sign_in_wait())
    target = local_target(request.values.get("next"))
    return render_template("ui/sign_in.html", next=target, error=message, name=request.form.get("name", "").strip()), TOO_MANY_REQUESTS
