"""Whole characters as drawn: span offsets widened to extended grapheme cluster boundaries (model/characters.py)."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.characters import whole_characters

FLAG = "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"
"""England's flag: a black flag and six tag characters, drawn as one character."""
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
"""Three emoji joined by zero-width joiners, drawn as one."""


@pytest.mark.parametrize("text, begin, end, expected", [
    (f"stupid clown{FLAG}", 0, 13, (0, 19)),  # the tiny bundle's span: after the black flag, before its tags
    ("nice \U0001f44d\U0001f3fd idiot", 5, 6, (5, 7)),  # between an emoji and its skin tone
    ("cafe\u0301 idiot", 0, 4, (0, 5)),  # before a combining accent
    ("so \u2764\ufe0f", 3, 4, (3, 5)),  # before a variation selector
    (f"a family {FAMILY} here", 11, 13, (9, 14)),  # inside a joined sequence: both ends
    (f"a family {FAMILY} here", 10, 11, (9, 14)),  # beside a joiner
    ("clown\u200c idiot", 0, 5, (0, 6)),  # before a zero-width non-joiner
    ("go \U0001f1eb\U0001f1f7\U0001f1e9\U0001f1ea", 4, 6, (3, 7)),  # between two flags' regional indicators
    ("go \U0001f1eb\U0001f1f7\U0001f1e9\U0001f1ea", 5, 7, (5, 7)),  # the second flag, whole
    ("\u0915\u094d\u0937\u0923", 0, 2, (0, 3)),  # a Devanagari conjunct: ka, virama | ssa
    ("\u1112\u1161\u11ab \uac00", 1, 2, (0, 3)),  # a Korean syllable written as three letters
    ("one\r\ntwo", 0, 4, (0, 5)),  # a carriage return and its line feed
    ("clown\u200d idiot", 0, 5, (0, 6)),  # a joiner that ends a word takes nothing past the blank after it
    ("clown\u200d, idiot", 0, 5, (0, 6)),  # nor the punctuation after it: Unicode joins only pictographs
    ("clown\u200d@idiot", 6, 11, (6, 11)),  # nor a letter: the span of the word after it stays as it is
    ("\U0001f44d\u200d\u203c", 0, 1, (0, 3)),  # a pictograph that is punctuation ("\u203c") is joined
    ("\U0001f468\u200d\U0001fae8", 0, 1, (0, 3)),  # and an emoji newer than Python's Unicode tables
    ("line\n\u0301", 0, 5, (0, 5)),  # nothing joins a line break
    ("You are a stupid clown", 10, 22, (10, 22)),  # whole already
    (f"stupid clown{FLAG}", 0, 19, (0, 19)),
    ("e\u0301", -3, 50, (0, 2)),  # clipped to the text
])
def test_whole_characters_widens_a_span_to_the_characters_it_touches(text, begin, end, expected):
    assert whole_characters(text, begin, end) == expected


def test_whole_characters_takes_time_linear_in_a_run_of_marks():
    """Thousands of accents on one letter (as "zalgo" text has) are one character; widening walks them once."""
    text = "a" + "\u0301" * 20_000 + " b"
    start = time.perf_counter()
    assert whole_characters(text, 1, 2) == (0, 20_001)
    assert time.perf_counter() - start < 1.0  # ~10 ms; a walk back over the run at every step would take minutes


GRAPHEME_PARTS = ["a", " ", ".", "\n", "\r", "\u0301", "\ufe0f", "\u200d", "\u200c", "\u200b", "\U0001f44d", "\U0001f468",
                  "\U0001f3fd", "\U0001f3f4", "\U000e0067", "\U000e007f", "\U0001f1eb", "\U0001f1f7", "\u2764", "\u203c",
                  "\u0915", "\u094d", "\u1100", "\u1161", "\u11a8", "\uac00"]
"""Code points of every kind ``whole_characters`` knows, to be put together at random."""


@settings(max_examples=3000, deadline=None, database=None, derandomize=True)
@given(parts=st.lists(st.sampled_from(GRAPHEME_PARTS), max_size=10), data=st.data())
def test_whole_characters_ends_at_unicode_grapheme_boundaries(parts, data):
    """Checked against the regex module's ``\\X`` (Unicode's extended grapheme clusters, UAX #29); it is not a
    dependency of the service, only of the test tools (transformers)."""
    regex = pytest.importorskip("regex")
    text = "".join(parts)
    begin = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(begin, len(text)))
    boundaries = {0, *(match.end() for match in regex.finditer(r"\X", text))}
    widened = whole_characters(text, begin, end)
    assert widened[0] in boundaries and widened[1] in boundaries
    assert widened[0] <= begin and widened[1] >= end
