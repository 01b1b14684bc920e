"""Exact re-scoring of search candidates against the scalar-quantised copy of the full vectors.

The copy is an ``IndexIDMap2`` over an ``IndexScalarQuantizer`` (8-bit or fp16). Its codes and
ids are read in place (numpy views of FAISS' own arrays, no copy) and a candidate's score is
computed from its code directly:

- ``QT_8bit`` stores ``c_j`` with ``x_j = vmin_j + (c_j + 0.5) / 255 * vdiff_j``, so
  ``q . x = q . (vmin + vdiff / 510) + (q * vdiff / 255) . c``: one matrix-vector product over the
  candidates' ``uint8`` codes;
- ``QT_fp16`` stores ``x`` as float16.

A candidate's row is found by binary search in the id array, which is ascending when tracklet ids
are appended in order (FAISS' removals keep the order); otherwise, or for another code type, the
copy's own ``reconstruct_batch`` (one hash lookup and decode per id: ~1.7 us a 512-d vector
against ~0.3 us here, see ``benchmarks/search_10m.py``) is used.
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
        self._sorted: bool | None = None  # whether the id array is ascending; None: not known

    def added(self, keys: np.ndarray) -> None:
        """Call after ``keys`` ``(N,)`` were appended to the copy (keeps the ascending flag cheap:
        appends above the last id keep it)."""
        if self._sorted and len(keys):
            n = int(self.copy.ntotal)
            ids = self._ids(n)
            before = ids[n - len(keys) - 1] if n > len(keys) else np.iinfo(np.int64).min
            self._sorted = bool(keys[0] > before and np.all(np.diff(keys) > 0))
        elif len(keys):
            self._sorted = None

    def _ids(self, n: int) -> np.ndarray:
        return faiss.rev_swig_ptr(self.copy.id_map.data(), n) if n else np.zeros(0, np.int64)

    def _rows(self, cand: np.ndarray) -> np.ndarray | None:
        """Row of each id of ``cand`` ``(C,)`` in the copy, or None when it cannot be found by
        binary search (ids not ascending, or an id absent)."""
        n = int(self.copy.ntotal)
        ids = self._ids(n)
        if self._sorted is None:
            self._sorted = bool(n < 2 or np.all(ids[1:] > ids[:-1]))
        if not self._sorted or n == 0:
            return None
        rows = np.minimum(np.searchsorted(ids, cand), n - 1)
        return rows if np.array_equal(ids[rows], cand) else None

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
