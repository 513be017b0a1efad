"""What the moderation page's tests and the screenshot script share: users, sign-in and review items."""

from __future__ import annotations

import re

from model.results import Decision, Reason

PASSWORD = "correct horse battery"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def add_user(app, name: str, role: str = "moderator", password: str = PASSWORD) -> None:
    """Create a user in ``app``'s database."""
    from service.store import get_session
    from service.users import create_user

    with app.app_context():
        create_user(get_session(), name, password, role)


def csrf_from(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = CSRF_INPUT.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def sign_in(client, name: str, password: str = PASSWORD, prefix: str = ""):
    """Sign ``client`` in through the form (fetching its CSRF token first), under ``prefix`` (a ``ProxyHost``'s); return
    the answer."""
    token = csrf_from(client.get(f"{prefix}/ui/sign-in").get_data(as_text=True))
    return client.post(f"{prefix}/ui/sign-in", data={"name": name, "password": password, "csrf_token": token})


class ProxyHost:
    """One host's reverse proxy in front of instances, each under its path prefix (``/moderation/...``): it takes the
    prefix off the path and names it in ``X-Forwarded-Prefix``, as nginx's ``location /moderation/ { proxy_pass
    http://upstream/; }`` does, so a browser's URLs and cookie paths are those of a real one. Any other path goes to
    another application on the host, which records the ``Cookie`` headers it was sent (``other_app_cookies``).
    Serve it with ``werkzeug.test.Client``; the instances need ``TRUSTED_PROXY_HOPS`` 1."""

    def __init__(self, apps: dict):
        self.apps = apps
        self.other_app_cookies: list[str] = []

    def __call__(self, environ: dict, start_response):
        from werkzeug.wrappers import Response

        path = environ.get("PATH_INFO", "")
        for prefix, app in self.apps.items():
            if path == prefix or path.startswith(prefix + "/"):
                environ = {**environ, "PATH_INFO": path[len(prefix):] or "/", "HTTP_X_FORWARDED_PREFIX": prefix}
                return app(environ, start_response)
        self.other_app_cookies.append(environ.get("HTTP_COOKIE", ""))
        return Response("another application")(environ, start_response)


def review_decision(reason: str = "insult", score: float = 0.6) -> Decision:
    """A review decision for ``reason``, as the scorer would make."""
    return Decision("review", (Reason(reason, "review", reason, score, 0.3),), {"toxicity": 0.4, reason: score}, {}, "tiny")


def log_reviews(app, texts: list[str], reason: str = "insult", api_key_id: int | None = None) -> list[int]:
    """Write ``texts`` to the decision log as review decisions (one request each, oldest first); return their ids."""
    from flask import g
    from sqlalchemy import select

    from service.store import DecisionRecord, get_session, record_decisions

    for number, text in enumerate(texts):
        with app.test_request_context():
            g.api_key_id = api_key_id
            record_decisions([f"c{number}"], [text], [review_decision(reason)], surface="v1")
    with app.app_context():
        return list(get_session().scalars(select(DecisionRecord.id).order_by(DecisionRecord.id)))[-len(texts):]
