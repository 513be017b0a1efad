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
NARROW_WIDTH = 320
"""WCAG 1.4.10 (reflow): nothing may need sideways scrolling at 320 CSS px, a 1280 px window zoomed to 400%."""
DEFAULT_TEXT_PX = 16
"""Chromium's default text size; WCAG 1.4.4 asks that text can be doubled (32 px) without losing anything."""
DEFAULT_FIXED_TEXT_PX = 13
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


def lay_out(driver, width: int, text_px: int = DEFAULT_TEXT_PX) -> None:
    """Lay the pages out ``width`` CSS px wide, with the reader's default text size (the browser setting) at ``text_px``."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": WINDOW_SIZE[1], "deviceScaleFactor": 1, "mobile": False})
    fixed = round(text_px * DEFAULT_FIXED_TEXT_PX / DEFAULT_TEXT_PX)
    driver.execute_cdp_cmd("Page.setFontSizes", {"fontSizes": {"standard": text_px, "fixed": fixed}})


LAYOUT_PROBLEMS = """
const page = document.documentElement, width = page.clientWidth, problems = [];
const describe = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
  + (typeof el.className === "string" && el.className ? "." + el.className.trim().split(/\\s+/).join(".") : "");
if (page.scrollWidth > width) problems.push(`the page scrolls sideways: ${page.scrollWidth}px wide in a ${width}px window`);
const shown = (el) => { const box = el.getBoundingClientRect(); return box.width > 0 && box.height > 0; };
const controls = Array.from(document.querySelectorAll("a[href], button, input:not([type=hidden]), select, textarea"))
  .filter((el) => shown(el) && !el.classList.contains("skip"));
controls.forEach((one, i) => controls.slice(i + 1).forEach((other) => {
  const a = one.getBoundingClientRect(), b = other.getBoundingClientRect();
  const across = Math.min(a.right, b.right) - Math.max(a.left, b.left), down = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
  if (across > 1 && down > 1) problems.push(`${describe(one)} overlaps ${describe(other)}`);
}));
for (const el of document.querySelectorAll("body *:not(input, select, textarea, svg, svg *)")) {
  const style = getComputedStyle(el);
  const cut = (overflow, content, box) => ["hidden", "clip"].includes(overflow) && content > box + 1;
  if (cut(style.overflowX, el.scrollWidth, el.clientWidth) || cut(style.overflowY, el.scrollHeight, el.clientHeight)) {
    problems.push(`${describe(el)} cuts off its content`);
  }
}
return {problems, text_px: parseFloat(getComputedStyle(document.body).fontSize)};
"""


def layout_problems(driver) -> tuple[list[str], float]:
    """What breaks the page shown (sideways scrolling, controls on top of each other, text cut off) and its text size."""
    found = driver.execute_script(LAYOUT_PROBLEMS)
    return found["problems"], found["text_px"]


TAB_STOP = """
const el = document.activeElement, style = getComputedStyle(el), box = el.getBoundingClientRect();
if (el === document.body) return null;
const stops = (window.tabStops ||= []), again = stops[stops.length - 1] === el;
stops.push(el);
// A date field is one element with several stops: its parts take the field's ring, its calendar button Chromium's own.
const ring = again || (style.outlineStyle === "solid" && parseFloat(style.outlineWidth) >= 3);
const name = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.getAttribute("href") ? `[href=${el.getAttribute("href")}]` : "")
  + (el.getAttribute("aria-label") ? `[${el.getAttribute("aria-label")}]` : "");
return {name, ring, in_view: box.left >= 0 && box.right <= document.documentElement.clientWidth,
        scrolls: el.classList.contains("table-scroll") && el.scrollWidth > el.clientWidth};
"""
TAB_ORDER = """
const stops = (window.tabStops || []).filter((el, i, all) => el !== all[i - 1]);  // a date field's parts: one stop
const backwards = stops.slice(1).filter((el, i) => !(stops[i].compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING));
const missed = Array.from(document.querySelectorAll(".table-scroll")).filter((box) => box.scrollWidth > box.clientWidth && !stops.includes(box));
return {backwards: backwards.map((el) => el.outerHTML.slice(0, 80)), missed_scrolling_tables: missed.length};
"""
MAX_TAB_STOPS = 400


def tab_through(driver) -> tuple[list[dict], dict]:
    """Press Tab from the top of the page until the focus leaves it; return each stop and what is out of order.

    Fails when the focus is still on the page after MAX_TAB_STOPS presses (a keyboard trap, or a page far too long).
    """
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    def press_tab():
        ActionChains(driver).send_keys(Keys.TAB).perform()
        return driver.execute_script(TAB_STOP)

    driver.execute_script("window.tabStops = []")
    # Leave a focus the page set on load (autofocus, a script) by tabbing off its end: the next Tab starts at the top.
    for _ in range(MAX_TAB_STOPS):
        if driver.execute_script("return document.activeElement === document.body"):
            break
        press_tab()
    driver.execute_script("window.tabStops = []")
    stops = []
    for _ in range(MAX_TAB_STOPS):
        stop = press_tab()
        if stop is None:
            return stops, driver.execute_script(TAB_ORDER)
        stops.append(stop)
    raise AssertionError(f"the focus never left the page in {MAX_TAB_STOPS} presses of Tab; last stops: {stops[-5:]}")
