"""``"flat"``: exact search over the stored matrix (``IndexFlatIP`` in ``IndexIDMap2``).

Searched with one BLAS matrix product over the stored matrix, which uses every core even for a
single query (faiss' own flat scan uses one thread per query).
"""

from __future__ import annotations

import faiss
import numpy as np

from reid.store.index.base import IdMapIndex, as_id_map
from reid.store.index.config import IndexConfig

__all__ = ["FlatIndex"]


class FlatIndex(IdMapIndex):
    """Exact inner-product search; no training."""

    def __init__(self, dim: int, config: IndexConfig, main: faiss.Index | None = None) -> None:
        super().__init__("flat", dim, config)
        self.main = main if main is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))

    @classmethod
    def create(cls, kind: str, dim: int, config: IndexConfig, sample: np.ndarray,
               n_total: int) -> FlatIndex:
        return cls(dim, config)

    @classmethod
    def from_parts(cls, kind: str, dim: int, config: IndexConfig, parts: list[faiss.Index],
                   proj: np.ndarray | None) -> FlatIndex:
        return cls(dim, config, parts[0])

    def remove(self, present: np.ndarray) -> int:
        return int(self.main.remove_ids(faiss.IDSelectorBatch(present)))

    def search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        inner = faiss.downcast_index(as_id_map(self.main).index)
        if not isinstance(inner, faiss.IndexFlat):
            raise TypeError(f"flat index holds {type(inner).__name__}, not IndexFlatIP")
        n = self.ntotal
        xb = faiss.rev_swig_ptr(inner.get_xb(), n * self.dim).reshape(n, self.dim)
        sims = q @ xb.T  # (Q, N): one BLAS call, multi-threaded even for Q == 1
        kk = min(k, n)
        part = np.argpartition(-sims, kk - 1, axis=1)[:, :kk] if kk < n else np.tile(
            np.arange(n), (len(q), 1))
        top = np.take_along_axis(sims, part, axis=1)
        order = np.argsort(-top, axis=1, kind="stable")
        pos, top = np.take_along_axis(part, order, axis=1), np.take_along_axis(top, order, axis=1)
        scores = np.full((len(q), k), -np.inf, np.float32)
        ids = np.full((len(q), k), -1, np.int64)
        scores[:, :kk], ids[:, :kk] = top, self.ids()[pos]
        return scores, ids
