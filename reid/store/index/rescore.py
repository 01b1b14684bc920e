"""Exact re-scoring of search candidates against the scalar-quantised copy of the full vectors.

The copy is an ``IndexIDMap2`` over an ``IndexScalarQuantizer`` (8-bit or fp16). Its codes and
ids are read in place (numpy views of FAISS' own arrays, no copy) and a candidate's score is
computed from its code directly:

- ``QT_8bit`` stores ``c_j`` with ``x_j = vmin_j + (c_j + 0.5) / 255 * vdiff_j``, so
  ``q . x = q . (vmin + vdiff / 510) + (q * vdiff / 255) . c``: one matrix-vector product over the
  candidates' ``uint8`` codes;
- ``QT_fp16`` stores ``x`` as float16.

A candidate's row comes from a table of the row of each id (4 B an id, kept up to date by
``add``, rebuilt after a removal shifted rows); for ids too sparse for a table, or another code
type, the copy's own ``reconstruct_batch`` (a hash lookup and a decode per id) is used. At 10^7 x
512 SQ8, 3,000 candidates of a search: 1.5 ms, against 4-5 ms by binary search in the id array and
more through ``reconstruct_batch`` (``benchmarks/search_10m.py``, 2 cores).
"""

from __future__ import annotations

import faiss
import numpy as np

from reid.store.index.base import as_id_map

__all__ = ["Rescorer"]

_BLOCK = 256  # candidates converted to float32 at once (256 x 512 x 4 B = 512 KB: in cache)


class Rescorer:
    """Scores ``(Q, C)`` candidate ids of one re-scoring copy against ``(Q, D)`` queries.

    Attributes:
        copy: the ``IndexIDMap2`` over an ``IndexScalarQuantizer`` of the full ``D``-d vectors.
    """

    def __init__(self, copy: faiss.Index) -> None:
        self.copy = as_id_map(copy)
        self._table: np.ndarray | None = None  # row of each id (-1: none); None: not built

    def add(self, keys: np.ndarray, x: np.ndarray) -> None:
        """Append ``x`` ``(N, D)`` under ``keys`` ``(N,)`` to the copy; they take its last rows."""
        self.copy.add_with_ids(x, keys)
        if self._table is None or not len(keys):
            return
        n = int(self.copy.ntotal)
        if keys.min() < 0 or keys.max() >= _table_limit(n):
            self._table = None  # rebuilt (or found too sparse) when next needed
            return
        if keys.max() >= len(self._table):
            grown = np.full(max(int(keys.max()) + 1, 2 * len(self._table)), -1, np.int32)
            grown[: len(self._table)] = self._table
            self._table = grown
        self._table[keys] = np.arange(n - len(keys), n, dtype=np.int32)

    def _ids(self, n: int) -> np.ndarray:
        return faiss.rev_swig_ptr(self.copy.id_map.data(), n) if n else np.zeros(0, np.int64)

    def _lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """``(rows, ids)``: the row of each of ``keys`` ``(K,)`` in the copy (``-1``: not
        stored) and the copy's id array, or None when its ids are too sparse for a table.

        Every stored id has a row in the table (``add`` enters appended ones), so ``-1`` means
        absent; a table that a removal made stale (rows shift) is found out by comparing the ids
        at the rows it gives, and built again."""
        n = int(self.copy.ntotal)
        ids = self._ids(n)
        for rebuild in (self._table is None, True):
            if rebuild:
                self._table = _row_table(ids)
            if self._table is None:
                return None
            inside = (keys >= 0) & (keys < len(self._table))
            rows = np.full(len(keys), -1, np.int64)
            rows[inside] = self._table[keys[inside]]
            hit = rows >= 0
            if (rows[hit] < n).all() and np.array_equal(ids[rows[hit]], keys[hit]):
                return rows, ids
        return None  # not reached: a fresh table agrees with the ids it was built from

    def _rows(self, cand: np.ndarray) -> np.ndarray | None:
        """Row of each id of ``cand`` ``(C,)`` in the copy, or None when the ids are too sparse
        for a table or an id is absent."""
        found = self._lookup(cand)
        return None if found is None or (found[0] < 0).any() else found[0]

    def holds_any(self, keys: np.ndarray) -> bool:
        """Whether any of ``keys`` ``(K,)`` is in the copy: O(K) through the row table, against
        O(N) for ``np.isin`` over every id (34 of the 38 ms an add of 50 took at 10^7)."""
        found = self._lookup(keys)
        if found is None:
            return bool(np.isin(keys, self._ids(int(self.copy.ntotal))).any())
        return bool((found[0] >= 0).any())

    def _codes(self) -> tuple[np.ndarray, int, np.ndarray] | None:
        """``(N, code_size)`` uint8 view of the copy's codes, its quantiser type and its trained
        parameters, or None for a structure this does not read."""
        sq = faiss.downcast_index(self.copy.index)
        if not isinstance(sq, faiss.IndexScalarQuantizer):
            return None
        qtype = int(sq.sq.qtype)
        if qtype not in (faiss.ScalarQuantizer.QT_8bit, faiss.ScalarQuantizer.QT_fp16):
            return None
        n, size = int(sq.ntotal), int(sq.code_size)
        flat = faiss.rev_swig_ptr(sq.codes.data(), n * size) if n else np.zeros(0, np.uint8)
        return flat.reshape(n, size), qtype, faiss.vector_to_array(sq.sq.trained)

    def scores(self, q: np.ndarray, cand: np.ndarray) -> np.ndarray:
        """Inner products ``(Q, C)`` float32 of queries ``q`` ``(Q, D)`` with the copy's vectors
        of candidate ids ``cand`` ``(Q, C)`` int64; ``-inf`` where an id is ``-1``."""
        out = np.full(cand.shape, -np.inf, np.float32)
        coded = self._codes()
        for i in range(len(cand)):
            valid = cand[i] >= 0
            ids = np.ascontiguousarray(cand[i][valid])
            if not len(ids):
                continue
            rows = self._rows(ids) if coded is not None else None
            if rows is None or coded is None:
                out[i, valid] = self.copy.reconstruct_batch(ids) @ q[i]
                continue
            codes, qtype, trained = coded
            if qtype == faiss.ScalarQuantizer.QT_fp16:
                out[i, valid] = _block_products(codes.view(np.float16), rows, q[i])
                continue
            d = len(q[i])
            vmin, vdiff = trained[:d], trained[d:]
            weight = (q[i] * vdiff / 255.0).astype(np.float32)
            offset = np.float32(q[i] @ (vmin + vdiff / 510.0))
            out[i, valid] = _block_products(codes, rows, weight) + offset
        return out


def _table_limit(n: int) -> int:
    """Ids up to this bound get a row table (4 B an id): dense ids, as autoincrement tracklet
    ids are, cost at most 16 B per stored vector (which takes 512 B or more in the copy)."""
    return min(4 * n + (1 << 16), 2**31 - 1)


def _row_table(ids: np.ndarray) -> np.ndarray | None:
    """``(max id + 1,)`` int32 row of each id (``-1``: none), or None for negative or sparse
    ids (then the copy's ``reconstruct_batch`` is used)."""
    if not len(ids) or ids.min() < 0 or ids.max() >= _table_limit(len(ids)):
        return None
    table = np.full(int(ids.max()) + 1, -1, np.int32)
    table[ids] = np.arange(len(ids), dtype=np.int32)
    return table


def _block_products(codes: np.ndarray, rows: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``codes[rows] @ weight`` ``(R,)`` float32 for ``(N, D)`` uint8/float16 ``codes``, converted
    to float32 a block of rows at a time: the whole ``(R, D)`` float32 matrix (6 MB for 3,000
    512-d candidates) costs fresh pages each search and was 5x slower."""
    out = np.empty(len(rows), np.float32)
    block = min(len(rows), _BLOCK)
    raw = np.empty((block, codes.shape[1]), codes.dtype)
    wide = np.empty((block, codes.shape[1]), np.float32)
    for start in range(0, len(rows), block):
        part = rows[start : start + block]
        m = len(part)
        np.take(codes, part, axis=0, out=raw[:m])
        np.copyto(wide[:m], raw[:m], casting="unsafe")
        np.matmul(wide[:m], weight, out=out[start : start + m])
    return out
