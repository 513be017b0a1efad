"""Text -> sparse matrix: the normaliser followed by a word + character TF-IDF union."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.utils.validation import check_is_fitted

from model.normalize import TextNormalizer
from model.sparse_rows import LinearBlock, Rows
from model.tfidf_weights import TfidfWeights, l2_normalize_rows
from model.word_grams import WordGrams, char_wb_grams
from model.word_index import CACHE_MAX_WORDS, scanned_words, whitespace_words

WORD_NGRAMS = (1, 2)
CHAR_NGRAMS = (2, 5)
MIN_DF = 3
WORD_MAX_FEATURES = 30_000
CHAR_MAX_FEATURES = 60_000
WORD_TOKEN_PATTERN = r"(?u)\b\w+\b|[!?]"


def word_tfidf(max_features: int = WORD_MAX_FEATURES) -> TfidfVectorizer:
    """Word 1-2-gram TF-IDF on normalised text (already lower-cased by the normaliser)."""
    return TfidfVectorizer(
        lowercase=False,
        token_pattern=WORD_TOKEN_PATTERN,
        ngram_range=WORD_NGRAMS,
        min_df=MIN_DF,
        max_features=max_features,
        sublinear_tf=True,
        dtype=np.float32,
    )


class CharNgramTfidf(TransformerMixin, BaseEstimator):
    """Character n-gram TF-IDF inside word boundaries (``char_wb``), computed word by word with a cache.

    A ``char_wb`` document's n-gram counts are the sum of its whitespace-separated words' counts, so each
    distinct word is analysed once and reused: ``transform`` gives exactly what ``TfidfVectorizer(
    analyzer="char_wb")`` gives, several times faster on real comments, where words repeat.

    Parameters
    ----------
    ngram_range : tuple of int
        Smallest and largest n-gram length.
    min_df : int
        Minimum number of documents a kept n-gram appears in.
    max_features : int or None
        Keep only the most frequent n-grams.
    """

    def __init__(self, ngram_range=CHAR_NGRAMS, min_df=MIN_DF, max_features=CHAR_MAX_FEATURES):
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_features = max_features

    def fit(self, X: Iterable[str], y=None):
        """Learn the n-gram vocabulary and inverse document frequencies."""
        vectorizer = TfidfVectorizer(
            analyzer="char_wb",
            lowercase=False,
            ngram_range=tuple(self.ngram_range),
            min_df=self.min_df,
            max_features=self.max_features,
            sublinear_tf=True,
            dtype=np.float32,
        )
        self.__dict__.pop("_grams", None)  # a cache of an earlier fit's vocabulary
        vectorizer.fit(X)
        vectorizer.stop_words_ = None  # the pruned n-grams are only needed for introspection; they are big
        self.vocabulary_ = vectorizer.vocabulary_
        self.idf_ = vectorizer.idf_.astype(np.float32)
        return self

    def get_feature_names_out(self, input_features=None):
        """N-gram strings in column order."""
        check_is_fitted(self)
        names = np.empty(len(self.vocabulary_), dtype=object)
        for gram, column in self.vocabulary_.items():
            names[column] = gram
        return names

    def _word_grams(self) -> WordGrams:
        """The per-word n-gram cache, built on first use (it is not pickled)."""
        grams = self.__dict__.get("_grams")
        if grams is None:
            check_is_fitted(self)
            grams = WordGrams(char_wb_grams(tuple(self.ngram_range)), self.vocabulary_, CACHE_MAX_WORDS)
            self.__dict__["_grams"] = grams
        return grams

    def transform_rows(self, X: Iterable[str]) -> Rows:
        """``transform`` as plain CSR arrays (see ``model.sparse_rows.Rows``), for the fast prediction path."""
        return self._rows([text.split() for text in X])

    def linear_block(self, X: Iterable[str], shared: dict | None = None) -> LinearBlock:
        """``transform`` left unbuilt, for linear heads (see ``model.sparse_rows.LinearBlock``); ``shared``: see
        ``model.fast_transform.transform_rows``."""
        X = X if isinstance(X, list) else list(X)
        weights = TfidfWeights(np.dtype(np.float32), True, False, self.idf_, True)
        return self._word_grams().block(scanned_words(X, shared), weights, lambda: self._rows(whitespace_words(X, shared)))

    def _rows(self, docs_words: list[list[str]]) -> Rows:
        rows = self._word_grams().count_rows(docs_words, np.float32)
        data = rows.data
        np.log(data, out=data)
        data += 1.0
        data *= self.idf_[rows.indices]
        return l2_normalize_rows(rows)

    def transform(self, X: Iterable[str]) -> sp.csr_matrix:
        """Return the l2-normalised, sublinear TF-IDF matrix of ``X``."""
        check_is_fitted(self)
        return self.transform_rows(X).tocsr()

    def __getstate__(self):
        state = self.__dict__.copy()
        for cache in ("_grams", "_counter_cache", "_rows"):  # the last two: caches of earlier versions
            state.pop(cache, None)
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        return tags


def build_features() -> Pipeline:
    """Normaliser, then the union of word and character TF-IDF: raw comments -> sparse matrix."""
    union = FeatureUnion([("words", word_tfidf()), ("chars", CharNgramTfidf())])
    return Pipeline([("normalize", TextNormalizer()), ("tfidf", union)])
