"""Prediction without scikit-learn's per-call overhead, for the fitted shapes this project uses.

On one comment, input validation inside ``Pipeline``, ``FeatureUnion``, ``normalize`` and
``CalibratedClassifierCV``, and scipy's sparse constructors, cost far more than the arithmetic. These
functions read the fitted parts (vocabularies, idf weights, coefficients, sigmoid calibrators) and do the
same arithmetic on plain CSR arrays (``Rows``): the same float32 TF-IDF values (same order of
operations, scikit-learn's own row-normalisation kernel), then float64 dot products. The tests check that
they agree with scikit-learn's own ``transform`` and ``predict_proba`` to 1e-12.
"""

from __future__ import annotations

import weakref
from collections import Counter
from collections.abc import Callable, Sequence
from itertools import chain, repeat
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import normalize as sklearn_normalize
from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l2

CACHE_MAX_WORDS = 200_000
"""Distinct words whose n-gram columns a ``WordGrams`` cache keeps; it is emptied when full."""
SMALL_BATCH_ROWS = 256
"""Up to this many rows, a sparse-dense product is a gather and a segment sum (no scipy call)."""
_INT32_MAX = np.iinfo(np.int32).max


class Rows(NamedTuple):
    """A CSR matrix as its three arrays and its width, built and combined without scipy's per-call checks."""

    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    n_columns: int

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_rows, n_columns)``, as a sparse matrix has it."""
        return len(self.indptr) - 1, self.n_columns

    def tocsr(self) -> sp.csr_matrix:
        """The same matrix as a ``scipy.sparse.csr_matrix`` (sharing the arrays)."""
        return sp.csr_matrix((self.data, self.indices, self.indptr), shape=self.shape)

    @classmethod
    def from_sparse(cls, matrix) -> Rows:
        """Wrap any scipy sparse matrix (converted to CSR)."""
        matrix = matrix.tocsr()  # no copy when it is CSR already
        return cls(matrix.data, matrix.indices, matrix.indptr, matrix.shape[1])


def _index_dtype(n_values: int) -> type:
    return np.int32 if n_values <= _INT32_MAX else np.int64


def counts_to_rows(docs_counts: Sequence[dict[int, int]], n_columns: int, dtype) -> Rows:
    """CSR rows from one ``{column: count}`` mapping per document, columns sorted (as scikit-learn has them)."""
    indices: list[int] = []
    values: list[int] = []
    ends = []
    for counts in docs_counts:
        columns = sorted(counts)
        indices += columns
        values += map(counts.__getitem__, columns)
        ends.append(len(indices))
    index_dtype = _index_dtype(max(len(indices), n_columns))
    indptr = np.zeros(len(ends) + 1, dtype=index_dtype)
    indptr[1:] = ends
    return Rows(np.array(values, dtype=dtype), np.array(indices, dtype=index_dtype), indptr, n_columns)


def l2_normalize_rows(rows: Rows) -> Rows:
    """Divide each row by its l2 norm in place (scikit-learn's own kernel, so the values are identical)."""
    if len(rows.data):
        if rows.indices.dtype != rows.indptr.dtype:
            index_dtype = np.result_type(rows.indices, rows.indptr)
            rows = rows._replace(indices=rows.indices.astype(index_dtype), indptr=rows.indptr.astype(index_dtype))
        inplace_csr_row_normalize_l2(rows)
    return rows


def tfidf_weight(rows: Rows, tfidf) -> Rows:
    """``TfidfTransformer.transform`` on counts already in ``rows`` (modified in place), step for step."""
    data = rows.data
    if tfidf.sublinear_tf:
        np.log(data, out=data)
        data += 1.0
    if hasattr(tfidf, "idf_"):
        data *= tfidf.idf_[rows.indices]
    if tfidf.norm == "l2":
        return l2_normalize_rows(rows)
    if tfidf.norm is not None:
        return Rows.from_sparse(sklearn_normalize(rows.tocsr(), norm=tfidf.norm, copy=False))
    return rows


def char_wb_grams(ngram_range: tuple[int, int]) -> Callable[[str], list[str]]:
    """Word -> its ``char_wb`` n-grams (padded with one space each side), as scikit-learn's analyzer makes them."""
    min_n, max_n = ngram_range

    def grams(word: str) -> list[str]:
        padded = f" {word} "
        width = len(padded)
        out = []
        for n in range(min_n, max_n + 1):
            if width <= n:  # a short word is counted once, whole
                out.append(padded)
                break
            out += [padded[i : i + n] for i in range(width - n + 1)]
        return out

    return grams


class WordGrams:
    """Each distinct word's n-gram columns, computed once and kept (bounded).

    A ``char_wb`` document's n-grams are its whitespace-separated words' n-grams put together, so a
    document is counted from its words' cached columns without slicing or hashing an n-gram again.

    Parameters
    ----------
    grams : callable
        Word -> its n-gram strings (see ``char_wb_grams``).
    vocabulary : dict
        N-gram -> column.
    max_words : int
        The cache is emptied when it holds this many words.
    """

    def __init__(self, grams: Callable[[str], list[str]], vocabulary: dict[str, int], max_words: int = CACHE_MAX_WORDS):
        self.grams = grams
        self.vocabulary = vocabulary
        self.max_words = max_words
        self.words: dict[str, np.ndarray] = {}  # word -> its n-grams' columns, -1 outside the vocabulary

    def lookup(self, words: Sequence[str]) -> list[np.ndarray]:
        """Each word's n-gram columns (int32; -1 for an n-gram outside the vocabulary), analysing new words once."""
        cache = self.words
        missing = list(dict.fromkeys(word for word in words if word not in cache))
        if missing:
            if len(cache) + len(missing) > self.max_words:
                cache.clear()
                missing = list(dict.fromkeys(words))
            grams = [self.grams(word) for word in missing]
            lengths = np.fromiter(map(len, grams), dtype=np.int64, count=len(grams))
            ends = np.cumsum(lengths)
            # One C-level pass over every new n-gram: no Python bytecode per n-gram.
            flat = np.fromiter(map(self.vocabulary.get, chain.from_iterable(grams), repeat(-1)), dtype=np.int32,
                               count=int(ends[-1]))
            for word, start, end in zip(missing, (ends - lengths).tolist(), ends.tolist()):
                cache[word] = flat[start:end]
        found = [cache[word] for word in words]
        if len(cache) > self.max_words:  # one call's own words were more than the cache may keep
            cache.clear()
        return found

    def count_rows(self, docs_words: Sequence[Sequence[str]], dtype) -> Rows:
        """Count rows (n-gram counts, columns sorted) of documents given as their word lists."""
        n_docs, n_columns = len(docs_words), len(self.vocabulary)
        if n_docs > SMALL_BATCH_ROWS:
            return self._count_rows_sparse(docs_words, dtype)
        arrays = self.lookup([word for words in docs_words for word in words])
        index_dtype = _index_dtype(max(sum(map(len, arrays)), n_columns))
        if not arrays:
            return Rows(np.zeros(0, dtype=dtype), np.zeros(0, dtype=index_dtype), np.zeros(n_docs + 1, dtype=index_dtype), n_columns)
        columns = np.concatenate(arrays)
        keys = columns.astype(np.int64)
        if n_docs > 1:  # one key per (document, column), so that one sort counts every document
            lengths = [sum(map(len, arrays[a:b])) for a, b in _bounds(docs_words)]
            keys += np.repeat(np.arange(n_docs, dtype=np.int64) * n_columns, lengths)
        keys, counts = np.unique(keys[columns >= 0], return_counts=True)
        doc_of = keys // n_columns
        indptr = np.searchsorted(doc_of, np.arange(n_docs + 1)).astype(index_dtype)
        return Rows(counts.astype(dtype), (keys - doc_of * n_columns).astype(index_dtype), indptr, n_columns)

    def _count_rows_sparse(self, docs_words: Sequence[Sequence[str]], dtype) -> Rows:
        """``count_rows`` for many documents: a documents x words by words x n-grams sparse product."""
        word_index: dict[str, int] = {}
        doc_columns = [[word_index.setdefault(word, len(word_index)) for word in words] for words in docs_words]
        arrays = self.lookup(list(word_index))
        flat = np.concatenate(arrays) if arrays else np.zeros(0, np.int32)
        word_of = np.repeat(np.arange(len(arrays)), np.fromiter(map(len, arrays), dtype=np.int64, count=len(arrays)))
        known = flat >= 0
        word_lengths = np.bincount(word_of[known], minlength=len(arrays))
        word_grams = sp.csr_matrix(
            (np.ones(int(known.sum()), dtype=dtype), flat[known], np.concatenate([[0], np.cumsum(word_lengths)])),
            shape=(len(arrays), len(self.vocabulary)),
        )
        doc_lengths = np.fromiter(map(len, doc_columns), dtype=np.int64, count=len(doc_columns))
        flat_words = np.fromiter(chain.from_iterable(doc_columns), dtype=np.int64, count=int(doc_lengths.sum()))
        doc_words = sp.csr_matrix(
            (np.ones(len(flat_words), dtype=dtype), flat_words, np.concatenate([[0], np.cumsum(doc_lengths)])),
            shape=(len(doc_columns), len(arrays)),
        )
        counts = (doc_words @ word_grams).tocsr()
        counts.sum_duplicates()
        return Rows(counts.data.astype(dtype, copy=False), counts.indices, counts.indptr, counts.shape[1])


def _bounds(groups: Sequence[Sequence]) -> list[tuple[int, int]]:
    """``(start, end)`` of each group in the flattened sequence."""
    out, start = [], 0
    for group in groups:
        out.append((start, start + len(group)))
        start += len(group)
    return out


_ANALYZERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
"""Each fitted vectorizer's ``(vocabulary, counter)``, built once (beside the model: nothing extra is pickled)."""


def _is_plain_char_wb(vectorizer: TfidfVectorizer) -> bool:
    return (vectorizer.analyzer == "char_wb" and vectorizer.input == "content" and vectorizer.preprocessor is None
            and vectorizer.strip_accents is None)


_ANALYSIS_PARAMS = ("input", "encoding", "decode_error", "strip_accents", "lowercase", "preprocessor", "tokenizer",
                    "stop_words", "token_pattern", "ngram_range", "analyzer")
"""Parameters that decide a vectorizer's analyzer output: vectorizers equal on them tokenise alike."""


def _vectorizer_counter(vectorizer: TfidfVectorizer) -> Callable[[Sequence[str], dict | None], Rows]:
    """A function ``(docs, shared)`` -> count rows, equal to ``CountVectorizer.transform`` of the fitted vectorizer.

    ``shared`` (a dict, for one input ``docs``) keeps each document's tokens for a vectorizer that analyses alike.
    """
    vocabulary, dtype = vectorizer.vocabulary_, vectorizer.dtype
    cached = _ANALYZERS.get(vectorizer)
    if cached is not None and cached[0] is vocabulary:  # a refitted vectorizer has a new vocabulary: rebuild
        return cached[1]
    if _is_plain_char_wb(vectorizer):
        cache = WordGrams(char_wb_grams(vectorizer.ngram_range), vocabulary)
        preprocess = vectorizer.build_preprocessor()

        def counter(docs: Sequence[str], shared: dict | None = None) -> Rows:
            return cache.count_rows([preprocess(doc).split() for doc in docs], dtype)
    else:
        analyzer, get = vectorizer.build_analyzer(), vocabulary.get
        params = vectorizer.get_params(deep=False)
        key = None if callable(params["analyzer"]) else ("tokens", repr([params[name] for name in _ANALYSIS_PARAMS]))

        def counter(docs: Sequence[str], shared: dict | None = None) -> Rows:
            tokens = shared.get(key) if shared is not None and key is not None else None
            if tokens is None:
                tokens = [analyzer(doc) for doc in docs]
                if shared is not None and key is not None:
                    shared[key] = tokens
            counts = []
            for found in tokens:
                found = Counter(map(get, found))
                found.pop(None, None)
                counts.append(found)
            return counts_to_rows(counts, len(vocabulary), dtype)
    _ANALYZERS[vectorizer] = (vocabulary, counter)
    return counter


def tfidf_rows(vectorizer: TfidfVectorizer, docs: Sequence[str], shared: dict | None = None) -> Rows:
    """``vectorizer.transform(docs)`` for a fitted ``TfidfVectorizer``, as ``Rows``, without per-call validation.

    ``shared``: see ``transform_rows``.
    """
    counts = _vectorizer_counter(vectorizer)(docs, shared)
    if vectorizer.binary:
        counts.data.fill(1)
    return tfidf_weight(counts, vectorizer._tfidf)


def tfidf_transform(vectorizer: TfidfVectorizer, docs) -> sp.csr_matrix:
    """``vectorizer.transform(docs)`` for a fitted ``TfidfVectorizer``, without per-call validation."""
    return tfidf_rows(vectorizer, list(docs)).tocsr()


def hstack_rows(blocks: Sequence[Rows]) -> Rows:
    """Blocks side by side (``scipy.sparse.hstack``), each row keeping its blocks' entries in block order."""
    if len(blocks) == 1:
        return blocks[0]
    n_rows = len(blocks[0].indptr) - 1
    dtype = np.result_type(*(b.data for b in blocks))
    offsets = np.cumsum([0] + [b.n_columns for b in blocks])
    n_values = sum(len(b.data) for b in blocks)
    index_dtype = _index_dtype(max(n_values, int(offsets[-1])))
    if n_rows == 1:
        data = np.concatenate([b.data for b in blocks]).astype(dtype, copy=False)
        indices = np.concatenate([b.indices.astype(index_dtype) + o for b, o in zip(blocks, offsets)])
        return Rows(data, indices, np.array([0, len(data)], dtype=index_dtype), int(offsets[-1]))
    lengths = [np.diff(b.indptr) for b in blocks]
    indptr = np.zeros(n_rows + 1, dtype=index_dtype)
    np.cumsum(np.sum(lengths, axis=0), out=indptr[1:])
    data = np.empty(n_values, dtype=dtype)
    indices = np.empty(n_values, dtype=index_dtype)
    written = indptr[:-1].astype(np.int64)  # where each row's next block starts in the output
    for block, offset, length in zip(blocks, offsets, lengths):
        row_of = np.repeat(np.arange(n_rows), length)
        position = written[row_of] + (np.arange(len(block.data)) - block.indptr[:-1][row_of])
        data[position] = block.data
        indices[position] = block.indices + offset
        written += length
    return Rows(data, indices, indptr, int(offsets[-1]))


def _as_rows(block) -> Rows:
    if isinstance(block, Rows):
        return block
    return Rows.from_sparse(block if sp.issparse(block) else sp.csr_matrix(block))


_SHARE_KEYS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
"""Each stateless transformer's key: type and parameters (equal keys give equal outputs on equal input)."""


def _share_key(part):
    """The key under which ``part``'s output can be shared, or ``None`` when it learned something."""
    try:
        return _SHARE_KEYS[part]
    except KeyError:
        pass
    except TypeError:  # not weakly referenceable
        return None
    tags = getattr(part, "__sklearn_tags__", None)
    stateless = tags is not None and not tags().requires_fit and hasattr(part, "get_params")
    key = (type(part), repr(sorted(part.get_params(deep=False).items()))) if stateless else None
    _SHARE_KEYS[part] = key
    return key


def transform_rows(step, X, shared: dict | None = None):
    """``step.transform(X)``, as ``Rows`` where the result is sparse; ``FeatureUnion`` and ``Pipeline`` walked part by part.

    A step with a ``transform_rows`` method (``CharNgramTfidf``) is asked for its rows directly. ``shared``
    (a dict, for one input ``X``) keeps the outputs of stateless union parts, and the tokens of word
    vectorizers, for other pipelines on the same input.
    """
    if type(step) is TfidfVectorizer:
        return tfidf_rows(step, X if isinstance(X, list) else list(X), shared)
    if hasattr(step, "transform_rows"):
        return step.transform_rows(X)
    if isinstance(step, (Pipeline, FeatureUnion)):
        return hstack_rows(feature_blocks(step, X, shared))
    return step.transform(X)


def _steps_blocks(steps, X, shared: dict | None) -> list[Rows]:
    """``feature_blocks`` of a pipeline given as its ``(name, step)`` list."""
    parts = [part for _, part in steps if part is not None and part != "passthrough"]
    if not parts:
        return [_as_rows(X)]
    for i, part in enumerate(parts[:-1]):
        X = transform_rows(part, X, shared if i == 0 else None)  # only the first part sees the shared input
    return feature_blocks(parts[-1], X, shared if len(parts) == 1 else None)


def feature_blocks(step, X, shared: dict | None = None) -> list[Rows]:
    """``transform_rows(step, X)`` left in blocks: a (final) ``FeatureUnion``'s parts side by side, not stacked.

    ``rows_dot`` multiplies the blocks by a coefficient array without building the stacked matrix.
    """
    if isinstance(step, Pipeline):
        return _steps_blocks(step.steps, X, shared)
    if not isinstance(step, FeatureUnion):
        return [_as_rows(transform_rows(step, X))]
    weights = step.transformer_weights or {}
    X = X if isinstance(X, list) else list(X)
    blocks = []
    for name, part in step.transformer_list:
        if part == "drop" or part is None:
            continue
        key = _share_key(part) if shared is not None else None
        if key is not None and key in shared:
            block = shared[key]
        else:
            block = _as_rows(transform_rows(part, X, shared))
            if key is not None:
                shared[key] = block
        if name in weights:
            block = block._replace(data=block.data * weights[name])
        blocks.append(block)
    return blocks


def as_matrix(X):
    """A scipy CSR matrix for ``Rows`` or a list of ``Rows`` blocks (stacked side by side); anything else as it is."""
    if isinstance(X, list):
        X = hstack_rows(X)
    return X.tocsr() if isinstance(X, Rows) else X


def transform(step, X):
    """``step.transform(X)``, with a ``FeatureUnion`` or ``Pipeline`` walked part by part (sparse results as CSR)."""
    out = transform_rows(step, X)
    return out.tocsr() if isinstance(out, Rows) else out


def rows_dot(X, coef: np.ndarray) -> np.ndarray:
    """``X @ coef`` for ``Rows``, a list of ``Rows`` blocks side by side (``feature_blocks``) or any matrix,
    and a dense ``(n_features, k)`` coefficient array: ``(n_rows, k)``."""
    if isinstance(X, list):
        out, offset = None, 0
        for block in X:
            product = rows_dot(block, coef[offset : offset + block.n_columns])
            out = product if out is None else out + product
            offset += block.n_columns
        if offset != coef.shape[0]:
            raise ValueError(f"blocks have {offset} columns in all, the coefficients {coef.shape[0]} rows")
        return out
    if not isinstance(X, Rows):
        return np.asarray(X @ coef)
    n_rows = len(X.indptr) - 1
    if n_rows > SMALL_BATCH_ROWS:
        return np.asarray(X.tocsr() @ coef)
    out = np.zeros((n_rows, coef.shape[1]))
    if not len(X.data):
        return out
    if n_rows == 1:
        out[0] = X.data.astype(np.float64) @ coef[X.indices]
        return out
    products = coef[X.indices] * X.data.astype(np.float64)[:, None]
    starts = X.indptr[:-1]
    filled = starts < X.indptr[1:]
    out[filled] = np.add.reduceat(products, starts[filled], axis=0)
    return out


def linear_parts(classifier) -> tuple[np.ndarray, float, float, float]:
    """``(coef, intercept, a, b)`` so that P(positive) = expit(-(a * (X @ coef + intercept) + b)).

    Parameters
    ----------
    classifier : CalibratedClassifierCV (sigmoid, ``ensemble=False``) around a linear model, one of the
        (sigmoid, binary) ``calibrated_classifiers_`` of any CalibratedClassifierCV, or a linear model
    """
    if isinstance(classifier, CalibratedClassifierCV):
        if len(classifier.calibrated_classifiers_) != 1:
            raise ValueError("only a single calibrated model (ensemble=False) has a fast path")
        classifier = classifier.calibrated_classifiers_[0]
    if hasattr(classifier, "calibrators"):  # one fold's calibrated model
        linear, (calibrator,) = classifier.estimator, classifier.calibrators
        a, b = float(calibrator.a_), float(calibrator.b_)
    else:
        linear, a, b = classifier, -1.0, 0.0
    return np.asarray(linear.coef_, dtype=np.float64).ravel(), float(np.ravel(linear.intercept_)[0]), a, b


def stack_linear(classifiers: Sequence) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fitted linear classifiers side by side: ``(coef (n_features, k), intercept (k,), a (k,), b (k,))``."""
    parts = [linear_parts(c) for c in classifiers]
    return (
        np.column_stack([p[0] for p in parts]),
        np.array([p[1] for p in parts]),
        np.array([p[2] for p in parts]),
        np.array([p[3] for p in parts]),
    )


def stacked_proba(stacked: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], X) -> np.ndarray:
    """P(positive) of each stacked classifier (see ``stack_linear``), ``(n_samples, k)``; ``X`` may be ``Rows``."""
    coef, intercept, a, b = stacked
    return expit(-(a * (rows_dot(X, coef) + intercept) + b))


def positive_proba(classifiers: Sequence, X) -> np.ndarray:
    """P(positive) of each fitted linear classifier on the same features, ``(n_samples, n_classifiers)``."""
    return stacked_proba(stack_linear(classifiers), X)


_STACKED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
"""Each fitted final classifier's ``stack_linear`` parts, built once (rebuilt when it is refitted)."""


def _stacked(classifier):
    fitted = getattr(classifier, "calibrated_classifiers_", None) or getattr(classifier, "coef_", None)
    cached = _STACKED.get(classifier)
    if cached is None or cached[0] is not fitted:
        cached = _STACKED[classifier] = (fitted, stack_linear([classifier]))
    return cached[1]


def pipeline_proba(pipeline: Pipeline, X) -> np.ndarray:
    """P(positive) of a fitted ``Pipeline`` whose last step is a (calibrated) linear classifier, ``(n,)``."""
    return pipelines_proba([pipeline], X)[0]


def pipelines_proba(pipelines: Sequence[Pipeline], X) -> list[np.ndarray]:
    """``pipeline_proba`` of each pipeline on the same ``X``; a stateless union part they share runs once."""
    X = X if isinstance(X, list) else list(X)
    shared: dict = {}
    out = []
    for pipeline in pipelines:
        blocks = _steps_blocks(pipeline.steps[:-1], X, shared)
        out.append(stacked_proba(_stacked(pipeline.steps[-1][1]), blocks)[:, 0])
    return out
