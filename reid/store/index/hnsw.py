"""``"hnsw"``: an ``IndexHNSWFlat`` graph, approximate; no training.

FAISS cannot remove from an HNSW graph, so removing ids rebuilds the graph from the remaining
vectors (``VectorIndex`` does it, logged; slow on big galleries).
"""

from __future__ import annotations

import faiss
import numpy as np

from reid.store.index.base import IdMapIndex
from reid.store.index.config import IndexConfig

__all__ = ["HnswIndex"]


class HnswIndex(IdMapIndex):
    """An HNSW graph over the full vectors (``IndexIDMap2`` keeps the ids)."""

    removes_in_place = False

    def __init__(self, dim: int, config: IndexConfig, main: faiss.Index) -> None:
        super().__init__("hnsw", dim, config)
        self.main = main

    @classmethod
    def create(cls, kind: str, dim: int, config: IndexConfig, sample: np.ndarray,
               n_total: int) -> HnswIndex:
        hnsw = faiss.IndexHNSWFlat(int(dim), config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = config.hnsw_ef_construction
        return cls(dim, config, faiss.IndexIDMap2(hnsw))

    @classmethod
    def from_parts(cls, kind: str, dim: int, config: IndexConfig, parts: list[faiss.Index],
                   proj: np.ndarray | None) -> HnswIndex:
        return cls(dim, config, parts[0])

    def search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        # faiss stubs lack SearchParametersHNSW
        params = faiss.SearchParametersHNSW(  # type: ignore[attr-defined]
            efSearch=max(self.config.hnsw_ef_search, k))
        return self.main.search(q, k, params=params)
