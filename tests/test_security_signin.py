"""Security review of the moderation page's sign-in: where a sign-in may send the browser, and how long a session lives."""

from __future__ import annotations

import json
import re
import threading
import time

import pytest
from itsdangerous import URLSafeTimedSerializer
from werkzeug.test import Client

from service.app import create_app
from tests.ui_support import PASSWORD, ProxyHost, add_user, csrf_from, log_reviews, sign_in

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



def test_a_sign_in_over_plain_http_with_a_secure_cookie_says_to_use_https_and_warns_the_operator_once(tiny_bundle_path, caplog):
    # With the default Secure cookie a browser on http://some-host/ui keeps no cookie, so every sign-in failed with
    # "allow cookies for this site" (they were allowed) and the operator's log said nothing.
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "SESSION_COOKIE_SECURE": True})
    add_user(app, "mo")
    plain = app.test_client(use_cookies=False)  # what such a browser sends back: no cookie
    token = csrf_from(plain.get("/ui/sign-in").get_data(as_text=True))
    with caplog.at_level("WARNING", logger="service.ui.csrf"):
        for _ in range(2):
            refused = plain.post("/ui/sign-in", data={"name": "mo", "password": PASSWORD, "csrf_token": token})
            assert refused.status_code == 400
            assert "Open the page at an https:// address" in refused.get_data(as_text=True)
    warnings = [record for record in caplog.records if "came over plain HTTP" in record.getMessage()]
    assert len(warnings) == 1 and "MODERATION_SESSION_COOKIE_SECURE=false" in warnings[0].getMessage()
    secure = app.test_client(use_cookies=False)  # over HTTPS, no cookie is a blocked cookie again
    token = csrf_from(secure.get("/ui/sign-in", base_url="https://localhost").get_data(as_text=True))
    refused = secure.post("/ui/sign-in", data={"name": "mo", "password": PASSWORD, "csrf_token": token},
                          base_url="https://localhost")
    assert refused.status_code == 400 and "allow cookies for this site" in refused.get_data(as_text=True)
    assert "https://" not in refused.get_data(as_text=True)
    browser = app.test_client()
    token = csrf_from(browser.get("/ui/sign-in", base_url="https://localhost").get_data(as_text=True))
    signed_in = browser.post("/ui/sign-in", data={"name": "mo", "password": PASSWORD, "csrf_token": token},
                             base_url="https://localhost")
    assert signed_in.status_code == 302


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
    signin = [line for line in lines if line["logger"] == "service.ui.signin"]
    assert [line["level"] for line in signin] == ["WARNING"] * 4 + ["INFO"]  # the one that worked: the audit trail's line
    unknown = "failed sign-in to the moderation page with a name that is no user's (not logged) from 127.0.0.1"
    assert [line["message"] for line in signin] == [
        "failed sign-in to the moderation page as user 'mo' from 127.0.0.1", unknown, unknown, unknown,
        "sign-in to the moderation page as mo (moderator) from 127.0.0.1"]
    assert "wrong guess" not in err and PASSWORD not in err and "nobody" not in err and "n" * 100 not in err


def _sign_in_from(app, address: str, name: str, password: str, client=None):
    """Sign in as ``name`` from the client address ``address`` (a fresh browser unless ``client``); return the answer."""
    client = client or app.test_client()
    environ = {"REMOTE_ADDR": address}
    token = csrf_from(client.get("/ui/sign-in", environ_base=environ).get_data(as_text=True))
    return client.post("/ui/sign-in", data={"name": name, "password": password, "csrf_token": token}, environ_base=environ)


def _sign_out(client) -> None:
    """Sign ``client`` out through the form (its cookies kept, as a browser keeps them)."""
    token = csrf_from(client.get("/ui/try").get_data(as_text=True))
    assert client.post("/ui/sign-out", data={"csrf_token": token}).status_code == 302


@pytest.fixture
def guessed_app(tiny_bundle_path):
    """Users ``mo`` and ``ann``; 2 sign-ins a minute per address, 5 an hour per user name."""
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://",
                      "SIGN_IN_RATE_LIMIT": "2 per minute", "SIGN_IN_NAME_LIMIT": "5 per hour"})
    add_user(app, "mo")
    add_user(app, "ann")
    return app


def test_guesses_spread_over_many_addresses_are_limited_per_user_name(guessed_app):
    # Sign-in was limited per address only: one guess from each of many addresses against one name was never slowed.
    guesses = [_sign_in_from(guessed_app, f"198.51.100.{n + 1}", "mo", f"wrong guess {n}").status_code for n in range(8)]
    assert guesses == [401] * 5 + [429] * 3
    refused = _sign_in_from(guessed_app, "198.51.100.99", "mo", PASSWORD)  # not even checked: the right one is refused too
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert re.search(r"Too many sign-ins as this user .* try again in (\d+ minutes|1 hour)\.", refused.get_data(as_text=True))
    # A name that is no user's is limited the same way, so the limit does not tell which names exist.
    unknown = [_sign_in_from(guessed_app, f"203.0.113.{n + 1}", "nobody", f"guess {n}").status_code for n in range(6)]
    assert unknown == [401] * 5 + [429]
    assert _sign_in_from(guessed_app, "198.51.100.100", "ann", PASSWORD).status_code == 302  # other users are not held back
    assert 'moderation_limited_requests_total{limit="sign_in_name"} 5.0' in guessed_app.test_client().get("/metrics").text


def test_guesses_elsewhere_do_not_lock_out_a_browser_that_signed_in_as_the_user_before(guessed_app):
    browser = guessed_app.test_client()
    assert _sign_in_from(guessed_app, "192.0.2.7", "mo", PASSWORD, browser).status_code == 302
    _sign_out(browser)
    guesses = [_sign_in_from(guessed_app, f"198.51.100.{n + 1}", "mo", f"wrong guess {n}").status_code for n in range(7)]
    assert guesses == [401] * 4 + [429] * 3  # its first sign-in, untrusted then, counted as one
    assert _sign_in_from(guessed_app, "192.0.2.7", "mo", PASSWORD, browser).status_code == 302  # the user still gets in
    _sign_out(browser)
    # Its mistypes are neither refused nor counted against the name (only its cookie's budget), though the name has no
    # failures left.
    assert [_sign_in_from(guessed_app, "192.0.2.8", "mo", "mistyped", browser).status_code for _ in range(2)] == [401, 401]
    assert _sign_in_from(guessed_app, "192.0.2.9", "mo", PASSWORD, browser).status_code == 302
    _sign_out(browser)
    # Only as that user, and with a forged or copied-and-altered cookie not at all.
    for n in range(5):
        _sign_in_from(guessed_app, f"203.0.113.{n + 1}", "ann", f"wrong guess {n}")
    assert _sign_in_from(guessed_app, "192.0.2.10", "ann", PASSWORD, browser).status_code == 429
    cookie = browser.get_cookie("signed_in_before", path="/ui")
    assert cookie is not None and cookie.http_only and cookie.secure and cookie.same_site == "Lax"
    _, stamps = URLSafeTimedSerializer("any").loads_unsafe(cookie.value)  # readable by whoever uses the browser
    assert len(stamps) == 1 and "mo" not in json.dumps(stamps)  # not the name of who signed in on it
    forger = guessed_app.test_client()
    forger.set_cookie("signed_in_before", cookie.value[:-2] + ("AA" if not cookie.value.endswith("AA") else "BB"), path="/ui")
    assert _sign_in_from(guessed_app, "198.51.100.200", "mo", PASSWORD, forger).status_code == 429


def test_a_copied_trusted_cookie_lets_no_more_guesses_through_than_the_name_limit(guessed_app):
    # Copied from the user's browser (a shared computer keeps it after sign-out), the cookie let guesses from any number
    # of addresses past the name's limit for 90 days: each browser's cookie now has a budget of its own, then the name's.
    browser = guessed_app.test_client()
    assert _sign_in_from(guessed_app, "192.0.2.7", "mo", PASSWORD, browser).status_code == 302
    _sign_out(browser)
    cookie = browser.get_cookie("signed_in_before", path="/ui").value
    codes = []
    for n in range(12):
        thief = guessed_app.test_client()
        thief.set_cookie("signed_in_before", cookie, path="/ui")
        codes.append(_sign_in_from(guessed_app, f"198.51.100.{n + 1}", "mo", f"wrong guess {n}", thief).status_code)
    # The cookie's 5, then the name's 4 (its first sign-in, untrusted then, counted as one).
    assert codes == [401] * 9 + [429] * 3


def test_a_new_password_ends_a_browsers_exemption_from_the_name_limit(guessed_app):
    from service.store import get_session
    from service.users import set_password

    browser = guessed_app.test_client()
    assert _sign_in_from(guessed_app, "192.0.2.7", "mo", PASSWORD, browser).status_code == 302
    for n in range(5):
        _sign_in_from(guessed_app, f"198.51.100.{n + 1}", "mo", f"wrong guess {n}")
    with guessed_app.app_context():
        set_password(get_session(), "mo", "a brand new password")
    assert _sign_in_from(guessed_app, "192.0.2.7", "mo", "a brand new password", browser).status_code == 429


def test_a_failed_sign_in_looks_the_user_up_once(guessed_app):
    # It was looked up twice: to check the password, and again to decide whether to log the name.
    from sqlalchemy import event

    from service.store import get_session

    with guessed_app.app_context():
        engine = get_session().get_bind()
    statements: list[str] = []
    record = lambda _conn, _cursor, statement, *_rest: statements.append(statement)  # noqa: E731
    event.listen(engine, "before_cursor_execute", record)
    try:
        for name in ("mo", "nobody"):
            statements.clear()
            assert _sign_in_from(guessed_app, "192.0.2.1", name, "wrong guess").status_code == 401
            assert sum("FROM users" in statement for statement in statements) == 1, name
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_the_trusted_browser_cookie_is_sent_back_under_the_proxys_prefix(tiny_bundle_path):
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "TRUSTED_PROXY_HOPS": 1})
    add_user(app, "mo")
    answer = sign_in(Client(ProxyHost({"/moderation": app})), "mo", prefix="/moderation")
    assert answer.status_code == 302
    (trusted,) = [cookie for cookie in answer.headers.getlist("Set-Cookie") if cookie.startswith("signed_in_before=")]
    assert "Path=/moderation/ui;" in trusted or trusted.endswith("Path=/moderation/ui")


def test_guesses_sent_together_cannot_all_pass_while_the_first_are_hashed(guessed_app, monkeypatch):
    # Checked before the password was hashed and counted after it, guesses sent together all passed the check.
    from argon2 import PasswordHasher

    arrived = threading.Barrier(8)
    verify = PasswordHasher.verify

    def slow_verify(self, *args, **kwargs):
        try:
            arrived.wait(timeout=3)  # until every guess is being hashed: those that got this far at once
        except threading.BrokenBarrierError:
            pass
        return verify(self, *args, **kwargs)

    monkeypatch.setattr(PasswordHasher, "verify", slow_verify)
    browsers = [guessed_app.test_client() for _ in range(8)]
    tokens = [csrf_from(browser.get("/ui/sign-in").get_data(as_text=True)) for browser in browsers]
    answers: list[int] = []

    def guess(n: int) -> None:
        answers.append(browsers[n].post("/ui/sign-in", data={"name": "mo", "password": f"guess {n}", "csrf_token": tokens[n]},
                                        environ_base={"REMOTE_ADDR": f"198.51.100.{n + 1}"}).status_code)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [401] * 5 + [429] * 3


def test_sign_ins_from_one_ipv6_network_share_the_address_limit(guessed_app):
    # 2 a minute per address: an IPv6 client changed the last bits of its address for 2 more guesses each time.
    answers = [_sign_in_from(guessed_app, f"2001:db8:5:7::{n + 1:x}", "nobody", "a guess").status_code for n in range(3)]
    assert answers == [401, 401, 429]
    assert _sign_in_from(guessed_app, "2001:db8:5:8::1", "mo", PASSWORD).status_code == 302  # another network


PREFIX = "/moderation"
"""Where the proxy serves the service in the prefix tests (``X-Forwarded-Prefix``, docs/deployment.md)."""


@pytest.fixture
def prefixed_app(tiny_bundle_path):
    """The service behind one trusted proxy that serves it under ``PREFIX``, with a moderator ``mo``."""
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "TRUSTED_PROXY_HOPS": 1,
                      "STORE_TEXT": True})
    add_user(app, "mo")
    return app


def _through_proxy(app) -> Client:
    """A browser reaching ``app`` through the proxy: its URLs start with the prefix, which the proxy takes off and names
    in ``X-Forwarded-Prefix`` (the browser keeps the session cookie for the prefixed paths it is set for)."""
    return Client(ProxyHost({PREFIX: app}))


def test_behind_a_proxys_prefix_sign_in_goes_back_to_the_page_asked_for_under_it(prefixed_app):
    # next= held the path without the prefix (request.full_path), so the sign-in sent the browser to /ui/try: out of
    # the prefix, a 404 from the proxy or another application's page on the same host.
    browser = _through_proxy(prefixed_app)
    asked = browser.get(f"{PREFIX}/ui/try", query_string={"x": "1"})
    assert asked.status_code == 302 and asked.headers["Location"].startswith(f"{PREFIX}/ui/sign-in?")
    form = browser.get(asked.headers["Location"]).get_data(as_text=True)
    (target,) = re.findall(r'name="next" value="([^"]*)"', form)
    assert target == f"{PREFIX}/ui/try?x=1"
    answer = browser.post(f"{PREFIX}/ui/sign-in", data={"name": "mo", "password": PASSWORD, "csrf_token": csrf_from(form),
                                                         "next": target})
    assert (answer.status_code, answer.headers["Location"]) == (302, f"{PREFIX}/ui/try?x=1")


def test_behind_a_proxys_prefix_a_decision_goes_back_to_the_queue_under_it(prefixed_app):
    (item,) = log_reviews(prefixed_app, ["You are a fool."])
    browser = _through_proxy(prefixed_app)
    assert sign_in(browser, "mo", prefix=PREFIX).status_code == 302
    page = browser.get(f"{PREFIX}/ui/queue", query_string={"reason": "insult"}).get_data(as_text=True)
    (back,) = re.findall(r'name="next" value="([^"]*)"', page)
    answer = browser.post(f"{PREFIX}/ui/queue/{item}", data={"decision": "reject", "csrf_token": csrf_from(page), "next": back})
    assert (answer.status_code, answer.headers["Location"]) == (303, f"{PREFIX}/ui/queue?reason=insult")


@pytest.mark.parametrize("target", ["/ui/../v1/model", "/ui/%2e%2e/healthz", "/ui/try/.%2E/../metrics", "/ui/./../docs"])
def test_a_next_that_climbs_out_of_the_page_goes_to_the_queue(ui_app, target):
    # The browser resolves the dots: /ui/../v1/model is /v1/model, a page of the site outside the moderation page.
    client = ui_app.test_client()
    token = csrf_from(client.get("/ui/sign-in").get_data(as_text=True))
    answer = client.post("/ui/sign-in", data={"name": "mo", "password": PASSWORD, "csrf_token": token, "next": target})
    assert (answer.status_code, answer.headers.get("Location")) == (302, "/ui/queue")
    staying = client.get("/ui/sign-in", query_string={"next": "/ui/try?q=a..b"})  # dots inside a name are no segment
    assert (staying.status_code, staying.headers.get("Location")) == (302, "/ui/try?q=a..b")


@pytest.mark.parametrize("limit, wait", [("2 per minute", "1 minute"), ("2 per hour", "1 hour"), ("2 per day", "1 day")])
def test_a_refused_sign_in_says_how_long_the_address_must_wait(tiny_bundle_path, limit, wait):
    # The page said "Wait a minute" whatever SIGN_IN_RATE_LIMIT was: under "2 per hour" the moderator came back after
    # a minute to the same refusal, again and again, while Retry-After said an hour.
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "SIGN_IN_RATE_LIMIT": limit})
    add_user(app, "mo")
    client = app.test_client()
    assert [sign_in(client, "mo", "wrong password").status_code for _ in range(2)] == [401, 401]
    refused = sign_in(client, "mo")
    assert refused.status_code == 429
    assert f"Try again in {wait}." in refused.get_data(as_text=True)
    retry_after = int(refused.headers["Retry-After"])
    assert 0 < retry_after <= {"1 minute": 60, "1 hour": 3600, "1 day": 86400}[wait]
