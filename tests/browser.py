"""A real browser for the moderation page: Debian's Chromium through its ChromeDriver, the app on loopback, axe-core.

Shared by tests/test_ui_browser.py and tests/screenshots.py. ``.ci/browser.sh`` installs the browser,
the driver and axe-core; on a developer machine without them the browser test is skipped, under CI
(``CI=true``) it fails.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
AXE_JS = REPO / "tests" / "fixtures" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
)
WINDOW_SIZE = (1200, 900)
SEVERE_IMPACTS = ("serious", "critical")
WAIT_SECONDS = 20
AXE_RUN = """
const done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ["violations"]})
   .then(result => done(result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(" "))}))))
   .catch(error => done({error: String(error)}));
"""


def missing_browser_parts() -> list[str]:
    """What of Chromium, ChromeDriver and axe-core is not installed (empty when the test can run)."""
    return [str(path) for path in (CHROMIUM, CHROMEDRIVER, AXE_JS) if not path.is_file()]


def require_browser() -> None:
    """Skip the calling test when a browser part is missing; fail it instead under CI (``CI=true``)."""
    import pytest

    missing = missing_browser_parts()
    if not missing:
        return
    message = f"no browser to test with: {', '.join(missing)} missing; run `bash .ci/browser.sh` as root"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def chromium(profile_dir: Path) -> Iterator:
    """A headless Chromium with a fresh profile in ``profile_dir``, quit at the end."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", f"--window-size={WINDOW_SIZE[0]},{WINDOW_SIZE[1]}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_script_timeout(WAIT_SECONDS)
    try:
        yield driver
    finally:
        driver.quit()


@contextmanager
def serving(app) -> Iterator[str]:
    """Serve ``app`` from a thread on a free loopback port; yield its base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def wait_for(driver, condition, seconds: float = WAIT_SECONDS):
    """WebDriverWait(driver, seconds).until(condition)."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds).until(condition)


def sign_in_with(driver, base: str, name: str, password: str) -> None:
    """Fill in and send the sign-in form, then wait for the review queue."""
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/ui/sign-in")
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for(driver, lambda d: d.current_url.endswith("/ui/queue"))


def serious_violations(driver) -> list[dict]:
    """axe-core's serious and critical accessibility violations on the current page."""
    driver.execute_script(Path(os.environ.get("MODERATION_TEST_AXE_JS", AXE_JS)).read_text(encoding="utf-8"))
    found = driver.execute_async_script(AXE_RUN)
    if isinstance(found, dict):
        raise RuntimeError(f"axe-core failed: {found['error']}")
    return [violation for violation in found if violation["impact"] in SEVERE_IMPACTS]
