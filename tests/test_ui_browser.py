"""The moderation page in a real browser (Chromium via ChromeDriver): sign in, try, the queue by keyboard, axe-core."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from service.app import create_app
from service.store import Feedback, get_session
from tests.browser import chromium, require_browser, serious_violations, serving, sign_in_with, wait_for
from tests.ui_support import PASSWORD, add_user, log_reviews

HOSTILE = "You are a stupid clown, the minister ignores the vote."
ATTACK = '<script>window.pwned = "script"</script><img src=x onerror="window.pwned = \'img\'"> you stupid clown'


@pytest.fixture
def browser_app(tiny_bundle_path, tmp_path):
    """The service on a SQLite file (the server thread and the test share it), texts stored, cookies over plain HTTP."""
    require_browser()
    app = create_app({
        "MODEL": str(tiny_bundle_path), "DB_URL": f"sqlite:///{tmp_path / 'ui.db'}", "STORE_TEXT": True,
        "SESSION_COOKIE_SECURE": False, "SECRET_KEY_FILE": str(tmp_path / "secret_key"),
    })
    add_user(app, "ed", role="admin")
    return app


@pytest.mark.slow
def test_a_moderator_tries_comments_and_works_the_queue_by_keyboard(browser_app, tmp_path):
    from selenium.webdriver.common.by import By

    older, newest = log_reviews(browser_app, [HOSTILE, ATTACK])
    with serving(browser_app) as base, chromium(tmp_path / "profile") as driver:
        driver.get(f"{base}/ui/queue")
        assert "/ui/sign-in" in driver.current_url
        assert serious_violations(driver) == []
        sign_in_with(driver, base, "ed", PASSWORD)

        # Try it: a hostile comment's span is highlighted; markup in a comment is shown as text and never runs.
        driver.get(f"{base}/ui/try")
        driver.find_element(By.ID, "comments").send_keys(f"{HOSTILE}\n{ATTACK}")
        driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "article.result"))
        marks = [mark.text for mark in driver.find_elements(By.CSS_SELECTOR, "article.result blockquote mark")]
        assert any("stupid" in mark or "clown" in mark for mark in marks), marks
        texts = [quote.text for quote in driver.find_elements(By.CSS_SELECTOR, "article.result blockquote")]
        assert texts[1].startswith('<script>window.pwned = "script"</script><img src=x onerror=')
        assert driver.find_elements(By.CSS_SELECTOR, "article.result blockquote img, article.result blockquote script") == []
        assert driver.execute_script("return window.pwned === undefined")
        assert serious_violations(driver) == []

        # The queue: newest first; j, j, k comes back to the first item, r rejects it.
        driver.get(f"{base}/ui/queue")
        items = driver.find_elements(By.CSS_SELECTOR, ".queue .item")
        assert [item.get_attribute("id") for item in items] == [f"item-{newest}", f"item-{older}"]
        assert driver.execute_script("return window.pwned === undefined")
        assert serious_violations(driver) == []
        body = driver.find_element(By.TAG_NAME, "body")
        for key in "jjk":
            body.send_keys(key)
        assert driver.switch_to.active_element.get_attribute("id") == f"item-{newest}"
        driver.switch_to.active_element.send_keys("r")
        wait_for(driver, lambda d: not d.find_elements(By.ID, f"item-{newest}"))
        assert driver.switch_to.active_element.get_attribute("id") == f"item-{older}"
        assert "Rejected the comment" in driver.find_element(By.ID, "queue-count").text

        for path in ("/ui/model", "/ui/keys"):
            driver.get(f"{base}{path}")
            assert serious_violations(driver) == [], path

    with browser_app.app_context():
        rows = list(get_session().scalars(select(Feedback)))
    assert [(row.decision_id, row.decision, row.moderator, row.text, row.source) for row in rows] == [(newest, "reject", "ed", ATTACK, "ui")]


@pytest.mark.parametrize("ci, outcome", [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_a_missing_browser_fails_under_ci_and_skips_elsewhere(monkeypatch, tmp_path, ci, outcome):
    monkeypatch.setattr("tests.browser.CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match=r"no-chromium(, .*)? missing"):  # the driver and axe-core may be missing too
        require_browser()
