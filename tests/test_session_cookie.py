"""The moderation page's session cookie behind a proxy that serves the service under a path prefix.

Flask gives its session cookie ``Path=/`` (``APPLICATION_ROOT``) whatever prefix the request came under, so two
instances on one host under ``/a`` and ``/b`` overwrote each other's sign-in, and every application on the host was
sent the cookie. ``service.ui.session_cookie`` makes the path the request's ``script_root``.
"""

from __future__ import annotations

import pytest
from werkzeug.test import Client

from service.app import create_app
from tests.ui_support import ProxyHost, add_user, csrf_from, sign_in

SESSION_COOKIE = "session"
PREFIXES = ("/a", "/b")
OTHER_APP = "/other"
"""Another application on the same host, not behind the same prefix."""


def _instance(tiny_bundle_path):
    """One instance behind one trusted proxy, with a moderator ``mo``."""
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "TRUSTED_PROXY_HOPS": 1})
    add_user(app, "mo")
    return app


@pytest.fixture
def host(tiny_bundle_path) -> ProxyHost:
    return ProxyHost({prefix: _instance(tiny_bundle_path) for prefix in PREFIXES})


def _signed_in(browser: Client, prefix: str) -> bool:
    """Whether the page under ``prefix`` shows this browser the queue (else it sends it to sign in)."""
    answer = browser.get(f"{prefix}/ui/queue")
    assert answer.status_code in (200, 302), answer.status_code
    return answer.status_code == 200


def _session_cookies(answer) -> list[str]:
    return [cookie for cookie in answer.headers.getlist("Set-Cookie") if cookie.startswith(SESSION_COOKIE + "=")]


def _path(cookie: str) -> str | None:
    """The ``Path`` attribute of a ``Set-Cookie`` value."""
    return next((part.partition("=")[2] for part in cookie.split("; ") if part.startswith("Path=")), None)


def test_the_session_cookie_path_is_the_proxys_prefix(host):
    browser = Client(host)
    answer = sign_in(browser, "mo", prefix="/a")
    assert answer.status_code == 302
    (cookie,) = _session_cookies(answer)
    assert _path(cookie) == "/a"
    assert browser.get_cookie(SESSION_COOKIE, path="/a") is not None
    assert browser.get_cookie(SESSION_COOKIE, path="/") is None


def test_two_instances_under_two_prefixes_keep_their_own_sign_ins(host):
    # With Path=/ the second sign-in replaced the first one's cookie: the instance under /a saw /b's session, which it
    # does not know, and sent its moderator back to the sign-in page.
    browser = Client(host)
    assert sign_in(browser, "mo", prefix="/a").status_code == 302
    assert sign_in(browser, "mo", prefix="/b").status_code == 302
    assert _signed_in(browser, "/a") and _signed_in(browser, "/b")


def test_other_applications_on_the_host_are_not_sent_the_session_cookie(host):
    browser = Client(host)
    assert sign_in(browser, "mo", prefix="/a").status_code == 302
    browser.get(f"{OTHER_APP}/page")
    assert host.other_app_cookies and all(SESSION_COOKIE + "=" not in sent for sent in host.other_app_cookies)


def test_signing_out_under_a_prefix_replaces_that_prefixs_cookie_only(host):
    browser = Client(host)
    assert sign_in(browser, "mo", prefix="/a").status_code == 302
    assert sign_in(browser, "mo", prefix="/b").status_code == 302
    queue = browser.get("/a/ui/queue").get_data(as_text=True)
    signed_out = browser.post("/a/ui/sign-out", data={"csrf_token": csrf_from(queue)})
    assert signed_out.status_code == 302
    (cookie,) = _session_cookies(signed_out)  # the same cookie, now holding only the sign-out's message
    assert _path(cookie) == "/a"
    assert browser.get_cookie(SESSION_COOKIE, path="/") is None
    assert not _signed_in(browser, "/a")
    assert _signed_in(browser, "/b")


def test_an_emptied_session_deletes_the_cookie_under_the_prefix(tiny_bundle_path):
    # A session emptied (signed out, nothing left to show) deletes its cookie: with another path than the one it was
    # set with, the browser would keep it.
    from flask import session

    app = _instance(tiny_bundle_path)
    with app.test_request_context("/ui/queue", base_url="https://localhost/a/"):
        session["user_id"] = 1
        session.clear()
        response = app.response_class()
        app.session_interface.save_session(app, session, response)
    (cookie,) = _session_cookies(response)
    assert "Expires=Thu, 01 Jan 1970" in cookie
    assert _path(cookie) == "/a"


def test_without_a_prefix_the_session_cookie_path_is_the_root(tiny_bundle_path):
    app = _instance(tiny_bundle_path)
    browser = app.test_client()
    (cookie,) = _session_cookies(sign_in(browser, "mo"))
    assert _path(cookie) == "/"


def test_a_configured_session_cookie_path_is_kept(tiny_bundle_path):
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "TRUSTED_PROXY_HOPS": 1,
                      "SESSION_COOKIE_PATH": "/a/ui"})
    add_user(app, "mo")
    browser = Client(ProxyHost({"/a": app}))
    (cookie,) = _session_cookies(sign_in(browser, "mo", prefix="/a"))
    assert _path(cookie) == "/a/ui"


def test_a_prefix_sent_by_the_client_itself_is_not_the_cookie_path(tiny_bundle_path):
    # Without a trusted proxy (TRUSTED_PROXY_HOPS 0) X-Forwarded-Prefix is the client's own word, and ignored.
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://"})
    add_user(app, "mo")
    browser = app.test_client()
    browser.environ_base["HTTP_X_FORWARDED_PREFIX"] = "/a"
    (cookie,) = _session_cookies(sign_in(browser, "mo"))
    assert _path(cookie) == "/"
