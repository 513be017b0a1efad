"""Follow-ups of the moderation page's accessibility audit: the menu on every error page of a signed-in user, the
queue's filter problems tied to their fields, and the Try page's focus moved to the results after scoring."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from service.ui.queue import QueueFilter
from tests.test_accessibility import by_id, parse
from tests.ui_support import csrf_from

STATIC = Path(__file__).resolve().parents[1] / "service" / "static"
FILTER_FIELDS = ("reason", "site", "since", "until")
"""The queue's filter fields with a control on the page (``before``, the page position, is in the link only)."""


def menu_and_sign_out(html: str) -> tuple[bool, bool]:
    """Whether the page has the menu, and a Sign out button."""
    root = parse(html)
    return bool(root.find_all("nav")), any(button.text() == "Sign out" for button in root.find_all("button"))


# 1. The error page of a request no route matched


@pytest.mark.parametrize("method, path, status", [("GET", "/ui/nope", 404), ("DELETE", "/ui/queue", 405),
                                                   ("POST", "/ui/try", 400)])  # a form without its CSRF token
def test_an_error_page_before_any_view_ran_shows_a_signed_in_user_the_menu(moderator, method, path, status):
    """An unknown /ui page (no route, so no before_request hook) showed a signed-in user no menu and no Sign out."""
    answer = moderator.open(path, method=method)
    assert answer.status_code == status and answer.content_type.startswith("text/html")
    html = answer.get_data(as_text=True)
    assert menu_and_sign_out(html) == (True, True)
    assert "aria-current" not in html  # the error is none of the menu's pages


@pytest.mark.parametrize("path", ["/ui/nope", "/ui/queue/zz"])
def test_an_unknown_page_shows_a_visitor_no_menu(ui_app, path):
    answer = ui_app.test_client().get(path)
    assert answer.status_code == 404 and menu_and_sign_out(answer.get_data(as_text=True)) == (False, False)


@pytest.mark.parametrize("path, status", [("/ui/queue", 200), ("/ui/keys", 403), ("/ui/nope", 404), ("/ui/queue/1", 405)])
def test_the_signed_in_user_is_looked_up_once_per_page(moderator, monkeypatch, path, status):
    """The error page loads the user only when the before_request hook did not (a view's own 403 comes after it)."""
    import service.ui.signin as signin

    lookups = []
    real = signin.get_session
    monkeypatch.setattr(signin, "get_session", lambda: lookups.append(path) or real())
    answer = moderator.get(path)
    assert answer.status_code == status and menu_and_sign_out(answer.get_data(as_text=True)) == (True, True)
    assert len(lookups) == 1


# 2. The queue's filter problems, each tied to its field


@pytest.mark.parametrize("args, field, words", [
    ({"reason": "bogus"}, "reason", "no reason called 'bogus'"),
    ({"site": "news"}, "site", "Choose the site"),
    ({"since": "yesterday"}, "since", "from date must look like 2026-12-31"),
    ({"until": "2026-13-01"}, "until", "to date must look like 2026-12-31"),
    ({"before": "abc"}, "before", "not an item number"),
])
def test_queue_filter_problems_are_keyed_by_their_field(args, field, words):
    queue_filter, problems = QueueFilter.from_args(args)
    assert list(problems) == [field] and words in problems[field]
    assert getattr(queue_filter, field) is None


def test_every_filter_problem_is_kept_with_its_field():
    _, problems = QueueFilter.from_args({"reason": "bogus", "site": "x", "since": "a", "until": "b", "before": "c"})
    assert list(problems) == ["reason", "site", "since", "until", "before"]
    assert QueueFilter.from_args({"reason": "insult", "since": "2026-01-02"})[1] == {}


def test_a_wrong_filter_field_is_marked_invalid_and_described_by_its_message(moderator):
    """The messages were a list of strings after the form: no field said it was wrong, nor which message was its."""
    answer = moderator.get("/ui/queue?since=yesterday&reason=bogus&before=abc")
    assert answer.status_code == 400
    root = parse(answer.get_data(as_text=True))
    ids = by_id(root)
    wrong = {name: ids[name] for name in FILTER_FIELDS if ids[name].attrs.get("aria-invalid") == "true"}
    assert sorted(wrong) == ["reason", "since"]
    for name, control in wrong.items():
        (message_id,) = control.attrs["aria-describedby"].split()
        message = ids[message_id]
        assert message.attrs.get("role") == "alert"
        assert ("from date" if name == "since" else "no reason called") in message.text()
    for name in ("site", "until"):
        assert "aria-invalid" not in ids[name].attrs and "aria-describedby" not in ids[name].attrs
    alerts = [node.text() for node in root.walk() if node.attrs.get("role") == "alert"]
    assert len(alerts) == 3 and any("not an item number" in text for text in alerts)  # the page position: no field


def test_a_queue_without_problems_marks_no_field(moderator):
    root = parse(moderator.get("/ui/queue?since=2026-01-01").get_data(as_text=True))
    assert not [node for node in root.walk() if "aria-invalid" in node.attrs or node.attrs.get("role") == "alert"]


# 3. The Try page moves the focus to the results


FOCUS_STAND_IN = r"""
// Enough DOM for try.js: the page's ids, a focus() that records, and DOMContentLoaded.
const fs = require("fs");
const { ids } = JSON.parse(fs.readFileSync(0, "utf8"));
const listeners = {};
let focused = null;
global.document = {
  readyState: "loading",
  getElementById: (id) => (ids.includes(id) ? { id, focus: () => { focused = id; } } : null),
  querySelector: () => null,
  querySelectorAll: () => [],
  addEventListener: (type, listener) => { (listeners[type] ||= []).push(listener); },
};
new Function(fs.readFileSync(process.argv[2], "utf8"))();
for (const listener of listeners.DOMContentLoaded || []) listener();
console.log(JSON.stringify({ focused }));
"""


def focused_after_load(html: str, script: Path, tmp_path: Path) -> str | None:
    """Run ``script`` under Node on a stand-in of the page's ids; return the id of the element it focused."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("no node to run the page's script with")
    stand_in = tmp_path / "focus.js"
    stand_in.write_text(FOCUS_STAND_IN)
    done = subprocess.run([node, str(stand_in), str(script)], input=json.dumps({"ids": list(by_id(parse(html)))}),
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["focused"]


def page_scripts(html: str) -> list[Path]:
    """The static files the page's <script>s load (an inline script would be refused by the CSP)."""
    scripts = parse(html).find_all("script")
    assert all(script.attrs.get("src", "").startswith("/static/") and not script.text() for script in scripts)
    return [STATIC / script.attrs["src"].removeprefix("/static/") for script in scripts]


def test_scoring_moves_the_focus_to_the_results_heading(moderator, tmp_path):
    """After Score the focus stayed on the button: a screen-reader user did not learn that results had arrived."""
    token = csrf_from(moderator.get("/ui/try").get_data(as_text=True))
    html = moderator.post("/ui/try", data={"comments": "You are a stupid clown.", "csrf_token": token}).get_data(as_text=True)
    heading = by_id(parse(html))["results-heading"]
    assert heading.tag == "h2" and heading.attrs.get("tabindex") == "-1"
    scripts = page_scripts(html)
    assert STATIC / "try.js" in scripts
    assert [focused_after_load(html, script, tmp_path) for script in scripts].count("results-heading") == 1


@pytest.mark.parametrize("comments", [None, " "])  # the empty form, and a refused one (its alert says what to fix)
def test_the_try_page_without_results_leaves_the_focus_alone(moderator, tmp_path, comments):
    html = moderator.get("/ui/try").get_data(as_text=True)
    if comments is not None:
        html = moderator.post("/ui/try", data={"comments": comments, "csrf_token": csrf_from(html)}).get_data(as_text=True)
    assert "results-heading" not in by_id(parse(html))
    for script in page_scripts(html):
        assert focused_after_load(html, script, tmp_path) is None
