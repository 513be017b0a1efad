"""``transform`` of fitted steps without scikit-learn's per-call overhead, for the fitted shapes this project uses.

On one comment, input validation inside ``Pipeline``, ``FeatureUnion``, ``normalize`` and
``CalibratedClassifierCV``, and scipy's sparse constructors, cost far more than the arithmetic. These
functions read the fitted parts (vocabularies, idf weights) and do the same arithmetic on plain CSR arrays
(``model.sparse_rows.Rows``): a ``TfidfVectorizer`` from cached words (``model.word_grams``) or word n-grams as
integers (``model.word_ngrams``), a ``Pipeline`` or ``FeatureUnion`` part by part. A linear head does not even
need its TF-IDF blocks built: ``feature_blocks`` leaves a plain vectorizer's block as a ``LinearBlock``, whose
product with the coefficients a compiled kernel (``model.kernels``) computes straight from the cached words
(``model.stacked_linear`` scores the heads). The tests check that everything agrees with scikit-learn's own
``transform`` and ``predict_proba`` to 1e-12.
"""

from __future__ import annotations

import functools
import weakref
from collections import Counter
from collections.abc import Callable, Sequence

import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline

from model.sparse_rows import LinearBlock, Rows, _as_rows, counts_to_rows, hstack_rows
from model.tfidf_weights import TfidfWeights, tfidf_weight
from model.word_grams import WordGrams, char_wb_grams
from model.word_index import Preprocessing, _shared, scanned_preprocessed, split_preprocessed
from model.word_ngrams import WordNgrams

WORD_NGRAMS_MIN_DOCS = 4
"""From this many documents, word n-grams are counted with numpy for the whole batch (``WordNgrams``);
fewer go through the analyzer, whose per-call cost is lower."""


_ANALYZERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
"""Each fitted vectorizer's ``(vocabulary, counter, blocker)`` (``_vectorizer_analysis``), built once, beside the
model: nothing extra is pickled, and an entry goes with its vectorizer."""


def _is_plain_char_wb(vectorizer: TfidfVectorizer) -> bool:
    return (vectorizer.analyzer == "char_wb" and vectorizer.input == "content" and vectorizer.preprocessor is None
            and vectorizer.strip_accents is None)


_ANALYSIS_PARAMS = ("input", "encoding", "decode_error", "strip_accents", "lowercase", "preprocessor", "tokenizer",
                    "stop_words", "token_pattern", "ngram_range", "analyzer")
"""Parameters that decide a vectorizer's analyzer output: vectorizers equal on them tokenise alike."""
_TOKEN_PARAMS = ("input", "encoding", "decode_error", "strip_accents", "lowercase", "preprocessor", "tokenizer",
                 "token_pattern")
"""Parameters that decide a word vectorizer's tokens before stop words and n-grams (``WordNgrams.tokens``)."""


CountRows = Callable[[Sequence[str], "dict | None"], Rows]
BuildBlock = Callable[[Sequence[str], "dict | None"], "LinearBlock | None"]


def _vectorizer_analysis(vectorizer: TfidfVectorizer) -> tuple[CountRows, BuildBlock]:
    """Two functions of ``(docs, shared)``: count rows equal to ``CountVectorizer.transform`` of the fitted
    vectorizer, and its TF-IDF block as a ``LinearBlock`` (``None`` where no kernel reproduces it).

    ``shared`` (a dict, for one input ``docs``) keeps each document's tokens for a vectorizer that analyses alike.
    """
    vocabulary, dtype = vectorizer.vocabulary_, vectorizer.dtype
    cached = _ANALYZERS.get(vectorizer)
    if cached is not None and cached[0] is vocabulary:  # a refitted vectorizer has a new vocabulary: rebuild
        return cached[1], cached[2]
    # Nothing below may hold the vectorizer itself: _ANALYZERS would then keep it (and its caches) for ever.
    weights = TfidfWeights.of_vectorizer(vectorizer)
    weigh = functools.partial(_weigh, binary=vectorizer.binary, tfidf=vectorizer._tfidf)

    def no_block(docs: Sequence[str], shared: dict | None = None) -> None:
        return None

    blocker: BuildBlock = no_block
    if _is_plain_char_wb(vectorizer):
        cache = WordGrams(char_wb_grams(vectorizer.ngram_range), vocabulary)
        preprocessing = Preprocessing.of(vectorizer)

        def counter(docs: Sequence[str], shared: dict | None = None) -> Rows:
            return cache.count_rows(split_preprocessed(preprocessing, docs, shared), dtype)

        if weights is not None:
            def blocker(docs: Sequence[str], shared: dict | None = None) -> LinearBlock:
                return cache.block(scanned_preprocessed(preprocessing, docs, shared), weights,
                                   lambda: weigh(counter(docs, shared)))
    elif WordNgrams.is_plain_word(vectorizer):
        ngrams, few = WordNgrams(vectorizer), _analyzer_counter(vectorizer)
        params = vectorizer.get_params(deep=False)
        key = ("word tokens", repr([params[name] for name in _TOKEN_PARAMS]))

        def counter(docs: Sequence[str], shared: dict | None = None) -> Rows:
            if len(docs) < WORD_NGRAMS_MIN_DOCS:
                return few(docs, shared)
            return ngrams.count_rows(ngrams.tokens(docs, shared, key), dtype)

        if weights is not None:
            def blocker(docs: Sequence[str], shared: dict | None = None) -> LinearBlock | None:
                return ngrams.block(docs, shared, key, weights,
                                    lambda: weigh(ngrams.count_rows(ngrams.tokens(docs, shared, key), dtype)))
    else:
        counter = _analyzer_counter(vectorizer)
    _ANALYZERS[vectorizer] = (vocabulary, counter, blocker)
    return counter, blocker


def _analyzer_counter(vectorizer: TfidfVectorizer) -> Callable[[Sequence[str], dict | None], Rows]:
    """A counter of ``_vectorizer_analysis`` through the vectorizer's own analyzer and a ``Counter`` per document."""
    vocabulary = vectorizer.vocabulary_
    get, dtype = vocabulary.get, vectorizer.dtype
    params = vectorizer.get_params(deep=False)
    key = None if callable(params["analyzer"]) else ("tokens", repr([params[name] for name in _ANALYSIS_PARAMS]))
    owner = weakref.ref(vectorizer)  # its analyzer holds it: built per call, not kept (see _vectorizer_analysis)

    def counter(docs: Sequence[str], shared: dict | None = None) -> Rows:
        analyzer = owner().build_analyzer()
        tokens = _shared(shared, key, lambda: [analyzer(doc) for doc in docs])
        counts = []
        for found in tokens:
            found = Counter(map(get, found))
            found.pop(None, None)
            counts.append(found)
        return counts_to_rows(counts, len(vocabulary), dtype)

    return counter


def tfidf_rows(vectorizer: TfidfVectorizer, docs: Sequence[str], shared: dict | None = None) -> Rows:
    """``vectorizer.transform(docs)`` for a fitted ``TfidfVectorizer``, as ``Rows``, without per-call validation.

    ``shared``: see ``transform_rows``.
    """
    return _weigh(_vectorizer_analysis(vectorizer)[0](docs, shared), vectorizer.binary, vectorizer._tfidf)


def _weigh(counts: Rows, binary: bool, tfidf) -> Rows:
    """A fitted ``TfidfVectorizer``'s TF-IDF rows from its count rows (modified in place): its ``binary`` and
    its ``TfidfTransformer``."""
    if binary:
        counts.data.fill(1)
    return tfidf_weight(counts, tfidf)


def tfidf_block(vectorizer: TfidfVectorizer, docs: Sequence[str], shared: dict | None = None) -> LinearBlock | None:
    """``tfidf_rows(vectorizer, docs)`` as a ``LinearBlock``, or ``None`` where no kernel reproduces it."""
    return _vectorizer_analysis(vectorizer)[1](docs, shared)


def linear_block(step, X, shared: dict | None = None) -> LinearBlock | None:
    """``transform_rows(step, X)`` as a ``LinearBlock`` when ``step`` has a kernel (a plain TF-IDF vectorizer, or a
    step with a ``linear_block`` method such as ``CharNgramTfidf``), else ``None``."""
    if type(step) is TfidfVectorizer:
        return tfidf_block(step, X if isinstance(X, list) else list(X), shared)
    if hasattr(step, "linear_block"):
        return step.linear_block(X, shared)
    return None


def tfidf_transform(vectorizer: TfidfVectorizer, docs) -> sp.csr_matrix:
    """``vectorizer.transform(docs)`` for a fitted ``TfidfVectorizer``, without per-call validation."""
    return tfidf_rows(vectorizer, list(docs)).tocsr()


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
        return hstack_rows(feature_blocks(step, X, shared, linear=False))
    return step.transform(X)


def _steps_blocks(steps, X, shared: dict | None, linear: bool = True) -> list[Rows | LinearBlock]:
    """``feature_blocks`` of a pipeline given as its ``(name, step)`` list."""
    parts = [part for _, part in steps if part is not None and part != "passthrough"]
    if not parts:
        return [_as_rows(X)]
    for i, part in enumerate(parts[:-1]):
        X = transform_rows(part, X, shared if i == 0 else None)  # only the first part sees the shared input
    # The last part sees the transformed input: what it shares is kept apart from what the first part saw.
    return feature_blocks(parts[-1], X, shared if len(parts) == 1 else {}, linear)


def feature_blocks(step, X, shared: dict | None = None, linear: bool = True) -> list[Rows | LinearBlock]:
    """``transform_rows(step, X)`` left in blocks: a (final) ``FeatureUnion``'s parts side by side, not stacked.

    ``rows_dot`` multiplies the blocks by a coefficient array without building the stacked matrix; with
    ``linear`` (for a linear head), a block a kernel can multiply is left unbuilt (``LinearBlock``).
    """
    if isinstance(step, Pipeline):
        return _steps_blocks(step.steps, X, shared, linear)
    if not isinstance(step, FeatureUnion):
        block = linear_block(step, X) if linear else None
        return [block if block is not None else _as_rows(transform_rows(step, X))]
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
            block = linear_block(part, X, shared) if linear else None
            if block is None:
                block = _as_rows(transform_rows(part, X, shared))
            if key is not None:
                shared[key] = block
        if name in weights:
            block = _as_rows(block)
            block = block._replace(data=block.data * weights[name])
        blocks.append(block)
    return blocks


def transform(step, X):
    """``step.transform(X)``, with a ``FeatureUnion`` or ``Pipeline`` walked part by part (sparse results as CSR)."""
    out = transform_rows(step, X)
    return out.tocsr() if isinstance(out, Rows) else out
