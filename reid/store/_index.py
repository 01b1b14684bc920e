"""FAISS vector index keyed by tracklet primary keys.

All vectors are L2-normalised float32 descriptors and the metric is the inner product, so a score is
the cosine similarity in ``[-1, 1]``. The ids FAISS returns are the caller's ids (tracklet primary
keys), can be listed, and can be removed.

Kinds (``IndexConfig.kind``):

- ``"flat"``: exact search (``IndexFlatIP`` in ``IndexIDMap2``). Searched with one BLAS matrix
  product over the stored matrix, which uses every core even for a single query (faiss' own flat
  scan uses one thread per query).
- ``"hnsw"``: ``IndexHNSWFlat`` graph, approximate; no training. FAISS cannot remove from an HNSW graph,
  so removing ids rebuilds the graph from the remaining vectors (logged; slow on big galleries).
- ``"hnswsq"``: an HNSW graph over 8-bit codes of the projected vectors (``IndexHNSWSQ``, see
  ``pca_dim``), candidates re-scored like ``ivfsq``; builds far faster than ``"hnsw"`` at 2048-d.
- ``"ivfsq"``: IVF over 8-bit scalar-quantised codes of the descriptors projected onto their top
  ``pca_dim`` principal directions (uncentred, so inner products are kept), then exact re-scoring of
  the ``k * refine_factor`` best candidates against half-precision (``"fp16"``) or 8-bit (``"sq8"``)
  copies of the full vectors. The large-gallery kind: see ``benchmarks/search_scale.py``.
- ``"ivfpq"``: ``IndexIVFPQ`` (coarse k-means + product quantisation) on the same projection, with the
  same optional re-scoring.
- ``"auto"``: exact flat search below ``approx_min_size`` vectors, ``ivfsq`` at or above it.

Defaults, from ``benchmarks/results/search_scale_2026-11-27.json`` (2 vCPUs, 2048-d, k=10): flat
search is bound by memory bandwidth (p50 2.1 ms at 10^4, 15.7 ms at 10^5, i.e. ~50 GB/s over the
float32 matrix), so it stays the default up to ``approx_min_size`` = 50 000 vectors (~8 ms).
``ivfsq`` with 384 of 1024 lists reached recall@10 0.989 at p95 5.5 ms on 10^6 clustered
descriptors (256 lists at 10^5: every list, recall 1.000, p95 3.4 ms). HNSW needed efSearch 512
for recall 0.956 at 10^5 (the identity clusters are tight cliques the graph crosses poorly) and its
2048-d build does not fit the benchmark's time at 10^6.

Centring: once it holds ``CENTRE_MIN_VECTORS`` vectors, the index subtracts the mean of its
descriptors (the "centre") from every stored vector and every query and L2-normalises again, so a
score is the cosine of the centred descriptors. Descriptors of one model share a large common
component (every person crop looks alike to ImageNet features); removing it spreads the scores and
raised mAP by 0.06-0.08 on the hand-labelled vtest tracklets (``benchmarks/reid_labelled.py``).
The centre is recomputed, from the original descriptors (exactly recoverable from a centred one
and the centre), each time an exact (flat) index has doubled in size since, and is kept as it is
by approximate kinds. It is saved in the index file, so a rebuild from the database centres anew.

IVF kinds store the caller's ids inside the inverted lists (not in ``IndexIDMap2``, whose
``remove_ids`` renumbers positions that IVF lists do not follow and so corrupted ids after a removal).

Approximate kinds fall back to exact flat search while the index holds fewer than ``approx_min_size``
vectors (IVF also needs enough vectors to train), and switch once that size is reached; the switch
is logged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import struct
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

import faiss
import numpy as np

from reid.files import atomic_write

logger = logging.getLogger(__name__)

__all__ = ["IndexConfig", "IndexFileError", "VectorIndex"]

_MAGIC = b"REIDVX01"
_KINDS = ("flat", "hnsw", "hnswsq", "ivfsq", "ivfpq", "auto")
_HNSW_KINDS = ("hnsw", "hnswsq")
_IVF_KINDS = ("ivfsq", "ivfpq")
_FEW_QUERIES = 4  # up to this many queries: one query at a time over all threads
_LAYOUT = 2  # 1: IVF inside IndexIDMap2 (broken removal); 2: IVF keeps the ids itself
_REFINES = ("sq8", "fp16", "none")
CENTRE_MIN_VECTORS = 32
"""Fewest descriptors whose mean is taken as the gallery's centre (fewer: no centring)."""


class IndexFileError(RuntimeError):
    """The vector index file is missing, truncated or not a vector index written by this code."""


@dataclass(frozen=True)
class IndexConfig:
    """How the vector index is built. Defaults come from ``benchmarks/search_scale.py``.

    Attributes:
        kind: ``"flat"`` (exact, default), ``"hnsw"``, ``"hnswsq"``, ``"ivfsq"``, ``"ivfpq"`` or
            ``"auto"``
            (flat below ``approx_min_size``, then ``ivfsq``).
        approx_min_size: approximate kinds use exact flat search below this many vectors.
        hnsw_m: HNSW graph degree.
        hnsw_ef_construction: HNSW build-time beam width.
        hnsw_ef_search: HNSW search-time beam width (raised to ``k`` when smaller).
        ivf_nlist: IVF list count; 0 picks ``sqrt(n)`` rounded to a power of two, in [64, 8192],
            for the ``n`` vectors present when trained; retrained (from the re-scoring copy) once
            the gallery has grown enough to want twice the lists.
        ivf_nprobe: IVF lists visited per query.
        pca_dim: ``hnswsq`` and IVF kinds index the vectors projected onto this many principal directions
            (uncentred); 0 or >= the dimension keeps the full vectors.
        pq_m: PQ sub-quantisers (bytes per vector at 8 bits); must divide the (projected) dimension.
        pq_nbits: bits per PQ code.
        refine: re-score ``hnswsq``/IVF candidates with ``"fp16"`` or ``"sq8"`` copies of the full vectors, or
            ``"none"`` (scores then come from the codes).
        refine_factor: candidates per wanted result when refining.
        train_size: at most this many vectors are used to train IVF (and the projection).
    """

    kind: str = "flat"
    approx_min_size: int = 50_000
    hnsw_m: int = 32
    hnsw_ef_construction: int = 80
    hnsw_ef_search: int = 128
    ivf_nlist: int = 0
    ivf_nprobe: int = 384
    pca_dim: int = 256
    pq_m: int = 64
    pq_nbits: int = 8
    refine: str = "fp16"
    refine_factor: int = 10
    train_size: int = 65_536

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"index kind {self.kind!r} is unknown; choose one of {_KINDS}")
        if self.refine not in _REFINES:
            raise ValueError(f"index refine {self.refine!r} is unknown; choose one of {_REFINES}")
        if self.approx_min_size < 0 or self.refine_factor < 1 or self.ivf_nprobe < 1:
            raise ValueError("approx_min_size must be >= 0, refine_factor and ivf_nprobe >= 1")
        if self.pca_dim < 0:
            raise ValueError(f"pca_dim must be >= 0, got {self.pca_dim}")

    def target_kind(self, n: int) -> str:
        """The kind of index to use for ``n`` vectors (flat below ``approx_min_size``)."""
        if self.kind == "flat" or n < self.approx_min_size:
            return "flat"
        return "ivfsq" if self.kind == "auto" else self.kind

    def nlist_for(self, n: int) -> int:
        """IVF list count for ``n`` vectors (fixed when ``ivf_nlist`` > 0)."""
        if self.ivf_nlist > 0:
            return self.ivf_nlist
        want = math.sqrt(max(n, 1))
        return int(min(8192, max(64, 2 ** round(math.log2(want)))))


def _as_vectors(vectors: np.ndarray, dim: int) -> np.ndarray:
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"expected vectors of shape (N, {dim}), got {tuple(np.shape(vectors))}")
    if not np.isfinite(x).all():
        raise ValueError("vectors contain NaN or infinity")
    return x


def _as_ids(ids: np.ndarray | list[int]) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))


def _uncentred_pca(sample: np.ndarray, out_dim: int) -> np.ndarray:
    """``(out_dim, D)`` orthonormal rows: top eigenvectors of the second moment ``X^T X / n``.

    Not mean-centred, so ``(P q) . (P x)`` approximates ``q . x`` itself (a centred PCA would add
    the data-dependent term ``-mean . x`` to every score).
    """
    x = sample.astype(np.float64)
    _, vecs = np.linalg.eigh(x.T @ x / len(x))
    return np.ascontiguousarray(vecs[:, ::-1][:, :out_dim].T, dtype=np.float32)


class VectorIndex:
    """An id-keyed inner-product index over L2-normalised float32 vectors of one dimension.

    Args:
        dim: descriptor dimension D.
        config: how to build the index; see ``IndexConfig``.
    """

    def __init__(self, dim: int, config: IndexConfig | None = None) -> None:
        if dim <= 0:
            raise ValueError(f"dimension must be positive, got {dim}")
        self.dim = int(dim)
        self.config = config or IndexConfig()
        self.kind = "flat"
        self._main: faiss.Index = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
        self._refine: faiss.Index | None = None
        self._proj: np.ndarray | None = None  # (P, D) projection for IVF kinds
        self.centre: np.ndarray | None = None  # (D,) mean descriptor subtracted before comparing
        self.centre_count = 0  # vectors the centre was computed from
        self.file_sha256: str | None = None  # sha256 of the file last saved to or loaded from

    # ---------------------------------------------------------------- inspection
    @property
    def ntotal(self) -> int:
        """Number of vectors in the index."""
        return int(self._main.ntotal)

    def ids(self) -> np.ndarray:
        """All ids in the index, ``(N,)`` int64 (storage order for flat/HNSW and refined IVF)."""
        if self._refine is not None:
            return faiss.vector_to_array(self._refine.id_map).astype(np.int64, copy=False)
        if self.kind in _IVF_KINDS:
            ivf = faiss.extract_index_ivf(self._main)
            inv = ivf.invlists
            parts = [faiss.rev_swig_ptr(inv.get_ids(i), inv.list_size(i)).copy()
                     for i in range(ivf.nlist) if inv.list_size(i)]
            return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
        return faiss.vector_to_array(self._main.id_map).astype(np.int64, copy=False)

    def describe(self) -> dict:
        """Kind in use, configured kind, size and dimension, for logs and ``vectors.json``."""
        return {"kind": self.kind, "configured_kind": self.config.kind, "dim": self.dim,
                "count": self.ntotal, "centred_on": self.centre_count}

    def prepare(self, vectors: np.ndarray) -> np.ndarray:
        """Descriptors ``(N, D)`` (or ``(D,)``) as the index compares them: minus the centre,
        L2-normalised, ``(N, D)`` float32. Without a centre: as given."""
        x = _as_vectors(vectors, self.dim)
        if self.centre is None:
            return x
        x = x - self.centre
        return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)

    def _uncentre(self, y: np.ndarray) -> np.ndarray:
        """The unit descriptors ``x`` whose prepared form is ``y`` (``(N, D)``): ``x = c + t y``
        with ``|x| = 1``, ``t > 0`` (``|c| < 1`` as a mean of unit vectors)."""
        if self.centre is None:
            return y
        c = self.centre.astype(np.float64)
        cy = y.astype(np.float64) @ c
        t = -cy + np.sqrt(np.maximum(cy * cy + 1.0 - float(c @ c), 0.0))
        x = c[None, :] + t[:, None] * y
        return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)

    def reconstruct(self, ids: np.ndarray | list[int]) -> np.ndarray:
        """Stored (prepared: centred, unit) vectors for ``ids``, ``(N, D)`` float32 (approximate
        for IVF without refine)."""
        keys = _as_ids(ids)
        if keys.size == 0:
            return np.zeros((0, self.dim), np.float32)
        if self._refine is not None:
            return self._refine.reconstruct_batch(keys)
        x = self._main.reconstruct_batch(keys)
        if self._proj is not None:
            x = x @ self._proj
            x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        return x

    # ------------------------------------------------------------------ building
    @classmethod
    def build(cls, dim: int, ids: np.ndarray, vectors: np.ndarray,
              config: IndexConfig | None = None) -> VectorIndex:
        """A new index holding ``vectors`` ``(N, D)`` under ``ids`` ``(N,)``, trained if needed
        (centred on their mean when there are at least ``CENTRE_MIN_VECTORS``)."""
        index = cls(dim, config)
        x = _as_vectors(vectors, dim)
        index._set_centre(x)
        index._rebuild(_as_ids(ids), index.prepare(x))
        return index

    def _set_centre(self, raw: np.ndarray) -> None:
        """Centre on the mean of the unit descriptors ``raw`` ``(N, D)`` if there are enough."""
        if len(raw) < CENTRE_MIN_VECTORS:
            return
        self.centre = raw.astype(np.float64).mean(axis=0).astype(np.float32)
        self.centre_count = len(raw)
        logger.info("vector index: centred on the mean of %d descriptors", len(raw))

    def _rebuild(self, ids: np.ndarray, x: np.ndarray, n_total: int = 0) -> None:
        """Replace the index by one of the kind for ``n_total`` (default ``len(ids)``) vectors."""
        n_total = max(n_total, len(ids))
        kind = self.config.target_kind(n_total)
        proj = None
        if kind == "flat":
            main, refine = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim)), None
        elif kind == "hnsw":
            hnsw = faiss.IndexHNSWFlat(self.dim, self.config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efConstruction = self.config.hnsw_ef_construction
            main, refine = faiss.IndexIDMap2(hnsw), None
        else:
            main, refine, proj = self._new_coded(kind, x, n_total)
        if kind != self.kind:
            logger.info("vector index: %d vectors -> %s index (configured %r, approximate from %d)",
                        len(ids), kind, self.config.kind, self.config.approx_min_size)
        self.kind, self._main, self._refine, self._proj = kind, main, refine, proj
        if len(ids):
            self._add_raw(ids, x)

    def _new_coded(self, kind: str, x: np.ndarray, n_total: int
                   ) -> tuple[faiss.Index, faiss.Index | None, np.ndarray | None]:
        """A trained ``hnswsq``/IVF index on the projected vectors, and the re-scoring store."""
        cfg = self.config
        rng = np.random.default_rng(0)
        sample = x if len(x) <= cfg.train_size else x[np.sort(rng.choice(len(x), cfg.train_size,
                                                                         replace=False))]
        proj = _uncentred_pca(sample, cfg.pca_dim) if 0 < cfg.pca_dim < self.dim else None
        coded = np.ascontiguousarray(sample if proj is None else sample @ proj.T)
        if kind == "hnswsq":
            main = faiss.IndexHNSWSQ(coded.shape[1], faiss.ScalarQuantizer.QT_8bit, cfg.hnsw_m,
                                     faiss.METRIC_INNER_PRODUCT)
            main.hnsw.efConstruction = cfg.hnsw_ef_construction
            main.train(coded)
            main = faiss.IndexIDMap2(main)
        else:
            main = self._new_ivf(kind, coded, n_total)
        refine = None
        if cfg.refine != "none":
            qtype = (faiss.ScalarQuantizer.QT_8bit if cfg.refine == "sq8"
                     else faiss.ScalarQuantizer.QT_fp16)
            sq = faiss.IndexScalarQuantizer(self.dim, qtype, faiss.METRIC_INNER_PRODUCT)
            sq.train(sample)
            refine = faiss.IndexIDMap2(sq)
        elif kind != "hnswsq":
            main.set_direct_map_type(faiss.DirectMap.Hashtable)  # reconstruct by id
        return main, refine, proj

    def _new_ivf(self, kind: str, coded: np.ndarray, n: int) -> faiss.IndexIVF:
        cfg = self.config
        d = coded.shape[1]
        nlist = min(cfg.nlist_for(n), max(1, n // 39))
        quantizer = faiss.IndexFlatIP(d)
        if kind == "ivfpq":
            if d % cfg.pq_m:
                raise ValueError(f"pq_m={cfg.pq_m} must divide the indexed dimension {d}")
            ivf = faiss.IndexIVFPQ(quantizer, d, nlist, cfg.pq_m, cfg.pq_nbits,
                                   faiss.METRIC_INNER_PRODUCT)
        else:
            ivf = faiss.IndexIVFScalarQuantizer(quantizer, d, nlist, faiss.ScalarQuantizer.QT_8bit,
                                                faiss.METRIC_INNER_PRODUCT)
        ivf.train(coded)
        ivf.nprobe = min(cfg.ivf_nprobe, nlist)
        return ivf

    def _add_raw(self, keys: np.ndarray, x: np.ndarray) -> None:
        coded = x if self._proj is None else np.ascontiguousarray(x @ self._proj.T)
        self._main.add_with_ids(coded, keys)
        if self._refine is not None:
            self._refine.add_with_ids(x, keys)

    def _all_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        ids = self.ids()
        return ids, self.reconstruct(ids)

    # ----------------------------------------------------------------- mutation
    def add(self, ids: np.ndarray | list[int], vectors: np.ndarray) -> None:
        """Add ``vectors`` ``(N, D)`` under ``ids`` ``(N,)``; ids must be new and unique.

        Switches from the flat fallback to the configured approximate kind (training it) when the
        size crosses ``approx_min_size``.
        """
        keys, x = _as_ids(ids), _as_vectors(vectors, self.dim)
        if len(keys) != len(x):
            raise ValueError(f"{len(keys)} ids for {len(x)} vectors")
        if len(np.unique(keys)) != len(keys) or np.isin(keys, self.ids()).any():
            raise ValueError("ids must be unique and not already in the index")
        if len(keys) == 0:
            return
        new_total = self.ntotal + len(keys)
        if (self.kind == "flat" and new_total >= CENTRE_MIN_VECTORS
                and new_total >= 2 * self.centre_count):
            old_ids, old_x = self._all_vectors()
            raw = np.concatenate([self._uncentre(old_x), x])
            self._set_centre(raw)
            self._rebuild(np.concatenate([old_ids, keys]), self.prepare(raw))
            return
        x = self.prepare(x)
        if self._outgrown(new_total):
            self._retrain(keys, x)
            return
        if self.config.target_kind(new_total) != self.kind:
            old_ids, old_x = self._all_vectors()
            self._rebuild(np.concatenate([old_ids, keys]), np.concatenate([old_x, x]))
            return
        self._add_raw(keys, x)

    def _outgrown(self, n: int) -> bool:
        """True when an IVF index trained for fewer vectors should be retrained for ``n``.

        With automatic list counts, lists grow with the gallery; once ``sqrt(n)`` calls for twice
        the lists, the index is rebuilt from its full-precision re-scoring copy (logged). Without
        that copy (``refine="none"``) vectors cannot be recovered exactly, so it is kept.
        """
        if self.kind not in _IVF_KINDS or self.config.ivf_nlist or self._refine is None:
            return False
        nlist = faiss.extract_index_ivf(self._main).nlist
        grow = min(self.config.nlist_for(n), max(1, n // 39)) >= 2 * nlist
        if grow:
            logger.info("vector index: retraining %s for %d vectors (had %d lists)", self.kind, n,
                        nlist)
        return grow

    def _retrain(self, keys: np.ndarray, x: np.ndarray) -> None:
        """Retrain an IVF index for its vectors plus ``x`` under ``keys``, chunk by chunk.

        Trains on a sample recovered from the re-scoring copy, then moves the rest over in chunks,
        so only the old and the new index are in memory, never all vectors as float32.
        """
        old_refine, old_ids = self._refine, self.ids()
        rng = np.random.default_rng(0)
        first = np.sort(rng.choice(old_ids, min(self.config.train_size, len(old_ids)),
                                   replace=False))
        self._rebuild(first, old_refine.reconstruct_batch(first), len(old_ids) + len(keys))
        rest = np.setdiff1d(old_ids, first)
        for start in range(0, len(rest), self.config.train_size):
            part = np.ascontiguousarray(rest[start:start + self.config.train_size])
            self._add_raw(part, old_refine.reconstruct_batch(part))
        self._add_raw(keys, x)

    def remove(self, ids: np.ndarray | list[int]) -> int:
        """Remove ``ids`` (absent ones are ignored); returns how many were removed."""
        keys = _as_ids(ids)
        present = keys[np.isin(keys, self.ids())]
        if present.size == 0:
            return 0
        if self.kind in _HNSW_KINDS:
            all_ids, all_x = self._all_vectors()
            keep = ~np.isin(all_ids, present)
            logger.info("vector index: rebuilding HNSW graph without %d ids (%d remain)",
                        present.size, int(keep.sum()))
            self._rebuild(all_ids[keep], all_x[keep])
            return int(present.size)
        present = np.ascontiguousarray(present)
        # an IVF direct map (IVF without refine) accepts only IDSelectorArray
        sel = (faiss.IDSelectorArray(present.size, faiss.swig_ptr(present))
               if self.kind in _IVF_KINDS else faiss.IDSelectorBatch(present))
        removed = int(self._main.remove_ids(sel))
        if self._refine is not None:
            self._refine.remove_ids(faiss.IDSelectorBatch(present))
        return removed

    # ------------------------------------------------------------------- search
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` by inner product.

        Args:
            queries: ``(Q, D)`` or ``(D,)`` float32, L2-normalised descriptors (centred here).
            k: results per query.

        Returns:
            ``(scores, ids)``, each ``(Q, k)``, best first; float32 cosine scores (of the centred
            descriptors) and int64 ids. Rows
            with fewer than ``k`` hits are padded with id ``-1`` and score ``-inf``.
        """
        q = self.prepare(queries)
        if k <= 0:
            raise ValueError(f"k must be positive, got {k}")
        if self.ntotal == 0:
            return (np.full((len(q), k), -np.inf, np.float32), np.full((len(q), k), -1, np.int64))
        if self.kind == "flat":
            scores, ids = self._search_flat(q, k)
        elif self.kind == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=max(self.config.hnsw_ef_search, k))
            scores, ids = self._main.search(q, k, params=params)
        else:
            scores, ids = self._search_coded(q, k)
        scores = np.where(ids < 0, -np.inf, scores).astype(np.float32)
        return scores, ids.astype(np.int64)

    def _search_flat(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        inner = faiss.downcast_index(self._main.index)
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

    def _search_coded(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``hnswsq``/IVF search on the projected codes, then exact re-scoring of candidates."""
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
        kc = k if self._refine is None else min(self.ntotal, k * self.config.refine_factor)
        if self.kind == "hnswsq":
            params = faiss.SearchParametersHNSW(efSearch=max(self.config.hnsw_ef_search, kc))
        else:
            ivf = faiss.extract_index_ivf(self._main)
            params = faiss.SearchParametersIVF(nprobe=min(self.config.ivf_nprobe, ivf.nlist))
            ivf.parallel_mode = 1 if few else 0
        if self._refine is None:
            return self._main.search(coded, k, params=params)
        _, cand = self._main.search(coded, kc, params=params)
        valid = cand >= 0
        exact = np.full(cand.shape, -np.inf, np.float32)
        if valid.any():
            vecs = self._refine.reconstruct_batch(np.ascontiguousarray(cand[valid]))
            rows = np.nonzero(valid)[0]
            exact[valid] = np.einsum("nd,nd->n", vecs, q[rows])
        order = np.argsort(-exact, axis=1, kind="stable")[:, :k]
        scores = np.take_along_axis(exact, order, axis=1)
        ids = np.where(np.isfinite(scores), np.take_along_axis(cand, order, axis=1), -1)
        if ids.shape[1] < k:
            pad = k - ids.shape[1]
            scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
            ids = np.pad(ids, ((0, 0), (0, pad)), constant_values=-1)
        return scores, ids

    # -------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> str:
        """Write the index to ``path`` atomically (temporary file, fsync, rename).

        FAISS structures are streamed to the file, so saving needs no second in-memory copy (a
        10^6 x 2048 fp16 refine store is 4 GB). Returns the file's sha256 (hex), computed while
        writing; ``vectors.json`` records it so that a damaged file is noticed on loading.
        """
        parts = [self._main] + ([self._refine] if self._refine is not None else [])
        sizes = []
        for part in parts:  # a counting pass: the header lists the sizes before the data
            counter = [0]
            faiss.write_index(part, faiss.PyCallbackIOWriter(
                lambda b, c=counter: c.__setitem__(0, c[0] + len(b)) or len(b)))
            sizes.append(counter[0])
        proj_shape = None if self._proj is None else list(self._proj.shape)
        header = json.dumps({"kind": self.kind, "dim": self.dim, "layout": _LAYOUT,
                             "sizes": sizes, "proj_shape": proj_shape,
                             "centre_count": self.centre_count if self.centre is not None else 0,
                             "config": asdict(self.config)}).encode()
        digest = hashlib.sha256()

        def write(f: BinaryIO) -> None:
            def out(b: bytes) -> int:
                digest.update(b)
                return f.write(b)

            out(_MAGIC + struct.pack("<I", len(header)) + header)
            for part in parts:
                faiss.write_index(part, faiss.PyCallbackIOWriter(out))
            if self._proj is not None:
                out(np.ascontiguousarray(self._proj, np.float32).tobytes())
            if self.centre is not None:
                out(np.ascontiguousarray(self.centre, np.float32).tobytes())

        atomic_write(Path(path), write)
        self.file_sha256 = digest.hexdigest()
        return self.file_sha256

    @classmethod
    def load(cls, path: str | Path, config: IndexConfig | None = None, *,
             digest: bool = True) -> VectorIndex:
        """Read an index written by ``save``; raises ``IndexFileError`` if unreadable.

        ``config`` sets search-time parameters (nprobe, efSearch, refine factor) and later growth;
        the stored structure is used as written. IVF files of the first layout (ids in
        ``IndexIDMap2``, unreliable after removals) are refused so that the store rebuilds them.
        The file is read once, as a stream (never memory-mapped); with ``digest`` its sha256 is
        computed on the way (``file_sha256``) for the caller to compare with the recorded one.
        """
        path = Path(path)
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed below, errors mapped separately
        except OSError as exc:
            raise IndexFileError(f"cannot read vector index {path}: {exc}") from exc
        try:
            with f:
                reader = _HashingReader(f) if digest else f
                header, blobs, proj, centre = _read_parts(reader, os.fstat(f.fileno()).st_size)
                while digest and reader.read(1 << 20):  # trailing bytes count in the checksum
                    pass
        except Exception as exc:  # faiss raises RuntimeError with C++ text; json/struct others
            raise IndexFileError(f"vector index {path} is corrupt ({exc})") from exc
        index = cls(int(header["dim"]), config)
        index.kind, index._main, index._proj = header["kind"], blobs[0], proj
        index.centre, index.centre_count = centre, int(header.get("centre_count", 0))
        index._refine = blobs[1] if len(blobs) > 1 else None
        index.file_sha256 = reader.hexdigest() if digest else None
        return index


class _HashingReader:
    """A binary file's ``read``/``tell`` that feed every byte read into a sha256."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self._sha = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self._sha.update(data)
        return data

    def tell(self) -> int:
        return self._f.tell()

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


def _read_parts(f: BinaryIO, file_size: int
                ) -> tuple[dict, list[faiss.Index], np.ndarray | None, np.ndarray | None]:
    """Header, FAISS parts, projection and centre of an index file, streamed (see
    ``VectorIndex.save``)."""
    if f.read(8) != _MAGIC:
        raise ValueError("bad magic bytes")
    (hlen,) = struct.unpack("<I", f.read(4))
    header = json.loads(f.read(hlen))
    if header["kind"] in _IVF_KINDS and header.get("layout", 1) < _LAYOUT:
        raise ValueError("IVF index of an older layout; it is rebuilt from the database")
    rows, cols = header.get("proj_shape") or (0, 0)
    centre_bytes = 4 * int(header["dim"]) if header.get("centre_count") else 0
    if 12 + hlen + sum(header["sizes"]) + rows * cols * 4 + centre_bytes > file_size:
        raise ValueError("file is truncated")
    blobs = []
    for size in header["sizes"]:
        end = f.tell() + size
        blobs.append(faiss.read_index(faiss.PyCallbackIOReader(
            lambda n, e=end: f.read(max(0, min(n, e - f.tell()))))))
        if f.tell() != end:
            raise ValueError("a part has the wrong length")
    proj = np.frombuffer(f.read(rows * cols * 4), np.float32).reshape(rows, cols).copy() if rows \
        else None
    centre = np.frombuffer(f.read(centre_bytes), np.float32).copy() if centre_bytes else None
    if centre is not None and not (np.isfinite(centre).all() and float(centre @ centre) < 1.0):
        raise ValueError("the stored centre is not the mean of unit vectors")
    return header, blobs, proj, centre
