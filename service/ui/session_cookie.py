"""The session cookie's path: the prefix the request came under, so instances under one host keep their own sessions.

Flask's session cookie has ``SESSION_COOKIE_PATH``, else ``APPLICATION_ROOT`` (``/``), as its path, whatever prefix a
trusted proxy serves the service at (``X-Forwarded-Prefix``, which ``request.script_root`` holds): two instances on
one host under ``/a`` and ``/b`` then overwrote each other's sign-in, and every application on the host was sent the
cookie. ``PrefixSessionInterface`` gives it ``request.script_root`` as its path instead (``/`` without a prefix); the
sign-out deletes the cookie with the same path. An operator's ``SESSION_COOKIE_PATH`` is kept, as Flask keeps it.
"""

from __future__ import annotations

from flask import Flask, has_request_context, request
from flask.sessions import SecureCookieSessionInterface


class PrefixSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, the cookie's path being the prefix the request was served under."""

    def get_cookie_path(self, app: Flask) -> str:
        """``SESSION_COOKIE_PATH`` when set, else this request's ``script_root`` (the proxy's prefix), else
        ``APPLICATION_ROOT``."""
        configured = app.config["SESSION_COOKIE_PATH"]
        if configured:
            return configured
        if has_request_context() and request.script_root:
            return request.script_root
        return app.config["APPLICATION_ROOT"]


def init_session_cookie(app: Flask) -> None:
    """Give ``app`` sessions whose cookie path follows the request's prefix (``PrefixSessionInterface``)."""
    app.session_interface = PrefixSessionInterface()
