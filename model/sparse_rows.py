"""CSR rows without scipy's per-call checks: ``Rows`` (a CSR matrix as its arrays), ``LinearBlock`` (a TF-IDF
block left unbuilt for a linear head), and how they are built from counts, put side by side and multiplied by
coefficients.

Part of the fast prediction path (see ``model.fast_transform``). In a large batch a row's columns are not sorted,
so sums run in another order than scikit-learn's and may differ in the last bit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

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


def _pointers(lengths: np.ndarray) -> np.ndarray:
    """``[0, lengths[0], lengths[0] + lengths[1], ...]``: where each run starts in the flat array, and its end."""
    pointers = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=pointers[1:])
    return pointers


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


def as_matrix(X):
    """A scipy CSR matrix for ``Rows`` or a list of ``Rows`` blocks (stacked side by side); anything else as it is."""
    if isinstance(X, (list, LinearBlock)):
        X = hstack_rows(X if isinstance(X, list) else [X])
    return X.tocsr() if isinstance(X, Rows) else X


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
