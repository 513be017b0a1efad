"""A comment as safe HTML with the spans behind its scores marked: built from character offsets, every piece escaped."""

from __future__ import annotations

import unicodedata
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence

from markupsafe import Markup, escape

from model.results import Span

ZERO_WIDTH_JOINER = "\u200d"
COMBINING_CATEGORIES = frozenset({"Mn", "Mc", "Me"})
EXTENDING_RANGES = (
    (0x1F3FB, 0x1F3FF),  # emoji skin tones
    (0xE0020, 0xE007F),  # tags: the letters of a subdivision flag (England's, Scotland's, Wales')
)
"""Code points outside the combining categories that belong to the character before them on screen."""


def _extends(char: str) -> bool:
    """Whether ``char`` is drawn as part of the character before it (a combining mark, variation selector, skin tone
    or tag)."""
    code = ord(char)
    return unicodedata.category(char) in COMBINING_CATEGORIES or any(low <= code <= high for low, high in EXTENDING_RANGES)


def _inside_character(text: str, index: int) -> bool:
    """Whether ``index`` falls inside one character on screen: before a mark that extends it, or beside a joiner."""
    return 0 < index < len(text) and (_extends(text[index]) or ZERO_WIDTH_JOINER in (text[index], text[index - 1]))


def whole_characters(text: str, begin: int, end: int) -> tuple[int, int]:
    """``text[begin:end]`` clipped to the text and widened to whole characters as drawn: a span ending between a flag
    and its tags, or an emoji and its skin tone, would otherwise split it (half of it marked, the rest drawn apart)."""
    begin, end = max(0, begin), min(len(text), end)
    while _inside_character(text, begin):
        begin -= 1
    while _inside_character(text, end):
        end += 1
    return begin, end


def highlight(text: str, spans: Mapping[str, Sequence[Span]]) -> Markup:
    """``text`` escaped, with each stretch inside one or more spans wrapped in ``<mark>`` naming their attributes.

    Overlapping spans of different attributes split the text at every boundary, so each piece is marked
    with exactly the attributes covering it; offsets outside the text are clipped, and offsets inside a character as
    drawn (an emoji with its modifiers, a letter with its accents) widened to take all of it (``whole_characters``).
    """
    ranges = [
        (*whole_characters(text, span.begin, span.end), attribute)
        for attribute, found in spans.items()
        for span in found
        if min(len(text), span.end) > max(0, span.begin)
    ]
    cuts = sorted({0, len(text), *(begin for begin, _, _ in ranges), *(end for _, end, _ in ranges)})
    pieces = []
    for begin, end, covering in zip(cuts, cuts[1:], _covering(ranges, cuts)):
        piece = text[begin:end]
        if covering:
            names = ", ".join(name.replace("_", " ") for name in covering)
            pieces.append(Markup('<mark title="{}" data-attributes="{}">{}</mark>').format(names, " ".join(covering), piece))
        else:
            pieces.append(escape(piece))
    return Markup("").join(pieces)


def _covering(ranges: list[tuple[int, int, str]], cuts: list[int]) -> list[list[str]]:
    """The attributes covering the piece that starts at each cut (but the last), sorted, in one sweep over the cuts.

    Not every range tested against every piece: a comment at the length limit can have thousands of spans, and that
    took minutes, longer than a worker may take to answer.
    """
    starting, ending = defaultdict(list), defaultdict(list)
    for begin, end, attribute in ranges:
        starting[begin].append(attribute)
        ending[end].append(attribute)
    open_spans: Counter[str] = Counter()
    covering = []
    for cut in cuts[:-1]:
        open_spans.subtract(ending[cut])
        open_spans.update(starting[cut])
        covering.append(sorted(attribute for attribute, count in open_spans.items() if count > 0))
    return covering
