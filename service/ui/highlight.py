"""A comment as safe HTML with the spans behind its scores marked: built from character offsets, every piece escaped."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence

from markupsafe import Markup, escape

from model.characters import whole_characters
from model.results import Span

def highlight(text: str, spans: Mapping[str, Sequence[Span]]) -> Markup:
    """``text`` escaped, with each stretch inside one or more spans wrapped in ``<mark>`` naming their attributes.

    Overlapping spans of different attributes split the text at every boundary, so each piece is marked
    with exactly the attributes covering it; offsets outside the text are clipped, and offsets inside a character as
    drawn (an emoji with its modifiers, a letter with its accents) widened to take all of it (``whole_characters``): the
    scorer's spans are whole already (``Decision.in_whole_characters``); this keeps any other caller's whole too.
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
