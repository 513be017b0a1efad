"""The moderation page against WCAG 2.2 AA, as far as its HTML, CSS and script show it.

Every page is rendered through Flask's test client and parsed (``html.parser``); colour contrast is computed from
``service/static/ui.css``; the review queue's script runs under Node on a small stand-in for the DOM built from the
rendered queue page. The browser test (tests/test_ui_browser.py) runs axe-core on top of this.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

from service.app import create_app
from service.ui.model_page import render_markdown
from tests.ui_support import add_user, csrf_from, log_reviews, sign_in

STATIC = Path(__file__).resolve().parents[1] / "service" / "static"
HOSTILE = "You are a stupid clown, the minister ignores the vote."
NEUTRAL = "The council supports the plan and I think that is fair."
TEXT_CONTRAST = 4.5
NON_TEXT_CONTRAST = 3.0
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
LABELLED_CONTROLS = ("input", "select", "textarea")
UNLABELLED_INPUT_TYPES = ("hidden", "submit", "button", "reset", "image")
PAGES = ("sign_in", "sign_in_error", "queue", "whole_comment", "try", "try_error", "model", "keys", "keys_created",
         "keys_name_error", "keys_scope_error", "forbidden", "not_found", "server_error")
TABLE_PAGES = ("try", "model", "keys", "keys_created")


# A small DOM from html.parser


@dataclass
class Node:
    """An element: tag, attributes, children (elements and text) and parent."""

    tag: str
    attrs: dict[str, str]
    parent: Node | None = None
    children: list[Node | str] = field(default_factory=list)

    def walk(self):
        """This element and every element under it, in document order."""
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.walk()

    def find_all(self, *tags: str) -> list[Node]:
        return [node for node in self.walk() if node.tag in tags]

    def text(self) -> str:
        """The text inside, whitespace collapsed."""
        parts = [child if isinstance(child, str) else child.text() for child in self.children]
        return " ".join("".join(parts).split())

    def ancestors(self):
        node = self.parent
        while node is not None:
            yield node
            node = node.parent

    def to_json(self) -> dict:
        return {"tag": self.tag, "attrs": self.attrs,
                "children": [child if isinstance(child, str) else child.to_json() for child in self.children]}


class TreeBuilder(HTMLParser):
    """Rendered HTML as a tree of Nodes (the templates close every element they open, bar the void ones)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.open = self.root

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {name: value or "" for name, value in attrs}, self.open)
        self.open.children.append(node)
        if tag not in VOID:
            self.open = node

    def handle_startendtag(self, tag, attrs):
        self.open.children.append(Node(tag, {name: value or "" for name, value in attrs}, self.open))

    def handle_endtag(self, tag):
        node = self.open
        while node is not self.root and node.tag != tag:
            node = node.parent
        assert node is not self.root, f"</{tag}> closes nothing"
        self.open = node.parent

    def handle_data(self, data):
        self.open.children.append(data)


def parse(html: str) -> Node:
    builder = TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


def by_id(root: Node) -> dict[str, Node]:
    return {node.attrs["id"]: node for node in root.walk() if "id" in node.attrs}


def accessible_name(node: Node, ids: dict[str, Node]) -> str:
    """aria-labelledby, else aria-label, else the text inside (enough for this page's buttons and links)."""
    if "aria-labelledby" in node.attrs:
        return " ".join(ids[ref].text() for ref in node.attrs["aria-labelledby"].split())
    return node.attrs.get("aria-label") or node.text()


# The pages


@pytest.fixture(scope="module")
def pages(tiny_bundle_path, tmp_path_factory) -> dict[str, str]:
    """Every page of /ui as HTML: signed out, as a moderator and as an admin, with their error states."""
    reports = tmp_path_factory.mktemp("reports")
    (reports / "plots").mkdir()
    (reports / "plots" / "s_curves.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (reports / "eval.json").write_text(json.dumps({
        "model_version": "tiny", "sets": {"s": {"attributes": {"toxicity": {"roc_auc": 0.9, "pr_auc": 0.8, "brier": 0.1}},
                                                "plots": {"curves": "plots/s_curves.png"}}},
        "bias": {"sets": {"madlibs": {"identities": {"muslim": {"n_rows": 40, "n_positive": 20, "subgroup_auc": 0.8,
                                                                "scored": True}}}}}}))
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "STORE_TEXT": True,
                      "REPORTS_DIR": str(reports)})
    add_user(app, "mo")
    add_user(app, "ad", role="admin")
    first_id, _ = log_reviews(app, ["first comment", HOSTILE])
    visitor, moderator, admin = app.test_client(), app.test_client(), app.test_client()
    sign_in(moderator, "mo")
    sign_in(admin, "ad")
    token = csrf_from(admin.get("/ui/keys").get_data(as_text=True))
    for name in ("news-site", "coral"):
        admin.post("/ui/keys", data={"name": name, "scope": ["moderate"], "csrf_token": token})

    def html(answer) -> str:
        return answer.get_data(as_text=True)

    own_token = csrf_from(html(moderator.get("/ui/try")))

    shown = {
        "sign_in": html(visitor.get("/ui/sign-in")),
        "sign_in_error": html(visitor.post("/ui/sign-in", data={
            "name": "mo", "password": "wrong", "csrf_token": csrf_from(html(visitor.get("/ui/sign-in")))})),
        "queue": html(moderator.get("/ui/queue")),
        "whole_comment": html(moderator.get(f"/ui/queue/{first_id}/text")),
        "try": html(moderator.post("/ui/try", data={"comments": f"{HOSTILE}\n{NEUTRAL}", "csrf_token": own_token})),
        "try_error": html(moderator.post("/ui/try", data={"comments": " ", "csrf_token": own_token})),
        "model": html(admin.get("/ui/model")),
        "keys": html(admin.get("/ui/keys")),
        "keys_created": html(admin.post("/ui/keys", data={"name": "forum", "scope": ["moderate"], "csrf_token": token})),
        "keys_name_error": html(admin.post("/ui/keys", data={"name": "2024", "scope": ["moderate"], "csrf_token": token})),
        "keys_scope_error": html(admin.post("/ui/keys", data={"name": "blog", "csrf_token": token})),
        "forbidden": html(moderator.get("/ui/keys")),
        "not_found": html(moderator.get("/ui/nope")),
    }
    app.config["PROPAGATE_EXCEPTIONS"] = False  # a failing view answers with the page's 500, as in production
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("service.ui.try_page.render_template", _fail)
        shown["server_error"] = html(moderator.get("/ui/try"))
    assert "<mark" in shown["try"] and "Internal Server Error" in shown["server_error"]
    return shown


def _fail(*_args, **_kwargs):
    raise RuntimeError("a bug in a view")


@pytest.mark.parametrize("page", PAGES)
def test_every_page_has_a_language_one_main_one_h1_a_skip_link_and_a_title(pages, page):
    root = parse(pages[page])
    (html,) = root.find_all("html")
    assert html.attrs.get("lang") == "en"
    (title,) = root.find_all("title")
    assert title.text().endswith("· Comment moderation") and title.text() != "· Comment moderation"
    assert len(root.find_all("main")) == 1
    assert len(root.find_all("h1")) == 1, [node.text() for node in root.find_all("h1")]
    skip = root.find_all("a")[0]
    assert skip.attrs["href"] == "#main" and "main" in by_id(root) and by_id(root)["main"].tag == "main"


def test_every_page_has_its_own_title(pages):
    titles = {page: parse(html).find_all("title")[0].text() for page, html in pages.items()
              if not page.endswith(("error", "_created"))}
    assert len(set(titles.values())) == len(titles), titles


@pytest.mark.parametrize("page", ["queue", "try", "model", "keys"])
def test_signed_in_pages_have_a_named_menu_marking_the_page_shown(pages, page):
    root = parse(pages[page])
    (nav,) = root.find_all("nav")
    assert nav.attrs.get("aria-label")
    current = [link.text() for link in nav.find_all("a") if link.attrs.get("aria-current") == "page"]
    assert current == [{"queue": "Review queue", "try": "Try a comment", "model": "Model", "keys": "API keys"}[page]]


@pytest.mark.parametrize("page", ["server_error", "forbidden"])
def test_an_error_page_marks_no_menu_entry_as_the_page_shown(pages, page):
    """A 500 in the try page said "Try a comment, current page" to a screen reader while showing the error."""
    root = parse(pages[page])
    assert root.find_all("nav"), "a signed-in error page keeps the menu"
    assert [link.text() for link in root.find_all("a") if "aria-current" in link.attrs] == []


@pytest.mark.parametrize("page", PAGES)
def test_every_form_control_has_a_label_not_only_a_placeholder(pages, page):
    root = parse(pages[page])
    ids = by_id(root)
    labels_for = {label.attrs["for"] for label in root.find_all("label") if "for" in label.attrs}
    for control in root.find_all(*LABELLED_CONTROLS):
        if control.attrs.get("type") in UNLABELLED_INPUT_TYPES:
            continue
        wrapped = any(node.tag == "label" and node.text() for node in control.ancestors())
        named = control.attrs.get("id") in labels_for or control.attrs.get("aria-label") or wrapped
        if "aria-labelledby" in control.attrs:
            named = accessible_name(control, ids)
        assert named, f"{page}: {control.tag} {control.attrs} has no label"


@pytest.mark.parametrize("page", PAGES)
def test_every_button_says_what_it_does_and_no_two_different_actions_share_a_name(pages, page):
    """The queue's buttons were all called "Approve" and "Reject": a screen reader's list of buttons was 25 of each."""
    root = parse(pages[page])
    ids = by_id(root)
    actions: dict[str, set[tuple[str, str]]] = {}
    for button in root.find_all("button"):
        name = accessible_name(button, ids)
        assert name.strip(), f"{page}: a button without a name"
        assert button.text() in name, f"{page}: the name {name!r} must contain the visible label {button.text()!r}"
        form = next((node for node in button.ancestors() if node.tag == "form"), None)
        action = form.attrs["action"] if form else f"script: #{button.attrs['id']}"  # a button of the page's script
        actions.setdefault(name, set()).add((action, button.attrs.get("value", "")))
    assert {name: found for name, found in actions.items() if len(found) > 1} == {}


def test_each_queue_button_names_its_comment(pages):
    root = parse(pages["queue"])
    names = sorted(button.attrs.get("aria-label", "") for button in root.find_all("button") if button.attrs.get("name") == "decision")
    assert names == ["Approve comment c0", "Approve comment c1", "Reject comment c0", "Reject comment c1"]


@pytest.mark.parametrize("page", PAGES)
def test_aria_references_name_elements_on_the_page(pages, page):
    root = parse(pages[page])
    ids = by_id(root)
    for node in root.walk():
        for attribute in ("aria-describedby", "aria-labelledby"):
            for ref in node.attrs.get(attribute, "").split():
                assert ref in ids, f"{page}: {node.tag} {attribute}={ref!r} names nothing"


@pytest.mark.parametrize("page", PAGES)
def test_every_table_header_says_what_it_heads(pages, page):
    """MODEL_CARD.md's tables, rendered into the model page, had bare <th>s."""
    root = parse(pages[page])
    for header in root.find_all("th"):
        assert header.attrs.get("scope") in ("col", "row"), f"{page}: <th> {header.text()!r} without scope"
    for table in root.find_all("table"):
        assert table.find_all("th"), f"{page}: a table without headers"


def test_the_model_card_sits_under_the_model_pages_own_heading():
    """The card's "# Model card" was a second <h1> on the model page, and its sections sat beside the page's own."""
    html = str(render_markdown("# Card\n\n## Part\n\n#### Deep\n\n| a | b |\n|--:|---|\n| 1 | 2 |\n", top_heading=3))
    assert re.findall(r"<(h\d|th)\b[^>]*>", html) == ["h3", "h4", "h6", "th", "th"]
    assert html.count('<th scope="col">') == 2


def test_the_model_pages_headings_follow_its_outline(pages):
    root = parse(pages["model"])
    headings = [(node.tag, node.text()) for node in root.walk() if re.fullmatch(r"h[1-6]", node.tag)]
    card = headings.index(("h2", "Model card"))
    assert headings[card + 1][0] == "h3", headings[card:card + 3]
    assert all(tag != "h1" for tag, _ in headings[1:])


def test_plots_have_alt_text_saying_what_they_show(pages):
    root = parse(pages["model"])
    (figure,) = root.find_all("figure")
    (image,) = figure.find_all("img")
    (caption,) = figure.find_all("figcaption")
    alt = image.attrs["alt"]
    assert "ROC, precision-recall and reliability curves" in alt and " s;" in alt and caption.text() not in alt
    for image in root.find_all("img", "svg"):
        assert image.attrs.get("alt") or image.attrs.get("aria-label") or image.attrs.get("aria-hidden") == "true"


def test_the_try_pages_bars_are_described_in_words(pages):
    root = parse(pages["try"])
    bars = root.find_all("svg")
    assert bars and all(bar.attrs.get("role") == "img" and re.match(r"[a-z ]+ \d\.\d\d", bar.attrs["aria-label"]) for bar in bars)


def test_every_threshold_mark_is_drawn_on_its_casing(pages):
    """The marks were bare dark lines: on the red, amber and green fills they cross they had 2.1-2.7:1 (see below)."""
    for bar in parse(pages["try"]).find_all("svg"):
        lines = bar.find_all("line")
        marks = [number for number, line in enumerate(lines) if "mark" in line.attrs["class"].split()]
        assert marks, "every attribute of the tiny bundle has a threshold"
        for number in marks:
            casing = lines[number - 1] if number else None
            assert casing is not None and casing.attrs["class"] == "mark-casing", "a mark without a casing drawn under it"
            assert (casing.attrs["x1"], casing.attrs["x2"]) == (lines[number].attrs["x1"], lines[number].attrs["x2"])


@pytest.mark.parametrize("page", TABLE_PAGES)
def test_every_table_scrolls_in_its_own_box_not_the_page(pages, page):
    """At 320 px the keys, model (and its model card's) and score tables made the whole page scroll sideways."""
    tables = parse(pages[page]).find_all("table")
    assert tables
    for table in tables:
        named = " ".join(caption.text() for caption in table.find_all("caption")) or table.find_all("tr")[0].text()
        boxed = "table-scroll" in table.parent.attrs.get("class", "").split()
        assert boxed, f"the table {named!r} is not in a box"


def test_highlighted_words_are_named_in_text_not_only_in_a_title(pages):
    """A <mark>'s title (the attributes it raised) is not read by every screen reader: the list under it says it."""
    root = parse(pages["try"])
    article = root.find_all("article")[0]
    listed = article.find_all("ul")[0].text()
    for mark in article.find_all("blockquote")[0].find_all("mark"):
        for attribute in mark.attrs["title"].split(", "):
            assert f"raised {attribute}" in listed
        assert mark.text() in listed


@pytest.mark.parametrize("page, error_id, described", [
    ("sign_in_error", "sign-in-error", ["name", "password"]), ("try_error", "comments-error", ["comments"]),
    ("keys_name_error", "key-error", ["key-name"]), ("keys_scope_error", "key-error", ["fieldset"]),
])
def test_an_error_is_announced_and_tied_to_its_field(pages, page, error_id, described):
    """A missing scope's message was tied to the key's name field, and the scope boxes to nothing."""
    root = parse(pages[page])
    ids = by_id(root)
    assert ids[error_id].attrs.get("role") == "alert" and ids[error_id].text()
    tied = [node for node in root.walk() if error_id in node.attrs.get("aria-describedby", "").split()]
    assert [node.attrs.get("id", node.tag) for node in tied] == described


@pytest.mark.parametrize("page, invalid", [
    ("sign_in", []), ("sign_in_error", ["name", "password"]), ("try", []), ("try_error", ["comments"]),
    ("keys", []), ("keys_name_error", ["key-name"]),
])
def test_a_refused_field_is_marked_invalid_as_on_every_page(pages, page, invalid):
    """The queue's filters and the keys page marked a refused field aria-invalid; the Try page's text box and the
    sign-in fields did not, so a screen reader said the error once and never again on the field."""
    root = parse(pages[page])
    marked = [node for node in root.walk() if node.attrs.get("aria-invalid") == "true"]
    assert [node.attrs["id"] for node in marked] == invalid
    assert all(node.attrs.get("aria-describedby") for node in marked)


def test_the_queues_result_line_is_a_live_region_the_script_can_focus(pages):
    ids = by_id(parse(pages["queue"]))
    assert ids["queue-count"].attrs.get("role") == "status" and ids["queue-count"].attrs.get("tabindex") == "-1"


# Colours and focus, from ui.css


def css_rules() -> dict[str, dict[str, str]]:
    """ui.css as {selector: {property: value}} (a selector written twice: its declarations merged)."""
    source = re.sub(r"/\*.*?\*/", "", (STATIC / "ui.css").read_text(), flags=re.S)
    rules: dict[str, dict[str, str]] = {}
    for selector, body in re.findall(r"([^{}]+)\{([^{}]*)\}", source):
        declarations = (part.split(":", 1) for part in body.split(";") if ":" in part)
        rules.setdefault(" ".join(selector.split()), {}).update({name.strip(): value.strip() for name, value in declarations})
    return rules


def colour(rules: dict[str, dict[str, str]], value: str) -> str:
    """The #rrggbb a colour value comes to, custom properties resolved."""
    found = re.search(r"var\((--[\w-]+)\)|#[0-9a-fA-F]{3,6}\b", value)
    assert found, f"no colour in {value!r}"
    if found.group(1):
        return colour(rules, rules[":root"][found.group(1)])
    digits = found.group(0)[1:]
    return "#" + (digits if len(digits) == 6 else "".join(2 * digit for digit in digits)).lower()


def contrast(first: str, second: str) -> float:
    """WCAG 2 contrast ratio of two #rrggbb colours."""

    def luminance(hex_colour: str) -> float:
        channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(first), luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


SURFACES = ("body", ".top", ".comment-text", ".warning", ".notice", ".skip:focus")
"""Where text and focus rings sit: the page, the header, a quoted comment, the warning and notice boxes."""
TEXT_COLOURS = ("body", "a", ".hint", ".error", "caption", ".item-title", ".decision-approve .decision",
                ".decision-review .decision", ".decision-reject .decision")
FILLED = ("button", "button.approve", "button.reject", ".sign-out button, .filters a", "mark")
"""Rules that set a background of their own behind their text."""
COLOURED_BUTTONS = ("button", "button.approve", "button.reject")


def background(rules, selector: str) -> str:
    return colour(rules, rules[selector]["background"])


@pytest.mark.parametrize("text", TEXT_COLOURS)
def test_text_colours_reach_4_5_to_1_on_every_surface(text):
    rules = css_rules()
    for surface in SURFACES:
        ratio = contrast(colour(rules, rules[text]["color"]), background(rules, surface))
        assert ratio >= TEXT_CONTRAST, f"{text} on {surface}: {ratio:.2f}:1"


@pytest.mark.parametrize("selector", FILLED)
def test_text_on_buttons_and_highlights_reaches_4_5_to_1(selector):
    rules = css_rules()
    text = colour(rules, rules[selector].get("color") or rules["button"]["color"])
    assert contrast(text, background(rules, selector)) >= TEXT_CONTRAST


def test_the_focus_ring_shows_on_every_surface_and_around_every_button():
    """The yellow ring (#ffbf47) had 1.6:1 on the white page and 1.5:1 on the header: WCAG 1.4.11 asks 3:1."""
    rules = css_rules()
    focus = rules[":focus-visible"]
    assert focus["outline"].split()[:2] == ["3px", "solid"] and focus["outline-offset"] == "2px"
    ring = colour(rules, focus["outline"])
    band = colour(rules, focus["box-shadow"])  # fills the 2px between the control and the ring
    assert focus["box-shadow"].startswith("0 0 0 2px")
    for surface in SURFACES:
        assert contrast(ring, background(rules, surface)) >= NON_TEXT_CONTRAST, surface
    for button in COLOURED_BUTTONS:  # the band keeps a dark button's edge from merging into the dark ring
        assert contrast(band, background(rules, button)) >= NON_TEXT_CONTRAST, button
    assert contrast(ring, band) >= NON_TEXT_CONTRAST
    assert not [selector for selector, declared in rules.items() if declared.get("outline") in ("none", "0")]


BAR_FILLS = (".bar .fill", ".band-review .bar .fill", ".band-reject .bar .fill")
"""A score's fill: green below the thresholds, amber from review, red from reject."""


def test_threshold_marks_reach_3_to_1_against_every_colour_beside_them():
    """The dark marks (#1a1a1a) had 2.1:1 on the red fill, 2.7:1 on the amber and green ones (WCAG 1.4.11 asks 3:1).

    A mark is a dark line on a light casing: against each colour it crosses (the track, every fill, the page above and
    below the bar) one of the two must reach 3:1, and the line must against its casing.
    """
    rules = css_rules()
    layers = {selector: colour(rules, rules[selector]["stroke"]) for selector in (".bar .mark", ".bar .mark-casing")
              if selector in rules}
    crossed = {"the track": colour(rules, rules[".bar .track"]["fill"]), "the page": background(rules, "body"),
               **{selector: colour(rules, rules[selector]["fill"]) for selector in BAR_FILLS}}
    for name, behind in crossed.items():
        best = max(contrast(layer, behind) for layer in layers.values())
        assert best >= NON_TEXT_CONTRAST, f"a threshold mark on {name}: {best:.2f}:1"
    line, casing = layers[".bar .mark"], layers[".bar .mark-casing"]
    assert contrast(line, casing) >= NON_TEXT_CONTRAST


def test_a_bars_track_and_fill_stand_out_from_the_page_and_from_each_other():
    """The grey track (#e6e6e6) had 1.25:1 on the white page: how far the bar goes (where a score of 1 ends) was unseen."""
    rules = css_rules()
    track = rules[".bar .track"]
    edge, inside, page = colour(rules, track.get("stroke", track["fill"])), colour(rules, track["fill"]), background(rules, "body")
    assert contrast(edge, page) >= NON_TEXT_CONTRAST and contrast(edge, inside) >= NON_TEXT_CONTRAST
    for selector in BAR_FILLS:
        fill = colour(rules, rules[selector]["fill"])
        assert contrast(fill, inside) >= NON_TEXT_CONTRAST and contrast(fill, page) >= NON_TEXT_CONTRAST, selector


def test_text_sizes_follow_the_readers_text_size_setting():
    """body's font was 16px: a reader who doubled the browser's text size still got 16 px (WCAG 1.4.4)."""
    in_px = [selector for selector, declared in css_rules().items()
             for name in ("font", "font-size") if re.search(r"\d(\.\d+)?px", declared.get(name, ""))]
    assert in_px == []


def test_highlights_are_underlined_not_shown_by_colour_alone():
    rules = css_rules()
    mark = rules["mark"]
    width, style, line = mark["border-bottom"].split(maxsplit=2)
    assert width == "2px" and style == "solid"
    for behind in (background(rules, "mark"), background(rules, ".comment-text")):
        assert contrast(colour(rules, line), behind) >= NON_TEXT_CONTRAST


def test_nothing_moves_so_reduced_motion_needs_no_exception():
    """No transition, animation or smooth scrolling anywhere; were one added, it belongs under prefers-reduced-motion."""
    css = (STATIC / "ui.css").read_text()
    assert not re.search(r"\b(transition|animation)\s*:|scroll-behavior\s*:\s*smooth", css)
    assert "smooth" not in (STATIC / "queue.js").read_text()


# The review queue's script, under Node


DOM_STAND_IN = r"""
// Enough DOM for queue.js: elements from the rendered page, selectors of tags, classes, ids and [attributes].
const fs = require("fs");
const { page, steps, stored, status } = JSON.parse(fs.readFileSync(0, "utf8"));
const listeners = { document: {}, elements: new Map() };
const calls = [];
let active = null;

function matchesCompound(node, compound) {
  for (const part of compound.match(/[.#]?[\w-]+|\[[\w-]+\]/g)) {
    if (part[0] === ".") { if (!node.classList.contains(part.slice(1))) return false; }
    else if (part[0] === "#") { if (node.id !== part.slice(1)) return false; }
    else if (part[0] === "[") { if (!node.hasAttribute(part.slice(1, -1))) return false; }
    else if (node.tagName !== part) return false;
  }
  return true;
}
function matches(node, selector) {
  return selector.split(",").some((one) => {
    const parts = one.trim().split(/\s+/);
    if (!matchesCompound(node, parts.pop())) return false;
    let up = node.parentNode;
    while (parts.length && up) { if (matchesCompound(up, parts[parts.length - 1])) parts.pop(); up = up.parentNode; }
    return parts.length === 0;
  });
}
class Element {
  constructor(json, parent) {
    this.tagName = json.tag; this.attrs = { ...json.attrs }; this.parentNode = parent;
    this.classList = new Set((this.attrs.class || "").split(/\s+/).filter(Boolean));
    this.classList.contains = this.classList.has;
    this.classList.remove = this.classList.delete;
    this.children = json.children.map((child) => (typeof child === "string" ? child : new Element(child, this)));
    this.checked = "checked" in this.attrs;
    this._text = null;
  }
  get id() { return this.attrs.id || ""; }
  get action() { return this.attrs.action; }
  get value() { return this.attrs.value; }
  hasAttribute(name) { return name in this.attrs; }
  getAttribute(name) { return this.attrs[name] ?? null; }
  setAttribute(name, value) { this.attrs[name] = String(value); }
  removeAttribute(name) { delete this.attrs[name]; }
  get textContent() { return this._text ?? this.children.map((c) => (typeof c === "string" ? c : c.textContent)).join(""); }
  set textContent(value) { this._text = value; }
  *descendants() { for (const c of this.children) if (typeof c !== "string") { yield c; yield* c.descendants(); } }
  querySelectorAll(selector) { return [...this.descendants()].filter((node) => matches(node, selector)); }
  querySelector(selector) { return this.querySelectorAll(selector)[0] || null; }
  closest(selector) { let node = this; while (node && node.tagName) { if (matches(node, selector)) return node; node = node.parentNode; } return null; }
  contains(other) { while (other) { if (other === this) return true; other = other.parentNode; } return false; }
  focus() { active = this; }
  scrollIntoView(options) { calls.push({ scroll: options }); }
  remove() { if (!this.parentNode) return; const siblings = this.parentNode.children; siblings.splice(siblings.indexOf(this), 1); this.parentNode = null; }
  addEventListener(type, listener) {
    const own = listeners.elements.get(this) || {};
    (own[type] ||= []).push(listener);
    listeners.elements.set(this, own);
  }
  fire(type, event) { for (const listener of (listeners.elements.get(this) || {})[type] || []) listener(event); }
}
const root = new Element(page, null);
const body = root.querySelector("body");
active = body;
global.document = {
  getElementById: (id) => root.querySelector("#" + id),
  querySelectorAll: (selector) => root.querySelectorAll(selector),
  querySelector: (selector) => root.querySelector(selector),
  addEventListener: (type, listener) => { (listeners.document[type] ||= []).push(listener); },
};
const storage = new Map(Object.entries(stored));
global.localStorage = { getItem: (key) => storage.get(key) ?? null, setItem: (key, value) => storage.set(key, value) };
global.FormData = class { set(name, value) { this[name] = value; } };
global.fetch = async (url, options) => { calls.push({ fetch: url, decision: options.body.decision }); return { ok: status < 400, status }; };

new Function(fs.readFileSync(process.argv[2], "utf8"))();
for (const listener of listeners.document.DOMContentLoaded) listener();

(async () => {
  for (const step of steps) {
    if (step.key) {
      const target = step.on === "focus" ? active : root.querySelector(step.on);
      const event = { key: step.key, repeat: Boolean(step.repeat), target, ctrlKey: false, metaKey: false, altKey: false,
                      preventDefault() {} };
      for (const listener of listeners.document.keydown) listener(event);
    } else if (step.untick) {
      const box = root.querySelector(step.untick);
      box.checked = false;
      box.fire("change", {});
    } else if (step.press) {
      const button = root.querySelector(step.press);
      for (let n = 0; n < (step.times || 1); n++) button.closest("form").fire("submit", { submitter: button, preventDefault() {} });
    } else if (step.submit) {
      // A browser without event.submitter: the form is submitted and no button is named.
      const form = root.querySelector(step.submit);
      let prevented = false;
      form.fire("submit", { submitter: undefined, preventDefault() { prevented = true; } });
      if (!prevented) calls.push({ posted: form.action });
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  const shortcuts = root.querySelector("#shortcuts");
  console.log(JSON.stringify({
    fetched: calls.filter((call) => call.fetch).map((call) => call.fetch),
    decisions: calls.filter((call) => call.fetch).map((call) => call.decision),
    posted_by_the_browser: calls.filter((call) => call.posted).map((call) => call.posted),
    focused: active && (active.id || active.tagName),
    status: root.querySelector("#queue-count").textContent,
    items: root.querySelectorAll(".queue .item").map((item) => item.id),
    shortcuts_shown: shortcuts ? !shortcuts.closest("[hidden]") : null,
    help_shown: !root.querySelector("#queue-help").hasAttribute("hidden"),
    list_described_by: root.querySelector(".queue")?.getAttribute("aria-describedby") ?? null,
    stored: Object.fromEntries(storage),
  }));
})();
"""


def run_queue_script(html: str, steps: list[dict], tmp_path: Path, stored: dict | None = None, status: int = 200) -> dict:
    """Run queue.js on the rendered queue page, take ``steps`` (keys, button presses, submits naming no button,
    unticking), the server answering each decision with ``status``, and say what followed."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("no node to run the page's script with")
    stand_in = tmp_path / "dom.js"
    stand_in.write_text(DOM_STAND_IN)
    (html_node,) = parse(html).find_all("html")
    given = json.dumps({"page": html_node.to_json(), "steps": steps, "stored": stored or {}, "status": status})
    done = subprocess.run([node, str(stand_in), str(STATIC / "queue.js")], input=given, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def item_ids(html: str) -> list[str]:
    return [node.attrs["id"] for node in parse(html).walk() if "item" in node.attrs.get("class", "").split()]


def test_the_queue_script_approves_by_keyboard_and_says_so(pages, tmp_path):
    newest, older = item_ids(pages["queue"])
    shown = run_queue_script(pages["queue"], [{"key": "j", "on": "body"}, {"key": "a", "on": "focus"}], tmp_path)
    assert shown["fetched"] == [f"/ui/queue/{newest.removeprefix('item-')}"]
    assert shown["items"] == [older] and shown["focused"] == older
    assert shown["status"] == "Approved the comment; 1 left on this page."


def test_deciding_the_last_comment_on_the_page_keeps_the_focus_where_the_result_is_said(pages, tmp_path):
    """The focus went with the removed comment, to nowhere: a keyboard user started again from the top of the page."""
    newest, older = item_ids(pages["queue"])
    steps = [{"press": f"#{newest} button.reject"}, {"press": f"#{older} button.approve"}]
    shown = run_queue_script(pages["queue"], steps, tmp_path)
    assert shown["items"] == [] and len(shown["fetched"]) == 2
    assert shown["focused"] == "queue-count" and shown["status"] == "Approved the comment; 0 left on this page."


def test_a_and_r_decide_only_the_comment_holding_the_focus(pages, tmp_path):
    """After j selected a comment, an "r" typed with the focus on another control (or by speech input) rejected it."""
    steps = [{"key": "j", "on": "body"}, {"key": "r", "on": "nav a"}, {"key": "a", "on": "body"}]
    shown = run_queue_script(pages["queue"], steps, tmp_path)
    assert shown["fetched"] == [] and len(shown["items"]) == 2


def test_the_one_letter_shortcuts_can_be_turned_off_and_stay_off(pages, tmp_path):
    """WCAG 2.1.4: one-letter shortcuts that act while the focus is anywhere on the page need an off switch."""
    steps = [{"untick": "#shortcuts"}, {"key": "j", "on": "body"}, {"key": "a", "on": "focus"}]
    shown = run_queue_script(pages["queue"], steps, tmp_path)
    assert shown["shortcuts_shown"] is True
    assert shown["fetched"] == [] and shown["focused"] == "body" and shown["stored"] == {"queue-shortcuts": "off"}
    later = run_queue_script(pages["queue"], [{"key": "j", "on": "body"}], tmp_path, stored=shown["stored"])
    assert later["focused"] == "body"


def test_a_held_down_key_decides_one_comment_not_the_next_ones_too(pages, tmp_path):
    """A held-down "a" repeats: each repeat approved the comment that took the focus after the last one was decided."""
    newest, older = item_ids(pages["queue"])
    steps = [{"key": "j", "on": "body"}, {"key": "a", "on": "focus"}, {"key": "a", "on": "focus", "repeat": True}]
    shown = run_queue_script(pages["queue"], steps, tmp_path)
    assert shown["fetched"] == [f"/ui/queue/{newest.removeprefix('item-')}"] and shown["items"] == [older]


def test_a_double_click_sends_one_decision(pages, tmp_path):
    """The second click sent the decision again: the server's 409 then read "Another moderator has already decided"."""
    newest, older = item_ids(pages["queue"])
    shown = run_queue_script(pages["queue"], [{"press": f"#{newest} button.reject", "times": 2}], tmp_path)
    assert shown["fetched"] == [f"/ui/queue/{newest.removeprefix('item-')}"] and shown["items"] == [older]


def test_a_comment_decided_in_another_tab_is_not_said_to_be_another_moderators(pages, tmp_path):
    """On the server's 409 the page said "Another moderator has already decided that comment." when the moderator had
    decided it in another tab: they were told a colleague was working the same queue."""
    newest, older = item_ids(pages["queue"])
    shown = run_queue_script(pages["queue"], [{"press": f"#{newest} button.approve"}], tmp_path, status=409)
    assert shown["items"] == [older] and "Another moderator" not in shown["status"]
    assert "already decided" in shown["status"] and "by you in another tab" in shown["status"]
    assert "not saved" in shown["status"]


def test_a_submit_naming_no_button_is_left_to_the_browser_never_taken_as_approve(pages, tmp_path):
    """Without event.submitter (older browsers) the script approved the comment, whichever button was pressed."""
    newest, older = item_ids(pages["queue"])
    steps = [{"submit": f"#{newest} form.decide"}, {"press": f"#{older} button.reject"}]
    shown = run_queue_script(pages["queue"], steps, tmp_path)
    assert shown["posted_by_the_browser"] == [f"/ui/queue/{newest.removeprefix('item-')}"]
    assert shown["fetched"] == [f"/ui/queue/{older.removeprefix('item-')}"] and shown["decisions"] == ["reject"]
    assert shown["items"] == [newest]


def test_the_keys_help_shows_only_with_the_script_that_handles_the_keys(pages, tmp_path):
    """Without JavaScript the page offered j, k, a and r, which then did nothing (and the list was described by them)."""
    root = parse(pages["queue"])
    help_text = by_id(root)["queue-help"]
    assert "hidden" in help_text.attrs and "Keyboard" in help_text.text()
    assert not [node for node in root.walk() if "queue-help" in node.attrs.get("aria-describedby", "")]
    shown = run_queue_script(pages["queue"], [], tmp_path)
    assert shown["help_shown"] is True and shown["list_described_by"] == "queue-help"
