"""Which words raised a score: each word scored alone by the attribute's own model, mapped to raw offsets."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from model.normalize import normalize_with_offsets
from model.results import Span

SPAN_PROBABILITY = 0.5
"""A word is part of an attribute's span when the attribute's model, given that word alone, scores it
at least this high. The default is replaced by the value that training chooses on toxic-spans train data
(stored in the manifest as ``span_threshold``)."""

_WORD = re.compile(r"\S+")
_EDGE_PUNCTUATION = ".,;:!?\"'()[]{}"


def _words(normalised: str) -> list[tuple[int, int]]:
    """Word positions in the normalised text, trimmed of leading and trailing punctuation."""
    out = []
    for match in _WORD.finditer(normalised):
        begin, end = match.span()
        while begin < end and normalised[begin] in _EDGE_PUNCTUATION:
            begin += 1
        while end > begin and normalised[end - 1] in _EDGE_PUNCTUATION:
            end -= 1
        if begin < end:
            out.append((begin, end))
    return out


def word_probabilities(model, texts: list[str]) -> np.ndarray:
    """Every attribute's probability for each word of ``texts`` scored on its own, ``(n, n_attributes)``."""
    features = model.named_steps["features"].named_steps["tfidf"]
    return model.named_steps["heads"].predict_proba(features.transform(texts))


def scored_words(model, text: str) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Raw character ranges of the comment's words and each attribute's probability for each word alone."""
    normalised, offsets = normalize_with_offsets(text)
    words = _words(normalised)
    if not words:
        return [], np.zeros((0, 0))
    probabilities = word_probabilities(model, [normalised[b:e] for b, e in words])
    return [(offsets[b], offsets[e - 1] + 1) for b, e in words], probabilities


def merge_spans(text: str, words: list[tuple[int, int]], probabilities: np.ndarray, threshold: float) -> list[Span]:
    """Spans of consecutive words scoring at least ``threshold``, highest-scoring first."""
    merged: list[list] = []
    for (begin, end), probability in zip(words, probabilities):
        if probability < threshold:
            continue
        if merged and not text[merged[-1][1] : begin].strip():
            merged[-1][1] = max(merged[-1][1], end)
            merged[-1][2] = max(merged[-1][2], float(probability))
        else:
            merged.append([begin, end, float(probability)])
    return sorted((Span(b, e, p) for b, e, p in merged), key=lambda s: -s.score)


def explain(model, text: str, attributes: Sequence[str], threshold: float = SPAN_PROBABILITY) -> dict[str, list[Span]]:
    """Character spans of ``text`` behind each attribute's score.

    Parameters
    ----------
    model : Pipeline
        The fitted bundle pipeline (``features`` then ``heads``).
    text : str
        The comment as written; spans index into it.
    attributes : sequence of str
        The model's attributes, in the order of its output columns.
    threshold : float
        Minimum probability of a word scored alone.

    Returns
    -------
    dict
        Attribute -> spans, highest-scoring first; attributes with no span are left out.
    """
    words, probabilities = scored_words(model, text)
    spans = {}
    for j, attribute in enumerate(attributes):
        if words:
            found = merge_spans(text, words, probabilities[:, j], threshold)
            if found:
                spans[attribute] = found
    return spans
