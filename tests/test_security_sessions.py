"""Security review of the moderation page's sessions: signing out ends them on the server, not just in one browser.

A session cookie is signed, not stored: before ``users.session_version``, a copy taken before sign-out kept
working until ``PERMANENT_SESSION_LIFETIME`` after sign-in.
"""

from __future__ import annotations

import hashlib
import time

import pytest
from sqlalchemy import text

from service.app import create_app
from service.cli import cli
from service.migrations import upgrade
from service.store import app_engine, get_session, make_engine
from service.users import find_user
from tests.ui_support import PASSWORD, add_user, csrf_from, sign_in

SIGN_IN_PAGE = "/ui/sign-in"
REVISION_BEFORE_SESSION_VERSIONS = "0003"


@pytest.fixture
def ui_app(tiny_bundle_path, tmp_path):
    """The service on a SQLite file (which the command line can open too) with moderators ``mo`` and ``al``."""
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": f"sqlite:///{tmp_path / 'ui.db'}"})
    add_user(app, "mo")
    add_user(app, "al")
    yield app
    app_engine(app).dispose()


def signed_in_client(app, name: str = "mo"):
    """A test client (a browser, a device) signed in as ``name``."""
    client = app.test_client()
    assert sign_in(client, name).status_code == 302
    return client


def copy_of(app, client):
    """Another client holding a copy of ``client``'s session cookie, as someone who took it would."""
    name = app.config["SESSION_COOKIE_NAME"]
    thief = app.test_client()
    thief.set_cookie(name, client.get_cookie(name).value)
    return thief


def sign_out(client):
    """Press the page's Sign out button; return the answer."""
    page = client.get("/ui/try")
    assert page.status_code == 200
    return client.post("/ui/sign-out", data={"csrf_token": csrf_from(page.get_data(as_text=True))})


def is_signed_out(client) -> bool:
    """True when a page sends ``client`` to sign in and the page's script is told it is signed out (401)."""
    page = client.get("/ui/queue")
    script = client.get("/ui/try", headers={"Accept": "application/json"})
    return page.status_code == 302 and page.headers["Location"].startswith(SIGN_IN_PAGE) and script.status_code == 401


def test_a_copy_of_the_session_cookie_stops_working_at_sign_out(ui_app):
    client = signed_in_client(ui_app)
    thief = copy_of(ui_app, client)
    assert thief.get("/ui/queue").status_code == 200  # the copy works while the session lasts
    assert sign_out(client).headers["Location"] == SIGN_IN_PAGE
    assert is_signed_out(client)
    assert is_signed_out(thief)


def test_signing_out_ends_that_users_sessions_on_every_device_and_no_one_elses(ui_app):
    laptop, phone, colleague = signed_in_client(ui_app), signed_in_client(ui_app), signed_in_client(ui_app, "al")
    sign_out(laptop)
    assert is_signed_out(phone)
    assert colleague.get("/ui/queue").status_code == 200


def test_the_sign_in_page_says_every_device_was_signed_out(ui_app):
    client = signed_in_client(ui_app)
    page = client.get(sign_out(client).headers["Location"])
    assert page.status_code == 200 and "You are signed out on every device" in page.get_data(as_text=True)


def test_signing_in_again_after_signing_out_works_and_the_copy_stays_dead(ui_app):
    client = signed_in_client(ui_app)
    thief = copy_of(ui_app, client)
    sign_out(client)
    assert sign_in(client, "mo").status_code == 302
    assert client.get("/ui/queue").status_code == 200
    assert is_signed_out(thief)


def test_a_sign_in_between_two_sign_outs_read_at_the_same_time_is_ended_by_the_second(ui_app):
    """Two sign-outs (two workers) read the same version; raising it from the value read would make the second
    write the version the first wrote, and a session signed in between them would survive both."""
    from sqlalchemy.orm import Session

    from service.users import end_sessions

    later = ui_app.test_client()
    with Session(app_engine(ui_app)) as one, Session(app_engine(ui_app)) as other:
        first, second = find_user(one, "mo"), find_user(other, "mo")
        version = second.session_version
        end_sessions(one, first)
        assert sign_in(later, "mo").status_code == 302
        end_sessions(other, second)
        with ui_app.app_context():
            assert find_user(get_session(), "mo").session_version == version + 2
    assert is_signed_out(later)


def test_moderate_users_sign_out_ends_every_session_and_keeps_the_password(ui_app, runner):
    client = signed_in_client(ui_app)
    env = {"MODERATION_DB_URL": ui_app.config["DB_URL"]}
    result = runner.invoke(cli, ["users", "sign-out", "mo"], env=env)
    assert result.exit_code == 0, result.output
    assert "Signed mo out on every device" in result.stderr
    assert is_signed_out(client)
    assert sign_in(client, "mo", PASSWORD).status_code == 302 and client.get("/ui/queue").status_code == 200
    unknown = runner.invoke(cli, ["users", "sign-out", "nobody"], env=env)
    assert unknown.exit_code == 2 and "no user called 'nobody'; see `moderate users list`" in unknown.stderr
    assert "sign-out" in runner.invoke(cli, ["users", "--help"]).stdout


def test_moderate_users_sign_out_refuses_a_missing_database(runner, tmp_path):
    missing = tmp_path / "absent" / "moderation.db"
    result = runner.invoke(cli, ["users", "sign-out", "mo"], env={"MODERATION_DB_URL": f"sqlite:///{missing}"})
    assert result.exit_code == 2 and f"no database at {missing}" in result.stderr
    assert not (tmp_path / "absent").exists()


def test_sessions_signed_in_before_the_upgrade_end_once_and_sign_in_works_after_it(tiny_bundle_path, tmp_path):
    """The stamp now covers the session version, so older cookies no longer match: their users sign in once more."""
    from argon2 import PasswordHasher

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    password_hash = PasswordHasher().hash(PASSWORD)
    try:
        upgrade(engine, REVISION_BEFORE_SESSION_VERSIONS)
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO users (id, name, password_hash, role, created_at) "
                                    "VALUES (1, 'mo', :hash, 'moderator', '2026-12-01 00:00:00')"), {"hash": password_hash})
    finally:
        engine.dispose()
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": url})  # upgrades the database
    try:
        client = app.test_client()
        with client.session_transaction() as session:  # the cookie the code before this revision gave
            session.update(user_id=1, stamp=hashlib.sha256(password_hash.encode("utf-8")).hexdigest()[:16], signed_in_at=time.time())
        assert is_signed_out(client)
        assert sign_in(client, "mo").status_code == 302
        assert client.get("/ui/queue").status_code == 200
    finally:
        app_engine(app).dispose()
