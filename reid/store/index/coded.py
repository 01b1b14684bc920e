"""What ``"hnswsq"`` and the IVF kinds share: coded search on projected vectors, then exact
re-scoring of the candidates.

The vectors are projected onto their top ``pca_dim`` principal directions (uncentred, so inner
products are kept) and coded by the kind's main structure; a re-scoring copy of the full vectors
(``refine``: ``"fp16"`` or ``"sq8"``) re-scores the ``max(k * refine_factor, refine_min)`` best
candidates exactly.
"""

from __future__ import annotations

from abc import abstractmethod

import faiss
import numpy as np

from reid.store.index.base import KindIndex, id_map_ids, pad_results
from reid.store.index.config import IndexConfig
from reid.store.index.rescore import Rescorer

__all__ = ["CodedIndex", "uncentred_pca"]

_FEW_QUERIES = 4  # up to this many queries: one query at a time over all threads


def uncentred_pca(sample: np.ndarray, out_dim: int) -> np.ndarray:
    """``(out_dim, D)`` orthonormal rows: top eigenvectors of the second moment ``X^T X / n``.

    Not mean-centred, so ``(P q) . (P x)`` approximates ``q . x`` itself (a centred PCA would add
    the data-dependent term ``-mean . x`` to every score).
    """
    x = sample.astype(np.float64)
    _, vecs = np.linalg.eigh(x.T @ x / len(x))
    return np.ascontiguousarray(vecs[:, ::-1][:, :out_dim].T, dtype=np.float32)


class CodedIndex(KindIndex):
    """A coded main index over projected vectors plus an optional re-scoring copy.

    Attributes:
        main: the coded structure (searched on projected vectors).
        refine: ``IndexIDMap2`` over a scalar-quantised copy of the full vectors, or None.
    """

    def __init__(self, kind: str, dim: int, config: IndexConfig, main: faiss.Index,
                 refine: faiss.Index | None, proj: np.ndarray | None) -> None:
        super().__init__(kind, dim, config)
        self.main, self.refine, self._proj = main, refine, proj
        self._rescorer = Rescorer(refine) if refine is not None else None

    @classmethod
    @abstractmethod
    def new_main(cls, kind: str, coded: np.ndarray, config: IndexConfig,
                 n_total: int) -> faiss.Index:
        """The kind's main structure, trained on the projected ``coded`` sample ``(n, P)``."""

    @classmethod
    def create(cls, kind: str, dim: int, config: IndexConfig, sample: np.ndarray,
               n_total: int) -> CodedIndex:
        rng = np.random.default_rng(0)
        if len(sample) > config.train_size:
            sample = sample[np.sort(rng.choice(len(sample), config.train_size, replace=False))]
        proj = uncentred_pca(sample, config.pca_dim) if 0 < config.pca_dim < dim else None
        coded = np.ascontiguousarray(sample if proj is None else sample @ proj.T)
        main = cls.new_main(kind, coded, config, n_total)
        refine = None
        if config.refine != "none":
            qtype = (faiss.ScalarQuantizer.QT_8bit if config.refine == "sq8"
                     else faiss.ScalarQuantizer.QT_fp16)
            sq = faiss.IndexScalarQuantizer(int(dim), qtype, faiss.METRIC_INNER_PRODUCT)
            sq.train(sample)
            refine = faiss.IndexIDMap2(sq)
        return cls(kind, dim, config, main, refine, proj)

    @classmethod
    def from_parts(cls, kind: str, dim: int, config: IndexConfig, parts: list[faiss.Index],
                   proj: np.ndarray | None) -> CodedIndex:
        return cls(kind, dim, config, parts[0], parts[1] if len(parts) > 1 else None, proj)

    def parts(self) -> list[faiss.Index]:
        return [self.main] + ([self.refine] if self.refine is not None else [])

    @property
    def proj(self) -> np.ndarray | None:
        return self._proj

    @property
    def ntotal(self) -> int:
        return int(self.main.ntotal)

    def ids(self) -> np.ndarray:
        return id_map_ids(self.refine if self.refine is not None else self.main)

    def holds_any(self, keys: np.ndarray) -> bool:
        if self._rescorer is None:
            return super().holds_any(keys)
        return self._rescorer.holds_any(keys)

    def reconstruct(self, keys: np.ndarray) -> np.ndarray:
        if self.refine is not None:
            return self.refine.reconstruct_batch(keys)
        x = self.main.reconstruct_batch(keys)
        if self._proj is not None:
            x = x @ self._proj
            x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        return x

    def add(self, keys: np.ndarray, x: np.ndarray) -> None:
        coded = x if self._proj is None else np.ascontiguousarray(x @ self._proj.T)
        self.main.add_with_ids(coded, keys)
        if self._rescorer is not None:
            self._rescorer.add(keys, x)

    @abstractmethod
    def search_params(self, kc: int, few: bool) -> faiss.SearchParameters:
        """Search parameters of the main structure for ``kc`` candidates (``few`` queries)."""

    def scan(self, coded: np.ndarray, kc: int, few: bool) -> tuple[np.ndarray, np.ndarray]:
        """The main structure's best ``kc`` ``(scores (Q, kc), ids (Q, kc))`` for projected
        queries ``coded`` ``(Q, P)``, padded with ``-inf`` / ``-1``."""
        return self.main.search(coded, kc, params=self.search_params(kc, few))

    def search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        # A few queries: project without BLAS and spread each query's lists over faiss' OpenMP
        # threads (parallel_mode 1). Mixing numpy's BLAS threads with faiss' spinning OpenMP
        # threads made a single query 2-4x slower on 2 cores (benchmarks/search_scale.py).
        few = len(q) <= _FEW_QUERIES
        if self._proj is None:
            coded = q
        elif few:
            coded = np.ascontiguousarray(np.einsum("qd,pd->qp", q, self._proj))
        else:
            coded = np.ascontiguousarray(q @ self._proj.T)
        if self._rescorer is None:
            return self.scan(coded, k, few)
        kc = min(self.ntotal, max(k * self.config.refine_factor, self.config.refine_min))
        _, cand = self.scan(coded, kc, few)
        exact = self._rescorer.scores(q, cand)
        order = np.argsort(-exact, axis=1, kind="stable")[:, :k]
        scores = np.take_along_axis(exact, order, axis=1)
        ids = np.where(np.isfinite(scores), np.take_along_axis(cand, order, axis=1), -1)
        return pad_results(scores, ids, k)
