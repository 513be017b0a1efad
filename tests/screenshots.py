"""Screenshots of the moderation page for README: ``make screenshots`` (python -m tests.screenshots --out docs/screenshots).

Serves the committed bundle on loopback with a throwaway database holding a few comments the model sent
to review, signs in as an admin in headless Chromium (``.ci/browser.sh`` installs it) and saves each
page as a PNG, reduced to a palette so that each stays small.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from tests.browser import chromium, missing_browser_parts, serving, sign_in_with, wait_for
from tests.ui_support import PASSWORD, add_user

TRY_COMMENTS = (
    "You are a pathetic idiot and everyone can see it.",
    "The council approved the budget on Tuesday after a long debate.",
    '<img src=x onerror="alert(1)"> Markup in a comment is shown as text.',
)
QUEUE_CANDIDATES = (
    "Anyone who votes for this clown deserves what they get.",
    "Crime went up 40% since they took over, everyone knows it.",
    "What a stupid decision, typical of this useless council.",
    "These people are vermin and should go back where they came from.",
    "The mayor is a liar and a crook.",
    "Vaccines cause more deaths than the virus, look it up.",
)
PALETTE_COLOURS = 256
MAX_PNG_BYTES = 200_000


def seed(app) -> None:
    """Two site keys and the candidates the model sends to review, logged as if those sites had sent them."""
    from flask import g

    from service.auth import create_key
    from service.config import EXTENSION_KEY
    from service.store import get_session, record_decisions

    with app.app_context():
        key_ids = [create_key(get_session(), name)[0].id for name in ("daily-news", "city-forum")]
    scorer = app.extensions[EXTENSION_KEY]
    decisions = scorer.moderate(list(QUEUE_CANDIDATES))
    for number, (text, decision) in enumerate(zip(QUEUE_CANDIDATES, decisions, strict=True)):
        if decision.action != "review":
            continue
        with app.test_request_context():
            g.api_key_id = key_ids[number % 2]
            record_decisions([f"article-7/comment-{number}"], [text], [decision], surface="v1")


def save_png(driver, path: Path) -> int:
    """Save the window as a palette PNG; return its size in bytes."""
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
    image.quantize(colors=PALETTE_COLOURS, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    return path.stat().st_size


def take(out: Path) -> list[tuple[Path, int]]:
    """Take every page's screenshot into ``out``; return (file, bytes) for each."""
    from selenium.webdriver.common.by import By

    from service.app import create_app

    out.mkdir(parents=True, exist_ok=True)
    saved = []
    with tempfile.TemporaryDirectory() as scratch:
        scratch_dir = Path(scratch)
        app = create_app({
            "DB_URL": f"sqlite:///{scratch_dir / 'ui.db'}", "STORE_TEXT": True, "SESSION_COOKIE_SECURE": False,
            "SECRET_KEY_FILE": str(scratch_dir / "secret_key"), "LOG_LEVEL": "WARNING",
        })
        add_user(app, "editor", role="admin")
        seed(app)
        with serving(app) as base, chromium(scratch_dir / "profile") as driver:
            driver.get(f"{base}/ui/sign-in")
            saved.append((out / "sign-in.png", save_png(driver, out / "sign-in.png")))
            sign_in_with(driver, base, "editor", PASSWORD)
            saved.append((out / "queue.png", save_png(driver, out / "queue.png")))
            driver.get(f"{base}/ui/try")
            driver.find_element(By.ID, "comments").send_keys("\n".join(TRY_COMMENTS))
            driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
            first = wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "article.result"))[0]
            driver.execute_script("arguments[0].scrollIntoView()", first)
            saved.append((out / "try.png", save_png(driver, out / "try.png")))
            for name in ("model", "keys"):
                driver.get(f"{base}/ui/{name}")
                saved.append((out / f"{name}.png", save_png(driver, out / f"{name}.png")))
    return saved


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--out DIR``; exits 2 when the browser is missing or a PNG is too big."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    args = parser.parse_args(argv)
    missing = [part for part in missing_browser_parts() if "axe" not in part]
    if missing:
        print(f"missing {', '.join(missing)}: run `sudo bash .ci/browser.sh` first", file=sys.stderr)
        return 2
    status = 0
    for path, size in take(args.out):
        print(f"{path} {size // 1000} kB")
        if size > MAX_PNG_BYTES:
            print(f"{path} is over {MAX_PNG_BYTES // 1000} kB; make the page or the window smaller", file=sys.stderr)
            status = 2
    return status


if __name__ == "__main__":
    sys.exit(main())
