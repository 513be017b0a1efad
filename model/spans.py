"""Which words raised a score, as character offsets into the comment as written.

Every word of a comment is scored on its own by the hostility model (its TF-IDF row through each
attribute's head). For ``toxicity`` a small word tagger, trained on the SemEval-2021 toxic-spans train
split, reads those same per-word features and says whether the word is part of a toxic span; the other
attributes use their own head's probability for the word. Words above the threshold are merged with
their neighbours into spans and mapped back to raw offsets through the normaliser.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from model.fast import transform
from model.normalize import normalize_with_offsets
from model.results import Span

SPAN_PROBABILITY = 0.5
"""Default minimum word probability; training replaces it with values chosen on toxic-spans trial data."""
TAGGER_C = 0.5
TAGGER_MAX_ITER = 2000

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


def comment_words(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """The comment's normalised words and each word's raw ``(begin, end)`` offsets."""
    normalised, offsets = normalize_with_offsets(text)
    positions = _words(normalised)
    return [normalised[b:e] for b, e in positions], [(offsets[b], offsets[e - 1] + 1) for b, e in positions]


def word_features(hostility, words: Sequence[str]) -> tuple[sp.csr_matrix, np.ndarray]:
    """TF-IDF rows of already-normalised words scored alone, and every attribute's probability for each."""
    if not len(words):
        n_attributes = len(hostility.named_steps["heads"].attributes)
        return sp.csr_matrix((0, 0)), np.zeros((0, n_attributes))
    X = transform(hostility.named_steps["features"].named_steps["tfidf"], list(words))
    return X, hostility.named_steps["heads"].predict_proba(X)


def tagger_input(X: sp.csr_matrix, probabilities: np.ndarray) -> sp.csr_matrix:
    """What the word tagger reads: the word's TF-IDF row next to its attribute probabilities."""
    return sp.hstack([X, sp.csr_matrix(probabilities)], format="csr")


class WordSpanTagger(ClassifierMixin, BaseEstimator):
    """Logistic regression: is this word (scored alone) inside a toxic span?

    Parameters
    ----------
    C : float
        Inverse regularisation strength.
    random_state : int
    """

    def __init__(self, C: float = TAGGER_C, random_state: int = 0):
        self.C = C
        self.random_state = random_state

    def fit(self, X, y):
        """Fit on ``tagger_input`` rows and 0/1 word labels."""
        self.classifier_ = LogisticRegression(C=self.C, max_iter=TAGGER_MAX_ITER, solver="liblinear", random_state=self.random_state)
        self.classifier_.fit(X, y)
        self.classes_ = self.classifier_.classes_
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, ``(n_words, 2)``."""
        check_is_fitted(self)
        return self.classifier_.predict_proba(X)


def word_labels(text: str, gold: set[int]) -> tuple[list[str], list[int]]:
    """The comment's normalised words and whether each overlaps the gold toxic offsets."""
    words, raw = comment_words(text)
    return words, [int(any(i in gold for i in range(b, e))) for b, e in raw]


def fit_span_tagger(hostility, frame, random_state: int = 0) -> WordSpanTagger:
    """Fit the word tagger on a toxic-spans frame (``text``, ``spans`` = gold character offsets)."""
    words, labels = [], []
    for text, gold in zip(frame["text"], frame["spans"]):
        w, y = word_labels(text, set(gold))
        words += w
        labels += y
    X, probabilities = word_features(hostility, words)
    return WordSpanTagger(random_state=random_state).fit(tagger_input(X, probabilities), np.asarray(labels))


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


def word_scores(hostility, tagger, texts: Sequence[str]) -> list[tuple[list[tuple[int, int]], np.ndarray]]:
    """For each text: its words' raw offsets and an ``(n_words, n_attributes)`` array of word scores.

    Distinct words of the whole batch are scored once. The toxicity column holds the tagger's
    probability when there is a tagger, else the toxicity head's.
    """
    per_text = [comment_words(text) for text in texts]
    vocabulary: dict[str, int] = {}
    for words, _ in per_text:
        for word in words:
            vocabulary.setdefault(word, len(vocabulary))
    X, probabilities = word_features(hostility, list(vocabulary))
    scores = probabilities.copy()
    if tagger is not None and len(vocabulary):
        column = list(hostility.named_steps["heads"].attributes).index("toxicity")
        scores[:, column] = tagger.predict_proba(tagger_input(X, probabilities))[:, 1]
    return [(raw, scores[[vocabulary[w] for w in words]]) for words, raw in per_text]


def explain_words(
    texts: Sequence[str], scored: list[tuple[list[tuple[int, int]], np.ndarray]], attributes: Sequence[str], thresholds: dict[str, float]
) -> list[dict[str, list[Span]]]:
    """Spans per attribute for each text from its scored words (see ``word_scores``)."""
    out = []
    for text, (raw, scores) in zip(texts, scored):
        spans = {}
        for j, attribute in enumerate(attributes):
            if raw:
                found = merge_spans(text, raw, scores[:, j], thresholds.get(attribute, thresholds.get("default", SPAN_PROBABILITY)))
                if found:
                    spans[attribute] = found
        out.append(spans)
    return out
