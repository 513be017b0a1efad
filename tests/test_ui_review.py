"""The review queue as an editor works it: a comment longer than the queue shows is read whole on its own page before
it is decided; ids and dates typed into the address bar get a page saying what is wrong, never a 500."""

from __future__ import annotations

import html as html_module
import re

import pytest
from sqlalchemy import select

from service.store import Feedback, get_session
from service.ui.queue import MAX_ROW_ID, QueueFilter
from tests.ui_support import csrf_from, log_reviews, sign_in

BURIED = "You are a stupid clown and an idiot."
LONG = "The council delays the vote again. " * 1_000 + BURIED
"""A comment whose insult comes after the 20,480 characters the queue shows."""
WHOLE_LINK = re.compile(r'<a href="([^"]+)">Read the whole comment</a>')
QUOTE = re.compile(r'<blockquote class="comment-text" dir="auto">(.*?)</blockquote>', re.S)


def whole_link(page: str) -> str:
    """The queue item's link to its whole text."""
    found = WHOLE_LINK.search(page)
    assert found, "no link to the whole comment"
    return html_module.unescape(found.group(1))


def test_a_comment_cut_on_the_queue_is_read_whole_on_its_own_page(ui_app, moderator):
    """The queue showed the first 20,480 characters and said how many more it left out, with no way to read them: an
    insult after the cut was approved unread."""
    (item,) = log_reviews(ui_app, [LONG])
    queue = moderator.get("/ui/queue?reason=insult").get_data(as_text=True)
    assert BURIED not in queue and len(queue.encode()) < 20_480 + 30_000  # the queue stays light
    link = whole_link(queue)
    assert link.startswith(f"/ui/queue/{item}/text?")
    answer = moderator.get(link)
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store" and "script-src 'self'" in answer.headers["Content-Security-Policy"]
    page = answer.get_data(as_text=True)
    (quote,) = QUOTE.findall(page)
    assert html_module.unescape(quote) == LONG
    assert f"{len(LONG):,} characters" in page
    # Decided from there, the editor is back on the queue as it was filtered.
    token = csrf_from(page)
    assert 'name="next" value="/ui/queue?reason=insult"' in page
    decided = moderator.post(f"/ui/queue/{item}", data={"decision": "reject", "csrf_token": token, "next": "/ui/queue?reason=insult"})
    assert decided.status_code == 303 and decided.headers["Location"] == "/ui/queue?reason=insult"
    with ui_app.app_context():
        (row,) = get_session().scalars(select(Feedback)).all()
    assert (row.decision, row.decision_id, row.text) == ("reject", item, LONG)


def test_a_comment_the_queue_shows_whole_has_no_link(ui_app, moderator):
    log_reviews(ui_app, ["A short comment.", "x " * 5_000])  # folded, not cut
    assert not WHOLE_LINK.search(moderator.get("/ui/queue").get_data(as_text=True))


def test_the_whole_comment_page_of_a_decided_comment_says_who_decided_it(ui_app, moderator):
    (item,) = log_reviews(ui_app, [LONG])
    link = whole_link(moderator.get("/ui/queue").get_data(as_text=True))
    other = ui_app.test_client()
    from tests.ui_support import add_user

    add_user(ui_app, "eve")
    sign_in(other, "eve")
    token = csrf_from(other.get("/ui/queue").get_data(as_text=True))
    assert other.post(f"/ui/queue/{item}", data={"decision": "approve", "csrf_token": token}).status_code == 303
    page = moderator.get(link).get_data(as_text=True)
    assert "eve has already decided this comment." in page and 'value="approve"' not in page


@pytest.mark.parametrize("next_page, back", [("https://evil.example/ui/queue", "/ui/queue"), ("/ui/queue?site=none", "/ui/queue?site=none")])
def test_the_whole_comment_page_goes_back_only_to_this_site(ui_app, moderator, next_page, back):
    (item,) = log_reviews(ui_app, [LONG])
    answer = moderator.get(f"/ui/queue/{item}/text", query_string={"next": next_page})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "https://evil" not in page
    assert f'<a href="{html_module.escape(back)}">Back to the review queue</a>' in page


def test_the_whole_comment_page_is_for_signed_in_users(ui_app):
    (item,) = log_reviews(ui_app, [LONG])
    answer = ui_app.test_client().get(f"/ui/queue/{item}/text")
    assert answer.status_code == 302 and "/ui/sign-in" in answer.headers["Location"]


@pytest.mark.parametrize("item_id", ["{missing}", str(MAX_ROW_ID + 1), "99999999999999999999"])
def test_an_item_no_queue_holds_is_a_404_page(ui_app, moderator, item_id):
    """An id above 2**63 - 1 reached the database driver: OverflowError, a 500, for a decision on it."""
    (item,) = log_reviews(ui_app, ["a comment"])
    item_id = item_id.format(missing=item + 1)
    token = csrf_from(moderator.get("/ui/queue").get_data(as_text=True))
    decided = moderator.post(f"/ui/queue/{item_id}", data={"decision": "approve", "csrf_token": token})
    shown = moderator.get(f"/ui/queue/{item_id}/text")
    for answer in (decided, shown):
        assert answer.status_code == 404 and "That comment is not in the review queue." in answer.get_data(as_text=True)


def test_swapped_dates_are_reported_not_shown_as_an_empty_queue(ui_app, moderator):
    """From 2026-12-31 to 2026-01-01 matched nothing, and the page said only "0 comments waiting"."""
    queue_filter, problems = QueueFilter.from_args({"since": "2026-12-31", "until": "2026-01-01"})
    assert list(problems) == ["until"] and "before the from date" in problems["until"]
    assert (str(queue_filter.since), queue_filter.until) == ("2026-12-31", None)
    assert QueueFilter.from_args({"since": "2026-01-01", "until": "2026-01-01"})[1] == {}  # one day is a range
    answer = moderator.get("/ui/queue?since=2026-12-31&until=2026-01-01")
    assert answer.status_code == 400
    assert 'id="until" name="until" type="date" value="" aria-invalid="true" aria-describedby="until-error"' in answer.get_data(as_text=True)


@pytest.mark.parametrize("argument, words", [("before", "not an item number"), ("site", "Choose the site")])
def test_a_filter_id_of_thousands_of_digits_is_reported_not_a_500(moderator, argument, words):
    """Python reads no integer of over 4,300 digits (ValueError): a hand-edited page position or site was a 500."""
    answer = moderator.get(f"/ui/queue?{argument}={'9' * 5_000}")
    assert answer.status_code == 400 and words in answer.get_data(as_text=True)


def test_a_form_too_large_to_read_says_what_to_do(ui_app, moderator):
    """werkzeug's "The data value transmitted exceeds the capacity limit." named neither the limit nor what to do."""
    token = csrf_from(moderator.get("/ui/try").get_data(as_text=True))
    ui_app.config["MAX_CONTENT_LENGTH"] = 20_000
    answer = moderator.post("/ui/try", data={"comments": "A long paste. " * 2_000, "csrf_token": token})
    assert answer.status_code == 413 and answer.content_type.startswith("text/html")
    page = answer.get_data(as_text=True)
    assert "larger than this server reads (20,000 bytes, MAX_CONTENT_LENGTH)" in page
    assert f"at most {ui_app.config['MAX_REQUEST_CHARS']:,} characters can be tried at a time" in page and "capacity limit" not in page
