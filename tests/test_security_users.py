"""Security review of the moderation page's accounts: names that no user can have, on every database."""

from __future__ import annotations

import pytest

from service.app import create_app
from service.store import app_engine, get_session
from service.users import UserError, create_user
from tests.ui_support import PASSWORD, add_user, csrf_from


def test_a_sign_in_name_with_a_nul_is_refused_like_any_unknown_name(tiny_bundle_path, db_url):
    """PostgreSQL refuses a NUL in a query parameter: anyone could make the sign-in form answer 500."""
    app = create_app({"TESTING": False, "PROPAGATE_EXCEPTIONS": False, "MODEL": str(tiny_bundle_path), "DB_URL": db_url})
    try:
        add_user(app, "mo")
        client = app.test_client()
        token = csrf_from(client.get("/ui/sign-in").get_data(as_text=True))
        answer = client.post("/ui/sign-in", data={"name": "mo\x00", "password": PASSWORD, "csrf_token": token})
    finally:
        app_engine(app).dispose()
    assert answer.status_code == 401 and "do not match" in answer.get_data(as_text=True)


@pytest.mark.parametrize("name", ["ana\x1b[2J", "ana\x00", "ana\u200b"])
def test_a_user_name_with_control_or_invisible_characters_is_refused(app, name):
    """Names are shown in `moderate users list` and on every page: no terminal escapes, no look-alike names."""
    with app.app_context(), pytest.raises(UserError, match="control characters"):
        create_user(get_session(), name, PASSWORD)


def test_the_first_sign_in_with_an_unknown_name_takes_no_longer_than_a_wrong_password(tiny_bundle_path, monkeypatch):
    """The hash an unknown name is checked against was made at the first such sign-in, in each worker: that sign-in
    took a hash more than a wrong password did (0.84 s against 0.32 s here), which told the name is no user's."""
    from argon2 import PasswordHasher

    from service import users

    users._dummy_hash.cache_clear()  # as in a freshly started worker
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://"})
    add_user(app, "mo")
    hashed = []
    original = PasswordHasher.hash
    monkeypatch.setattr(PasswordHasher, "hash", lambda self, *args, **kwargs: hashed.append(1) or original(self, *args, **kwargs))
    client = app.test_client()
    token = csrf_from(client.get("/ui/sign-in").get_data(as_text=True))
    answer = client.post("/ui/sign-in", data={"name": "nobody", "password": PASSWORD, "csrf_token": token})
    assert answer.status_code == 401
    assert hashed == []  # only the verification a wrong password of a real user has too
