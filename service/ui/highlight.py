"""A comment as safe HTML with the spans behind its scores marked: built from character offsets, every piece escaped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from markupsafe import Markup, escape

from model.results import Span


def highlight(text: str, spans: Mapping[str, Sequence[Span]]) -> Markup:
    """``text`` escaped, with each stretch inside one or more spans wrapped in ``<mark>`` naming their attributes.

    Overlapping spans of different attributes split the text at every boundary, so each piece is marked
    with exactly the attributes covering it; offsets outside the text are clipped.
    """
    ranges = [
        (max(0, span.begin), min(len(text), span.end), attribute)
        for attribute, found in spans.items()
        for span in found
        if span.end > span.begin
    ]
    cuts = sorted({0, len(text), *(begin for begin, _, _ in ranges), *(end for _, end, _ in ranges)})
    pieces = []
    for begin, end in zip(cuts, cuts[1:]):
        if begin >= end:
            continue
        covering = sorted({attribute for start, stop, attribute in ranges if start <= begin and end <= stop})
        piece = text[begin:end]
        if covering:
            names = ", ".join(name.replace("_", " ") for name in covering)
            pieces.append(Markup('<mark title="{}" data-attributes="{}">{}</mark>').format(names, " ".join(covering), piece))
        else:
            pieces.append(escape(piece))
    return Markup("").join(pieces)
