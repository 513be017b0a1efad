"""service.html_text: an HTML comment body (Coral, Perspective's ``comment.type: HTML``) -> the text a reader sees."""

from __future__ import annotations

import pytest

from service.html_text import html_to_text


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<table><tr><td>You moron</td><td>idiot</td></tr></table>", "You moron\nidiot"),
        ("<table><tr><th>Name</th><th>Vote</th></tr></table>", "Name\nVote"),
        ("The minister<hr>idiot", "The minister\nidiot"),
        ("<dl><dt>Term</dt><dd>meaning</dd></dl>", "Term\nmeaning"),
        ("<section>First</section><section>second</section>", "First\nsecond"),
        ("<details><summary>Spoiler</summary>text</details>", "Spoiler\ntext"),
    ],
)
def test_block_elements_keep_their_words_apart(html, text):
    assert html_to_text(html) == text


def test_inline_elements_still_join_a_word():
    assert html_to_text("st<b>up</b>id <span>idiot</span>") == "stupid idiot"


@pytest.mark.parametrize(
    ("html", "text"),
    [
        # A hidden element never closed hid the rest of the comment from scoring: "Great article!" was all that was read,
        # while WordPress (wp_kses) and bleach show the words after the tag.
        ("Great article! <script>You are an idiot", "Great article! You are an idiot"),
        ("Great article! <style>You are an idiot", "Great article! You are an idiot"),
        ("Great article! <STYLE type='text/css'>You <b>are</b> an idiot", "Great article! You are an idiot"),
        ("Great article! <template>You are<p>an idiot", "Great article! You are\nan idiot"),
        ("<p>Fine</p><script>x</script><p>Great article!</p><style>\nYou &amp; your idiot", "Fine\nGreat article!\nYou & your idiot"),
        ("Great article! <script>You <script>idiot", "Great article! You idiot"),  # the second tag hides nothing either
        ("First line\n<p>second</p>\n<script\ntype='x'>\nYou idiot", "First line\nsecond\nYou idiot"),  # a tag on two lines
    ],
)
def test_the_rest_after_a_hidden_element_never_closed_is_read(html, text):
    assert html_to_text(html) == text


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("Great article! <script>alert(1)</script>Thanks", "Great article! Thanks"),
        ("a <style>p {}</style> b <script>c</script> d", "a b d"),
        ("<template><p>hidden</p></template>shown", "shown"),
    ],
)
def test_a_closed_hidden_element_is_still_not_read(html, text):
    assert html_to_text(html) == text


def test_perspective_scores_the_words_after_an_unclosed_style_tag(client, api_key):
    """Through the API: a comment that hides its insult after "<style>" is scored as the insult, not as its harmless
    start (it was scored as "Thanks for the article." alone)."""
    def toxicity(text: str, text_type: str) -> float:
        body = {"comment": {"text": text, "type": text_type}, "requestedAttributes": {"TOXICITY": {}}}
        answer = client.post(f"/v1alpha1/comments:analyze?key={api_key}", json=body)
        assert answer.status_code == 200
        return answer.get_json()["attributeScores"]["TOXICITY"]["summaryScore"]["value"]

    start, insult = "Thanks for the article.", "You are a stupid clown, an idiot."
    hidden = toxicity(f"{start} <style>{insult}", "HTML")
    assert hidden == pytest.approx(toxicity(f"{start} {insult}", "PLAIN_TEXT"), abs=1e-6)
    assert hidden > toxicity(start, "PLAIN_TEXT")


def test_many_unclosed_hidden_tags_are_read_in_one_pass():
    """The rest is read once, whatever the number of unclosed tags in it (a parse per tag would grow with their number
    squared)."""
    import time

    started = time.perf_counter()
    assert html_to_text("<script>" * 20_000 + "idiot") == "idiot"
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize("html", ["you are an idiot <![<![", "<![ ", "a <![%", "<p>ok &amp; fine</p><div>you idiot</div><![1"])
def test_markup_the_parser_cannot_read_is_read_as_text_not_raised(html):
    """html.parser raises AssertionError on "<![" and a few like it: a reader's comment answered 500 (Coral then
    publishes it unmoderated). The words are read, the markup the parser refused with them, tags dropped."""
    text = html_to_text(html)
    assert "<p>" not in text and "<div>" not in text and ("idiot" in text) == ("idiot" in html)
    assert "&amp;" not in text
