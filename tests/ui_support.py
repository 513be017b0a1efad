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


def sign_in(client, name: str, password: str = PASSWORD):
    """Sign ``client`` in through the form (fetching its CSRF token first); return the answer."""
    token = csrf_from(client.get("/ui/sign-in").get_data(as_text=True))
    return client.post("/ui/sign-in", data={"name": name, "password": password, "csrf_token": token})


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
