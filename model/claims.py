"""Unsupported-claim score: per sentence P(checkable claim) x (1 - P(supported)), pooled to the comment by max."""

from __future__ import annotations

import functools
import re
import re._constants as re_constants
import re._parser as re_parser
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, NamedTuple

import ahocorasick
import numpy as np
import sentencex
import scipy.sparse as sp
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.utils.validation import check_is_fitted

from model.characters import joins_nothing, whole_characters
from model.normalize import StatelessTextTransformer
from model.run_patterns import RunPattern
from model.stacked_linear import pipelines_proba

if TYPE_CHECKING:  # only fit's annotation: scoring does not need pandas
    import pandas as pd

CHECKABLE_C = 1.0
SUPPORTED_C = 1.0
"""Regularisation of the support head. In a one-off experiment C=0.03 scored 0.003 higher on the mean
validation ROC AUC but learned too little of what a source is: a bundle trained with it scored "According to
Reuters, Turkey paid $2.5bn for the S-400." above the same fact unsourced. Sourcing must lower the score (the
product's definition), so C stays 1.0; tests/test_claims.py checks it on the shipped bundle."""
SOURCE_OFFSET_SCALE = 1.0
"""Value of the per-source indicator columns the checkable head is fitted with (then dropped); with them the
mean validation ROC AUC rose 0.7935 -> 0.7969, mostly Regulation Room (0.814 -> 0.824)."""
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
HeadScores = Callable[[Sequence[str]], tuple[np.ndarray, np.ndarray]]
"""Sentences -> (P(checkable), P(supported)), as ``ClaimScorer.head_scores``."""
MAX_SENTENCE_CHARS = 2_000
"""Longer sentences (lists, pasted tables) are scored on their first characters only."""

# Cue lexicons: why they exist is in the recipe notes (reports/claims); each is a regex over raw text.
_NUMBER = r"\b\d[\d,.]*\b"
# Parts of the named-source cue: a document, a public body or a named outlet next to a reporting verb. A person
# ("Senator X said") or a vague subject ("experts say", "studies show") is not a source: debate and forum claims
# use those without citing anything.
_NOT_DEEP_IN_CAPITALS = r"(?-i:(?<![A-Z]{9}))"
"""Where a ``_NAME`` may begin: not after 9 capitals. An acronym reads its run of capitals to the end from every
capital the cue is tried at, so 20,000 capitals and " said" took 4.4 s. The rest of the cue goes on from the run's
end whichever capital the name began at, so a later capital begins a match only where the run's first one cannot:
where the whole run is a day or a month (at most 9 letters) and so not a name. The cue's matches are the same."""
_NAME = (r"(?=(?-i:[A-Z]))"  # every form below starts with a capital: tried first, it makes the cue 5x cheaper
         + _NOT_DEEP_IN_CAPITALS +
         r"(?!(?:(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day|January|February|March|April|May|June|July|August|"
         r"September|October|November|December)\b)"
         r"(?-i:[A-Z]{2,}\b|(?<=[\w,] )[A-Z][a-z]+\b|^(?!(?:The|An?|This|That|These|Those|It|Its|They|Their|We|He|"
         r"His|She|Her|Our|My|You|Your|Some|Many|Most|People|Experts|Everyone|Everybody|Critics|Others|Scientists|"
         r"Researchers|Studies|Reports|Sources)\b)[A-Z][a-z]+\b)")
"""An acronym or a capitalised word (case-sensitive), not a day or month; a sentence's first word only when it is not
a function word or a vague subject."""
_DOCUMENT = r"(?:report|study|survey|poll|census|figures|data|statistics|analysis|audit|paper|filings?)"
_BODY = (r"(?:police|ministry|minister|department|agency|government|court|commission|bank|bureau|office|institute|"
         r"authority|council|regulator|watchdog|spokes(?:man|woman|person))")
_REPORTS = (r"(?:reported|reports|said|says|told|stated|announced|confirmed|found|finds|shows?|showed|"
            r"estimated|estimates)")
_GAP = r"(?:\s+(?!(?:who|which|that|where|when|if)\b)[\w&-]+){0,4}?"
"""Up to four words between a source and its verb, not across a relative clause ("an agency who reports ...")."""
_NAMED_SOURCE = (
    # the WHO report from March shows / a 2019 study in Nature found / Met Office data show / police said
    rf"(?:\b(?:the|an?|its|their|this|these)\s+(?:[\w&-]+\s+){{0,4}}?|{_NAME}\s+(?:[\w&-]+\s+){{0,2}}?)"
    rf"{_DOCUMENT}{_GAP}\s+{_REPORTS}\b"
    rf"|\b{_BODY}{_GAP}\s+{_REPORTS}\b"
    # figures from the ONS / statistics published by Statistics Canada
    rf"|\b{_DOCUMENT}\s+(?:from|by|of|in|published by)\s+(?:the\s+)?{_NAME}"
    # the BBC reported / as reported by the Financial Times / per the CBO / ..., says the IMF
    rf"|{_NAME}\s+(?:reported|estimated|published)\b|\b(?:reported by|per)\s+(?:the\s+)?{_NAME}"
    rf"|,\s*(?:reported|reports|said|says|writes|wrote)\s+(?:the\s+)?{_NAME}"
    # (source: Reuters)
    r"|\bsources?\s*:"
)
_MONEY_UNITS = r"(?:bn|billion|million|trillion|dollars?)"
CUE_PATTERNS: dict[str, str] = {
    "number": _NUMBER,
    "percent": r"\d\s?%|\bper ?cent\b",
    "year": r"\b(?:1[89]|20)\d\d\b",
    "money": rf"[$€£]\s?\d|\b\d[\d,.]*\s?{_MONEY_UNITS}\b",
    "url": r"https?://|www\.|__url__|\b\w+\.(?:com|org|gov|net|edu)\b",
    "according_to": r"\baccording to\b",
    "named_source": _NAMED_SOURCE,
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
RUN_CUES: dict[str, dict[str, str]] = {
    # The amount reads its run of [\d,.] to the end from every digit after a comma or dot (20,000 characters of
    # "1.1.1..." and " $" took 2.5 s): only a start in a run that a unit follows can match.
    "money": {"run": r"[\d,.]", "start": r"\b\d", "marker": rf"[\d,.](?=\s?{_MONEY_UNITS}\b)", "others": "(?=[$€£])"},
}
"""Cues matched as ``model.run_patterns.RunPattern`` with these parts (the same matches, in linear time)."""


SOURCE_CUES = ("url", "according_to", "named_source")
"""Cues that cite something: the support head's weak positive labels (broader cues such as "said" hurt on
validation: debate and forum claims use them without citing anything). With the precise ``named_source`` added,
the mean validation ROC AUC went 0.8287 -> 0.8284 in a one-off experiment (claims scorer alone, seed
``model.training.train.SEED``), and a sourced fact ("..., reported the BBC.", "Figures from the ONS show ...") scored
below the same fact unsourced in 20 of 20 written pairs instead of 4."""

SENTENCE_LANGUAGE = "en"
"""sentencex (Wikimedia's sentence segmenter): same splits as pysbd on our tests, about 100 times faster."""
_RUST_SPACES = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
"""The characters Rust's ``char::is_whitespace`` holds (Unicode's White_Space), as a class's content."""
_WIDE_SPACES = "\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
"""Those of ``_RUST_SPACES`` that take more than one byte in UTF-8."""
_INITIAL_BEFORE_PERIOD = re.compile(rf"(?:(?<=[{_RUST_SPACES}./])|^)[A-Z][{_RUST_SPACES}]*[{_WIDE_SPACES}](?=\.)")
"""A name initial, whitespace ending in a ``_WIDE_SPACES`` character, and a period: "Plan B\\u00a0." made sentencex
1.0.32 panic (a ``BaseException``, which the service's error handlers do not catch, and a Rust backtrace in the
log). To read the word before the initial, it cuts the text one initial's length before the whitespace's end."""


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
        X = list(X)
        counts = np.column_stack([cue_counts(X, tuple(CUE_PATTERNS)), [len(text.split()) for text in X]])
        values = np.log1p(counts.astype(np.float32).reshape(-1, len(CUE_PATTERNS) + 1))
        values[:, -1] /= np.log1p(100.0)  # word count on roughly the cue columns' scale
        return sp.csr_matrix(values * self.weight)

    def get_feature_names_out(self, input_features=None):
        """Cue names in column order."""
        return np.array([*CUE_PATTERNS, "n_words"], dtype=object)


_ESCAPES = re.compile(r"\\[A-Za-z]")
_CASE_TRAPS = frozenset("\u0130\u0131\u017f")
"""İ (lower-cased to two characters), dotless ı and long ſ (which case-insensitive matching takes for i and s):
in a text holding one, lower-casing would not give case-insensitive matching's results."""


def required_literals(pattern: str) -> tuple[str, ...]:
    """Lower-case strings of which every match of ``pattern`` holds at least one; ``()`` when none is known.

    Read off the parsed pattern: a run of literal characters is required; an alternation requires one of
    what each alternative requires; a repeat at least once requires what its body requires; anything else
    (classes, lookarounds, optional parts) requires nothing. Of a sequence's requirements the most selective
    is kept (the one whose shortest string is longest).
    """
    return tuple(sorted(_required(re_parser.parse(pattern)) or ()))


def _required(sequence) -> set[str] | None:
    candidates: list[set[str]] = []
    run: list[str] = []
    for op, argument in list(sequence) + [(None, None)]:  # a sentinel closes the last run
        if op is re_constants.LITERAL:
            run.append(chr(argument).lower())
            continue
        if run:
            candidates.append({"".join(run)})
            run = []
        found = None
        if op is re_constants.SUBPATTERN:
            found = _required(argument[-1])
        elif op is re_constants.BRANCH:
            branches = [_required(branch) for branch in argument[1]]
            found = None if any(b is None for b in branches) else set().union(*branches)
        elif op in (re_constants.MAX_REPEAT, re_constants.MIN_REPEAT, re_constants.POSSESSIVE_REPEAT):
            found = _required(argument[2]) if argument[0] >= 1 else None
        elif op is re_constants.IN and all(kind is re_constants.LITERAL for kind, _ in argument):
            found = {chr(code).lower() for _, code in argument}
        if found:
            candidates.append(found)
    return max(candidates, key=lambda strings: min(map(len, strings)), default=None)


class _Cue(NamedTuple):
    exact: re.Pattern | RunPattern  # case-insensitive, on the text as written
    lowered: re.Pattern | RunPattern | None  # case-sensitive, on text.lower(); None for a cue with capitals in it
    required: tuple[str, ...]  # required_literals: a text holding none of them has no match


@functools.lru_cache(maxsize=None)
def _compiled_cues(names: tuple[str, ...]) -> tuple[_Cue, ...]:
    """Each named cue compiled for ``cue_counts``.

    Case-insensitive matching costs Python's ``re`` about twice as much as matching lower-cased text, so a cue
    without capital letters (escapes such as ``\\b`` aside) also gets a case-sensitive form run on
    ``text.lower()``: the same matches, except in a text holding one of ``_CASE_TRAPS``. A cue with a
    case-sensitive part (``(?-i:...)``, capitalised names) always runs case-insensitive on the text as written.
    A text holding none of a cue's ``required_literals`` is not searched for it. A cue of ``RUN_CUES`` is
    matched as a ``RunPattern``.
    """
    cues = []
    for name in names:
        pattern = CUE_PATTERNS[name]
        lowered = None if any(c.isupper() for c in _ESCAPES.sub("", pattern)) else _compiled_cue(name, 0)
        cues.append(_Cue(_compiled_cue(name, re.IGNORECASE), lowered, required_literals(pattern)))
    return tuple(cues)


def _compiled_cue(name: str, flags: int) -> re.Pattern | RunPattern:
    """The cue ``name`` compiled with ``flags``, as a ``RunPattern`` when it is one of ``RUN_CUES``."""
    pattern = re.compile(CUE_PATTERNS[name], flags)
    return RunPattern(pattern, **RUN_CUES[name]) if name in RUN_CUES else pattern


_GATE_SEPARATOR = "\n"
"""Between lower-cased texts in ``cue_gates``: no required literal holds it, so no literal is found across two texts."""


class _Literals(NamedTuple):
    automaton: ahocorasick.Automaton  # every cue's required literals, each valued by its row in ``cues``
    cues: np.ndarray  # (n_literals, n_cues) float32, 1.0 where the cue requires the literal
    ungated: np.ndarray  # (n_cues,) bool: cues without required literals (searched in every text)


@functools.lru_cache(maxsize=None)
def _literals(names: tuple[str, ...]) -> _Literals:
    """The named cues' ``required_literals`` in one Aho-Corasick automaton (``cue_gates``)."""
    cues = _compiled_cues(names)
    literals = sorted({literal for cue in cues for literal in cue.required})
    if any(_GATE_SEPARATOR in literal for literal in literals):
        raise ValueError(f"a cue requires a literal holding the gate separator {_GATE_SEPARATOR!r}")
    automaton = ahocorasick.Automaton()
    for row, literal in enumerate(literals):
        automaton.add_word(literal, row)
    if literals:
        automaton.make_automaton()
    of_literal = np.array([[literal in cue.required for cue in cues] for literal in literals], dtype=np.float32)
    ungated = np.array([not cue.required for cue in cues], dtype=bool)
    return _Literals(automaton, of_literal.reshape(len(literals), len(cues)), ungated)


def cue_gates(lowered: Sequence[str], names: tuple[str, ...]) -> np.ndarray:
    """``(n_texts, n_cues)`` bool: whether each lower-cased text holds one of each cue's ``required_literals``
    (always true for a cue without any). One Aho-Corasick pass over all the texts finds every occurrence of
    every literal, overlapping ones too: the same answers as testing ``literal in text`` for each."""
    table = _literals(names)
    gates = np.zeros((len(lowered), len(table.ungated)), dtype=bool)
    gates[:, table.ungated] = True
    if not len(table.cues) or not len(lowered):
        return gates
    lengths = np.fromiter(map(len, lowered), dtype=np.int64, count=len(lowered))
    starts = np.cumsum(lengths + len(_GATE_SEPARATOR)) - lengths - len(_GATE_SEPARATOR)
    hits = np.array(list(table.automaton.iter(_GATE_SEPARATOR.join(lowered))), dtype=np.int64).reshape(-1, 2)
    texts = np.searchsorted(starts, hits[:, 0], side="right") - 1  # the text each literal ends in
    found = np.zeros((len(lowered), len(table.cues)), dtype=np.float32)  # text x literal: 1.0 where found
    found[texts, hits[:, 1]] = 1.0
    gates |= found @ table.cues > 0  # a found literal opens every cue that requires it
    return gates


def cue_counts(texts: Sequence[str], names: Sequence[str]) -> np.ndarray:
    """Raw counts of the named cues per text, shape ``(n_texts, len(names))``: case-insensitive matches.

    A cue is searched for only in the texts that hold one of its ``required_literals`` (``cue_gates``), and
    without case where it can be (see ``_compiled_cues``).
    """
    names = tuple(names)
    cues = _compiled_cues(names)
    counts = np.zeros((len(texts), len(names)), dtype=int)
    # None where lower-casing would not give case-insensitive matching's results: searched as written.
    lowered = [text.lower() if text.isascii() or _CASE_TRAPS.isdisjoint(text) else None for text in texts]
    as_written = [i for i, low in enumerate(lowered) if low is None]
    gates = cue_gates([low if low is not None else "" for low in lowered], names)
    gates[as_written] = False
    for j, cue in enumerate(cues):
        for i in np.flatnonzero(gates[:, j]).tolist():
            counts[i, j] = len(cue.lowered.findall(lowered[i]) if cue.lowered is not None else cue.exact.findall(texts[i]))
        for i in as_written:
            counts[i, j] = len(cue.exact.findall(texts[i]))
    return counts


def _words(max_features: int) -> TfidfVectorizer:
    return TfidfVectorizer(ngram_range=WORD_NGRAMS, min_df=MIN_DF, max_features=max_features,
                           token_pattern=r"(?u)\b\w+\b|[?!%$\"]", sublinear_tf=True, dtype=np.float32)


def _chars(max_features: int) -> TfidfVectorizer:
    return TfidfVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAMS, min_df=MIN_DF, max_features=max_features,
                           sublinear_tf=True, dtype=np.float32)


def _logistic(C: float, random_state) -> LogisticRegression:
    return LogisticRegression(C=C, max_iter=MAX_ITER, solver="liblinear", random_state=random_state)


class SourceOffsetLogisticRegression(ClassifierMixin, BaseEstimator):
    """Logistic regression fitted with one extra intercept per training source, which scoring leaves out.

    The claim sets differ in how many positives they hold (three in five CheckThat 2020 tweets, one in twenty
    CMV elementary units); without the source columns the words typical of a source learn that base rate
    instead of what makes a claim within the source. After fitting, the source offsets are folded into one
    intercept (their weighted mean), so the fitted model has the plain ``coef_``/``intercept_`` of a linear
    model and scores text features only.

    Parameters
    ----------
    C : float
        Inverse regularisation (liblinear, l2).
    source_scale : float
        Value of a row's source indicator column during fitting (larger = weaker penalty on the offsets).
    random_state : int or None
        Seed of liblinear.
    """

    def __init__(self, C: float = CHECKABLE_C, source_scale: float = SOURCE_OFFSET_SCALE, random_state=None):
        self.C = C
        self.source_scale = source_scale
        self.random_state = random_state

    def fit(self, X, y, sample_weight=None, sources=None):
        """Fit on ``X`` plus one indicator column per distinct value of ``sources`` (none when ``None``)."""
        model = _logistic(self.C, self.random_state)
        n_features = X.shape[1]
        if sources is None:
            model.fit(X, y, sample_weight=sample_weight)
            self.coef_, self.intercept_ = model.coef_, model.intercept_
        else:
            names, codes = np.unique(np.asarray(sources, dtype=str), return_inverse=True)
            indicators = sp.csr_matrix((np.full(len(codes), self.source_scale), (np.arange(len(codes)), codes)),
                                       shape=(len(codes), len(names)))
            model.fit(sp.hstack([sp.csr_matrix(X), indicators], format="csr"), y, sample_weight=sample_weight)
            offsets = model.coef_[0, n_features:] * self.source_scale
            weights = np.ones(len(codes)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
            share = np.bincount(codes, weights=weights, minlength=len(names)) / weights.sum()
            self.coef_ = model.coef_[:, :n_features].copy()
            self.intercept_ = model.intercept_ + float(offsets @ share)
        self.classes_ = model.classes_
        self.n_features_in_ = n_features
        return self

    def decision_function(self, X) -> np.ndarray:
        """Linear score of the text features (source offsets folded into the intercept)."""
        check_is_fitted(self)
        return np.asarray(X @ self.coef_.ravel()).ravel() + self.intercept_[0]

    def predict_proba(self, X) -> np.ndarray:
        """``(n, 2)`` class probabilities."""
        positive = expit(self.decision_function(X))
        return np.column_stack([1.0 - positive, positive])

    def predict(self, X) -> np.ndarray:
        """Class of the higher probability."""
        return self.classes_[(self.decision_function(X) > 0).astype(int)]


def calibrated_head(C: float, random_state: int, source_offsets: bool = False) -> CalibratedClassifierCV:
    """A logistic regression (with per-source offsets when asked) calibrated by sigmoid on ``CV_FOLDS`` folds."""
    base = SourceOffsetLogisticRegression(C=C, random_state=random_state) if source_offsets else _logistic(C, random_state)
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
        ("classifier", calibrated_head(checkable_C, random_state, source_offsets=True)),
    ])
    supported = Pipeline([
        ("features", FeatureUnion([("words", _words(SUPPORTED_WORD_MAX_FEATURES)), ("cues", ClaimFeatures())])),
        ("classifier", calibrated_head(supported_C, random_state)),
    ])
    return {"checkable": checkable, "supported": supported}


def weak_support_labels(texts: Sequence[str]) -> np.ndarray:
    """1.0 where a sentence cites something (URL, "according to", named source), else NaN (unknown)."""
    cited = cue_counts(texts, SOURCE_CUES).sum(axis=1) > 0
    return np.where(cited, 1.0, np.nan)


def support_labels(sentences: pd.DataFrame, weak_support: bool = True) -> np.ndarray:
    """The ``supported`` labels a support head is fitted on (NaN = not used).

    With ``weak_support``, a row without a label whose optional ``weak_support`` column is true (all rows without
    that column) is labelled 1 when it cites a source (``weak_support_labels``) and 0 when it is a checkable
    claim that cites none.
    """
    texts = sentences["text"].astype(str).str.slice(0, MAX_SENTENCE_CHARS).to_numpy(object)
    supported = sentences["supported"].to_numpy(float).copy()
    if weak_support:
        unlabelled = np.isnan(supported)
        if "weak_support" in sentences:
            unlabelled &= sentences["weak_support"].to_numpy(bool)
        supported[unlabelled] = weak_support_labels(texts[unlabelled])
        # Unlabelled factual sentences without a cited source are taken as unsupported.
        fact_rows = unlabelled & np.isnan(supported) & (sentences["checkable"].to_numpy(float) == 1)
        supported[fact_rows] = 0.0
    return supported


def _segmentable(text: str) -> str:
    """``text`` as sentencex can take it: the last whitespace character of each ``_INITIAL_BEFORE_PERIOD`` as an ASCII
    space, which it splits as it splits the text as written (checked on 25,000 generated texts of that form that do not
    make it panic). Each character stays in its place."""
    if text.isascii():
        return text
    return _INITIAL_BEFORE_PERIOD.sub(lambda match: match.group()[:-1] + " ", text)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans ``(begin, end)`` of the sentences of ``text`` (sentencex), stripped; ``[]`` for blank text.

    Parameters
    ----------
    text : str
        A comment.

    Returns
    -------
    list of tuple of int
        Non-overlapping spans in order; ``text[begin:end]`` is a sentence without surrounding whitespace, made of
        whole characters as drawn (``_whole_sentences``).
    """
    if not text or not text.strip():
        return []
    spans: list[tuple[int, int]] = []
    for begin, end in _parts(text):
        found, continued = _part_sentences(text, begin, end)
        if continued and spans and spans[-1][1] == begin:  # one sentence across the cut: joined again
            found[0] = (spans.pop()[0], found[0][1])
        spans += found
    return spans if text.isascii() else _whole_sentences(text, spans)


MAX_RUN_CHARS = 1_000
"""sentencex reads back from each sentence end mark to the blank or period before it (the word before the mark), so
its time grows with the square of a run of characters without either that holds many marks (20,000 characters of
"A?" took 0.4 s, 100,000 ten seconds; Chinese and Japanese are written without blanks). ``split_sentences`` hands it
such a run in parts of at most this many characters (``_parts``)."""
_LONG_RUN = re.compile(rf"(?<![^{_RUST_SPACES}.])[^{_RUST_SPACES}.]{{{MAX_RUN_CHARS + 1},}}")
"""Such a run. It begins where a run begins (the look-behind), or it would be tried at every character of every run."""
CONTEXT_CHARS = 64
"""Characters on either side of a part that sentencex reads with it: what it reads around a sentence end mark (the
30 bytes after it; the word before it, which decides only when it is one of a few short words) is the part's
neighbours', so the part's sentences end where they end in the whole text."""


def _parts(text: str) -> list[tuple[int, int]]:
    """``(begin, end)`` of the parts of ``text`` that ``split_sentences`` segments one at a time: the whole text, but
    for a run of more than ``MAX_RUN_CHARS`` characters without a blank or a period, which is cut every
    ``MAX_RUN_CHARS`` characters at most. A cut falls, where the run allows, between two characters that are neither
    punctuation (sentencex ends no sentence there) nor inside one character as drawn.

    The sentences are those of the whole text but where a quotation or a parenthesis (inside which sentencex ends no
    sentence) reaches over a cut and farther than ``CONTEXT_CHARS`` beyond it."""
    cuts = []
    for run in _LONG_RUN.finditer(text):
        start = run.start()
        while run.end() - start > MAX_RUN_CHARS:
            limit = start + MAX_RUN_CHARS
            cut = next((q for q in range(limit, start + MAX_RUN_CHARS // 2, -1) if _quiet(text, q)), limit)
            cuts.append(cut)
            start = cut
    bounds = [0, *cuts, len(text)]
    return list(zip(bounds, bounds[1:]))


def _quiet(text: str, index: int) -> bool:
    """Whether ``index`` lies between two characters that are not punctuation and that nothing joins (so not inside
    one character as drawn; ``whole_characters`` would walk back over a run of marks or flags at each index tried)."""
    before, after = text[index - 1], text[index]
    return (unicodedata.category(before)[0] != "P" and unicodedata.category(after)[0] != "P"
            and joins_nothing(before) and joins_nothing(after))


def _part_sentences(text: str, begin: int, end: int) -> tuple[list[tuple[int, int]], bool]:
    """The sentences of ``text[begin:end]`` (a ``_parts`` part), segmented with ``CONTEXT_CHARS`` of ``text`` on either
    side and cut to the part; and whether the first of them began before it (goes on from the part before)."""
    left, right = max(0, begin - CONTEXT_CHARS), min(len(text), end + CONTEXT_CHARS)
    found = [(b + left, e + left) for b, e in _segment(text[left:right])]
    inside = [(max(b, begin), min(e, end)) for b, e in found if b < end and e > begin]
    return inside, bool(inside) and any(b < begin < e for b, e in found)


def _segment(text: str) -> list[tuple[int, int]]:
    """``split_sentences`` of one part of a comment (``_parts``), before sentences are made of whole characters."""
    text = _segmentable(text)  # the same length: its offsets are the part's
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


def _character_end(text: str, index: int) -> int:
    """``index``, or past the rest of the character as drawn that it falls inside (``whole_characters``)."""
    return whole_characters(text, index, index)[1]


def _whole_sentences(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sentence spans with each end that falls inside a character as drawn moved on past it: sentencex cuts after the
    "!" of "‼️" or the "." of ".́", and the variation selector or accent began the next sentence (a client shown those
    offsets drew the character in two, and the claim heads read a sentence of it). The character stays with the
    sentence it is drawn in; spans stay apart, in order and stripped, and one left with nothing is dropped."""
    out: list[tuple[int, int]] = []
    for begin, end in spans:
        begin = _character_end(text, max(begin, out[-1][1]) if out else begin)
        while begin < end and text[begin].isspace():
            begin = _character_end(text, begin + 1)
        end = _character_end(text, end)
        if begin < end:
            out.append((begin, end))
    return out


class ClaimScorer(BaseEstimator):
    """Unsupported-claim probability of comments: two sentence heads multiplied, max over sentences.

    Parameters
    ----------
    random_state : int
        Seed of both heads.
    checkable_C, supported_C : float
        Inverse regularisation of the heads.
    weak_support : bool
        Add ``weak_support_labels`` (sentences citing a source are supported) where a row has no label and
        its optional ``weak_support`` column is true.
    """

    def __init__(self, random_state: int = 0, checkable_C: float = CHECKABLE_C, supported_C: float = SUPPORTED_C,
                 weak_support: bool = True):
        self.random_state = random_state
        self.checkable_C = checkable_C
        self.supported_C = supported_C
        self.weak_support = weak_support

    def fit(self, sentences: pd.DataFrame, y=None):
        """Fit both heads on a frame with ``text``, ``checkable``, ``supported``, optional ``weight`` and ``source``.

        Rows whose optional ``weak_support`` column is false get no weak support label. With ``source``, the
        checkable head learns one offset per source next to the text features (see
        ``SourceOffsetLogisticRegression``).
        """
        missing = {"text", "checkable", "supported"} - set(sentences.columns)
        if missing:
            raise ValueError(f"sentences frame lacks columns {sorted(missing)}")
        texts = sentences["text"].astype(str).str.slice(0, MAX_SENTENCE_CHARS).to_numpy(object)
        weights = sentences["weight"].to_numpy(float) if "weight" in sentences else np.ones(len(sentences))
        sources = sentences["source"].astype(str).to_numpy(object) if "source" in sentences else None
        supported = support_labels(sentences, self.weak_support)
        heads = build_claim_pipeline(self.random_state, self.checkable_C, self.supported_C)
        fitted = {}
        for name, labels in (("checkable", sentences["checkable"].to_numpy(float)), ("supported", supported)):
            rows = ~np.isnan(labels)
            if len(np.unique(labels[rows])) < 2:
                raise ValueError(f"the {name} head needs both positive and negative labelled rows")
            params = {"classifier__sample_weight": weights[rows]}
            if name == "checkable" and "source" in sentences:
                params["classifier__sources"] = sources[rows]
            fitted[name] = clone(heads[name]).fit(list(texts[rows]), labels[rows].astype(int), **params)
        self.checkable_ = fitted["checkable"]
        self.supported_ = fitted["supported"]
        return self

    def head_scores(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """P(checkable) and P(supported) of each sentence."""
        check_is_fitted(self)
        clipped = [str(text)[:MAX_SENTENCE_CHARS] for text in texts]
        if not clipped:
            return np.zeros(0), np.zeros(0)
        # One call for both heads: their shared stateless cue features are computed once.
        checkable, supported = pipelines_proba((self.checkable_, self.supported_), clipped)
        return checkable, supported

    def sentence_scores(self, texts: Sequence[str], head_scores: HeadScores | None = None) -> np.ndarray:
        """Unsupported-claim probability of each sentence: P(checkable) x (1 - P(supported)).

        ``head_scores`` replaces ``self.head_scores`` (an encoder bundle blends its own heads in).
        """
        checkable, supported = (head_scores or self.head_scores)(texts)
        return checkable * (1.0 - supported)

    def scored_sentences(self, comments: Sequence[str], head_scores: HeadScores | None = None,
                         spans: Sequence[Sequence[tuple[int, int]]] | None = None) -> list[list[tuple[int, int, float]]]:
        """Each comment's sentence spans ``(begin, end, score)`` in text order, every sentence scored once.

        ``pool`` of the result is ``predict_proba(comments)``; ``rank`` of one comment's list is ``explain``.
        ``head_scores`` is passed on to ``sentence_scores`` with the sentences in the order of ``spans``
        flattened; ``spans`` are the comments' ``split_sentences`` when already known.
        """
        check_is_fitted(self)
        comments = list(comments)
        spans = [split_sentences(comment) for comment in comments] if spans is None else spans
        texts = [comment[begin:end] for comment, found in zip(comments, spans) for begin, end in found]
        scores = self.sentence_scores(texts, head_scores).tolist() if texts else []
        out, position = [], 0
        for found in spans:
            out.append([(begin, end, score) for (begin, end), score in zip(found, scores[position : position + len(found)])])
            position += len(found)
        return out

    @staticmethod
    def pool(scored: Sequence[Sequence[tuple[int, int, float]]]) -> np.ndarray:
        """Comment probabilities from ``scored_sentences``: max over the sentences, 0.0 for a comment without any."""
        return np.array([max([0.0] + [score for _, _, score in sentences]) for sentences in scored], dtype=float)

    @staticmethod
    def rank(sentences: Sequence[tuple[int, int, float]]) -> list[tuple[int, int, float]]:
        """One comment's ``scored_sentences``, highest score first (ties keep text order)."""
        return sorted(sentences, key=lambda item: -item[2])

    def predict_proba(self, comments: Sequence[str]) -> np.ndarray:
        """Unsupported-claim probability of each comment (max over its sentences; 0.0 when it has none)."""
        return self.pool(self.scored_sentences(comments))

    def explain(self, comment: str) -> list[tuple[int, int, float]]:
        """Sentence spans ``(begin, end, score)`` of ``comment``, highest score first."""
        return self.rank(self.scored_sentences([comment])[0])
