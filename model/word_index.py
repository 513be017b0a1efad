"""A batch's whitespace-separated words, found once: the process's ``WordIndex`` numbers every word seen (a
compiled kernel scans a batch without making a string of each), and the helpers below keep a call's split or
scanned words in its ``shared`` dict for every vectorizer that reads them.

Holds the one process-wide index, ``WORD_INDEX``, and its per-process hash seed.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from model import kernels
from model.normalize import SPACES

CACHE_MAX_WORDS = 200_000
"""Distinct words a ``WordGrams`` cache (and the ``WordIndex``) keeps: it is emptied when new words would overfill
it, and a single batch with more distinct words is kept whole until the next new word."""


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


def _shared(shared: dict | None, key, compute: Callable[[], object]):
    """``compute()``, kept in ``shared`` under ``key`` for the next vectorizer that analyses alike (see
    ``transform_rows``); no sharing when either is ``None``."""
    if shared is None or key is None:
        return compute()
    if key not in shared:
        shared[key] = compute()
    return shared[key]
