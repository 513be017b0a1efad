"""Each distinct word's pieces (its ``char_wb`` n-grams, or its tokens) as a vectorizer's columns, computed once
and kept: ``WordGrams``, the cache a document is counted from, or handed to a compiled kernel (``model.kernels``)
that multiplies its TF-IDF row by a linear head's coefficients without building it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from itertools import chain, filterfalse, repeat

import numpy as np
import scipy.sparse as sp

from model import kernels
from model.sparse_rows import SMALL_BATCH_ROWS, LinearBlock, Rows, _pointers, keyed_counts_to_rows
from model.tfidf_weights import TfidfWeights
from model.word_index import CACHE_MAX_WORDS, ScannedWords, _Buffer, _ranges


def _most_pieces(doc_ptr: np.ndarray, word_ids: np.ndarray, starts: np.ndarray, lengths: np.ndarray, pieces) -> int:
    """The most pieces any document's words have (of the kernels' arguments): no column is counted in a document
    more often, nor has it more tokens."""
    return int(np.diff(_pointers(lengths[word_ids])[doc_ptr]).max(initial=0))


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
