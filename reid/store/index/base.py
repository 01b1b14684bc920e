"""The interface every index kind implements (``KindIndex``), and the helpers they share.

A kind index stores *prepared* vectors (centred and L2-normalised by ``VectorIndex``) under int64
ids and answers inner-product searches; ``VectorIndex`` owns validation, centring, switching kinds
as the gallery grows, and the file format. A kind is made empty (``create``, trained on a sample
when it needs training) or from the FAISS parts of a file (``from_parts``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import faiss
import numpy as np

from reid.store.index.config import IndexConfig

__all__ = ["KindIndex", "as_ids", "as_id_map", "id_map_ids", "pad_results"]


def as_ids(ids: np.ndarray | list[int]) -> np.ndarray:
    """``ids`` as a contiguous ``(N,)`` int64 array."""
    return np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))


def as_id_map(index: faiss.Index) -> faiss.IndexIDMap:
    """``index`` as the ``IndexIDMap2`` it is (``faiss.read_index`` returns the concrete class);
    raises ``TypeError`` for any other structure."""
    if not isinstance(index, faiss.IndexIDMap):
        raise TypeError(f"expected an IndexIDMap2, got {type(index).__name__}")
    return index


def id_map_ids(index: faiss.Index) -> np.ndarray:
    """The ids of an ``IndexIDMap2``, ``(N,)`` int64 in storage order."""
    return faiss.vector_to_array(as_id_map(index).id_map).astype(np.int64, copy=False)


def pad_results(scores: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Pad ``(Q, k')`` results to ``k`` columns with score ``-inf`` and id ``-1``."""
    if ids.shape[1] < k:
        pad = k - ids.shape[1]
        scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
        ids = np.pad(ids, ((0, 0), (0, pad)), constant_values=-1)
    return scores, ids


class KindIndex(ABC):
    """One kind of id-keyed inner-product index over ``dim``-dimensional prepared vectors.

    Attributes:
        kind: the kind name (``"flat"``, ``"hnsw"``, ``"hnswsq"``, ``"ivfsq"``, ``"ivfpq"``).
        dim: vector dimension D.
        config: search-time parameters and growth rules.
        removes_in_place: False when removing ids needs a rebuild (``VectorIndex`` rebuilds).
    """

    removes_in_place: ClassVar[bool] = True

    def __init__(self, kind: str, dim: int, config: IndexConfig) -> None:
        self.kind, self.dim, self.config = kind, int(dim), config

    @classmethod
    @abstractmethod
    def create(cls, kind: str, dim: int, config: IndexConfig, sample: np.ndarray,
               n_total: int) -> KindIndex:
        """An empty index, trained on ``sample`` ``(n, D)`` when the kind needs training, sized
        for ``n_total`` vectors."""

    @classmethod
    @abstractmethod
    def from_parts(cls, kind: str, dim: int, config: IndexConfig, parts: list[faiss.Index],
                   proj: np.ndarray | None) -> KindIndex:
        """The index whose ``parts()`` and ``proj`` were saved."""

    @abstractmethod
    def parts(self) -> list[faiss.Index]:
        """The FAISS structures to save, in order."""

    @property
    def proj(self) -> np.ndarray | None:
        """The ``(P, D)`` projection applied before coding (None: vectors are kept whole)."""
        return None

    @property
    @abstractmethod
    def ntotal(self) -> int:
        """Number of vectors."""

    @abstractmethod
    def ids(self) -> np.ndarray:
        """All ids, ``(N,)`` int64."""

    def holds_any(self, keys: np.ndarray) -> bool:
        """Whether any of ``keys`` ``(K,)`` is stored (default: against every id, O(N))."""
        return bool(np.isin(keys, self.ids()).any())

    @abstractmethod
    def reconstruct(self, keys: np.ndarray) -> np.ndarray:
        """Stored vectors of ``keys`` (all present, non-empty), ``(N, D)`` float32."""

    @abstractmethod
    def add(self, keys: np.ndarray, x: np.ndarray) -> None:
        """Add prepared vectors ``x`` ``(N, D)`` under new ``keys`` ``(N,)``."""

    def remove(self, present: np.ndarray) -> int:
        """Remove ``present`` ids (all in the index); only when ``removes_in_place``."""
        raise NotImplementedError(f"{self.kind} indexes are rebuilt to remove ids")

    @abstractmethod
    def search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, ids)``, each ``(Q, k)``, for prepared queries ``q`` ``(Q, D)`` of a
        non-empty index; missing hits have id ``-1``."""

    def wants_retrain(self, n: int) -> bool:
        """True when the index, trained for fewer vectors, should be retrained for ``n``."""
        return False


class IdMapIndex(KindIndex):
    """A kind kept as one FAISS index inside an ``IndexIDMap2`` (the ids), stored as one part."""

    main: faiss.Index

    def parts(self) -> list[faiss.Index]:
        return [self.main]

    @property
    def ntotal(self) -> int:
        return int(self.main.ntotal)

    def ids(self) -> np.ndarray:
        return id_map_ids(self.main)

    def reconstruct(self, keys: np.ndarray) -> np.ndarray:
        return self.main.reconstruct_batch(keys)

    def add(self, keys: np.ndarray, x: np.ndarray) -> None:
        self.main.add_with_ids(x, keys)
