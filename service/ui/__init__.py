"""The moderation page at /ui: sign in, try comments, work the review queue; admins also see keys and the model.

Server-rendered Jinja templates (``service/templates/ui``) with a little plain JavaScript and CSS from
``service/static``; no inline script or style, so the Content-Security-Policy forbids both. Sessions are
Flask's signed cookies; every form carries a CSRF token. The API surfaces are untouched: machines keep
using API keys.
"""

from __future__ import annotations

from flask import Flask, current_app, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_limiter import Limiter
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from service.ui import keys_page, model_page, queue, try_page  # noqa: F401  (they add their views to bp)
from service.ui.blueprint import bp
from service.ui.csrf import check_csrf, csrf_token
from service.ui.headers import add_security_headers
from service.ui.secret import init_secret_key
from service.ui.session_cookie import init_session_cookie
from service.ui.signin import limit_sign_in, load_user, signed_in
from service.users import prepare_sign_in


@bp.get("/")
@signed_in()
def index() -> ResponseReturnValue:
    """The queue is where a moderator's day starts."""
    return redirect(url_for("ui.queue"))


@bp.context_processor
def page_context() -> dict:
    """What every template may use: the signed-in user and the form token."""
    return {"current_user": g.get("user"), "csrf_token": csrf_token}


@bp.errorhandler(HTTPException)
def page_error(error: HTTPException) -> ResponseReturnValue:
    """Errors inside the moderation page as a page (the API's errors stay JSON), with the menu for a signed-in user."""
    if "user" not in g:
        # No before_request hook loaded the user: no route matched (service.errors renders those through here) or the
        # CSRF check refused the form first. Nor does the blueprint's context processor run without a matched route.
        load_user()
    return render_template("ui/error.html", error=error, message=page_message(error), **page_context()), error.code or 500


def page_message(error: HTTPException) -> str:
    """What the error page says: the error's description, or for a form too large to read what to send instead
    (werkzeug's "The data value transmitted exceeds the capacity limit." said neither which limit nor what to do)."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if not isinstance(error, RequestEntityTooLarge) or not limit:
        return error.description or error.name
    message = f"The form is larger than this server reads ({limit:,} bytes, MAX_CONTENT_LENGTH), so nothing was done."
    if request.endpoint == "ui.try_it":
        return f"{message} Go back and paste less: at most {current_app.config['MAX_REQUEST_CHARS']:,} characters can be tried at a time."
    return f"{message} Go back and send less."


bp.before_request(check_csrf)
bp.before_request(load_user)
bp.after_request(add_security_headers)


def init_ui(app: Flask) -> None:
    """Give ``app`` its session key and cookie path and register the moderation page (before ``init_rate_limits``)."""
    init_secret_key(app)
    init_session_cookie(app)
    prepare_sign_in()
    app.register_blueprint(bp)


def init_ui_limits(app: Flask, limiter: Limiter) -> None:
    """Limit sign-in attempts per address; call with the Limiter ``init_rate_limits`` returned."""
    limit_sign_in(app, limiter)
