"""Prediction without scikit-learn's per-call overhead, for the fitted shapes this project uses.

On one comment, input validation inside ``Pipeline``, ``FeatureUnion``, ``normalize`` and
``CalibratedClassifierCV``, and scipy's sparse constructors, cost far more than the arithmetic. These
functions read the fitted parts (vocabularies, idf weights, coefficients, sigmoid calibrators) and do the
same arithmetic on plain CSR arrays (``Rows``): the same float32 TF-IDF values (scikit-learn's own
row-normalisation kernel), then float64 dot products. Text is analysed a batch at a time: each distinct
word once (``WordGrams``), word n-grams as integers (``WordNgrams``). A linear head does not even need its
TF-IDF blocks built: ``feature_blocks`` leaves a plain vectorizer's block as a ``LinearBlock``, whose product
with the coefficients a compiled kernel (``model.kernels``) computes straight from the cached words. In a
large batch or a kernel a row's columns are not sorted, so sums run in another order and may differ in the
last bit. The tests check that everything agrees with scikit-learn's own ``transform`` and
``predict_proba`` to 1e-12.
"""

from __future__ import annotations

import functools
import re
import secrets
import threading
import weakref
from collections import Counter
from collections.abc import Callable, Sequence
from itertools import chain, filterfalse, repeat
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import normalize as sklearn_normalize
from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l2

from model import kernels
from model.normalize import SPACES

CACHE_MAX_WORDS = 200_000
"""Distinct words a ``WordGrams`` cache (and the ``WordIndex``) keeps: it is emptied when new words would overfill
it, and a single batch with more distinct words is kept whole until the next new word."""
SMALL_BATCH_ROWS = 256
"""Up to this many rows, a sparse-dense product is a gather and a segment sum (no scipy call)."""
WORD_NGRAMS_MIN_DOCS = 4
"""From this many documents, word n-grams are counted with numpy for the whole batch (``WordNgrams``);
fewer go through the analyzer, whose per-call cost is lower."""
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

    def tocsr(self, sort: bool = True) -> sp.csr_matrix:
        """The same matrix as a ``scipy.sparse.csr_matrix`` (sharing the arrays); ``sort``: each row's columns in
        order, as scikit-learn's vectorizers give them (a product does not need it)."""
        matrix = sp.csr_matrix((self.data, self.indices, self.indptr), shape=self.shape)
        if sort:
            matrix.sort_indices()
        return matrix

    @classmethod
    def from_sparse(cls, matrix) -> Rows:
        """Wrap any scipy sparse matrix (converted to CSR)."""
        matrix = matrix.tocsr()  # no copy when it is CSR already
        return cls(matrix.data, matrix.indices, matrix.indptr, matrix.shape[1])


class LinearBlock(NamedTuple):
    """A TF-IDF block left unbuilt: what a linear head needs of it is ``dot(coef)`` (= ``rows() @ coef``), which a
    compiled kernel (``model.kernels``) computes from the counts' sources in one pass; ``rows()`` builds it."""

    n_rows: int
    n_columns: int
    dot: Callable[[np.ndarray], np.ndarray]
    rows: Callable[[], Rows]


class TfidfWeights(NamedTuple):
    """How counts become TF-IDF values (``TfidfTransformer.transform``), in the form the kernels take."""

    dtype: np.dtype
    sublinear: bool
    binary: bool
    idf: np.ndarray
    """Inverse document frequencies (ones when the vectorizer has none)."""
    l2: bool

    @classmethod
    def of_vectorizer(cls, vectorizer: TfidfVectorizer) -> TfidfWeights | None:
        """The weights of a fitted ``TfidfVectorizer``, or ``None`` when its norm is neither l2 nor none."""
        tfidf = vectorizer._tfidf
        if tfidf.norm not in ("l2", None):
            return None
        dtype = np.dtype(vectorizer.dtype)
        idf = tfidf.idf_ if hasattr(tfidf, "idf_") else np.ones(len(vectorizer.vocabulary_), dtype=dtype)
        return cls(dtype, bool(tfidf.sublinear_tf), bool(vectorizer.binary), idf, tfidf.norm == "l2")

    def tf(self, max_count: int) -> np.ndarray:
        """``tf[count]`` for counts ``0 .. max_count`` (at least), computed by numpy as ``tfidf_weight`` computes it."""
        key = (self.dtype, self.sublinear, self.binary)
        table = _TF_TABLES.get(key)
        if table is None or len(table) <= max_count:
            if max_count >= TF_TABLE_KEPT:  # one very long text: its table is not kept for every later call
                return self._table(max_count + 1)
            size = max(2 * max_count + 1, 1024, 0 if table is None else 2 * len(table))
            table = _TF_TABLES[key] = self._table(min(size, TF_TABLE_KEPT))
        return table

    def _table(self, size: int) -> np.ndarray:
        """``tf`` for counts ``0 .. size - 1``."""
        counts = np.arange(size).astype(self.dtype)
        if self.binary:
            np.minimum(counts, 1, out=counts)
        if self.sublinear:
            with np.errstate(divide="ignore"):  # log(0): a count of zero is never looked up
                np.log(counts, out=counts)
            counts += 1.0
        return counts

    def block(self, dot: Callable[..., np.ndarray], args: tuple, n_rows: int, rows: Callable[[], Rows]) -> LinearBlock:
        """A ``LinearBlock`` of ``n_rows`` whose ``dot(coef)`` is the kernel ``dot(*args, table, k, l2)`` (``args``
        ending with the ``tf`` table; ``table``: see ``packed``)."""

        def block_dot(coef: np.ndarray) -> np.ndarray:
            return dot(*args, self.packed(coef), coef.shape[1], self.l2)

        return LinearBlock(n_rows, len(self.idf), block_dot, rows)

    def packed(self, coef: np.ndarray) -> np.ndarray:
        """``[idf, coef[:, 0], ..., coef[:, k - 1], padding]`` as float64 rows of a multiple of 8 values, so that a
        column's row is one 64-byte cache line for ``k <= 7``; built once for each coefficient array seen lately.

        Coefficient arrays are taken not to change in place (a refit gives new ones): the cache keys on where
        they are, and keeps them so that nothing else can be put there meanwhile.
        """
        key = (coef.__array_interface__["data"][0], coef.shape, coef.strides, coef.dtype.str, id(self.idf))
        found = _PACKED.get(key)
        if found is not None:
            return found[2]
        width = -(-(1 + coef.shape[1]) // 8) * 8
        table = np.zeros((len(self.idf), width))
        table[:, 0] = self.idf
        table[:, 1 : 1 + coef.shape[1]] = coef
        with _PACKED_LOCK:  # threads of a server may add at once; the oldest entry goes first
            while len(_PACKED) >= PACKED_KEPT:
                del _PACKED[next(iter(_PACKED))]
            _PACKED[key] = (coef, self.idf, table)
        return table


PACKED_KEPT = 32
"""Packed tables of coefficients kept (``TfidfWeights.packed``): more than the blocks of every head of a model."""
_PACKED: dict[tuple, tuple] = {}
"""Key -> ``(coef, idf, table)``: the arrays are kept so that their memory is not reused under the same key."""
_PACKED_LOCK = threading.Lock()
TF_TABLE_KEPT = 1 << 16
"""Tables of term-frequency weights up to this long are kept for later calls (``TfidfWeights.tf``)."""
_TF_TABLES: dict[tuple, np.ndarray] = {}
"""Each ``(dtype, sublinear, binary)``'s table of term-frequency weights (``TfidfWeights.tf``)."""


def _pointers(lengths: np.ndarray) -> np.ndarray:
    """``[0, lengths[0], lengths[0] + lengths[1], ...]``: where each run starts in the flat array, and its end."""
    pointers = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=pointers[1:])
    return pointers


def _most_pieces(doc_ptr: np.ndarray, word_ids: np.ndarray, starts: np.ndarray, lengths: np.ndarray, pieces) -> int:
    """The most pieces any document's words have (of the kernels' arguments): no column is counted in a document
    more often, nor has it more tokens."""
    return int(np.diff(_pointers(lengths[word_ids])[doc_ptr]).max(initial=0))


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


def keyed_counts_to_rows(keys: np.ndarray, n_docs: int, n_columns: int, dtype) -> Rows:
    """CSR count rows from one key ``document * n_columns + column`` per occurrence, columns sorted."""
    keys, counts = np.unique(keys, return_counts=True)
    index_dtype = _index_dtype(max(len(keys), n_columns))
    doc_of = keys // n_columns
    indptr = np.searchsorted(doc_of, np.arange(n_docs + 1)).astype(index_dtype)
    return Rows(counts.astype(dtype), (keys - doc_of * n_columns).astype(index_dtype), indptr, n_columns)


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


class ScannedWords(NamedTuple):
    """Documents' whitespace-separated words as ``WordIndex`` ids (``WordIndex.scan``)."""

    doc_ptr: np.ndarray
    """Document ``d``'s words are ``ids[doc_ptr[d]:doc_ptr[d + 1]]``."""
    ids: np.ndarray
    words: list[str]
    """The index's words, by id, of the generation the ids belong to (an emptied index starts a new list)."""


_HASH_SEED = np.uint64(secrets.randbits(64))
"""Seeds the word hash (``kernels._hash``), per process: words that collide cannot be found in advance to slow
the index down (as Python seeds its own string hash)."""
_IS_SPACE = np.isin(np.arange(max(map(ord, SPACES)) + 1), [ord(char) for char in SPACES])
"""What ``str.split`` cuts at, by code point (``model.normalize.SPACES``; no longer code point is a space)."""


class WordIndex:
    """Every whitespace-separated word seen, numbered: ``scan`` finds a batch's words with a compiled kernel,
    without making a string of each or looking it up in a dict; only new words become strings.

    Word ids are shared by every ``WordGrams`` cache (each translates them to its own), so a batch is
    split and looked up once for all the feature blocks that read its words. Words are kept as code points in
    an open-addressing hash table; a hash match is confirmed code point by code point (``kernels._find``).
    """

    def __init__(self, max_words: int = CACHE_MAX_WORDS):
        self.max_words = max_words
        self._lock = threading.Lock()
        self._clear()

    def _clear(self) -> None:
        self.words: list[str] = []  # a new list: holders of the old one keep the words their ids meant
        self._pool, self._hashes = _Buffer(np.uint32), _Buffer(np.uint64)
        self._starts, self._lengths = _Buffer(np.int64), _Buffer(np.int64)
        self._slots = np.full(1 << 12, -1, dtype=np.int64)

    def _scan(self, codes: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, ...]:
        return kernels.scan_words(codes, starts, ends, _IS_SPACE, self._slots, self._hashes.array, self._pool.array,
                                  self._starts.array, self._lengths.array, _HASH_SEED)

    def scan(self, docs: Sequence[str]) -> ScannedWords:
        """``[doc.split() for doc in docs]`` as word ids; new words are numbered. When they would overfill the index,
        it is emptied first; a batch with more distinct words than it keeps is kept whole until the next new word."""
        lengths = np.fromiter(map(len, docs), dtype=np.int64, count=len(docs))
        ends = np.cumsum(lengths)
        joined = "".join(docs)
        # One code point per character of the joined text (a lone surrogate too), so positions are str indices.
        codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        with self._lock:
            doc_ptr, ids, begins, word_ends, hashes = self._scan(codes, ends - lengths, ends)
            missing = np.flatnonzero(ids < 0)
            if len(missing):
                new = dict.fromkeys(joined[b:e] for b, e in zip(begins[missing].tolist(), word_ends[missing].tolist()))
                if self.words and len(self.words) + len(new) > self.max_words:
                    self._clear()
                    doc_ptr, ids, begins, word_ends, hashes = self._scan(codes, ends - lengths, ends)
                    missing = np.arange(len(ids))
                self._add(joined, codes, ids, missing, begins, word_ends, hashes)
            return ScannedWords(doc_ptr, ids, self.words)

    def _add(self, joined: str, codes: np.ndarray, ids: np.ndarray, missing: np.ndarray, begins: np.ndarray,
             ends: np.ndarray, hashes: np.ndarray) -> None:
        """Number the words at ``missing`` (positions in the scan) that are new, and give every one its id."""
        first, new, firsts = len(self.words), {}, []
        for k in missing.tolist():
            word = joined[begins[k] : ends[k]]
            word_id = new.get(word)
            if word_id is None:
                word_id = new[word] = first + len(new)
                firsts.append(k)
            ids[k] = word_id
        firsts = np.array(firsts, dtype=np.int64)
        lengths = ends[firsts] - begins[firsts]
        self._starts.extend(len(self._pool) + np.cumsum(lengths) - lengths)
        self._lengths.extend(lengths)
        self._pool.extend(codes[_ranges(begins[firsts], lengths)])
        self._hashes.extend(hashes[firsts])
        self.words.extend(new)
        if 2 * len(self.words) > len(self._slots):  # keep the table at most half full
            size = len(self._slots)
            while 2 * len(self.words) > size:
                size *= 2
            self._slots = np.full(size, -1, dtype=np.int64)
            kernels.insert_words(self._slots, self._hashes.array, 0, len(self.words))
        else:
            kernels.insert_words(self._slots, self._hashes.array, first, len(new))


class WordGrams:
    """Each distinct word's pieces (its n-grams, or its tokens) as vocabulary columns, computed once and kept.

    A ``char_wb`` document's n-grams are its whitespace-separated words' n-grams put together, and so are a
    word analyzer's tokens when its pattern cannot see past a space (``WordNgrams``): a document is counted
    from its words' cached columns without slicing, matching or hashing a piece again. The columns of every
    cached word sit in one array, so a batch's are gathered with numpy, not word by word.

    Parameters
    ----------
    grams : callable
        Word -> its pieces (see ``char_wb_grams``).
    vocabulary : dict
        Piece -> column; a column below -1 marks a piece that is dropped (a stop word).
    max_words : int
        The cache is emptied when it holds this many words.
    keep_unknown : bool
        Keep a piece outside the vocabulary as column -1 (word n-grams must not join the tokens around it).
    """

    def __init__(self, grams: Callable[[str], list[str]], vocabulary: dict[str, int], max_words: int = CACHE_MAX_WORDS,
                 keep_unknown: bool = False):
        self.grams = grams
        self.vocabulary = vocabulary
        self.max_words = max_words
        self.keep_unknown = keep_unknown
        self._lock = threading.Lock()  # threaded servers share one model: adding words must not interleave
        self._clear()

    def _clear(self) -> None:
        self._clears = getattr(self, "_clears", -1) + 1
        self.words: dict[str, int] = {}  # word -> its id, an index into starts and lengths
        self._index_words: list[str] | None = None  # the WordIndex generation _by_index translates
        self._by_index = np.zeros(0, dtype=np.int64)  # WordIndex id -> id here, or -1
        # Every cached word's columns, one word after another, in buffers that double when full: a request
        # with a few new words appends them without copying the whole cache.
        self._values, self._starts, self._lengths = _Buffer(np.int32), _Buffer(np.int64), _Buffer(np.int64)

    def _add(self, words: list[str]) -> None:
        """Analyse new distinct ``words`` and give them the next ids."""
        grams = [self.grams(word) for word in words]
        lengths = np.fromiter(map(len, grams), dtype=np.int64, count=len(grams))
        # One C-level pass over every new piece: no Python bytecode per piece.
        flat = np.fromiter(map(self.vocabulary.get, chain.from_iterable(grams), repeat(-1)), dtype=np.int32,
                           count=int(lengths.sum()))
        kept = flat >= (-1 if self.keep_unknown else 0)
        word_of = np.repeat(np.arange(len(words)), lengths)
        lengths = np.bincount(word_of[kept], minlength=len(words)).astype(np.int64)
        self._starts.extend(len(self._values) + np.cumsum(lengths) - lengths)
        self._lengths.extend(lengths)
        self._values.extend(flat[kept])
        self.words.update(zip(words, range(len(self.words), len(self.words) + len(words))))

    def _ids(self, words: Sequence[str]) -> np.ndarray:
        """Each word's id, analysing new words (the cache is emptied first when they would overfill it)."""
        cache = self.words
        ids = np.fromiter(map(cache.get, words, repeat(-1)), dtype=np.int64, count=len(words))
        if len(ids) and ids.min() < 0:
            missing = list(dict.fromkeys(filterfalse(cache.__contains__, words)))
            if len(cache) + len(missing) > self.max_words:
                self._clear()
                cache, missing = self.words, list(dict.fromkeys(words))
            self._add(missing)
            ids = np.fromiter(map(cache.__getitem__, words), dtype=np.int64, count=len(words))
        return ids

    def gather(self, words: Sequence[str], distinct: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(columns, lengths, word_of)``: the words' columns one word after another, and each word's count.

        With ``distinct``, each distinct word once (``word_of[i]``: the position of ``words[i]`` among them);
        else every word in order (``word_of`` is ``None``).
        """
        with self._lock:
            ids, word_of = self._ids(words), None
            if distinct:
                ids, word_of = np.unique(ids, return_inverse=True)
                word_of = word_of.ravel()
            lengths = self._lengths.array[ids]
            columns = self._values.array[_ranges(self._starts.array[ids], lengths)]  # copies, not views
            if len(self.words) > self.max_words:  # one call's own words were more than the cache may keep
                self._clear()
        return columns, lengths, word_of

    def block(self, scanned: ScannedWords, weights: TfidfWeights, rows: Callable[[], Rows]) -> LinearBlock:
        """The TF-IDF block of scanned documents (``rows`` builds it) for ``kernels.word_pieces_dot``."""
        args = self.kernel_args(scanned)
        return weights.block(kernels.word_pieces_dot, (*args, weights.tf(_most_pieces(*args))), len(scanned.doc_ptr) - 1, rows)

    def kernel_args(self, scanned: ScannedWords) -> tuple[np.ndarray, ...]:
        """``(doc_ptr, word_ids, starts, lengths, pieces)`` of scanned documents, as the kernels (``model.kernels``)
        take them: the words' ids here, and the cache as it stands (consistent whatever other threads add later).

        A ``WordIndex`` id is translated to an id here through an array; only words new to this cache are
        looked up by their string.
        """
        words, index_ids = scanned.words, scanned.ids
        with self._lock:
            if self._index_words is not words:  # another generation of the index: its ids mean other words
                self._index_words, self._by_index = words, np.full(len(words), -1, dtype=np.int64)
            elif len(self._by_index) < len(words):
                grown = np.full(max(len(words), 2 * len(self._by_index)), -1, dtype=np.int64)
                grown[: len(self._by_index)] = self._by_index
                self._by_index = grown
            ids = self._by_index[index_ids]
            if len(ids) and ids.min() < 0:
                new = np.unique(index_ids[ids < 0])
                clears = self._clears
                found = self._ids([words[i] for i in new.tolist()])
                if self._clears != clears:  # the cache was emptied to make room: every earlier id is void
                    new = np.unique(index_ids)
                    # May empty the cache once more (a batch with more distinct words than it keeps): the ids
                    # found are then those of the cache as it stands, which the snapshot below takes.
                    found = self._ids([words[i] for i in new.tolist()])
                    self._index_words, self._by_index = words, np.full(len(words), -1, dtype=np.int64)
                self._by_index[new] = found
                ids = self._by_index[index_ids]
            args = (scanned.doc_ptr, ids, self._starts.array, self._lengths.array, self._values.array)
            if len(self.words) > self.max_words:  # one call's own words were more than the cache may keep
                self._clear()
        return args

    def count_rows(self, docs_words: Sequence[Sequence[str]], dtype) -> Rows:
        """Count rows (piece counts; see ``Rows.tocsr`` for column order) of documents given as their word lists."""
        n_docs, n_columns = len(docs_words), len(self.vocabulary)
        if n_docs > SMALL_BATCH_ROWS:
            return self._count_rows_sparse(docs_words, dtype)
        columns, lengths, _ = self.gather(list(chain.from_iterable(docs_words)))
        keys = columns.astype(np.int64)
        if n_docs > 1:  # one key per (document, column), so that one sort counts every document
            doc_of_word = np.repeat(np.arange(n_docs, dtype=np.int64), [len(words) for words in docs_words])
            keys += np.repeat(doc_of_word * n_columns, lengths)
        return keyed_counts_to_rows(keys, n_docs, n_columns, dtype)

    def _count_rows_sparse(self, docs_words: Sequence[Sequence[str]], dtype) -> Rows:
        """``count_rows`` for many documents: a documents x words by words x pieces sparse product."""
        words, n_columns = list(chain.from_iterable(docs_words)), len(self.vocabulary)
        columns, word_lengths, word_of = self.gather(words, distinct=True)
        word_grams = sp.csr_matrix(
            (np.ones(len(columns), dtype=dtype), columns, np.concatenate([[0], np.cumsum(word_lengths)])),
            shape=(len(word_lengths), n_columns),
        )
        doc_lengths = np.fromiter(map(len, docs_words), dtype=np.int64, count=len(docs_words))
        doc_words = sp.csr_matrix(
            (np.ones(len(word_of), dtype=dtype), word_of, np.concatenate([[0], np.cumsum(doc_lengths)])),
            shape=(len(docs_words), len(word_lengths)),
        )
        # The product has no duplicate entries; its columns are left in the product's order, not sorted
        # (sorting cost more than the rest of the count): ``Rows.tocsr`` consumers that need order sort.
        # Sums over a row then run in another order than on the small-batch path, so a comment's scores can
        # differ in the last bit (about 1e-16) with the size of its batch: far below the 6 decimals reported.
        counts = (doc_words @ word_grams).tocsr()
        return Rows(counts.data.astype(dtype, copy=False), counts.indices, counts.indptr, n_columns)


class _Buffer:
    """A growing 1-d array: ``extend`` appends in amortised constant time per value (capacity doubles)."""

    def __init__(self, dtype):
        self._data = np.zeros(16, dtype=dtype)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    @property
    def array(self) -> np.ndarray:
        """The values appended so far (a view, valid until the next ``extend``)."""
        return self._data[: self._size]

    def extend(self, values: np.ndarray) -> None:
        end = self._size + len(values)
        if end > len(self._data):
            grown = np.zeros(max(end, 2 * len(self._data)), dtype=self._data.dtype)
            grown[: self._size] = self._data[: self._size]
            self._data = grown
        self._data[self._size : end] = values
        self._size = end


WORD_INDEX = WordIndex()
"""The process's word index, shared by every cache (see ``WordIndex``)."""


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The indices ``starts[0] .. starts[0] + lengths[0] - 1``, then the next range, ...: one array."""
    total = int(lengths.sum())
    ends = np.cumsum(lengths)
    return np.repeat(starts - (ends - lengths), lengths) + np.arange(total)


WHITESPACE_WORDS = ("whitespace words",)
"""The key of ``whitespace_words`` in a ``shared`` dict."""


def whitespace_words(docs: Sequence[str], shared: dict | None = None) -> list[list[str]]:
    """``[doc.split() for doc in docs]``, kept in ``shared`` (see ``transform_rows``) for other steps that split."""
    return _shared(shared, WHITESPACE_WORDS, lambda: [doc.split() for doc in docs])


WHITESPACE_IDS = ("whitespace word ids",)
"""The key of ``scanned_words`` in a ``shared`` dict."""


def scanned_words(docs: Sequence[str], shared: dict | None = None) -> ScannedWords:
    """``WORD_INDEX.scan(docs)``, kept in ``shared`` (see ``transform_rows``) for other steps that read words."""
    return _shared(shared, WHITESPACE_IDS, lambda: WORD_INDEX.scan(docs))


class Preprocessing(NamedTuple):
    """What a vectorizer does to a document before it splits it, held without holding the vectorizer."""

    nothing: bool
    """It returns each document as it is (``_preprocesses_nothing``)."""
    key: tuple
    """Equal for vectorizers that preprocess alike (what is kept in ``shared`` is keyed by it)."""
    preprocess: Callable[[str], str]

    @classmethod
    def of(cls, vectorizer) -> Preprocessing:
        key = (vectorizer.lowercase, repr(vectorizer.strip_accents), repr(vectorizer.preprocessor))
        return cls(_preprocesses_nothing(vectorizer), key, vectorizer.build_preprocessor())


def scanned_preprocessed(preprocessing: Preprocessing, docs: Sequence[str], shared: dict | None = None) -> ScannedWords:
    """``WORD_INDEX.scan`` of preprocessed documents, kept in ``shared`` for other vectorizers that preprocess
    alike (``scanned_words`` where preprocessing changes nothing)."""
    if preprocessing.nothing:
        return scanned_words(docs, shared)
    preprocess = preprocessing.preprocess
    return _shared(shared, ("preprocessed word ids", *preprocessing.key),
                   lambda: WORD_INDEX.scan([preprocess(doc) for doc in docs]))


def split_preprocessed(preprocessing: Preprocessing, docs: Sequence[str], shared: dict | None = None) -> list[list[str]]:
    """``[preprocess(doc).split() for doc in docs]``, kept in ``shared`` for other vectorizers that preprocess
    alike (``whitespace_words`` where preprocessing changes nothing)."""
    if preprocessing.nothing:
        return whitespace_words(docs, shared)
    preprocess = preprocessing.preprocess
    return _shared(shared, ("preprocessed words", *preprocessing.key), lambda: [preprocess(doc).split() for doc in docs])


def _preprocesses_nothing(vectorizer) -> bool:
    """Whether a vectorizer's preprocessor returns each document as it is."""
    return vectorizer.preprocessor is None and not vectorizer.lowercase and vectorizer.strip_accents is None


_STOP = -2
"""Token id of a stop word (dropped before n-grams are made, as scikit-learn does)."""


_CHARACTER_CLASS = re.compile(r"\[([^\]]*)\]")
_SEES_SPACES = re.compile(r"\\[^bwd]|[.^$\s]|\(\?[^:u]")


def tokens_stay_inside_words(token_pattern: str | None) -> bool:
    """Whether a token pattern finds, in a text, exactly the tokens it finds in the text's whitespace-separated
    words one by one: no match can hold or look at whitespace.

    Allowed: literal characters other than whitespace and ``. ^ $``, ``\\w``, ``\\d``, ``\\b`` (a space and the
    text's edge are both non-word characters), groups, alternatives, quantifiers, and character classes that
    are not negated and hold neither whitespace nor an escape other than ``\\w``, ``\\d`` or a quote.
    """
    if not isinstance(token_pattern, str):
        return False
    for content in _CHARACTER_CLASS.findall(token_pattern):
        if content.startswith("^") or re.search(r"\s|\\[^wd\"']", content):
            return False
    rest = _CHARACTER_CLASS.sub("", token_pattern).replace("(?u)", "")
    return "[" not in rest and _SEES_SPACES.search(rest) is None


class WordNgrams:
    """Word n-gram counts of a fitted plain ``analyzer="word"`` vectorizer, without making n-gram strings.

    Each token is looked up once (a dict of the tokens that occur in the vocabulary's n-grams); an n-gram is
    then a number, ``id_1 * K^(n-1) + ... + id_n``, found in a sorted array with numpy, for the whole batch at
    once. Counts equal ``CountVectorizer.transform``: stop words are dropped before n-grams are made, and an
    n-gram never crosses documents.

    Parameters
    ----------
    vectorizer : fitted TfidfVectorizer or CountVectorizer (see ``is_plain_word``)
    """

    def __init__(self, vectorizer):
        self.preprocessing = Preprocessing.of(vectorizer)
        self.preprocess = self.preprocessing.preprocess
        self.tokenize = vectorizer.build_tokenizer()
        self.ngram_range = tuple(vectorizer.ngram_range)
        vocabulary = vectorizer.vocabulary_
        self.n_columns = len(vocabulary)
        # Built with numpy, not n-gram by n-gram: this runs at a process's first comment (``moderate score --text``).
        grams = [gram.split(" ") for gram in vocabulary]
        tokens = list(chain.from_iterable(grams))
        token_ids: dict[str, int] = {token: i for i, token in enumerate(dict.fromkeys(tokens))}  # first seen first
        self.base = max(len(token_ids), 1)
        n_parts = np.fromiter(map(len, grams), dtype=np.int64, count=len(grams))
        gram_ids = np.fromiter(map(token_ids.__getitem__, tokens), dtype=np.int64, count=len(tokens))
        first = _pointers(n_parts)[:-1]  # each n-gram's first token in gram_ids
        gram_columns = np.fromiter(vocabulary.values(), dtype=np.int64, count=len(grams))
        self.unigrams = np.full(self.base, -1, dtype=np.int64)  # token id -> its unigram's column, or -1
        self.unigrams[gram_ids[first[n_parts == 1]]] = gram_columns[n_parts == 1]
        # Every n > 1's n-grams as sorted keys and their columns, one n after another (as kernels.word_ngrams_dot
        # takes them: n's are keys[key_ptr[n]:key_ptr[n + 1]]); ``tables`` views them by n. Keys of one n are
        # distinct (``is_plain_word``: they fit in 63 bits), so the order is that of the keys alone.
        lengths = np.zeros(self.ngram_range[1] + 1, dtype=np.int64)
        keys, columns = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
        for n in range(max(self.ngram_range[0], 2), self.ngram_range[1] + 1):
            chosen = np.flatnonzero(n_parts == n)
            key = np.zeros(len(chosen), dtype=np.int64)
            for j in range(n):
                key = key * self.base + gram_ids[first[chosen] + j]
            order = np.argsort(key)
            keys.append(key[order])
            columns.append(gram_columns[chosen][order])
            lengths[n] = len(chosen)
        keys, columns, key_ptr = np.concatenate(keys), np.concatenate(columns), _pointers(lengths)
        self.joined_tables = (keys, columns, key_ptr)
        self.tables: dict[int, tuple[np.ndarray, np.ndarray]] = {
            n: (keys[key_ptr[n] : key_ptr[n + 1]], columns[key_ptr[n] : key_ptr[n + 1]])
            for n in range(max(self.ngram_range[0], 2), self.ngram_range[1] + 1)
        }
        for word in vectorizer.get_stop_words() or ():
            token_ids[word] = _STOP
        self.token_ids = token_ids
        self.has_stop_words = bool(vectorizer.get_stop_words())
        # Where a token cannot span or see a space, a document's tokens are its words' tokens one after
        # another: each distinct word is tokenised once and its token ids kept (stop words dropped).
        self.by_word = (WordGrams(self.tokenize, token_ids, keep_unknown=True)
                        if tokens_stay_inside_words(vectorizer.token_pattern) else None)

    @staticmethod
    def is_plain_word(vectorizer) -> bool:
        """Whether ``WordNgrams`` reproduces the vectorizer's analyzer: a word analyzer with a string token
        pattern, whose vocabulary's n-grams are space-joined tokens and whose n-gram keys fit in 63 bits."""
        if (vectorizer.analyzer != "word" or vectorizer.input != "content" or vectorizer.tokenizer is not None
                or vectorizer.preprocessor is not None or callable(vectorizer.strip_accents)):
            return False
        min_n, max_n = vectorizer.ngram_range
        tokens = set()
        for gram in vectorizer.vocabulary_:
            parts = gram.split(" ")
            if not min_n <= len(parts) <= max_n or "" in parts:
                return False  # a token with a space in it: the split would be ambiguous
            tokens.update(parts)
        return max(len(tokens), 2) ** max_n < 2**62

    def tokens(self, docs: Sequence[str], shared: dict | None = None, key=None) -> list[list[str]]:
        """What ``count_rows`` takes: each document's whitespace-separated words (see ``by_word``;
        ``split_preprocessed``), or else its tokens before stop words are dropped, kept in ``shared`` (see
        ``transform_rows``) under ``key``."""
        if self.by_word is not None:
            return split_preprocessed(self.preprocessing, docs, shared)
        preprocess, tokenize = self.preprocess, self.tokenize
        return _shared(shared, key, lambda: [tokenize(preprocess(doc)) for doc in docs])

    def _token_ids(self, docs_tokens: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, doc_of)``: every document's token ids one after another (-1 outside the n-grams' tokens,
        stop words dropped) and the document of each."""
        n_docs = len(docs_tokens)
        lengths = np.fromiter(map(len, docs_tokens), dtype=np.int64, count=n_docs)
        if self.by_word is not None:
            ids, word_lengths, _ = self.by_word.gather(list(chain.from_iterable(docs_tokens)))
            doc_of_word = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
            return ids.astype(np.int64), np.repeat(doc_of_word, word_lengths)
        ids = np.fromiter(map(self.token_ids.get, chain.from_iterable(docs_tokens), repeat(-1)), dtype=np.int64,
                          count=int(lengths.sum()))
        doc_of = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
        if self.has_stop_words:
            kept = ids != _STOP
            ids, doc_of = ids[kept], doc_of[kept]
        return ids, doc_of

    def block(self, docs: Sequence[str], shared: dict | None, key, weights: TfidfWeights,
              rows: Callable[[], Rows]) -> LinearBlock:
        """The TF-IDF block of documents (``rows`` builds it), for ``kernels.word_ngrams_dot``; ``shared`` and
        ``key``: see ``tokens``."""
        if self.by_word is not None:
            words = self.by_word.kernel_args(scanned_preprocessed(self.preprocessing, docs, shared))
        else:  # each token a word of one piece
            ids, doc_of = self._token_ids(self.tokens(docs, shared, key))
            order = np.arange(len(ids))
            words = (_pointers(np.bincount(doc_of, minlength=len(docs))), order, order, np.ones_like(order), ids)
        args = (*words, self.unigrams, *self.joined_tables, self.ngram_range[0], self.base, weights.tf(_most_pieces(*words)))
        return weights.block(kernels.word_ngrams_dot, args, len(docs), rows)

    def count_rows(self, docs_tokens: Sequence[Sequence[str]], dtype) -> Rows:
        """Count rows (n-gram counts, columns sorted) of documents given as ``tokens`` gives them."""
        n_docs, n_columns = len(docs_tokens), self.n_columns
        ids, doc_of = self._token_ids(docs_tokens)
        found_keys = []
        if self.ngram_range[0] == 1:
            columns = self.unigrams[ids[ids >= 0]]
            hit = columns >= 0
            found_keys.append(doc_of[ids >= 0][hit] * n_columns + columns[hit])
        for n, (keys, columns) in self.tables.items():
            m = len(ids) - n + 1
            if m <= 0 or not len(keys):
                continue
            gram, known = ids[:m].copy(), ids[:m] >= 0
            for j in range(1, n):
                following = ids[j : j + m]
                gram *= self.base
                gram += following
                known &= following >= 0
            known &= doc_of[:m] == doc_of[n - 1 : n - 1 + m]  # no n-gram across documents
            gram, docs = gram[known], doc_of[:m][known]
            position = np.minimum(np.searchsorted(keys, gram), len(keys) - 1)
            hit = keys[position] == gram
            found_keys.append(docs[hit] * n_columns + columns[position[hit]])
        keys = np.concatenate(found_keys) if found_keys else np.zeros(0, dtype=np.int64)
        return keyed_counts_to_rows(keys, n_docs, n_columns, dtype)


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


def _shared(shared: dict | None, key, compute: Callable[[], object]):
    """``compute()``, kept in ``shared`` under ``key`` for the next vectorizer that analyses alike (see
    ``transform_rows``); no sharing when either is ``None``."""
    if shared is None or key is None:
        return compute()
    if key not in shared:
        shared[key] = compute()
    return shared[key]


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


def hstack_rows(blocks: Sequence[Rows | LinearBlock]) -> Rows:
    """Blocks side by side (``scipy.sparse.hstack``), each row keeping its blocks' entries in block order."""
    blocks = [_as_rows(block) for block in blocks]
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
    if isinstance(block, LinearBlock):
        return block.rows()
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


def as_matrix(X):
    """A scipy CSR matrix for ``Rows`` or a list of ``Rows`` blocks (stacked side by side); anything else as it is."""
    if isinstance(X, (list, LinearBlock)):
        X = hstack_rows(X if isinstance(X, list) else [X])
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
    if isinstance(X, LinearBlock):
        return X.dot(coef)
    if not isinstance(X, Rows):
        return np.asarray(X @ coef)
    n_rows = len(X.indptr) - 1
    if n_rows > SMALL_BATCH_ROWS:
        return np.asarray(X.tocsr(sort=False) @ coef)
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


def stacked_parts(classifier):
    """``stack_linear([classifier])`` of a fitted (calibrated) linear classifier, built once and kept."""
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
        out.append(stacked_proba(stacked_parts(pipeline.steps[-1][1]), blocks)[:, 0])
    return out
