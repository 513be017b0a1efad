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
