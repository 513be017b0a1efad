"""Security review of the moderation page's sign-in: where a sign-in may send the browser, and how long a session lives."""

from __future__ import annotations

import json
import time

import pytest

from service.app import create_app
from tests.ui_support import PASSWORD, add_user, csrf_from, sign_in

LIFETIME_SECONDS = 8 * 60 * 60


@pytest.fixture
def ui_app(tiny_bundle_path):
    """The service with a moderator ``mo``, errors answered as in production (a 500 page, not an exception)."""
    app = create_app({"TESTING": False, "PROPAGATE_EXCEPTIONS": False, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://",
                      "PERMANENT_SESSION_LIFETIME": LIFETIME_SECONDS})
    add_user(app, "mo")
    return app


class Clock:
    """``time.time`` moved by hand: Flask's signed cookies read it too."""

    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("target", ["/ui/try\r\nSet-Cookie: a=b", "/ui/try\n", "/ui/try\r"])
def test_a_next_with_a_line_break_goes_to_the_queue_not_to_a_500(ui_app, target):
    client = ui_app.test_client()
    token = csrf_from(client.get("/ui/sign-in", query_string={"next": target}).get_data(as_text=True))
    answer = client.post("/ui/sign-in", data={"name": "mo", "password": PASSWORD, "csrf_token": token, "next": target})
    assert (answer.status_code, answer.headers.get("Location")) == (302, "/ui/queue")
    signed_in = client.get("/ui/sign-in", query_string={"next": target})  # a signed-in user is sent on at once
    assert (signed_in.status_code, signed_in.headers.get("Location")) == (302, "/ui/queue")


def test_a_session_in_constant_use_still_ends_its_lifetime_after_sign_in(ui_app, monkeypatch):
    start = time.time()
    clock = Clock(start)
    monkeypatch.setattr(time, "time", clock)
    client = ui_app.test_client()
    assert sign_in(client, "mo").status_code == 302
    # Used every few hours, the cookie is renewed each time (Flask's default), so each use alone never expires it.
    for hours in (3, 6, 7.9):
        clock.now = start + hours * 3600
        assert client.get("/ui/try").status_code == 200, f"signed out after {hours} h"
    clock.now = start + LIFETIME_SECONDS + 60
    answer = client.get("/ui/try")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/ui/sign-in")
    assert client.get("/ui/try", headers={"Accept": "application/json"}).status_code == 401  # the page's script is told too


def test_a_session_from_before_sign_in_times_were_kept_is_ended(ui_app):
    client = ui_app.test_client()
    assert sign_in(client, "mo").status_code == 302
    with client.session_transaction() as session:
        session.pop("signed_in_at", None)
    assert client.get("/ui/try").status_code == 302


def test_a_sign_in_without_the_cookie_says_to_allow_cookies(ui_app):
    # A browser that blocks cookies never sends back the one the form's token lives in: the page said only that "the
    # form has expired or did not come from this site", and reloading and trying again failed the same way for ever.
    blocking = ui_app.test_client(use_cookies=False)
    token = csrf_from(blocking.get("/ui/sign-in").get_data(as_text=True))
    refused = blocking.post("/ui/sign-in", data={"name": "mo", "password": PASSWORD, "csrf_token": token})
    assert refused.status_code == 400
    assert "allow cookies for this site" in refused.get_data(as_text=True)
    keeping = ui_app.test_client()  # sends its cookie: a wrong token is a stale or forged form, not a cookie problem
    keeping.get("/ui/sign-in")
    forged = keeping.post("/ui/sign-in", data={"name": "mo", "password": PASSWORD, "csrf_token": "forged"})
    assert forged.status_code == 400
    html = forged.get_data(as_text=True)
    assert "The form has expired or did not come from this site" in html and "cookies" not in html



def test_each_failed_sign_in_is_one_warning_with_the_name_and_address_never_the_password(tiny_bundle_path, capsys):
    # A failed sign-in left only the request line ("POST /ui/sign-in 401", INFO, no name, no address): an operator
    # could not see names or passwords being guessed. A name that is no user's is not logged: it may be a password
    # typed into the name field ("nobody" stands for one here).
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://"})
    add_user(app, "mo")
    client = app.test_client()
    capsys.readouterr()
    forged_line = 'mo\n{"level": "INFO", "message": "signed in"}'
    answers = [sign_in(client, "mo", "wrong guess"), sign_in(client, "nobody", PASSWORD), sign_in(client, forged_line, "x"),
               sign_in(client, "n" * 5000, "y"), sign_in(client, "mo")]
    assert [answer.status_code for answer in answers] == [401, 401, 401, 401, 302]
    err = capsys.readouterr().err
    lines = [json.loads(line) for line in err.splitlines()]  # one JSON object a line: nothing forged a line of its own
    failed = [line for line in lines if line["logger"] == "service.ui.signin"]
    assert [line["level"] for line in failed] == ["WARNING"] * 4  # none for the sign-in that worked
    unknown = "failed sign-in to the moderation page with a name that is no user's (not logged) from 127.0.0.1"
    assert [line["message"] for line in failed] == [
        "failed sign-in to the moderation page as user 'mo' from 127.0.0.1", unknown, unknown, unknown]
    assert "wrong guess" not in err and PASSWORD not in err and "nobody" not in err and "n" * 100 not in err
