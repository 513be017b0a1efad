"""Unsupported-claim score: per sentence P(checkable claim) x (1 - P(supported)), pooled to the comment by max."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import sentencex
import scipy.sparse as sp
from sklearn.base import BaseEstimator, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.utils.validation import check_is_fitted

from model.fast import pipeline_proba
from model.normalize import StatelessTextTransformer

CHECKABLE_C = 1.0
SUPPORTED_C = 1.0
MAX_ITER = 2000
CV_FOLDS = 3
WORD_NGRAMS = (1, 2)
CHAR_NGRAMS = (2, 5)
MIN_DF = 2
WORD_MAX_FEATURES = 60_000
CHAR_MAX_FEATURES = 80_000
SUPPORTED_WORD_MAX_FEATURES = 20_000
CUE_WEIGHT = 1.0
"""Scale of the cue columns next to the l2-normalised TF-IDF blocks."""
MAX_SENTENCE_CHARS = 2_000
"""Longer sentences (lists, pasted tables) are scored on their first characters only."""

# Cue lexicons: why they exist is in the recipe notes (reports/claims); each is a regex over raw text.
_NUMBER = r"\b\d[\d,.]*\b"
CUE_PATTERNS: dict[str, str] = {
    "number": _NUMBER,
    "percent": r"\d\s?%|\bper ?cent\b",
    "year": r"\b(?:1[89]|20)\d\d\b",
    "money": r"[$€£]\s?\d|\b\d[\d,.]*\s?(?:bn|billion|million|trillion|dollars?)\b",
    "url": r"https?://|www\.|__url__|\b\w+\.(?:com|org|gov|net|edu)\b",
    "according_to": r"\baccording to\b",
    "named_source": r"\b(?:reported|reports?|study|studies|survey|data (?:from|show)|statistics|census|"
                    r"published|source[sd]?:?|cited|findings|research(?:ers)? (?:show|found)|"
                    r"(?:says|said|told|stated|announced|confirmed)\b)",
    "quotation": r"[\"“”]",
    "weasel": r"\b(?:people (?:say|are saying|know)|some (?:say|people|experts|scientists|doctors)|"
              r"many (?:people|experts|believe|say)|everyone knows|everybody knows|it is (?:well )?known|"
              r"it'?s (?:well )?known|(?:it is|it's) said|they say|experts (?:say|agree)|studies show|"
              r"reportedly|allegedly|apparently|rumou?rs?|supposedly|believed to|widely (?:believed|known)|"
              r"the truth is|wake up|do your research|they don'?t want you)\b",
    "first_person": r"\b(?:i|i'm|i've|i'd|me|my|mine|myself)\b",
    "experience": r"\b(?:i was|i had|i have been|i've been|i got|i went|i saw|my (?:husband|wife|son|daughter|"
                  r"family|mother|father|friend|experience)|when i|last (?:year|week|month))\b",
    "opinion": r"\b(?:i think|i believe|i feel|in my (?:opinion|view)|imo|imho|i guess|seems? to me|"
               r"i agree|i disagree)\b",
    "modal": r"\b(?:should|must|ought|need to|needs to|have to|has to|would|could|might|may)\b",
    "evaluative": r"\b(?:good|bad|better|worse|best|worst|unfair|fair|wrong|right|stupid|ridiculous|great|"
                  r"terrible|important|outrageous)\b",
    "question": r"\?",
    "exclamation": r"!",
    "because": r"\b(?:because|since|therefore|thus|for example|for instance|e\.g\.|as shown)\b",
}
"""Regex cues counted by ``ClaimFeatures`` (case-insensitive)."""

SOURCE_CUES = ("url", "according_to")
"""Cues that cite something: the support head's weak positive labels (broader cues such as "said" hurt on
validation: debate and forum claims use them without citing anything)."""

SENTENCE_LANGUAGE = "en"
"""sentencex (Wikimedia's sentence segmenter): same splits as pysbd on our tests, about 100 times faster."""


class ClaimFeatures(StatelessTextTransformer):
    """Stateless cue counts (numbers, sources, hedges, first person, opinion, questions) as log1p columns.

    Parameters
    ----------
    weight : float
        Factor on every column, to balance the cues against the l2-normalised TF-IDF blocks.
    """

    def __init__(self, weight: float = CUE_WEIGHT):
        self.weight = weight

    def fit(self, X: Iterable[str], y=None):
        """Nothing to learn; records the number of output columns."""
        self.n_features_out_ = len(CUE_PATTERNS) + 1
        return self

    def transform(self, X: Iterable[str]) -> sp.csr_matrix:
        """Return ``(n_texts, n_cues + 1)``: log1p of each cue's count, then log1p of the word count."""
        check_is_fitted(self)
        patterns = [re.compile(pattern, re.IGNORECASE) for pattern in CUE_PATTERNS.values()]
        rows = [[len(p.findall(text)) for p in patterns] + [len(text.split())] for text in X]
        values = np.log1p(np.asarray(rows, dtype=np.float32).reshape(-1, len(patterns) + 1))
        values[:, -1] /= np.log1p(100.0)  # word count on roughly the cue columns' scale
        return sp.csr_matrix(values * self.weight)

    def get_feature_names_out(self, input_features=None):
        """Cue names in column order."""
        return np.array([*CUE_PATTERNS, "n_words"], dtype=object)


def cue_counts(texts: Sequence[str], names: Sequence[str]) -> np.ndarray:
    """Raw counts of the named cues per text, shape ``(n_texts, len(names))``."""
    patterns = [re.compile(CUE_PATTERNS[name], re.IGNORECASE) for name in names]
    return np.array([[len(p.findall(text)) for p in patterns] for text in texts], dtype=int).reshape(-1, len(names))


def _words(max_features: int) -> TfidfVectorizer:
    return TfidfVectorizer(ngram_range=WORD_NGRAMS, min_df=MIN_DF, max_features=max_features,
                           token_pattern=r"(?u)\b\w+\b|[?!%$\"]", sublinear_tf=True, dtype=np.float32)


def _chars(max_features: int) -> TfidfVectorizer:
    return TfidfVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAMS, min_df=MIN_DF, max_features=max_features,
                           sublinear_tf=True, dtype=np.float32)


def _calibrated(C: float, random_state: int) -> CalibratedClassifierCV:
    base = LogisticRegression(C=C, max_iter=MAX_ITER, solver="liblinear", random_state=random_state)
    folds = StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=random_state)
    return CalibratedClassifierCV(base, method="sigmoid", cv=folds, ensemble=False)


def build_claim_pipeline(random_state: int, checkable_C: float = CHECKABLE_C,
                         supported_C: float = SUPPORTED_C) -> dict[str, Pipeline]:
    """Return the two heads: ``checkable`` (word + char TF-IDF + cues) and ``supported`` (words + cues).

    Parameters
    ----------
    random_state : int
        Seed of every estimator and splitter.
    checkable_C, supported_C : float
        Inverse regularisation of each head's logistic regression.

    Returns
    -------
    dict of str to Pipeline
        ``{"checkable": ..., "supported": ...}``, each ending in a sigmoid-calibrated logistic regression.
    """
    checkable = Pipeline([
        ("features", FeatureUnion([("words", _words(WORD_MAX_FEATURES)), ("chars", _chars(CHAR_MAX_FEATURES)),
                                   ("cues", ClaimFeatures())])),
        ("classifier", _calibrated(checkable_C, random_state)),
    ])
    supported = Pipeline([
        ("features", FeatureUnion([("words", _words(SUPPORTED_WORD_MAX_FEATURES)), ("cues", ClaimFeatures())])),
        ("classifier", _calibrated(supported_C, random_state)),
    ])
    return {"checkable": checkable, "supported": supported}


def weak_support_labels(texts: Sequence[str]) -> np.ndarray:
    """1.0 where a sentence cites something (URL, "according to", named source), else NaN (unknown)."""
    cited = cue_counts(texts, SOURCE_CUES).sum(axis=1) > 0
    return np.where(cited, 1.0, np.nan)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans ``(begin, end)`` of the sentences of ``text`` (sentencex), stripped; ``[]`` for blank text.

    Parameters
    ----------
    text : str
        A comment.

    Returns
    -------
    list of tuple of int
        Non-overlapping spans in order; ``text[begin:end]`` is a sentence without surrounding whitespace.
    """
    if not text or not text.strip():
        return []
    # Offsets are found by searching forward ourselves, so repeated sentences map to their own place.
    segments = sentencex.segment(SENTENCE_LANGUAGE, text)
    spans, cursor = [], 0
    for segment in segments:
        piece = segment.strip()
        if not piece:
            continue
        begin = text.find(piece, cursor)
        if begin < 0:  # the segmenter altered the text; fall back to the rest of the comment
            spans.append((cursor, len(text.rstrip())))
            cursor = len(text)
            break
        spans.append((begin, begin + len(piece)))
        cursor = begin + len(piece)
    tail = text[cursor:].strip()
    if tail:
        begin = text.find(tail, cursor)
        spans.append((begin, begin + len(tail)))
    return spans


class ClaimScorer(BaseEstimator):
    """Unsupported-claim probability of comments: two sentence heads multiplied, max over sentences.

    Parameters
    ----------
    random_state : int
        Seed of both heads.
    checkable_C, supported_C : float
        Inverse regularisation of the heads.
    weak_support : bool
        Add ``weak_support_labels`` (sentences citing a source are supported) where a row has no label.
    """

    def __init__(self, random_state: int = 0, checkable_C: float = CHECKABLE_C, supported_C: float = SUPPORTED_C,
                 weak_support: bool = True):
        self.random_state = random_state
        self.checkable_C = checkable_C
        self.supported_C = supported_C
        self.weak_support = weak_support

    def fit(self, sentences: pd.DataFrame, y=None):
        """Fit both heads on a frame with ``text``, ``checkable``, ``supported`` and optional ``weight``."""
        missing = {"text", "checkable", "supported"} - set(sentences.columns)
        if missing:
            raise ValueError(f"sentences frame lacks columns {sorted(missing)}")
        texts = sentences["text"].astype(str).str.slice(0, MAX_SENTENCE_CHARS).to_numpy(object)
        weights = sentences["weight"].to_numpy(float) if "weight" in sentences else np.ones(len(sentences))
        supported = sentences["supported"].to_numpy(float).copy()
        if self.weak_support:
            unlabelled = np.isnan(supported)
            supported[unlabelled] = weak_support_labels(texts[unlabelled])
            # Unlabelled factual sentences without a cited source are taken as unsupported.
            fact_rows = unlabelled & np.isnan(supported) & (sentences["checkable"].to_numpy(float) == 1)
            supported[fact_rows] = 0.0
        heads = build_claim_pipeline(self.random_state, self.checkable_C, self.supported_C)
        fitted = {}
        for name, labels in (("checkable", sentences["checkable"].to_numpy(float)), ("supported", supported)):
            rows = ~np.isnan(labels)
            if len(np.unique(labels[rows])) < 2:
                raise ValueError(f"the {name} head needs both positive and negative labelled rows")
            fitted[name] = clone(heads[name]).fit(list(texts[rows]), labels[rows].astype(int),
                                                  classifier__sample_weight=weights[rows])
        self.checkable_ = fitted["checkable"]
        self.supported_ = fitted["supported"]
        return self

    def head_scores(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """P(checkable) and P(supported) of each sentence."""
        check_is_fitted(self)
        clipped = [str(text)[:MAX_SENTENCE_CHARS] for text in texts]
        if not clipped:
            return np.zeros(0), np.zeros(0)
        return pipeline_proba(self.checkable_, clipped), pipeline_proba(self.supported_, clipped)

    def sentence_scores(self, texts: Sequence[str]) -> np.ndarray:
        """Unsupported-claim probability of each sentence: P(checkable) x (1 - P(supported))."""
        checkable, supported = self.head_scores(texts)
        return checkable * (1.0 - supported)

    def _comment_sentences(self, comments: Sequence[str]) -> tuple[list[str], np.ndarray]:
        texts, owners = [], []
        for i, comment in enumerate(comments):
            for begin, end in split_sentences(comment):
                texts.append(comment[begin:end])
                owners.append(i)
        return texts, np.asarray(owners, dtype=int)

    def predict_proba(self, comments: Sequence[str]) -> np.ndarray:
        """Unsupported-claim probability of each comment (max over its sentences; 0.0 when it has none)."""
        check_is_fitted(self)
        texts, owners = self._comment_sentences(list(comments))
        pooled = np.zeros(len(comments))
        if texts:
            np.maximum.at(pooled, owners, self.sentence_scores(texts))
        return pooled

    def explain(self, comment: str) -> list[tuple[int, int, float]]:
        """Sentence spans ``(begin, end, score)`` of ``comment``, highest score first."""
        check_is_fitted(self)
        spans = split_sentences(comment)
        scores = self.sentence_scores([comment[begin:end] for begin, end in spans])
        ranked = sorted(zip(spans, scores), key=lambda item: -item[1])
        return [(begin, end, float(score)) for (begin, end), score in ranked]
