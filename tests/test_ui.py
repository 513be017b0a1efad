"""The moderation page through Flask's test client: sign-in, sessions, CSRF, try-it, the review queue, keys, model."""

from __future__ import annotations

import html as html_module
import json
import os
import re
import stat
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from sqlalchemy import select

from model.results import Span
from model.training.site_data import read_site_data
from service.app import create_app
from service.config import ConfigError
from service.feedback_export import export_feedback, keys_matching
from service.store import DecisionRecord, Feedback, get_session
from service.ui.highlight import highlight
from service.ui.model_page import bias_table, render_markdown
from service.ui.queue import QueueFilter, waiting_items
from service.ui.secret import read_or_create_secret
from tests.ui_support import PASSWORD, add_user, csrf_from, log_reviews, sign_in

HOSTILE = "You are a stupid clown, the minister ignores the vote."
NEUTRAL = "The council supports the plan and I think that is fair."
ATTACK = '<script>alert("x")</script><img src=x onerror="alert(1)"> you stupid clown'


def feedback_rows(app) -> list[Feedback]:
    with app.app_context():
        return list(get_session().scalars(select(Feedback).order_by(Feedback.id)))


# Sign-in and sessions


@pytest.mark.parametrize("path", ["/ui/", "/ui/queue", "/ui/try", "/ui/model", "/ui/keys"])
def test_every_page_sends_a_visitor_to_sign_in(ui_app, path):
    answer = ui_app.test_client().get(path)
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/ui/sign-in?next=")


def test_a_wrong_password_or_unknown_name_is_refused_with_one_message(ui_app):
    client = ui_app.test_client()
    wrong = sign_in(client, "mo", "not the password")
    unknown = sign_in(client, "nobody")
    assert wrong.status_code == unknown.status_code == 401
    assert "do not match" in wrong.get_data(as_text=True) and "do not match" in unknown.get_data(as_text=True)
    assert client.get("/ui/queue").status_code == 302


def test_signing_in_sets_a_secure_httponly_samesite_cookie_and_signing_out_ends_it(ui_app):
    client = ui_app.test_client()
    answer = sign_in(client, "mo")
    assert answer.status_code == 302 and answer.headers["Location"] == "/ui/queue"
    cookie = answer.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    queue = client.get("/ui/queue")
    assert queue.status_code == 200
    client.post("/ui/sign-out", data={"csrf_token": csrf_from(queue.get_data(as_text=True))})
    assert client.get("/ui/queue").status_code == 302


def test_the_secure_flag_can_be_turned_off_for_plain_http_on_localhost(tiny_bundle_path):
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "SESSION_COOKIE_SECURE": False})
    add_user(app, "mo")
    assert "Secure" not in sign_in(app.test_client(), "mo").headers["Set-Cookie"]


@pytest.mark.parametrize("target, expected", [("/ui/try", "/ui/try"), ("https://evil.example/ui/", "/ui/queue"), ("//evil.example/ui/x", "/ui/queue"), ("/v1/model", "/ui/queue")])
def test_sign_in_returns_only_to_a_page_of_this_site(ui_app, target, expected):
    client = ui_app.test_client()
    token = csrf_from(client.get("/ui/sign-in").get_data(as_text=True))
    answer = client.post("/ui/sign-in", data={"name": "mo", "password": PASSWORD, "csrf_token": token, "next": target})
    assert answer.headers["Location"] == expected


def test_a_new_password_ends_open_sessions(ui_app, moderator):
    from service.users import set_password

    with ui_app.app_context():
        set_password(get_session(), "mo", "another long password")
    assert moderator.get("/ui/queue").status_code == 302


def test_the_sign_in_page_says_why_a_session_ended(ui_app, moderator):
    """An expired or ended session was sent to the sign-in form without a word, as if never signed in."""
    from service.users import set_password

    fresh = ui_app.test_client().get("/ui/sign-in").get_data(as_text=True)
    assert "You were signed out" not in fresh
    with moderator.session_transaction() as session:
        session["signed_in_at"] -= ui_app.permanent_session_lifetime.total_seconds()
    answer = moderator.get("/ui/try")
    assert answer.status_code == 302
    page = moderator.get(answer.headers["Location"]).get_data(as_text=True)
    assert "You were signed out: a session lasts 8 hours from signing in." in page
    assert "You were signed out" not in moderator.get("/ui/sign-in").get_data(as_text=True)  # said once
    assert sign_in(moderator, "mo").status_code == 302
    with ui_app.app_context():
        set_password(get_session(), "mo", "another long password")
    page = moderator.get(moderator.get("/ui/queue").headers["Location"]).get_data(as_text=True)
    assert "You were signed out: you signed out on another device, or your password was changed." in page


@pytest.mark.parametrize("seconds, words", [(8 * 60 * 60, "8 hours"), (90 * 60, "90 minutes"), (24 * 60 * 60, "1 day"), (45, "45 seconds")])
def test_a_session_lifetime_is_said_in_words(seconds, words):
    from service.ui.signin import duration_words

    assert duration_words(seconds) == words


def test_sign_in_attempts_are_rate_limited_per_address(tiny_bundle_path):
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "SIGN_IN_RATE_LIMIT": "2 per minute"})
    add_user(app, "mo")
    client = app.test_client()
    assert [sign_in(client, "mo", "wrong password").status_code for _ in range(2)] == [401, 401]
    token = csrf_from(client.get("/ui/sign-in").get_data(as_text=True))
    limited = client.post("/ui/sign-in", data={"name": "mo", "password": PASSWORD, "csrf_token": token, "next": "/ui/try"})  # even the right password
    assert limited.status_code == 429
    html = limited.get_data(as_text=True)
    assert "Too many sign-in attempts" in html
    assert 'value="mo"' in html and 'name="next" value="/ui/try"' in html  # kept for the next attempt
    assert "aria-invalid" not in html  # nothing typed was wrong: the wait is the address's, not the fields'
    assert client.get("/ui/sign-in").status_code == 200  # the form itself is not limited
    metrics = client.get("/metrics").get_data(as_text=True)  # counted as sign-in attempts, not an API key's requests
    assert 'moderation_limited_requests_total{limit="sign_in"} 1.0' in metrics
    assert 'limit="requests"' not in metrics


def test_a_bad_sign_in_rate_limit_stops_the_app_with_a_clear_error(tiny_bundle_path):
    with pytest.raises(ConfigError, match=r"setting SIGN_IN_RATE_LIMIT \(MODERATION_SIGN_IN_RATE_LIMIT\) is 'often'"):
        create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "SIGN_IN_RATE_LIMIT": "often"})


def test_a_post_without_the_csrf_token_is_refused(ui_app, moderator):
    assert ui_app.test_client().post("/ui/sign-in", data={"name": "mo", "password": PASSWORD}).status_code == 400
    assert moderator.post("/ui/try", data={"comments": HOSTILE}).status_code == 400
    assert moderator.post("/ui/try", data={"comments": HOSTILE, "csrf_token": "forged"}).status_code == 400
    assert moderator.post("/ui/try", data={"comments": HOSTILE, "csrf_token": "forgé"}).status_code == 400  # was a 500
    assert moderator.post("/ui/try", data={"comments": HOSTILE}, headers={"X-CSRF-Token": "forgé"}).status_code == 400


def test_api_routes_need_no_csrf_token_and_still_need_a_key(ui_app, moderator):
    assert moderator.post("/v1/moderate", json={"comments": [{"id": "a", "text": HOSTILE}]}).status_code == 401


@pytest.mark.parametrize("role, status", [("mo", 403), ("ad", 200)])
@pytest.mark.parametrize("path", ["/ui/model", "/ui/keys"])
def test_keys_and_model_pages_are_for_admins(ui_app, role, status, path):
    client = ui_app.test_client()
    sign_in(client, role)
    assert client.get(path).status_code == status


# Secret key


def test_session_defaults_are_safe():
    from service.config import load_config

    config = load_config()
    assert (config["SECRET_KEY"], config["SESSION_COOKIE_SECURE"], config["SESSION_COOKIE_HTTPONLY"], config["SESSION_COOKIE_SAMESITE"]) == (None, True, True, "Lax")


def test_a_generated_secret_key_is_kept_private_and_reused(tmp_path):
    path = tmp_path / "var" / "secret_key"
    first = read_or_create_secret(path)
    assert len(first) >= 64 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_or_create_secret(path) == first
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        read_or_create_secret(path)


def test_a_secret_key_file_on_a_read_only_file_system_is_a_config_error(tmp_path, monkeypatch):
    """A read-only file system (systemd's ProtectSystem=strict) refuses the temporary file and then its removal too:
    start-up showed that second OSError's traceback instead of saying to set SECRET_KEY."""
    import errno
    from pathlib import Path

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(os, "open", read_only)
    monkeypatch.setattr(Path, "unlink", read_only)
    with pytest.raises(ConfigError, match="SECRET_KEY_FILE .*cannot be written .*Read-only file system.*set SECRET_KEY"):
        read_or_create_secret(tmp_path / "secret_key")


def test_a_secret_key_file_whose_folder_cannot_be_made_is_a_config_error(tmp_path):
    (tmp_path / "taken").write_text("a file where the folder should be")
    with pytest.raises(ConfigError, match="SECRET_KEY_FILE .*cannot be written .*set SECRET_KEY"):
        read_or_create_secret(tmp_path / "taken" / "var" / "secret_key")


def test_apps_share_the_generated_key_and_a_configured_key_writes_nothing(tiny_bundle_path, tmp_path):
    path = tmp_path / "secret_key"
    config = {"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "SECRET_KEY_FILE": str(path)}
    assert create_app(config).secret_key == create_app(config).secret_key == path.read_text().strip()
    other = tmp_path / "unused"
    assert create_app({**config, "SECRET_KEY": "configured", "SECRET_KEY_FILE": str(other)}).secret_key == "configured"
    assert not other.exists()


# Try it


def test_try_shows_the_decision_bars_reasons_and_highlighted_spans(moderator, scorer):
    page = moderator.get("/ui/try")
    answer = moderator.post("/ui/try", data={"comments": f"{HOSTILE}\n\n{NEUTRAL}\n", "csrf_token": csrf_from(page.get_data(as_text=True))})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200
    hostile, neutral = scorer.moderate([HOSTILE, NEUTRAL])
    assert hostile.action != "approve" and neutral.action == "approve"
    assert html.count('class="result decision-') == 2
    assert f'class="result decision-{hostile.action}"' in html and 'class="result decision-approve"' in html
    assert re.search(r"<mark [^>]*>[^<]*(stupid|clown)", html), "the insult is highlighted"
    assert html.count('<svg class="bar"') == 2 * len(scorer.attributes)
    assert "It reads as" in html  # a reason in plain words


def test_try_follows_the_site_policy_span_floor(tiny_bundle_path, tmp_path, scorer):
    """A policy file's [spans] floor (POLICY) reaches the Try page through the scoring core: the words the bundle's floor
    marks are neither highlighted nor listed, and the decision is the same."""
    own = scorer.moderate([HOSTILE])[0]
    marked = [own.scores[attribute] for attribute in own.spans if attribute != "unsupported_claim"]
    assert marked and max(marked) < 1.0, own.spans
    path = tmp_path / "site-policy.toml"
    path.write_text(scorer.policy.to_toml() + f"\n[spans]\nfloor = {max(marked) + (1.0 - max(marked)) / 2!r}\n",
                    encoding="utf-8")
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "POLICY": str(path)})
    add_user(app, "mo")
    client = app.test_client()
    assert sign_in(client, "mo").status_code == 302
    page = client.get("/ui/try")
    html = client.post("/ui/try", data={"comments": HOSTILE, "csrf_token": csrf_from(page.get_data(as_text=True))}
                       ).get_data(as_text=True)
    assert f'class="result decision-{own.action}"' in html
    assert not re.search(r"<mark [^>]*>[^<]*(stupid|clown)", html) and "stupid clown" not in html.replace(HOSTILE, "")


def test_try_highlights_only_the_spans_behind_a_reason_and_lists_the_rest():
    """The try page marked words of approved civil comments as hostile: 2.7.0 gives a third of civil news comments a
    span below every threshold (MODEL_CARD, known limitations), and "You are a pathetic idiot" had its whole
    sentence marked for unsupported claim at 0.10."""
    from model.results import Decision, Reason
    from service.ui.try_page import tried_comment

    policy = SimpleNamespace(review={"insult": 0.35, "toxicity": 0.32}, reject={})

    text = "You are a pathetic idiot and everyone can see it."
    spans = {"toxicity": [Span(10, 24, 0.9)], "insult": [Span(10, 24, 0.9)], "unsupported_claim": [Span(0, len(text), 0.10)]}
    # The policy gives the reject reason only; insult reached its review threshold all the same.
    decision = Decision("reject", (Reason("toxicity", "reject", "toxicity", 1.0, 0.99),),
                        {"toxicity": 1.0, "insult": 0.8, "unsupported_claim": 0.1}, spans)
    shown = tried_comment(text, decision, policy)
    assert str(shown.highlighted).count("<mark") == 1
    assert 'data-attributes="insult toxicity">pathetic idiot</mark>' in str(shown.highlighted)
    assert shown.spans == [("toxicity", "pathetic idiot", 0.9, 1), ("insult", "pathetic idiot", 0.9, 1)]
    assert shown.weak_spans == [("unsupported_claim", text, 0.10, 1)]
    civil = Decision("approve", (), {"toxicity": 0.06}, {"toxicity": [Span(4, 9, 0.2)]})
    shown = tried_comment("The arms deal is a scandal.", civil, policy)
    assert "<mark" not in str(shown.highlighted) and shown.weak_spans == [("toxicity", "arms ", 0.2, 1)]


def test_try_lists_the_same_words_of_one_attribute_once_with_how_often_they_were_marked():
    # One insult repeated through a long comment listed 1,110 bullets per attribute (11,110 for five such lines).
    from model.results import Decision, Reason
    from service.ui.try_page import tried_comment

    policy = SimpleNamespace(review={"insult": 0.35}, reject={})
    sentence = "You are a stupid idiot. "
    text = sentence * 500
    spans = {"insult": [Span(i * len(sentence) + 10, i * len(sentence) + 22, 0.8 + (i == 7) * 0.1) for i in range(500)]}
    decision = Decision("review", (Reason("insult", "review", "insult", 0.9, 0.35),), {"insult": 0.9}, spans)
    shown = tried_comment(text, decision, policy)
    assert shown.spans == [("insult", "stupid idiot", 0.9, 500)]


def test_try_refuses_too_many_lines_with_a_message(ui_app, moderator):
    ui_app.config["MAX_COMMENTS_PER_REQUEST"] = 2
    token = csrf_from(moderator.get("/ui/try").get_data(as_text=True))
    answer = moderator.post("/ui/try", data={"comments": "a\nb\nc", "csrf_token": token})
    assert answer.status_code == 400
    assert "at most 2 comments" in answer.get_data(as_text=True)


def test_try_refuses_a_nul_as_the_api_does_and_never_echoes_it(ui_app, moderator):
    """The page scored a comment with a NUL (which /v1 and Perspective answer 400 to) and wrote U+0000 into its HTML
    (a cross-surface audit)."""
    token = csrf_from(moderator.get("/ui/try").get_data(as_text=True))
    answer = moderator.post("/ui/try", data={"comments": f"{NEUTRAL}\nYou are an idiot\x00 and a fool.", "csrf_token": token})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 400 and "\x00" not in page
    assert "Comment 2 contains a NUL character at character 16, which the API refuses" in page


def test_try_refuses_more_text_in_all_than_a_request_may_score(ui_app, moderator):
    # 100 lines of 20,000 characters were scored in one request: 20 times MAX_REQUEST_CHARS, past the worker's timeout.
    ui_app.config["MAX_REQUEST_CHARS"] = 2 * len(NEUTRAL)
    token = csrf_from(moderator.get("/ui/try").get_data(as_text=True))
    assert moderator.post("/ui/try", data={"comments": f"{NEUTRAL}\n{NEUTRAL}", "csrf_token": token}).status_code == 200
    answer = moderator.post("/ui/try", data={"comments": f"{NEUTRAL}\n{NEUTRAL}\nok", "csrf_token": token})
    assert answer.status_code == 400
    assert f"{2 * len(NEUTRAL) + 2:,} characters in all; at most {2 * len(NEUTRAL):,}" in answer.get_data(as_text=True)


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x0c", "\x0b", "\x85", "\x1e"])
def test_try_scores_a_line_with_a_unicode_separator_as_one_comment(ui_app, moderator, separator):
    token = csrf_from(moderator.get("/ui/try").get_data(as_text=True))
    pasted = f"first comment{separator}still the first\r\nsecond comment"
    html = moderator.post("/ui/try", data={"comments": pasted, "csrf_token": token}).get_data(as_text=True)
    assert re.findall(r'<h3 id="result-(\d+)"', html) == ["1", "2"]


def test_comment_text_is_escaped_everywhere_it_is_shown(ui_app, moderator):
    token = csrf_from(moderator.get("/ui/try").get_data(as_text=True))
    tried = moderator.post("/ui/try", data={"comments": ATTACK, "csrf_token": token}).get_data(as_text=True)
    log_reviews(ui_app, [ATTACK])
    queued = moderator.get("/ui/queue").get_data(as_text=True)
    for html in (tried, queued):
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;" in html and "&lt;img src=x onerror=" in html


RIGHT_TO_LEFT = "\u0623\u0646\u062a \u063a\u0628\u064a!"
"""Arabic for "you are stupid!": in a left-to-right block its "!" is drawn at its start, on the left."""


def test_a_comment_in_a_right_to_left_script_is_shown_in_its_own_direction(ui_app, moderator):
    """Comments were shown left to right whatever their script, and the words quoted from them not set apart."""
    from model.results import Reason
    from service.ui.explain import reason_sentence

    token = csrf_from(moderator.get("/ui/try").get_data(as_text=True))
    tried = moderator.post("/ui/try", data={"comments": f"{RIGHT_TO_LEFT} {HOSTILE}", "csrf_token": token}).get_data(as_text=True)
    log_reviews(ui_app, [RIGHT_TO_LEFT])
    queued = moderator.get("/ui/queue").get_data(as_text=True)
    for html in (tried, queued):
        shown = re.findall(r'<blockquote class="comment-text"([^>]*)>', html)
        assert shown and all('dir="auto"' in attributes for attributes in shown)
    assert re.search(r'<textarea id="comments"[^>]* dir="auto"', tried)
    assert re.search(r'<mark dir="auto">[^<]+</mark> raised', tried)  # the listed words, as the highlighted ones
    assert "comment <bdi>c0</bdi>" in queued
    sentence = reason_sentence(Reason("insult", "review", "insult", 0.6, 0.3, text=RIGHT_TO_LEFT))
    assert f"\u201c\u2068{RIGHT_TO_LEFT}\u2069\u201d." in sentence


@pytest.mark.parametrize("path", ["/ui/sign-in", "/ui/queue", "/ui/try", "/ui/model", "/ui/keys"])
def test_pages_have_a_strict_csp_and_no_inline_script_or_style(ui_app, admin, path):
    answer = (ui_app.test_client() if path == "/ui/sign-in" else admin).get(path)
    assert answer.status_code == 200
    policy = answer.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    html = answer.get_data(as_text=True)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script"
    assert not re.search(r"<style|\sstyle=|\son[a-z]+=", html), "inline style or event handler"


# Highlighting


def test_highlight_marks_overlapping_spans_and_escapes_every_piece():
    text = "a <b>bad</b> & worse"
    html = str(highlight(text, {"insult": [Span(2, 12, 0.9)], "toxicity": [Span(5, 20, 0.8)], "threat": [Span(40, 50, 0.5)]}))
    assert html == (
        'a <mark title="insult" data-attributes="insult">&lt;b&gt;</mark>'
        '<mark title="insult, toxicity" data-attributes="insult toxicity">bad&lt;/b&gt;</mark>'
        '<mark title="toxicity" data-attributes="toxicity"> &amp; worse</mark>'
    )


def test_highlight_without_spans_is_the_escaped_text():
    assert str(highlight("<i>x</i>", {})) == "&lt;i&gt;x&lt;/i&gt;"


def test_highlight_of_a_comment_at_the_length_limit_with_a_span_on_every_word_is_quick():
    # The try page takes 100 such lines: testing every span against every piece took 10 s a line (0.3 s now).
    text = "a " * 9_999  # 19,998 characters, the limit is 20,000
    words = [Span(begin, begin + 1, 0.9) for begin in range(0, len(text), 2)]
    started = time.perf_counter()
    html = str(highlight(text, {"insult": words, "toxicity": words[::2]}))
    assert time.perf_counter() - started < 3.0
    assert html.count('data-attributes="insult toxicity">a</mark>') == len(words[::2])
    assert html.count('data-attributes="insult">a</mark>') == len(words) - len(words[::2])


FLAG = "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"
"""England's flag: a black flag and six tag characters, drawn as one character."""


@pytest.mark.parametrize("text, span, marked", [
    (f"You stupid clown{FLAG}", Span(4, 17, 0.9), f"stupid clown{FLAG}"),  # the tiny model's span ends after the black flag
    ("nice \U0001f44d\U0001f3fd idiot", Span(5, 6, 0.9), "\U0001f44d\U0001f3fd"),  # a skin tone
    ("cafe\u0301 idiot", Span(0, 4, 0.9), "cafe\u0301"),  # a combining accent
    ("a family \U0001f468\u200d\U0001f469\u200d\U0001f467 here", Span(11, 13, 0.9),
     "\U0001f468\u200d\U0001f469\u200d\U0001f467"),  # inside a sequence joined by zero-width joiners
])
def test_highlight_never_splits_a_character_as_drawn(text, span, marked):
    """A span ending between a flag and its tags closed the <mark> inside the emoji: it was drawn broken in two."""
    html = str(highlight(text, {"insult": [span]}))
    assert f'data-attributes="insult">{marked}</mark>' in html
    assert html.replace('<mark title="insult" data-attributes="insult">', "").replace("</mark>", "") == text


def test_the_try_page_lists_a_spans_words_as_highlighted_whole_characters():
    from model.results import Decision, Reason
    from service.ui.try_page import tried_comment

    text = f"You stupid clown{FLAG}"
    decision = Decision("review", (Reason("insult", "review", "insult", 0.9, 0.5),), {"insult": 0.9}, {"insult": [Span(4, 17, 0.9)]})
    shown = tried_comment(text, decision, SimpleNamespace(review={"insult": 0.5}, reject={}))
    assert shown.spans == [("insult", f"stupid clown{FLAG}", 0.9, 1)]


def test_the_try_page_highlights_a_threat_phrase_that_sent_a_comment_to_review():
    """A threat phrase's words are in its reason, not among the threat attribute's spans: the page said "sent to review"
    and marked nothing."""
    from model.results import Decision, Reason
    from service.ui.try_page import tried_comment

    text = "Someone should shoot him."
    phrase = Span(0, 24, 1.0)
    reason = Reason("threat_phrase", "review", "threat", 0.004, None, phrase, text[:24])
    decision = Decision("review", (reason,), {"threat": 0.004, "toxicity": 0.1}, {"toxicity": [Span(15, 20, 0.1)]})
    shown = tried_comment(text, decision, SimpleNamespace(review={"threat": 0.3, "toxicity": 0.5}, reject={}))
    assert shown.spans == [("threat", "Someone should shoot him", 1.0, 1)]
    assert '<mark title="threat" data-attributes="threat">Someone should shoot him</mark>' in str(shown.highlighted)
    assert shown.weak_spans == [("toxicity", "shoot", 0.1, 1)]


# The review queue


def test_the_queue_lists_undecided_reviews_newest_first(ui_app, moderator):
    log_reviews(ui_app, ["first comment", "second comment", "third comment"])
    html = moderator.get("/ui/queue").get_data(as_text=True)
    assert html.index("third comment") < html.index("second comment") < html.index("first comment")
    assert "3 comments waiting" in html


QUOTE = re.compile(r'<blockquote class="comment-text" dir="auto">(.*?)</blockquote>', re.S)
FOLD = re.compile(r'<details class="more"><summary>[^<]*</summary>(.*?)</details>', re.S)


def quoted(html: str) -> list[tuple[str, str]]:
    """Each queue item's quote as (shown before any fold, folded), unescaped."""
    shown = []
    for quote in QUOTE.findall(html):
        folded = FOLD.search(quote)
        head = quote[: folded.start()] if folded else quote
        shown.append((html_module.unescape(head), html_module.unescape(folded.group(1)) if folded else ""))
    return shown


def test_a_page_of_the_longest_comments_folds_each_and_sends_its_text_once(ui_app, moderator):
    # 25 comments of 20,000 characters were shown in full: a moderator scrolled through some 500,000 characters to reach
    # the page's last buttons.
    texts = [f"Comment {number}: " + "the council delays the vote again " * 600 for number in range(25)]
    texts = [text[:20_000] for text in texts]
    log_reviews(ui_app, texts)
    page = moderator.get("/ui/queue").get_data(as_text=True)
    shown = quoted(page)
    assert len(shown) == 25
    for (head, rest), text in zip(shown, reversed(texts), strict=True):
        assert head + rest == text  # whole, in order, not sent twice
        assert 900 <= len(head) <= 1_000 and head.endswith(" ")  # the start shown, cut between words
    assert page.count('<details class="more">') == 25 and "<details open" not in page  # folded until asked
    assert "Show the rest of the comment (19," in page
    assert len(page.encode()) < 25 * 20_000 + 60_000  # the texts, once each, and little else


def test_a_short_comment_is_shown_whole_and_a_longer_than_scored_one_is_cut(ui_app, moderator):
    # Coral's endpoint logs a comment of any length (withheld unscored), up to MAX_CONTENT_LENGTH: 8 MiB on the page.
    long_one = "spam " * 40_000
    log_reviews(ui_app, ["A short comment.", "x" * 1_500, long_one])
    page = moderator.get("/ui/queue").get_data(as_text=True)
    (cut_head, cut_rest), (whole, nothing), (short, none) = quoted(page)
    assert (short, none) == ("A short comment.", "") and (whole, nothing) == ("x" * 1_500, "")
    assert long_one.startswith(cut_head + cut_rest) and 20_380 <= len(cut_head + cut_rest) <= 20_480
    assert f"{len(long_one) - len(cut_head + cut_rest):,} more characters are not shown" in page
    assert len(page.encode()) < 20_480 + 30_000


def test_the_fold_never_splits_a_character_drawn_as_one():
    from service.ui.queue import SHOWN_CHARS, shown_text

    text = "x" * (SHOWN_CHARS - 1) + "\U0001F44D\U0001F3FD" + "y" * 2_000  # no space: the cut falls in a skin-toned thumb
    shown = shown_text(text, 20_000)
    assert shown.head == "x" * (SHOWN_CHARS - 1) + "\U0001F44D\U0001F3FD" and shown.head + shown.rest == text


def test_a_comment_of_many_lines_is_folded_after_its_first_lines():
    # Folded by characters only: 1,400 line breaks in 1,452 characters drew 37 screens, the spam at the very bottom.
    from service.ui.queue import SHOWN_LINES, shown_text

    padded = "What a dumb take." + "\n" * 1_400 + "Buy cheap pills at example dot com."
    shown = shown_text(padded, 20_000)
    assert shown.head.count("\n") == SHOWN_LINES and shown.head + shown.rest == padded and "pills" in shown.rest
    poem = "\n".join(f"line {number}" for number in range(30))  # 29 line breaks: short enough to show whole
    assert shown_text(poem, 20_000).rest == ""


def test_withheld_coral_comments_have_a_reason_the_filter_offers_and_buttons_name_each_item(ui_app, moderator):
    # Coral's too-long comments showed the raw code "too_long", ?reason=too_long was a 400, and three of them (no
    # comment id) had three identical button names.
    from service.coral import TOO_LONG

    items = log_reviews(ui_app, ["x " * 3_000, "y " * 3_000], reason=TOO_LONG)
    page = moderator.get(f"/ui/queue?reason={TOO_LONG}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'<option value="{TOO_LONG}"' in html and "too long to score (not scored)" in html
    with ui_app.app_context():
        from service.store import DecisionRecord, get_session

        for item in items:  # log_reviews gives ids c0, c1: drop them, as Coral sends none
            get_session().get(DecisionRecord, item).comment_id = None
        get_session().commit()
    html = moderator.get("/ui/queue").get_data(as_text=True)
    names = re.findall(r'aria-label="(Approve [^"]+)"', html)
    assert len(names) == len(set(names)) == 2 and all(f"(item {item})" in " ".join(names) for item in items)


def test_a_revoked_key_is_named_apart_in_the_site_filter(ui_app, moderator):
    # After a key rotation (revoke, then a new key of the same name) the filter offered two "siteB".
    from service.auth import create_key, revoke_key

    with ui_app.app_context():
        old, _ = create_key(get_session(), "siteB")
        revoke_key(get_session(), f"id:{old.id}")
        new, _ = create_key(get_session(), "siteB")
        old_id, new_id = old.id, new.id
    html = moderator.get("/ui/queue").get_data(as_text=True)
    assert f'<option value="{old_id}">siteB (key {old_id}, revoked)</option>' in html
    assert f'<option value="{new_id}">siteB</option>' in html


def test_deciding_an_item_stores_feedback_with_the_moderator_and_empties_the_queue(ui_app, moderator, tmp_path):
    (item,) = log_reviews(ui_app, [HOSTILE])
    token = csrf_from(moderator.get("/ui/queue").get_data(as_text=True))
    answer = moderator.post(f"/ui/queue/{item}", data={"decision": "reject", "csrf_token": token, "next": "/ui/queue?reason=insult"})
    assert answer.status_code == 303 and answer.headers["Location"] == "/ui/queue?reason=insult"
    (row,) = feedback_rows(ui_app)
    assert (row.decision, row.moderator, row.decision_id, row.text, row.comment_id, row.source) == ("reject", "mo", item, HOSTILE, "c0", "ui")
    after = moderator.get("/ui/queue").get_data(as_text=True)
    assert HOSTILE not in after and "Rejected comment c0." in after  # said without the script too
    again = moderator.post(f"/ui/queue/{item}", data={"decision": "approve", "csrf_token": token})
    assert again.status_code == 409 and "mo has already decided" in again.get_data(as_text=True)
    with ui_app.app_context():
        export_feedback(get_session(), tmp_path / "feedback.jsonl")
    exported = json.loads((tmp_path / "feedback.jsonl").read_text())
    assert (exported["text"], exported["decision"], exported["moderator"]) == (HOSTILE, "reject", "mo")


def test_each_decision_button_says_which_comment_it_decides(ui_app, moderator):
    ids = log_reviews(ui_app, ["first comment", "second comment"])
    html = moderator.get("/ui/queue").get_data(as_text=True)
    for item in ids:  # a screen reader tabbing through hears "Approve" and which comment, not "Approve" again and again
        buttons = re.findall(rf'<button [^>]*aria-describedby="item-{item}-title"[^>]*>(\w+)</button>', html)
        assert buttons == ["Approve", "Reject"]
        assert f'id="item-{item}-title"' in html


def test_the_page_script_gets_json_back(ui_app, moderator):
    (item,) = log_reviews(ui_app, [HOSTILE])
    token = csrf_from(moderator.get("/ui/queue").get_data(as_text=True))
    answer = moderator.post(f"/ui/queue/{item}", data={"decision": "approve", "csrf_token": token}, headers={"Accept": "application/json"})
    assert answer.status_code == 200 and answer.json["decision"] == "approve" and answer.json["item"] == item


def decide_all(ui_app, moderator, decision: str = "reject") -> None:
    """Decide every item waiting in the queue."""
    token = csrf_from(moderator.get("/ui/queue").get_data(as_text=True))
    with ui_app.app_context():
        items = list(get_session().scalars(waiting_items(QueueFilter())))
    for item in items:
        assert moderator.post(f"/ui/queue/{item.id}", data={"decision": decision, "csrf_token": token}).status_code == 303


def two_sites_with_comment_c0(ui_app) -> dict[str, tuple[int, str]]:
    """Keys ``site-a`` and ``site-b`` (id, secret) that each logged a review of their comment ``c0``; one logged without a key too."""
    from service.auth import create_key

    with ui_app.app_context():
        keys = {name: (row.id, secret) for name in ("site-a", "site-b") for row, secret in [create_key(get_session(), name)]}
    for name, (key_id, _secret) in keys.items():
        log_reviews(ui_app, [f"a comment of {name}"], api_key_id=key_id)
    log_reviews(ui_app, ["a comment sent without a key"])
    return keys


def exported_site_rows(ui_app, path: Path):
    with ui_app.app_context():
        export_feedback(get_session(), path, overwrite=True)
    return read_site_data(path)


def test_queue_feedback_belongs_to_the_site_of_the_decided_comment(ui_app, moderator, tmp_path):
    # Two sites' comment "c0" are two comments: stored without a key, their page decisions were one, the last kept.
    keys = two_sites_with_comment_c0(ui_app)
    decide_all(ui_app, moderator)
    rows = feedback_rows(ui_app)
    assert {row.text: row.api_key_id for row in rows} == {
        "a comment of site-a": keys["site-a"][0], "a comment of site-b": keys["site-b"][0], "a comment sent without a key": None}
    assert {row.moderator for row in rows} == {"mo"}
    site = exported_site_rows(ui_app, tmp_path / "feedback.csv")
    assert site.attrs["n_superseded"] == 0 and len(site) == 3
    exported = pd.read_csv(tmp_path / "feedback.csv", keep_default_na=False).set_index("text")
    assert exported.loc["a comment of site-a", ["moderator", "api_key_name"]].tolist() == ["mo", "site-a"]
    assert exported.loc["a comment sent without a key", ["moderator", "api_key_name"]].tolist() == ["mo", ""]


def test_a_comment_the_site_decided_through_the_api_leaves_the_queue(ui_app, moderator):
    """The site's own verdict (/v1/feedback with the key that logged the comment) takes the comment off the queue: an
    editor redid the work, and a click on it overturned the site's verdict in training. Another site's comment of the
    same id, and the one logged without a key, still wait."""
    keys = two_sites_with_comment_c0(ui_app)
    verdict = {"comment_id": "c0", "decision": "reject"}
    sent = ui_app.test_client().post("/v1/feedback", json=verdict, headers={"Authorization": f"Bearer {keys['site-a'][1]}"})
    assert sent.status_code == 201
    html = moderator.get("/ui/queue").get_data(as_text=True)
    assert "a comment of site-a" not in html and "a comment of site-b" in html and "a comment sent without a key" in html
    assert "2 comments waiting" in html
    with ui_app.app_context():
        item = get_session().scalar(select(DecisionRecord).where(DecisionRecord.text == "a comment of site-a"))
    token = csrf_from(moderator.get("/ui/queue").get_data(as_text=True))
    stale = moderator.post(f"/ui/queue/{item.id}", data={"decision": "approve", "csrf_token": token})  # a page opened before
    assert stale.status_code == 409 and "The site&#39;s API has already decided this comment." in stale.get_data(as_text=True)
    # Scored again after the verdict (an edit), the comment is a new item that the verdict did not decide.
    (edited,) = log_reviews(ui_app, ["the edited comment of site-a"], api_key_id=keys["site-a"][0])
    assert "the edited comment of site-a" in moderator.get("/ui/queue").get_data(as_text=True)
    # Nor does a verdict given on this page on an older item of that comment (before the edit): the review found it
    # took the edited item off the queue unseen.
    (older,) = log_reviews(ui_app, ["site-b's comment, before its edit"], api_key_id=keys["site-b"][0])
    (newer,) = log_reviews(ui_app, ["site-b's comment, edited"], api_key_id=keys["site-b"][0])
    token = csrf_from(moderator.get("/ui/queue").get_data(as_text=True))
    assert moderator.post(f"/ui/queue/{older}", data={"decision": "reject", "csrf_token": token}).status_code == 303
    assert "site-b&#39;s comment, edited" in moderator.get("/ui/queue").get_data(as_text=True)


def test_a_page_drawn_before_its_comment_was_forgotten_cannot_decide_the_comment_that_took_its_number(ui_app, moderator):
    """`db forget` (or prune) deleted the newest review, and SQLite gave its number to the next comment logged: a button
    on a page drawn before decided that other reader's comment. The page sends the SHA-256 of the text it showed."""
    from service.retention import forget_comments

    (first,) = log_reviews(ui_app, ["the comment the page shows"])
    page = moderator.get("/ui/queue").get_data(as_text=True)
    shown = re.search(r'name="text_sha256" value="([0-9a-f]{64})"', page)[1]
    with ui_app.app_context():
        forget_comments(get_session(), ["c0"])
    (reused,) = log_reviews(ui_app, ["another reader's comment"])
    assert reused == first  # SQLite reuses the largest id: what the page's button still names
    stale = moderator.post(f"/ui/queue/{first}", data={"decision": "reject", "csrf_token": csrf_from(page), "text_sha256": shown})
    assert stale.status_code == 409 and "no longer the one the page showed" in stale.get_data(as_text=True)
    assert not feedback_rows(ui_app)
    fresh = moderator.get("/ui/queue").get_data(as_text=True)
    digest = re.search(r'name="text_sha256" value="([0-9a-f]{64})"', fresh)[1]
    assert moderator.post(f"/ui/queue/{first}", data={"decision": "reject", "csrf_token": csrf_from(fresh),
                                                       "text_sha256": digest}).status_code == 303


def test_a_sites_api_correction_replaces_the_page_decision_on_its_comment(ui_app, moderator, tmp_path):
    keys = two_sites_with_comment_c0(ui_app)
    decide_all(ui_app, moderator, "reject")
    correction = {"comment_id": "c0", "decision": "approve"}
    sent = ui_app.test_client().post("/v1/feedback", json=correction, headers={"Authorization": f"Bearer {keys['site-a'][1]}"})
    assert sent.status_code == 201
    site = exported_site_rows(ui_app, tmp_path / "feedback.csv")
    assert site.attrs["n_superseded"] == 1  # site-a's page decision; site-b's and the keyless one stay
    assert sorted(zip(site["text"], site["decision"])) == [
        ("a comment of site-a", "approve"), ("a comment of site-b", "reject"), ("a comment sent without a key", "reject")]


def test_page_feedback_of_a_revoked_key_stays_and_exports(ui_app, moderator, tmp_path):
    from service.auth import revoke_key

    two_sites_with_comment_c0(ui_app)
    with ui_app.app_context():
        revoke_key(get_session(), "site-a")
    decide_all(ui_app, moderator)  # its comments logged before the revocation can still be decided
    with ui_app.app_context():
        revoke_key(get_session(), "site-b")
    assert len(feedback_rows(ui_app)) == 3  # revoking deletes no feedback
    with ui_app.app_context():
        export_feedback(get_session(), tmp_path / "site-a.csv", key_ids=keys_matching(get_session(), "site-a"))
    exported = pd.read_csv(tmp_path / "site-a.csv", keep_default_na=False)
    assert exported[["text", "moderator", "api_key_name"]].values.tolist() == [["a comment of site-a", "mo", "site-a"]]


def end_session(app, client, page: str) -> str:
    """Load ``page`` in ``client``, then change the user's password (ending the session); return the page's CSRF token."""
    from service.users import set_password

    token = csrf_from(client.get(page).get_data(as_text=True))
    with app.app_context():
        set_password(get_session(), "mo", "another long password")
    return token


def test_a_decision_from_an_ended_session_is_not_mistaken_for_saved(ui_app, moderator):
    (item,) = log_reviews(ui_app, [HOSTILE])
    token = end_session(ui_app, moderator, "/ui/queue")
    answer = moderator.post(f"/ui/queue/{item}", data={"decision": "approve", "csrf_token": token}, headers={"Accept": "application/json"})
    assert answer.status_code == 401 and "signed out" in answer.get_data(as_text=True)  # the script would follow a redirect to a 200
    assert feedback_rows(ui_app) == []


def test_a_decision_sent_without_the_script_after_the_session_ended_says_it_was_not_saved(ui_app, moderator):
    # The form (no script) was sent to the sign-in page with "You were signed out: ...", never saying that the
    # decision was lost.
    (item,) = log_reviews(ui_app, [HOSTILE])
    token = end_session(ui_app, moderator, "/ui/queue")
    answer = moderator.post(f"/ui/queue/{item}", data={"decision": "approve", "csrf_token": token})
    assert answer.status_code == 302 and "/ui/sign-in" in answer.headers["Location"]
    assert "You are signed out, so nothing was saved" in moderator.get(answer.headers["Location"]).get_data(as_text=True)
    assert feedback_rows(ui_app) == []


def test_sign_out_after_the_session_ended_elsewhere_says_nothing_about_unsaved_work(ui_app, moderator):
    token = end_session(ui_app, moderator, "/ui/queue")
    answer = moderator.post("/ui/sign-out", data={"csrf_token": token})
    assert answer.status_code == 302 and "/ui/sign-in" in answer.headers["Location"]
    page = moderator.get(answer.headers["Location"]).get_data(as_text=True)
    assert "You were signed out" in page and "nothing was saved" not in page  # a Sign out has nothing to save


def test_a_decision_after_signing_out_in_another_tab_says_signed_out_not_error_400(ui_app, moderator):
    # Sign-out clears this browser's session, CSRF token included: the queue's form still held the old token, so the
    # decision got 400 "the form has expired" and the page's script said "error 400" instead of "signed out".
    (item,) = log_reviews(ui_app, [HOSTILE])
    token = csrf_from(moderator.get("/ui/queue").get_data(as_text=True))
    assert moderator.post("/ui/sign-out", data={"csrf_token": token}).status_code == 302  # the other tab
    answer = moderator.post(f"/ui/queue/{item}", data={"decision": "approve", "csrf_token": token}, headers={"Accept": "application/json"})
    assert answer.status_code == 401 and "You are signed out, so nothing was saved" in answer.get_data(as_text=True)
    assert feedback_rows(ui_app) == []
    again = moderator.post("/ui/sign-out", data={"csrf_token": token})  # the other tab's Sign out: nothing left to do
    assert again.status_code == 303 and again.headers["Location"].endswith("/ui/sign-in")
    forged = moderator.post("/ui/sign-in", data={"name": "mo", "password": "x", "csrf_token": token})
    assert forged.status_code == 400  # the sign-in form's own token check is unchanged


@pytest.mark.parametrize("data, referrer, expected", [
    ({"decision": "approve", "next": "/ui/queue?reason=insult"}, None, "/ui/sign-in?next=/ui/queue?reason%3Dinsult"),
    ({"decision": "approve"}, "http://localhost/ui/queue?site=none", "/ui/sign-in?next=/ui/queue?site%3Dnone"),
    ({"decision": "approve"}, "https://evil.example/ui/queue", "/ui/sign-in"),
    ({"decision": "approve"}, None, "/ui/sign-in"),
])
def test_a_form_sent_from_an_ended_session_returns_to_its_page_not_to_its_action(ui_app, moderator, data, referrer, expected):
    (item,) = log_reviews(ui_app, [HOSTILE])
    token = end_session(ui_app, moderator, "/ui/queue")
    headers = {"Referer": referrer} if referrer else {}
    answer = moderator.post(f"/ui/queue/{item}", data={**data, "csrf_token": token}, headers=headers)  # GET /ui/queue/1 is a 405
    assert answer.status_code == 302 and answer.headers["Location"] == expected
    assert feedback_rows(ui_app) == []


@pytest.mark.parametrize("decision, status", [("maybe", 400), ("approve", 404)])
def test_a_bad_decision_or_unknown_item_is_refused(ui_app, moderator, decision, status):
    (item,) = log_reviews(ui_app, [HOSTILE])
    token = csrf_from(moderator.get("/ui/queue").get_data(as_text=True))
    target = item if status == 400 else item + 1
    assert moderator.post(f"/ui/queue/{target}", data={"decision": decision, "csrf_token": token}).status_code == status
    assert feedback_rows(ui_app) == []


def test_the_queue_filters_by_reason_site_and_date(ui_app, moderator):
    from service.auth import create_key

    with ui_app.app_context():
        key_id = create_key(get_session(), "news-site")[0].id
    log_reviews(ui_app, ["an insult from the site"], reason="insult", api_key_id=key_id)
    log_reviews(ui_app, ["a claim without a key"], reason="unsupported_claim")

    def shown(query: str) -> set[str]:
        html = moderator.get(f"/ui/queue?{query}").get_data(as_text=True)
        return {text for text in ("an insult from the site", "a claim without a key") if text in html}

    assert shown("") == {"an insult from the site", "a claim without a key"}
    assert shown("reason=insult") == {"an insult from the site"}
    assert shown("reason=unsupported_claim") == {"a claim without a key"}
    assert shown(f"site={key_id}") == {"an insult from the site"}
    assert shown("site=none") == {"a claim without a key"}
    assert shown("since=2000-01-01&until=2999-12-31") == {"an insult from the site", "a claim without a key"}
    assert shown("until=2000-01-01") == set()
    assert shown("since=2999-01-01") == set()


def test_a_malformed_filter_is_reported(moderator):
    answer = moderator.get("/ui/queue?since=yesterday&reason=bogus")
    assert answer.status_code == 400
    html = answer.get_data(as_text=True)
    assert "must look like 2026-12-31" in html and "no reason called" in html
    for before in ("abc", "-1", "٣"):  # a hand-edited page position is reported, not silently dropped
        answer = moderator.get(f"/ui/queue?before={before}")
        assert answer.status_code == 400 and "not an item number" in answer.get_data(as_text=True)


def test_the_queue_says_when_text_storage_is_off(ui_app, moderator):
    ui_app.config["STORE_TEXT"] = False
    log_reviews(ui_app, ["not kept"])
    html = moderator.get("/ui/queue").get_data(as_text=True)
    assert "Text storage is off" in html and "not kept" not in html
    assert "1 comment sent to review was logged without text" in html
    ui_app.config["STORE_TEXT"] = True
    assert "Text storage is off" not in moderator.get("/ui/queue").get_data(as_text=True)


def test_the_queue_pages_through_older_items(ui_app, moderator, monkeypatch):
    monkeypatch.setattr("service.ui.queue.PAGE_SIZE", 2)
    ids = log_reviews(ui_app, ["one", "two", "three"])
    first = moderator.get("/ui/queue").get_data(as_text=True)
    assert f"before={ids[1]}" in first and "item-{}".format(ids[0]) not in first
    second = moderator.get(f"/ui/queue?before={ids[1]}").get_data(as_text=True)
    assert f'id="item-{ids[0]}"' in second and f'id="item-{ids[1]}"' not in second


def test_an_older_page_links_back_to_the_newest_and_says_when_it_has_emptied(ui_app, moderator, monkeypatch):
    """An older page had no way back but the browser's, and once its comments were decided it said "Nothing to
    review" while newer comments still waited."""
    monkeypatch.setattr("service.ui.queue.PAGE_SIZE", 2)
    ids = log_reviews(ui_app, ["one", "two", "three"])
    older = f"/ui/queue?reason=insult&before={ids[1]}"
    newest = '<a href="/ui/queue?reason=insult">'
    assert newest not in moderator.get("/ui/queue?reason=insult").get_data(as_text=True)
    second = moderator.get(older).get_data(as_text=True)
    assert f"{newest}Newest comments</a>" in second
    token = csrf_from(second)
    answer = moderator.post(f"/ui/queue/{ids[0]}", data={"decision": "approve", "csrf_token": token, "next": older})
    assert answer.headers["Location"] == older
    emptied = moderator.get(older).get_data(as_text=True)
    assert "Nothing to review" not in emptied and "2 comments waiting" in emptied
    assert "No older comments with these filters." in emptied and f"{newest}Go to the newest comments</a>" in emptied


# Keys and model pages


def test_who_signed_in_and_who_created_or_revoked_a_key_is_logged_with_the_address(ui_app, caplog):
    # Only failed sign-ins were logged: after a leaked admin password an operator could not tell who made key N, from
    # where, or when anyone signed in.
    from service.auth import list_keys

    with caplog.at_level("INFO", logger="service.ui"):
        admin = ui_app.test_client()
        assert sign_in(admin, "ad").status_code == 302
        token = csrf_from(admin.get("/ui/keys").get_data(as_text=True))
        admin.post("/ui/keys", data={"name": "news-site", "scope": ["moderate"], "csrf_token": token})
        with ui_app.app_context():
            (key,) = [row for row in list_keys(get_session()) if row.name == "news-site"]
        assert admin.post(f"/ui/keys/{key.id}/revoke", data={"csrf_token": token, "confirm": "yes"}).status_code == 303
    lines = [record.getMessage() for record in caplog.records if record.name.startswith("service.ui")]
    assert "sign-in to the moderation page as ad (admin) from 127.0.0.1" in lines
    assert f"API key {key.id} (news-site, scopes moderate) created on the moderation page by ad from 127.0.0.1" in lines
    assert f"API key {key.id} (news-site) revoked on the moderation page by ad from 127.0.0.1" in lines
    assert not any("mod_" in line for line in lines)  # never the secret


def test_revoking_a_key_on_the_page_asks_first(ui_app, admin):
    # One click on Revoke cut a site off for good (403 within KEY_CACHE_SECONDS), with no second step.
    from service.auth import create_key, find_active_key

    with ui_app.app_context():
        key, secret = create_key(get_session(), "news-site")
        key_id = key.id
    token = csrf_from(admin.get("/ui/keys").get_data(as_text=True))
    asked = admin.post(f"/ui/keys/{key_id}/revoke", data={"csrf_token": token})
    html = asked.get_data(as_text=True)
    assert asked.status_code == 200 and f"Revoke key {key_id} (<bdi>news-site</bdi>)?" in html
    assert '<input type="hidden" name="confirm" value="yes">' in html and "Keep it" in html
    with ui_app.app_context():
        assert find_active_key(get_session(), secret) is not None  # nothing revoked yet
    assert admin.post(f"/ui/keys/{key_id}/revoke", data={"csrf_token": token, "confirm": "yes"}).status_code == 303
    with ui_app.app_context():
        assert find_active_key(get_session(), secret) is None
    assert admin.post(f"/ui/keys/{key_id}/revoke", data={"csrf_token": token}).status_code == 404  # no longer active


def test_an_admin_creates_a_key_that_works_and_revokes_it(ui_app, admin):
    page = admin.get("/ui/keys").get_data(as_text=True)
    token = csrf_from(page)
    # The form offers every scope, ticked as a key made without naming any: moderate and feedback.
    assert re.findall(r'name="scope" value="(\w+)"( checked)?', page) == [("moderate", " checked"), ("feedback", " checked"),
                                                                         ("admin", "")]
    html = admin.post("/ui/keys", data={"name": "news-site", "scope": ["moderate"], "csrf_token": token}).get_data(as_text=True)
    secret = re.search(r'id="new-key" class="secret" readonly value="(mod_[^"]+)"', html).group(1)
    assert "Created key" in html and "(news-site; moderate)" in html and "<td>moderate</td>" in html
    body = {"comments": [{"id": "a", "text": NEUTRAL}]}
    assert admin.post("/v1/moderate", json=body, headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    feedback = {"comment_id": "a", "decision": "reject"}  # a key for a public page: it may score, not label
    assert admin.post("/v1/feedback", json=feedback, headers={"Authorization": f"Bearer {secret}"}).status_code == 403
    none = admin.post("/ui/keys", data={"name": "no-scope", "csrf_token": token})
    assert none.status_code == 400 and "at least one scope" in none.get_data(as_text=True)
    assert re.search(r'<input id="key-name" name="name" [^>]*value="no-scope"', none.get_data(as_text=True))
    key_id = re.search(r'action="/ui/keys/(\d+)/revoke"', html).group(1)
    assert admin.post(f"/ui/keys/{key_id}/revoke", data={"csrf_token": token, "confirm": "yes"}).status_code == 303
    assert admin.post("/v1/moderate", json=body, headers={"Authorization": f"Bearer {secret}"}).status_code == 403
    assert secret not in admin.get("/ui/keys").get_data(as_text=True)


def test_the_keys_page_refuses_names_the_command_line_refuses_and_revokes_by_id(ui_app, admin):
    from service.auth import create_key
    from service.store import get_session

    token = csrf_from(admin.get("/ui/keys").get_data(as_text=True))
    for name, words in (("4", "would read as a key id"), ("", "1 to"), ("a\tb", "control or invisible")):
        answer = admin.post("/ui/keys", data={"name": name, "csrf_token": token})
        assert answer.status_code == 400 and words in answer.get_data(as_text=True)
    with ui_app.app_context():
        session = get_session()
        target, _ = create_key(session, "cms")
        # A key made before names were checked, named like the other's id: the page's button revokes by id.
        homonym, homonym_secret = create_key(session, str(target.id))
        target_id, homonym_id = target.id, homonym.id
    assert admin.post(f"/ui/keys/{target_id}/revoke", data={"csrf_token": token, "confirm": "yes"}).status_code == 303
    html = admin.get("/ui/keys").get_data(as_text=True)
    assert f"Revoked key {target_id} (cms)" in html
    # The other workers keep the key in their caches: the page says when every one refuses it, not "at once".
    seconds = ui_app.config["KEY_CACHE_SECONDS"]
    assert f"every worker refuses it within {seconds:g} s (KEY_CACHE_SECONDS)" in html
    body = {"comments": [{"id": "a", "text": NEUTRAL}]}
    assert admin.post("/v1/moderate", json=body, headers={"Authorization": f"Bearer {homonym_secret}"}).status_code == 200
    assert homonym_id != target_id
    duplicate = admin.post("/ui/keys", data={"name": str(target_id), "csrf_token": token})
    assert duplicate.status_code == 400


def test_a_refused_key_name_stays_in_the_form_to_be_corrected(ui_app, admin):
    token = csrf_from(admin.get("/ui/keys").get_data(as_text=True))
    answer = admin.post("/ui/keys", data={"name": "2024", "csrf_token": token})
    assert answer.status_code == 400
    assert re.search(r'<input id="key-name" name="name" [^>]*value="2024"', answer.get_data(as_text=True))


def test_the_model_page_shows_bundle_card_metrics_and_says_when_there_is_no_bias_table(ui_app, admin, scorer):
    reports = Path(ui_app.config["REPORTS_DIR"])
    assert "There is no" in admin.get("/ui/model").get_data(as_text=True)  # no eval.json yet
    (reports / "plots").mkdir(parents=True)
    (reports / "plots" / "s_curves.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    report = {"model_version": scorer.model_version, "targets": [{"set": "s", "attribute": "toxicity", "metric": "roc_auc", "target": 0.9, "value": 0.91, "met": True}],
              "sets": {"s": {"attributes": {"toxicity": {"roc_auc": 0.912, "pr_auc": 0.5, "brier": 0.1}}, "plots": {"curves": "plots/s_curves.png"}}}}
    (reports / "eval.json").write_text(json.dumps(report))
    html = admin.get("/ui/model").get_data(as_text=True)
    assert f"Model {scorer.model_version}" in html and "0.912" in html and "met" in html
    assert f"<code>{Path(scorer.bundle.path).resolve()}</code>" in html  # the tiny bundle lives outside the project
    assert "has no identity-bias metrics" in html
    assert "<h2>Model card</h2>" in html and "<h3>Model card" in html  # MODEL_CARD.md's own heading, under the page's
    with admin.get("/ui/model/plots/s_curves.png") as plot:  # a streamed file: close it
        assert plot.status_code == 200 and plot.mimetype == "image/png"
    assert admin.get("/ui/model/plots/eval.json").status_code == 404
    report["bias"] = {"sets": {"madlibs": {"identities": {"muslim": {
        "n_rows": 40, "n_positive": 20, "subgroup_auc": 0.871, "bpsn_auc": 0.9, "bnsp_auc": 0.95,
        "negative_flagged": 0.25, "scored": True}}}}}
    (reports / "eval.json").write_text(json.dumps(report))
    html = admin.get("/ui/model").get_data(as_text=True)
    assert "has no identity-bias metrics" not in html and "muslim" in html and "0.871" in html
    assert "no encoder in this bundle" in html and "measured in" not in html


def test_the_model_page_says_which_way_a_target_points_and_by_how_much_it_is_missed(ui_app, admin, scorer):
    """The NOT_BAD madlibs target (at most 5% flagged) showed as a bare 0.05 beside 0.131 and "missed", which reads as
    a target met; an eval.json written before the margin was recorded shows a dash."""
    reports = Path(ui_app.config["REPORTS_DIR"])
    reports.mkdir(parents=True)
    report = {"model_version": scorer.model_version, "sets": {}, "targets": [
        {"set": "madlibs", "attribute": "review thresholds", "metric": "NOT_BAD flagged share", "target": 0.05,
         "at_most": True, "value": 0.131, "met": False, "margin": -0.081},
        {"set": "ucc_test", "attribute": "toxicity", "metric": "roc_auc", "target": 0.85, "value": 0.789, "met": False,
         "margin": -0.061},
        {"set": "claimbuster_test", "attribute": "unsupported_claim", "metric": "roc_auc", "target": 0.95,
         "value": 0.9499, "met": False, "margin": -0.0001},
        {"set": "olid_test", "attribute": "toxicity", "metric": "roc_auc", "target": 0.9, "value": 0.892, "met": False}]}
    (reports / "eval.json").write_text(json.dumps(report))
    html = admin.get("/ui/model").get_data(as_text=True)
    rows = re.findall(r"<tr><td>(\w+)</td>.*?</tr>", html, flags=re.S)
    assert rows[:4] == ["madlibs", "ucc_test", "claimbuster_test", "olid_test"]
    cells = [re.findall(r'<td class="number">([^<]*)</td>', row) for row in re.findall(r"<tr><td>\w+</td>.*?</tr>", html, flags=re.S)[:4]]
    assert cells == [["≤ 0.05", "0.131", "-0.081"], ["≥ 0.85", "0.789", "-0.061"], ["≥ 0.95", "0.950", "-0.0001"],
                     ["≥ 0.90", "0.892", "–"]]


def test_the_model_page_says_which_encoder_mode_serves_and_when_the_report_was_measured_in_another(ui_app, admin, scorer,
                                                                                                    monkeypatch):
    """A server in cascade mode showed the encoder mode's figures without a word: they are up to 0.1 ROC AUC better."""
    from model.scoring import Scorer

    reports = Path(ui_app.config["REPORTS_DIR"])
    reports.mkdir(parents=True)
    monkeypatch.setattr(Scorer, "encoder_mode", property(lambda self: "cascade"))
    report = {"model_version": scorer.model_version, "encoder_mode": "encoder", "sets": {}}
    (reports / "eval.json").write_text(json.dumps(report))
    html = admin.get("/ui/model").get_data(as_text=True)
    assert "cascade: the encoder re-scores only" in html
    assert "measured in encoder mode, but this server scores in cascade mode" in html
    report["encoder_mode"] = "cascade"
    (reports / "eval.json").write_text(json.dumps(report))
    assert "measured in" not in admin.get("/ui/model").get_data(as_text=True)


def test_the_model_page_shows_the_span_floor_served_and_whether_the_policy_or_the_bundle_set_it(ui_app, admin, scorer,
                                                                                               tiny_bundle_path, tmp_path):
    """A site's `[spans] floor` changed what every surface marks, but the model page did not say which floor served."""
    from service.app import create_app
    from tests.ui_support import add_user, sign_in

    def page_with_floor(floor: str) -> str:
        policy = tmp_path / "policy.toml"
        policy.write_text(f"[reject]\ntoxicity = 0.9\n\n[review]\ntoxicity = 0.5\n\n[spans]\nfloor = {floor}\n", encoding="utf-8")
        app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "POLICY": str(policy),
                          "REPORTS_DIR": str(tmp_path / "reports")})
        add_user(app, "ad", role="admin")
        client = app.test_client()
        assert sign_in(client, "ad").status_code == 302
        return client.get("/ui/model").get_data(as_text=True)

    bundle_floor = scorer.bundle.model.span_thresholds["comment_floor"]
    html = admin.get("/ui/model").get_data(as_text=True)
    assert f"<dt>Span floor</dt><dd>{bundle_floor:.2f} (the bundle&#39;s own)" in html
    assert "<dt>Span floor</dt><dd>0.37 (the policy&#39;s [spans] floor)" in page_with_floor("0.37")
    # not "0.00: no word is marked ... below it"
    assert ("<dt>Span floor</dt><dd>none (the policy&#39;s [spans] floor): words may be marked at every comment score"
            in page_with_floor("0"))


def test_paths_inside_the_project_are_shown_relative(tmp_path):
    from service.config import PROJECT_ROOT
    from service.ui.model_page import shown_path

    assert shown_path(PROJECT_ROOT / "bundles" / "1.2.0") == "bundles/1.2.0"
    assert shown_path(tmp_path) == str(tmp_path.resolve())


def test_bias_table_has_a_row_per_set_and_identity():
    report = {"bias": {"sets": {
        "madlibs": {"identities": {"gay": {"n_rows": 10, "n_positive": 5, "subgroup_auc": 0.8, "bpsn_auc": 0.7,
                                           "bnsp_auc": 0.9, "negative_flagged": 0.4, "scored": True}}},
        "wiki": {"identities": {"queer": {"n_rows": 3, "n_positive": 1, "subgroup_auc": float("nan"), "bpsn_auc": 0.5,
                                          "bnsp_auc": 0.6, "negative_flagged": 0.0, "scored": False}}}}}}
    columns, rows = bias_table(report)
    assert columns[:2] == ["set", "identity"] and "bpsn_auc" in columns
    assert rows[0] == ["madlibs", "gay", 10, 5, 0.8, 0.7, 0.9, 0.4, "yes"]
    assert rows[1][:2] == ["wiki", "queer"] and rows[1][-1] == "too few rows"
    assert bias_table({"sets": {}}) is None and bias_table({"bias": {"sets": {}}}) is None


def test_the_model_card_is_rendered_and_sanitised():
    html = str(render_markdown("# Card\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1)) <img src=x onerror=alert(1)>"))
    assert "<h1>Card</h1>" in html and "<table>" in html
    assert "<script" not in html and "href" not in html and "<img" not in html
    assert "&lt;script&gt;" in html  # shown as text, not dropped silently


# The users command


def test_a_model_card_table_scrolls_in_its_own_box_and_the_card_cannot_add_one():
    """A wide table in MODEL_CARD.md made the model page scroll sideways at 320 px."""
    html = render_markdown('| set | value |\n|---|---|\n| a | 1 |\n\n<div class="table-scroll">raw</div>')
    assert html.startswith('<div class="table-scroll"><table>') and "</table>\n</div>" in html
    assert html.count("<div") == 1 and "&lt;div" in html


def test_users_commands_create_list_change_and_delete(runner, tmp_path, monkeypatch):
    from service.cli import cli

    monkeypatch.setenv("MODERATION_DB_URL", f"sqlite:///{tmp_path / 'users.db'}")
    created = runner.invoke(cli, ["users", "create", "alice", "--role", "admin"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert created.exit_code == 0, created.output
    listed = runner.invoke(cli, ["users", "list"])
    assert listed.exit_code == 0 and "alice\tadmin\t" in listed.output
    taken = runner.invoke(cli, ["users", "create", "alice"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert taken.exit_code == 2 and "exists" in taken.output
    assert "Password" not in taken.output  # refused before a password was asked for
    short = runner.invoke(cli, ["users", "create", "bob"], input="short\nshort\n")
    assert short.exit_code == 2 and "10 to" in short.output
    assert runner.invoke(cli, ["users", "set-password", "alice"], input="a new long password\n" * 2).exit_code == 0
    assert runner.invoke(cli, ["users", "delete", "alice"]).exit_code == 0
    missing = runner.invoke(cli, ["users", "delete", "alice"])
    assert missing.exit_code == 2 and "no user called 'alice'" in missing.output


def test_passwords_are_stored_as_argon2_hashes(ui_app):
    from service.users import authenticate_user, find_user

    with ui_app.app_context():
        session = get_session()
        stored = find_user(session, "mo").password_hash
        assert stored.startswith("$argon2id$") and PASSWORD not in stored
        assert authenticate_user(session, "mo", PASSWORD).name == "mo"
        assert authenticate_user(session, "mo", PASSWORD + "x") is None


# On each database (SQLite file, then PostgreSQL when .ci/run started one)


def test_the_queue_filters_and_decides_on_each_database(tiny_bundle_path, db_url, tmp_path):
    from service.store import app_engine

    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": db_url, "STORE_TEXT": True})
    try:
        add_user(app, "mo")
        client = app.test_client()
        sign_in(client, "mo")
        insult, _ = log_reviews(app, ["an insult"], reason="insult") + log_reviews(app, ["a threat phrase"], reason="threat_phrase")
        html = client.get("/ui/queue?reason=threat").get_data(as_text=True)
        assert "a threat phrase" not in html and "an insult" not in html  # "threat" is not "threat_phrase"
        html = client.get("/ui/queue?reason=insult").get_data(as_text=True)
        assert "an insult" in html and "a threat phrase" not in html
        token = csrf_from(html)
        assert client.post(f"/ui/queue/{insult}", data={"decision": "approve", "csrf_token": token}).status_code == 303
        assert client.post(f"/ui/queue/{insult}", data={"decision": "reject", "csrf_token": token}).status_code == 409
        assert [(row.moderator, row.decision) for row in feedback_rows(app)] == [("mo", "approve")]
        # Ids past what the database holds and the last possible day were 500s (integer and date overflow).
        for query in ("before=99999999999999999999", "site=99999999999999999999", "before=9223372036854775808"):
            answer = client.get(f"/ui/queue?{query}")
            assert answer.status_code == 400, query
        assert client.get("/ui/queue?before=9223372036854775807").status_code == 200
        assert client.get("/ui/queue?until=9999-12-31").status_code == 200
    finally:
        app_engine(app).dispose()


def test_the_users_migration_goes_down_and_up_again(db_url):
    from alembic import command
    from sqlalchemy import inspect

    from service.migrations import alembic_config, upgrade
    from service.store import make_engine

    engine = make_engine(db_url)
    try:
        upgrade(engine)
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0001")
        assert "users" not in inspect(engine).get_table_names()
        assert "moderator" not in {column["name"] for column in inspect(engine).get_columns("feedback")}
        upgrade(engine)
        assert "users" in inspect(engine).get_table_names()
        assert {"moderator", "decision_id"} <= {column["name"] for column in inspect(engine).get_columns("feedback")}
    finally:
        engine.dispose()


@pytest.mark.parametrize("method, path, status", [("GET", "/ui/nope", 404), ("GET", "/ui/queue/zz", 404),
                                                   ("DELETE", "/ui/queue", 405)])
def test_an_unknown_page_or_method_under_ui_is_a_page_not_json(ui_app, moderator, method, path, status):
    answer = moderator.open(path, method=method)
    assert answer.status_code == status and answer.content_type.startswith("text/html")
    assert "<html" in answer.get_data(as_text=True).lower()
    assert answer.headers["X-Frame-Options"] and answer.headers["Content-Security-Policy"]
    if status == 405:
        assert "GET" in answer.headers["Allow"]
    api = moderator.get("/v1/nope")  # the API's errors stay JSON
    assert api.status_code == 404 and api.is_json
