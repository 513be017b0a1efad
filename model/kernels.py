"""Compiled kernels (numba): a batch's TF-IDF rows multiplied by coefficients, without building the rows.

A linear head needs ``X @ coef``, not ``X``. Building ``X`` (a sparse matrix of ~300 character n-grams per
comment) and multiplying it costs several passes over memory; these kernels count each document's
columns in a scratch array, weigh them, normalise and multiply in one pass, a document at a time. They
follow scikit-learn's arithmetic step for step, so the result equals ``TfidfVectorizer.transform(docs) @
coef`` but for the order of two sums (a few units in the last place of a float64; the tests hold them to
1e-12):

- a document's columns are taken in the order they are first seen, not sorted as in a vectorizer's CSR
  rows (sorting cost more than all the rest), so the norm and the product are summed in another order;
- a value is ``tf[count] * idf[column]`` computed in float64 (exact: the idf, a float32 or float64, is
  stored as a float64) and stored in the vectorizer's dtype, one rounding as in numpy's in-place
  ``data *= idf[indices]``; ``tf`` is a table numpy computed
  (``np.log`` of the counts plus one for ``sublinear_tf``), so no other ``log`` is involved;
- the l2 norm sums ``value * value`` (in the dtype) into a float64, as ``inplace_csr_row_normalize_l2``
  does, and each value is divided by it and stored in the dtype;
- the product sums ``float64(value) * coef[column, k]`` over the columns in that order, as scipy's
  ``csr_matvecs`` does.

Every kernel is compiled once per argument types and cached on disk (``cache=True``: beside this file, or
in the user's cache directory when this one is read-only; with neither, compiled in memory at first use);
``nogil`` lets a threaded server score requests side by side.
"""

from __future__ import annotations

import numpy as np
from numba import njit


def _compiled(**options):
    """``numba.njit(cache=True, nogil=True, **options)``, or without ``cache`` where no directory is writable
    (numba refuses to compile a cached function it has nowhere to cache)."""

    def decorate(function):
        try:
            return njit(cache=True, nogil=True, **options)(function)
        except RuntimeError:
            return njit(nogil=True, **options)(function)

    return decorate


@_compiled()
def _scratch(n_docs, tf, table, k):
    """The output ``(n_docs, k)``, and per-column scratch: counts (kept at zero between documents), the columns
    a document touched, their values."""
    out = np.zeros((n_docs, k))
    counts = np.zeros(table.shape[0], dtype=np.int32)  # 32 bits: half the memory a document's random accesses touch
    touched = np.empty(table.shape[0], dtype=np.int32)
    values = np.empty(table.shape[0], dtype=tf.dtype)
    return out, counts, touched, values


@_compiled()
def _finish_document(out_row, counts, touched, n_touched, values, tf, table, k, l2):
    """Weigh, normalise and multiply one document's counted columns (``touched[:n_touched]``); reset their counts."""
    total = 0.0
    for i in range(n_touched):
        column = touched[i]
        values[i] = tf[counts[column]] * table[column, 0]
        counts[column] = 0
        value = values[i]
        total += value * value
    if l2 and total != 0.0:
        norm = np.sqrt(total)
        for i in range(n_touched):
            values[i] = values[i] / norm
    for i in range(n_touched):
        value = np.float64(values[i])
        column = touched[i]
        for j in range(k):
            out_row[j] += value * table[column, j + 1]


@_compiled()
def word_pieces_dot(doc_ptr, word_ids, starts, lengths, pieces, tf, table, k, l2):
    """``X @ coef`` where each document's counts are its words' pieces (``char_wb`` n-grams).

    Parameters
    ----------
    doc_ptr : int array ``(n_docs + 1,)``
        Document ``d``'s words are ``word_ids[doc_ptr[d]:doc_ptr[d + 1]]``.
    word_ids : int array
        Each word's id in the cache.
    starts, lengths, pieces : int arrays
        Word ``w``'s columns are ``pieces[starts[w]:starts[w] + lengths[w]]`` (negative: not counted).
    tf : array
        ``tf[count]``, the term-frequency weight of a count (long enough for every count).
    table : float64 array ``(n_columns, width)``
        Each column's idf, then its ``k`` coefficients (then padding): one row holds all a column needs, in
        one 64-byte cache line for ``k <= 7`` (the kernels' time goes to fetching rows at random).
    k : int
    l2 : bool
        Normalise each row to unit l2 norm.
    """
    n_docs = len(doc_ptr) - 1
    out, counts, touched, values = _scratch(n_docs, tf, table, k)
    for d in range(n_docs):
        n_touched = 0
        for w in word_ids[doc_ptr[d] : doc_ptr[d + 1]]:
            for p in range(starts[w], starts[w] + lengths[w]):
                column = pieces[p]
                if column >= 0:  # counted here, not in a helper function: that doubled the kernel's time
                    if counts[column] == 0:
                        touched[n_touched] = column
                        n_touched += 1
                    counts[column] += 1
        _finish_document(out[d], counts, touched, n_touched, values, tf, table, k, l2)
    return out


@_compiled()
def word_ngrams_dot(doc_ptr, word_ids, starts, lengths, pieces, unigrams, keys, key_columns, key_ptr, min_n, base,
                    tf, table, k, l2):
    """``X @ coef`` where each document's counts are the word n-grams of its tokens.

    Parameters
    ----------
    doc_ptr, word_ids, starts, lengths, pieces : int arrays
        As in ``word_pieces_dot``: a document's tokens are its words' pieces one after another, each a token
        id (stop words already dropped; -1 for a token in no n-gram of the vocabulary, which no n-gram may
        cross). Tokens that were not looked up word by word come as one-piece words.
    unigrams : int array
        Token id -> its unigram's column, or -1.
    keys, key_columns, key_ptr : int arrays
        The ``n``-grams (``n >= 2``) as keys ``id_1 * base^(n-1) + ... + id_n``, sorted, in
        ``keys[key_ptr[n]:key_ptr[n + 1]]``, and their columns beside them.
    min_n : int
        Smallest n-gram length (the largest is ``len(key_ptr) - 2``).
    base : int
    tf, table, k, l2
        See ``word_pieces_dot``.
    """
    n_docs = len(doc_ptr) - 1
    max_n = len(key_ptr) - 2
    out, counts, touched, values = _scratch(n_docs, tf, table, k)
    longest = 0
    for d in range(n_docs):
        n_tokens = 0
        for w in word_ids[doc_ptr[d] : doc_ptr[d + 1]]:
            n_tokens += lengths[w]
        longest = max(longest, n_tokens)
    tokens = np.empty(longest, dtype=np.int64)
    for d in range(n_docs):
        n_tokens = 0
        for w in word_ids[doc_ptr[d] : doc_ptr[d + 1]]:
            for p in range(starts[w], starts[w] + lengths[w]):
                tokens[n_tokens] = pieces[p]
                n_tokens += 1
        n_touched = 0
        if min_n <= 1:
            for i in range(n_tokens):
                column = unigrams[tokens[i]] if tokens[i] >= 0 else -1
                if column >= 0:
                    if counts[column] == 0:
                        touched[n_touched] = column
                        n_touched += 1
                    counts[column] += 1
        for n in range(max(min_n, 2), max_n + 1):
            low, high = key_ptr[n], key_ptr[n + 1]
            if low == high:
                continue
            sorted_keys = keys[low:high]
            for i in range(n_tokens - n + 1):
                key = 0
                for j in range(n):
                    token = tokens[i + j]
                    if token < 0:
                        key = -1
                        break
                    key = key * base + token
                if key < 0:
                    continue
                position = np.searchsorted(sorted_keys, key)
                if position < len(sorted_keys) and sorted_keys[position] == key:
                    column = key_columns[low + position]
                    if counts[column] == 0:
                        touched[n_touched] = column
                        n_touched += 1
                    counts[column] += 1
        _finish_document(out[d], counts, touched, n_touched, values, tf, table, k, l2)
    return out


_FNV_OFFSET = np.uint64(14695981039346656037)
_FNV_PRIME = np.uint64(1099511628211)


@_compiled()
def _hash(codes, begin, end, seed):
    """A 64-bit hash of the code points ``codes[begin:end]``: FNV-1a from a seeded start, then splitmix64's
    finaliser, so that every bit of the slot a word goes to depends on every code point and on the seed."""
    h = _FNV_OFFSET ^ seed
    for i in range(begin, end):
        h = (h ^ np.uint64(codes[i])) * _FNV_PRIME
    h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


@_compiled()
def _find(codes, begin, end, h, slots, hashes, pool, pool_starts, pool_lengths):
    """The id of the word ``codes[begin:end]`` (hash ``h``) in an open-addressing table, or -1; equal hashes
    are confirmed code point by code point, so a collision never gives another word's id."""
    mask = len(slots) - 1
    slot = np.int64(h & np.uint64(mask))
    while True:
        word = slots[slot]
        if word < 0:
            return -1
        if hashes[word] == h and pool_lengths[word] == end - begin:
            start = pool_starts[word]
            same = True
            for i in range(end - begin):
                if pool[start + i] != codes[begin + i]:
                    same = False
                    break
            if same:
                return word
        slot = (slot + 1) & mask


@_compiled()
def scan_words(codes, doc_starts, doc_ends, is_space, slots, hashes, pool, pool_starts, pool_lengths, seed):
    """Each document's whitespace-separated words, found in a ``WordIndex``'s table.

    Parameters
    ----------
    codes : uint32 array
        The documents' code points, document ``d`` in ``codes[doc_starts[d]:doc_ends[d]]``.
    is_space : bool array
        ``is_space[c]``: code point ``c`` separates words (as ``str.split`` has it); longer code points never do.
    slots, hashes, pool, pool_starts, pool_lengths
        The table (see ``WordIndex``).
    seed : uint64
        The hash's seed (``_hash``), the same for every scan of one table.

    Returns
    -------
    doc_ptr : int64 array ``(n_docs + 1,)``
        Document ``d``'s words are ``[doc_ptr[d], doc_ptr[d + 1])``.
    ids : int64 array
        Each word's id, or -1 for a word the table does not hold.
    begins, ends : int64 arrays
        Where each word is in ``codes``.
    word_hashes : uint64 array
    """
    n_docs = len(doc_starts)
    n_words = 0
    for d in range(n_docs):
        inside = False
        for i in range(doc_starts[d], doc_ends[d]):
            space = codes[i] < len(is_space) and is_space[codes[i]]
            if not space and not inside:
                n_words += 1
            inside = not space
    doc_ptr = np.zeros(n_docs + 1, dtype=np.int64)
    ids = np.empty(n_words, dtype=np.int64)
    begins = np.empty(n_words, dtype=np.int64)
    ends = np.empty(n_words, dtype=np.int64)
    word_hashes = np.empty(n_words, dtype=np.uint64)
    w = 0
    for d in range(n_docs):
        i, end = doc_starts[d], doc_ends[d]
        while i < end:
            while i < end and codes[i] < len(is_space) and is_space[codes[i]]:
                i += 1
            if i == end:
                break
            begin = i
            while i < end and not (codes[i] < len(is_space) and is_space[codes[i]]):
                i += 1
            h = _hash(codes, begin, i, seed)
            begins[w], ends[w], word_hashes[w] = begin, i, h
            ids[w] = _find(codes, begin, i, h, slots, hashes, pool, pool_starts, pool_lengths)
            w += 1
        doc_ptr[d + 1] = w
    return doc_ptr, ids, begins, ends, word_hashes


@_compiled()
def insert_words(slots, hashes, first_id, n_new):
    """Put words ``first_id .. first_id + n_new - 1`` (their hashes in ``hashes``) into the table ``slots``."""
    mask = len(slots) - 1
    for word in range(first_id, first_id + n_new):
        slot = np.int64(hashes[word] & np.uint64(mask))
        while slots[slot] >= 0:
            slot = (slot + 1) & mask
        slots[slot] = word
