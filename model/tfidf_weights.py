"""How counts become TF-IDF values: ``TfidfWeights`` (a fitted vectorizer's weights in the form the compiled
kernels take, with the tables they need) and ``tfidf_weight`` (``TfidfTransformer.transform`` on ``Rows``).

Both follow scikit-learn step for step: the same float32 TF-IDF values (its own row-normalisation kernel), so
the fast prediction path agrees with ``TfidfVectorizer.transform``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize as sklearn_normalize
from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l2

from model.sparse_rows import LinearBlock, Rows


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
