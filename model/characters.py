"""Where characters begin and end as drawn (extended grapheme clusters), so that no span cuts one in two.

Python indexes a text by code point, and one character on screen can be several: a letter and its combining accents,
an emoji and its skin tone or variation selector, England's flag (a black flag and six tag characters), a family
joined by zero-width joiners, a country's flag (two regional indicators). A span whose offsets fall between them
splits the character: half of it is marked, and a client that cuts the comment at those offsets draws both halves
broken. ``whole_characters`` widens a span to the characters it touches. It follows Unicode's grapheme cluster rules
(UAX #29) for what comments hold; the standard library has no grapheme segmentation, and no dependency is needed.
"""

from __future__ import annotations

import functools
import unicodedata

ZERO_WIDTH_JOINER = "\u200d"
COMBINING_CATEGORIES = frozenset({"Mn", "Mc", "Me"})
"""Combining marks (accents, variation selectors, vowel signs): drawn on or beside the character before them."""
EXTENDING_RANGES = (
    (0x200C, 0x200C),  # the zero-width non-joiner (Persian, Indic): part of the character before it
    (0xFF9E, 0xFF9F),  # half-width katakana sound marks
    (0x1F3FB, 0x1F3FF),  # emoji skin tones
    (0xE0020, 0xE007F),  # tags: the letters of a subdivision flag (England's, Scotland's, Wales')
)
"""Code points outside the combining categories that belong to the character before them on screen."""
CONTROL_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})
"""Control characters and line and paragraph separators: a character ends before them and begins after them (as do
the format characters, but for joiners and tags)."""
REGIONAL_INDICATORS = (0x1F1E6, 0x1F1FF)
"""The letters of country flags: each two in a row, counted from the first of a run, are one flag."""
HANGUL_LEADING = ((0x1100, 0x115F), (0xA960, 0xA97F))
HANGUL_FOLLOWING = ((0x1160, 0x11FF), (0xD7B0, 0xD7FF))
HANGUL = (*HANGUL_LEADING, *HANGUL_FOLLOWING, (0xAC00, 0xD7A3))
"""Korean letters written apart (decomposed, as some systems send them): a leading consonant, then vowels and final
consonants, drawn as one syllable (the last range: syllables written whole). Any of them after a leading consonant,
and a vowel or final consonant after any, join."""
OTHER_PICTOGRAPHS = frozenset("\u203c\u2049\u2139\u2194\u25fb\u25fc\u25fd\u25fe\u2934\u2935\u3030\u303d")
EMOJI_PLANE = (0x1F000, 0x1FFFD)
"""Unicode's Extended_Pictographic characters, which a zero-width joiner joins (the standard library does not know the
property): every one is an "other symbol" ("So"), one of ``OTHER_PICTOGRAPHS`` (marks, arrows and squares of other
categories), or a code point of ``EMOJI_PLANE`` that this Python's Unicode does not know yet (a newer emoji). Some
other symbols are not pictographs; a span is then widened over one character more than it needs."""
VIRAMAS = frozenset("\u094d\u09cd\u0acd\u0b4d\u0c4d\u0d4d")
"""The viramas of Devanagari, Bengali, Gujarati, Oriya, Telugu and Malayalam: one between two consonants joins them
into one conjunct (क्ष), drawn as one character."""


def _in_ranges(char: str, ranges: tuple[tuple[int, int], ...]) -> bool:
    """Whether ``char``'s code point lies in one of the inclusive ``ranges``."""
    code = ord(char)
    return any(low <= code <= high for low, high in ranges)


def _extends(char: str) -> bool:
    """Whether ``char`` is drawn as part of the character before it (a combining mark, variation selector, skin tone
    or tag)."""
    return unicodedata.category(char) in COMBINING_CATEGORIES or _in_ranges(char, EXTENDING_RANGES)


def _control(char: str) -> bool:
    """Whether ``char`` is a control character (a line break, a tab, a zero-width space): nothing joins it."""
    category = unicodedata.category(char)
    return category in CONTROL_CATEGORIES or category == "Cf" and char != ZERO_WIDTH_JOINER and not _extends(char)


def _regional_indicator(char: str) -> bool:
    """Whether ``char`` is one of the two letters of a country's flag."""
    return REGIONAL_INDICATORS[0] <= ord(char) <= REGIONAL_INDICATORS[1]


def _inside_flag(text: str, index: int) -> bool:
    """Whether ``index`` falls between the two regional indicators of one flag: an odd number of them run up to it."""
    if not _regional_indicator(text[index]):
        return False
    before = index
    while before > 0 and _regional_indicator(text[before - 1]):
        before -= 1
    return (index - before) % 2 == 1


def _inside_syllable(previous: str, char: str) -> bool:
    """Whether ``previous`` and ``char`` are Korean letters of one syllable (``HANGUL``)."""
    return (_in_ranges(previous, HANGUL_LEADING) and _in_ranges(char, HANGUL)
            or _in_ranges(char, HANGUL_FOLLOWING) and _in_ranges(previous, HANGUL))


def _inside_conjunct(text: str, index: int) -> bool:
    """Whether ``index`` falls before a letter that a virama, among the marks and joiners right before it, joins to
    what comes before them."""
    if not text[index].isalpha():
        return False
    before = index - 1
    while before >= 0 and (_extends(text[before]) or text[before] == ZERO_WIDTH_JOINER):
        if text[before] in VIRAMAS:
            return True
        before -= 1
    return False


def _inside_character(text: str, index: int) -> bool:
    """Whether ``index`` falls inside one character on screen: before a mark that extends it, before a joiner or
    between a joiner and the pictograph it joins (an emoji: a joiner before a letter, a digit, punctuation or a blank
    joins nothing to it), inside a flag, a conjunct or a Korean syllable, or between a carriage return and its line feed."""
    if not 0 < index < len(text):
        return False
    char, previous = text[index], text[index - 1]
    if joins_nothing(char) and joins_nothing(previous):
        return False  # most characters of most texts: each test below needs one of the two not to be such
    if _control(char) or _control(previous):
        return previous == "\r" and char == "\n"
    return (_extends(char) or char == ZERO_WIDTH_JOINER or previous == ZERO_WIDTH_JOINER and _pictograph(char)
            or _inside_flag(text, index) or _inside_conjunct(text, index) or _inside_syllable(previous, char))


@functools.lru_cache(maxsize=4096)
def joins_nothing(char: str) -> bool:
    """Whether ``char`` is none of what joins characters as drawn, so that a character ends before it and begins after
    it when the one beside it is none either.

    Parameters
    ----------
    char : str
        One code point.

    Returns
    -------
    bool
        False for a control character, a mark or other extender, a joiner, a regional indicator and a Korean letter
        (whose neighbours ``whole_characters`` looks at, some of them back to the start of their run).
    """
    return not (_control(char) or _extends(char) or char == ZERO_WIDTH_JOINER or _regional_indicator(char)
                or _in_ranges(char, HANGUL))


def _pictograph(char: str) -> bool:
    """Whether ``char`` may be a pictograph (an emoji) that a zero-width joiner before it joins to the one before:
    Unicode joins only those (``EMOJI_PLANE``)."""
    category = unicodedata.category(char)
    return (category == "So" or char in OTHER_PICTOGRAPHS
            or category == "Cn" and EMOJI_PLANE[0] <= ord(char) <= EMOJI_PLANE[1])


def whole_characters(text: str, begin: int, end: int) -> tuple[int, int]:
    """``text[begin:end]`` clipped to the text and widened to whole characters as drawn.

    Parameters
    ----------
    text : str
        The comment as written.
    begin, end : int
        Code point offsets of a span of ``text``.

    Returns
    -------
    begin, end : int
        The same offsets when they fall between characters as drawn; else moved outwards (``begin`` back, ``end`` on)
        to the nearest such boundary, so that the span takes in every character it touches whole: the tags of a flag
        after its black flag, the skin tone after an emoji, the accents after a letter, the emoji joined to it by a
        zero-width joiner. Offsets outside the text are clipped to it first.
    """
    begin, end = max(0, begin), min(len(text), end)
    if text.isascii() and "\r" not in text:
        return begin, end  # no ASCII character joins another but a line feed its carriage return (most comments)
    while _inside_character(text, begin):
        begin -= 1
    while _inside_character(text, end):
        end += 1
    return begin, end
