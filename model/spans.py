"""Which words raised a score, as character offsets into the comment as written.

Every word of a comment is scored on its own by the hostility model (its TF-IDF row through each
attribute's head). For ``toxicity`` a small word tagger, trained on the SemEval-2021 toxic-spans train
split, says whether the word is part of a toxic span. It reads the word's TF-IDF row and its attribute
probabilities alone, and the word's context: the comment's own probabilities, how the word compares with
the comment's highest-scoring word, its neighbours' scores and how it is written (capitals, masking
symbols, normaliser rewrites). The other attributes use their own head's probability for the word.
Words above the threshold (for toxicity: also above a share of the comment's best word score) are
merged with their neighbours into spans and mapped back to raw offsets through the normaliser.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from model.fast_transform import feature_blocks, transform
from model.normalize import normalize_with_offsets, raw_range
from model.results import Span

SPAN_PROBABILITY = 0.5
"""Default minimum word probability; training replaces it with values chosen on toxic-spans trial data."""
RELATIVE_SUFFIX = ".relative"
"""``span_thresholds["toxicity.relative"] = r``: a toxicity word must also score ``r`` x the comment's best word."""
COMMENT_FLOOR = "comment_floor"
"""``span_thresholds["comment_floor"] = f``: no word spans for an attribute whose comment score is below ``f``.

The toxic-spans data holds toxic posts only, so nothing in it stops the tagger from marking the "worst"
words of a civil comment; the floor keeps spans for comments the model finds at least slightly hostile."""
TAGGER_C = 0.25
TAGGER_MAX_ITER = 2000
N_SURFACE = 5
"""How a word is written: all caps, capitalised, masked with symbols, rewritten by the normaliser, length.
(Its position in the comment did not help on toxic-spans trial data, and on small data it is learned as
"toxic words come first".)"""

_WORD = re.compile(r"\S+")
_EDGE_PUNCTUATION = ".,;:!?\"'()[]{}"
_MASK = re.compile(r"[*@#$%&]")


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


def _comment_words(text: str) -> tuple[list[str], list[tuple[int, int]], list[tuple[int, int]]]:
    """``comment_words`` and where each word is written whole (``model.normalize.raw_range``), what spans show."""
    normalised, offsets = normalize_with_offsets(text)
    positions = _words(normalised)
    return ([normalised[b:e] for b, e in positions], [(offsets[b], offsets[e - 1] + 1) for b, e in positions],
            [raw_range(text, normalised, offsets, b, e) for b, e in positions])


def comment_words(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """The comment's normalised words and each word's raw ``(begin, end)`` offsets: from its first character's raw
    index to past its last one's, what the word tagger reads (``surface_features``) and was trained on."""
    words, raw, _ = _comment_words(text)
    return words, raw


def word_features(hostility, words: Sequence[str]) -> tuple[sp.csr_matrix, np.ndarray]:
    """TF-IDF rows of already-normalised words scored alone, and every attribute's probability for each."""
    if not len(words):
        n_attributes = len(hostility.named_steps["heads"].attributes)
        return sp.csr_matrix((0, 0)), np.zeros((0, n_attributes))
    X = transform(hostility.named_steps["features"].named_steps["tfidf"], list(words))
    return X, hostility.named_steps["heads"].predict_proba(X)


def hostility_probabilities(hostility, texts: Sequence[str]) -> np.ndarray:
    """The hostility heads' probabilities for whole comments, ``(n_texts, n_attributes)``."""
    texts = list(texts)
    if not texts:
        return np.zeros((0, len(hostility.named_steps["heads"].attributes)))
    return hostility.named_steps["heads"].predict_proba(feature_blocks(hostility.named_steps["features"], texts))


def surface_features(text: str, words: Sequence[str], raw: Sequence[tuple[int, int]]) -> np.ndarray:
    """``(n_words, N_SURFACE)``: how each word is written in ``text``."""
    rows = [
        (len(written) > 1 and written.isupper(), written[:1].isupper(), _MASK.search(written) is not None,
         word != written.lower(), min(len(written), 20) / 10)
        for word, written in zip(words, (text[begin:end] for begin, end in raw))
    ]
    return np.array(rows, dtype=float).reshape(len(rows), N_SURFACE)


def context_features(alone: np.ndarray, comment: np.ndarray, surface: np.ndarray, column: int) -> np.ndarray:
    """The dense part of the tagger's input for one comment's words, ``(n_words, 6 n_attributes + 1 + N_SURFACE)``.

    Parameters
    ----------
    alone : array ``(n_words, n_attributes)``
        Each word's attribute probabilities scored alone.
    comment : array ``(n_attributes,)``
        The whole comment's probabilities.
    surface : array ``(n_words, N_SURFACE)``
        See ``surface_features``.
    column : int
        The toxicity column, by which words are ranked (0 = the comment's highest-scoring word, 1 = its lowest).
    """
    n, k = alone.shape
    best = alone.max(axis=0) if n else np.zeros(k)
    rank = np.empty(n)
    rank[np.argsort(-alone[:, column], kind="stable")] = np.arange(n)
    padding = np.zeros((1, k))
    return np.hstack([
        alone,
        np.broadcast_to(comment, (n, k)),
        np.broadcast_to(best, (n, k)),
        alone - best,
        (rank / max(n - 1, 1))[:, None],
        np.vstack([padding, alone[:-1]]) if n else alone,
        np.vstack([alone[1:], padding]) if n else alone,
        surface,
    ])


def tagger_input(X: sp.csr_matrix, dense: np.ndarray) -> sp.csr_matrix:
    """What the word tagger reads: the word's TF-IDF row next to its dense features (``context_features``)."""
    return sp.hstack([X, sp.csr_matrix(dense)], format="csr")


class WordSpanTagger(ClassifierMixin, BaseEstimator):
    """Logistic regression: is this word inside a toxic span?

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

    def word_probability(self, X: sp.csr_matrix, rows: np.ndarray, dense: np.ndarray) -> np.ndarray:
        """``predict_proba(tagger_input(X[rows], dense))[:, 1]``, with each distinct row of ``X`` multiplied once."""
        check_is_fitted(self)
        coef = self.classifier_.coef_[0]
        n_sparse = X.shape[1]
        by_row = X @ coef[:n_sparse] if X.shape[0] else np.zeros(0)
        return expit(by_row[rows] + dense @ coef[n_sparse:] + self.classifier_.intercept_[0])


class _Batch:
    """One batch of comments taken apart into words, each distinct word scored alone once."""

    def __init__(self, hostility, texts: Sequence[str]):
        self.attributes = list(hostility.named_steps["heads"].attributes)
        self.texts = list(texts)
        self.words, self.raw, self.written = [], [], []
        for text in self.texts:
            words, raw, written = _comment_words(text)
            self.words.append(words)
            self.raw.append(raw)
            self.written.append(written)
        vocabulary: dict[str, int] = {}
        for words in self.words:
            for word in words:
                vocabulary.setdefault(word, len(vocabulary))
        self.X, self.alone = word_features(hostility, list(vocabulary))
        self.rows = np.fromiter((vocabulary[w] for words in self.words for w in words), dtype=np.intp)
        self.bounds = np.cumsum([0] + [len(words) for words in self.words])

    def context(self, probabilities: np.ndarray) -> np.ndarray:
        """``context_features`` of every word, stacked in order; ``probabilities`` are the comments' own."""
        column = self.attributes.index("toxicity")
        blocks = [
            context_features(self.alone[self.rows[a:b]], comment, surface_features(text, words, raw), column)
            for text, words, raw, comment, a, b in zip(self.texts, self.words, self.raw, probabilities, self.bounds[:-1], self.bounds[1:])
        ]
        return np.vstack(blocks) if blocks else np.zeros((0, 6 * len(self.attributes) + 1 + N_SURFACE))


def word_labels(text: str, gold: set[int]) -> list[int]:
    """Whether each of the comment's words (``comment_words``) overlaps the gold toxic offsets."""
    _, raw = comment_words(text)
    return [int(any(i in gold for i in range(b, e))) for b, e in raw]


def fit_span_tagger(
    hostility, frame, random_state: int = 0, C: float = TAGGER_C, comment_probabilities: np.ndarray | None = None
) -> WordSpanTagger:
    """Fit the word tagger on a toxic-spans frame (``text``, ``spans`` = gold character offsets).

    ``comment_probabilities`` are the comments' probabilities as the served model gives them (the
    hostility heads' when not given); the tagger reads them as features.
    """
    texts = frame["text"].tolist()
    labels = [y for text, gold in zip(texts, frame["spans"]) for y in word_labels(text, set(gold))]
    batch = _Batch(hostility, texts)
    if comment_probabilities is None:
        comment_probabilities = hostility_probabilities(hostility, texts)
    dense = batch.context(np.asarray(comment_probabilities)[:, : len(batch.attributes)])
    return WordSpanTagger(C=C, random_state=random_state).fit(tagger_input(batch.X[batch.rows], dense), np.asarray(labels))


def merge_spans(text: str, words: list[tuple[int, int]], probabilities: np.ndarray, threshold: float, relative: float = 0.0) -> list[Span]:
    """Spans of consecutive words scoring at least ``max(threshold, relative x the best word score)``, highest-scoring first."""
    if relative and len(probabilities):
        threshold = max(threshold, relative * float(np.max(probabilities)))
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


def word_scores(
    hostility, tagger, texts: Sequence[str], comment_probabilities: np.ndarray | None = None
) -> list[tuple[list[tuple[int, int]], np.ndarray]]:
    """For each text: where its words are written (``model.normalize.raw_range``) and an ``(n_words, n_attributes)``
    array of word scores.

    Distinct words of the whole batch are scored once. The toxicity column holds the tagger's
    probability when there is a tagger, else the toxicity head's.

    Parameters
    ----------
    hostility : Pipeline
    tagger : WordSpanTagger or None
    texts : sequence of str
    comment_probabilities : array ``(n_texts, n_attributes)``, optional
        The hostility heads' probabilities for the whole texts, when the caller has them already;
        computed here otherwise (the tagger reads them).
    """
    texts = list(texts)
    batch = _Batch(hostility, texts)
    scores = batch.alone[batch.rows]
    if tagger is not None and len(batch.rows):
        if tagger.classifier_.coef_.shape[1] == batch.X.shape[1] + len(batch.attributes):
            dense = batch.alone[batch.rows]  # a tagger from before the context features (bundle 1.0): probabilities alone
        else:
            if comment_probabilities is None:
                comment_probabilities = hostility_probabilities(hostility, texts)
            dense = batch.context(np.asarray(comment_probabilities)[:, : len(batch.attributes)])
        scores[:, batch.attributes.index("toxicity")] = tagger.word_probability(batch.X, batch.rows, dense)
    return [(written, scores[a:b]) for written, a, b in zip(batch.written, batch.bounds[:-1], batch.bounds[1:])]


def floored_word_scores(
    hostility, tagger, texts: Sequence[str], comment_probabilities: np.ndarray | None, floor_scores: np.ndarray | None,
    floor: float,
) -> list[tuple[list[tuple[int, int]], np.ndarray]]:
    """``word_scores`` of the texts with some attribute's ``floor_scores`` at ``floor`` or above; the others get no
    words, as ``explain_words`` gives them no spans anyway. Most comments are civil, and scoring their words was
    about a third of a one-comment request's time. Without a floor (0) or its scores, every text is scored."""
    if not floor or floor_scores is None:
        return word_scores(hostility, tagger, texts, comment_probabilities)
    texts = list(texts)
    keep = np.flatnonzero((np.asarray(floor_scores) >= floor).any(axis=1))
    n_attributes = len(hostility.named_steps["heads"].attributes)
    out: list[tuple[list[tuple[int, int]], np.ndarray]] = [([], np.zeros((0, n_attributes))) for _ in texts]
    if len(keep):
        kept = None if comment_probabilities is None else np.asarray(comment_probabilities)[keep]
        for i, found in zip(keep, word_scores(hostility, tagger, [texts[i] for i in keep], kept)):
            out[i] = found
    return out


def explain_words(
    texts: Sequence[str], scored: list[tuple[list[tuple[int, int]], np.ndarray]], attributes: Sequence[str], thresholds: Mapping[str, float],
    comment_scores: np.ndarray | None = None,
) -> list[dict[str, list[Span]]]:
    """Spans per attribute for each text from its scored words (see ``word_scores``).

    ``thresholds`` maps an attribute (or ``default``) to its minimum word score, ``<attribute>.relative``
    to the share of the comment's best word score a word must also reach (none when absent), and
    ``comment_floor`` to the comment score an attribute needs before any of its words is a span; that
    rule needs ``comment_scores`` ``(n_texts, n_attributes)`` and is skipped without them.
    """
    floor = thresholds.get(COMMENT_FLOOR, 0.0) if comment_scores is not None else 0.0
    out = []
    for i, (text, (raw, scores)) in enumerate(zip(texts, scored)):
        spans = {}
        for j, attribute in enumerate(attributes):
            if raw and (not floor or comment_scores[i, j] >= floor):
                threshold = thresholds.get(attribute, thresholds.get("default", SPAN_PROBABILITY))
                found = merge_spans(text, raw, scores[:, j], threshold, thresholds.get(attribute + RELATIVE_SUFFIX, 0.0))
                if found:
                    spans[attribute] = found
        out.append(spans)
    return out


def served_span_thresholds(model: object, span_floor: float | None = None) -> dict | None:
    """The word-span thresholds the served model applies: an encoder bundle's are its base model's, with its own
    floor on the served scores (``span_floor``) in place of the base's ``comment_floor``; a policy's floor
    (``span_floor``, as ``Scorer.moderate`` passes it) in place of either."""
    base = getattr(model, "base", model)
    thresholds = getattr(base, "span_thresholds", None)
    if thresholds is None:
        return None
    floor = span_floor if span_floor is not None else getattr(model, "span_floor", None)
    return {**thresholds, **({COMMENT_FLOOR: floor} if floor is not None else {})}
