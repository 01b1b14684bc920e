"""``VectorIndex``: the FAISS vector index keyed by tracklet primary keys, over one kind module.

All vectors are L2-normalised float32 descriptors and the metric is the inner product, so a score is
the cosine similarity in ``[-1, 1]``. The ids FAISS returns are the caller's ids (tracklet primary
keys), can be listed, and can be removed.

Kinds (``IndexConfig.kind``), each a module of this package behind one interface (``base.KindIndex``):

- ``"flat"`` (``flat.py``): exact search, one BLAS product over the stored matrix.
- ``"hnsw"`` (``hnsw.py``): ``IndexHNSWFlat`` graph, approximate; no training; removing ids rebuilds
  the graph from the remaining vectors (logged; slow on big galleries).
- ``"hnswsq"`` (``hnswsq.py``): an HNSW graph over 8-bit codes of the projected vectors, candidates
  re-scored like ``ivfsq``'s (``coded.py``); builds far faster than ``"hnsw"`` at 2048-d.
- ``"ivfsq"``, ``"ivfpq"``, ``"ivfpqfs"`` (``ivf.py``): IVF over 8-bit scalar-quantised (or PQ,
  or 4-bit fast-scan PQ) codes of the descriptors projected onto their top ``pca_dim`` principal
  directions (uncentred, so inner products are kept), then exact re-scoring of the
  ``max(k * refine_factor, refine_min)`` best candidates against half-precision (``"fp16"``) or
  8-bit (``"sq8"``) copies of the full vectors. ``ivfsq`` is the large-gallery kind: see
  ``benchmarks/search_scale.py``; ``ivfpqfs`` the 10^7 one: ``benchmarks/search_10m.py``.
- ``"auto"``: exact flat search below ``approx_min_size`` vectors, ``ivfsq`` at or above it.

This module owns what is common to all kinds: input checks, centring, switching kinds as the
gallery grows, retraining, padding results, and the file (``file.py``).

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

Approximate kinds fall back to exact flat search while the index holds fewer than ``approx_min_size``
vectors (IVF also needs enough vectors to train), and switch once that size is reached; the switch
is logged.
"""


from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from reid.store.index.base import KindIndex, as_ids
from reid.store.index.config import IndexConfig
from reid.store.index.file import read_index_file, write_index_file
from reid.store.index.flat import FlatIndex
from reid.store.index.hnsw import HnswIndex
from reid.store.index.hnswsq import HnswSqIndex
from reid.store.index.ivf import IvfIndex

logger = logging.getLogger(__name__)

__all__ = ["CENTRE_MIN_VECTORS", "KIND_MODULES", "VectorIndex"]

CENTRE_MIN_VECTORS = 32
"""Fewest descriptors whose mean is taken as the gallery's centre (fewer: no centring)."""

KIND_MODULES: dict[str, type[KindIndex]] = {
    "flat": FlatIndex, "hnsw": HnswIndex, "hnswsq": HnswSqIndex, "ivfsq": IvfIndex,
    "ivfpq": IvfIndex, "ivfpqfs": IvfIndex}
"""The class implementing each concrete kind (``"auto"`` resolves to one of them)."""


def _as_vectors(vectors: np.ndarray, dim: int) -> np.ndarray:
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"expected vectors of shape (N, {dim}), got {tuple(np.shape(vectors))}")
    if not np.isfinite(x).all():
        raise ValueError("vectors contain NaN or infinity")
    return x


def _unit_rows(x: np.ndarray) -> npt.NDArray[np.float32]:
    """``x`` ``(N, D)`` with each row L2-normalised, float32."""
    norms: np.ndarray = np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return np.asarray(x / norms, dtype=np.float32)


class VectorIndex:
    """An id-keyed inner-product index over L2-normalised float32 vectors of one dimension.

    Args:
        dim: descriptor dimension D.
        config: how to build the index; see ``IndexConfig``.

    Attributes:
        backend: the kind index in use (``kind`` names it); starts as ``"flat"``.
    """

    def __init__(self, dim: int, config: IndexConfig | None = None) -> None:
        if dim <= 0:
            raise ValueError(f"dimension must be positive, got {dim}")
        self.dim = int(dim)
        self.config = config or IndexConfig()
        self.backend: KindIndex = FlatIndex(self.dim, self.config)
        self.centre: np.ndarray | None = None  # (D,) mean descriptor subtracted before comparing
        self.centre_count = 0  # vectors the centre was computed from
        self.file_sha256: str | None = None  # sha256 of the file last saved to or loaded from

    # ---------------------------------------------------------------- inspection
    @property
    def kind(self) -> str:
        """The kind in use (``"flat"`` until an approximate kind's ``approx_min_size``)."""
        return self.backend.kind

    @property
    def ntotal(self) -> int:
        """Number of vectors in the index."""
        return self.backend.ntotal

    def ids(self) -> np.ndarray:
        """All ids in the index, ``(N,)`` int64 (storage order for flat/HNSW and refined IVF)."""
        return self.backend.ids()

    def describe(self) -> dict[str, Any]:
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
        return _unit_rows(x)

    def _uncentre(self, y: np.ndarray) -> np.ndarray:
        """The unit descriptors ``x`` whose prepared form is ``y`` (``(N, D)``): ``x = c + t y``
        with ``|x| = 1``, ``t > 0`` (``|c| < 1`` as a mean of unit vectors)."""
        if self.centre is None:
            return y
        c = self.centre.astype(np.float64)
        cy = y.astype(np.float64) @ c
        t = -cy + np.sqrt(np.maximum(cy * cy + 1.0 - float(c @ c), 0.0))
        x = c[None, :] + t[:, None] * y
        return _unit_rows(x)

    def reconstruct(self, ids: np.ndarray | list[int]) -> np.ndarray:
        """Stored (prepared: centred, unit) vectors for ``ids``, ``(N, D)`` float32 (approximate
        for IVF without refine)."""
        keys = as_ids(ids)
        if keys.size == 0:
            return np.zeros((0, self.dim), np.float32)
        return self.backend.reconstruct(keys)

    # ------------------------------------------------------------------ building
    @classmethod
    def build(cls, dim: int, ids: np.ndarray, vectors: np.ndarray,
              config: IndexConfig | None = None) -> VectorIndex:
        """A new index holding ``vectors`` ``(N, D)`` under ``ids`` ``(N,)``, trained if needed
        (centred on their mean when there are at least ``CENTRE_MIN_VECTORS``)."""
        index = cls(dim, config)
        x = _as_vectors(vectors, dim)
        index._set_centre(x)
        index._rebuild(as_ids(ids), index.prepare(x))
        return index

    def _set_centre(self, raw: np.ndarray) -> None:
        """Centre on the mean of the unit descriptors ``raw`` ``(N, D)`` if there are enough."""
        if len(raw) < CENTRE_MIN_VECTORS:
            return
        self.centre = raw.astype(np.float64).mean(axis=0).astype(np.float32)
        self.centre_count = len(raw)
        logger.info("vector index: centred on the mean of %d descriptors", len(raw))

    def _rebuild(self, ids: np.ndarray, x: np.ndarray, n_total: int = 0) -> None:
        """Replace the index by one of the kind for ``n_total`` (default ``len(ids)``) vectors,
        trained on ``x`` and holding it under ``ids``."""
        n_total = max(n_total, len(ids))
        kind = self.config.target_kind(n_total)
        backend = KIND_MODULES[kind].create(kind, self.dim, self.config, x, n_total)
        if kind != self.kind:
            logger.info("vector index: %d vectors -> %s index (configured %r, approximate from %d)",
                        len(ids), kind, self.config.kind, self.config.approx_min_size)
        self.backend = backend
        if len(ids):
            backend.add(ids, x)

    def _all_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        ids = self.ids()
        return ids, self.reconstruct(ids)

    # ----------------------------------------------------------------- mutation
    def add(self, ids: np.ndarray | list[int], vectors: np.ndarray) -> None:
        """Add ``vectors`` ``(N, D)`` under ``ids`` ``(N,)``; ids must be new and unique.

        Switches from the flat fallback to the configured approximate kind (training it) when the
        size crosses ``approx_min_size``.
        """
        keys, x = as_ids(ids), _as_vectors(vectors, self.dim)
        if len(keys) != len(x):
            raise ValueError(f"{len(keys)} ids for {len(x)} vectors")
        if len(np.unique(keys)) != len(keys) or self.backend.holds_any(keys):
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
        if self.backend.wants_retrain(new_total):
            self._retrain(keys, x)
            return
        if self.config.target_kind(new_total) != self.kind:
            old_ids, old_x = self._all_vectors()
            self._rebuild(np.concatenate([old_ids, keys]), np.concatenate([old_x, x]))
            return
        self.backend.add(keys, x)

    def _retrain(self, keys: np.ndarray, x: np.ndarray) -> None:
        """Retrain for the stored vectors plus ``x`` under ``keys``, chunk by chunk.

        Trains on a sample recovered from the old index (its full-precision re-scoring copy), then
        moves the rest over in chunks, so only the old and the new index are in memory, never all
        vectors as float32.
        """
        old, old_ids = self.backend, self.ids()
        rng = np.random.default_rng(0)
        first = np.sort(rng.choice(old_ids, min(self.config.train_size, len(old_ids)),
                                   replace=False))
        self._rebuild(first, old.reconstruct(first), len(old_ids) + len(keys))
        rest = np.setdiff1d(old_ids, first)
        for start in range(0, len(rest), self.config.train_size):
            part = np.ascontiguousarray(rest[start:start + self.config.train_size])
            self.backend.add(part, old.reconstruct(part))
        self.backend.add(keys, x)

    def remove(self, ids: np.ndarray | list[int]) -> int:
        """Remove ``ids`` (absent ones are ignored); returns how many were removed."""
        keys = as_ids(ids)
        present = np.ascontiguousarray(keys[np.isin(keys, self.ids())])
        if present.size == 0:
            return 0
        if not self.backend.removes_in_place:
            all_ids, all_x = self._all_vectors()
            keep = ~np.isin(all_ids, present)
            logger.info("vector index: rebuilding the %s graph without %d ids (%d remain)",
                        self.kind, present.size, int(keep.sum()))
            self._rebuild(all_ids[keep], all_x[keep])
            return int(present.size)
        return self.backend.remove(present)

    # ------------------------------------------------------------------- search
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` by inner product.

        Args:
            queries: ``(Q, D)`` or ``(D,)`` float32, L2-normalised descriptors (centred here).
            k: results per query.

        Returns:
            ``(scores, ids)``, each ``(Q, k)``, best first; float32 cosine scores (of the centred
            descriptors) and int64 ids. Rows with fewer than ``k`` hits are padded with id ``-1``
            and score ``-inf``.
        """
        q = self.prepare(queries)
        if k <= 0:
            raise ValueError(f"k must be positive, got {k}")
        if self.ntotal == 0:
            return (np.full((len(q), k), -np.inf, np.float32), np.full((len(q), k), -1, np.int64))
        scores, ids = self.backend.search(q, k)
        scores = np.where(ids < 0, -np.inf, scores).astype(np.float32)
        return scores, ids.astype(np.int64)

    # -------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> str:
        """Write the index to ``path`` atomically (temporary file, fsync, rename).

        FAISS structures are streamed to the file, so saving needs no second in-memory copy (a
        10^6 x 2048 fp16 refine store is 4 GB). Returns the file's sha256 (hex), computed while
        writing; ``vectors.json`` records it so that a damaged file is noticed on loading.
        """
        self.file_sha256 = write_index_file(
            path, kind=self.kind, dim=self.dim, parts=self.backend.parts(), proj=self.backend.proj,
            centre=self.centre, centre_count=self.centre_count, config=self.config)
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
        stored = read_index_file(path, digest=digest)
        index = cls(int(stored.header["dim"]), config)
        kind = stored.header["kind"]
        index.backend = KIND_MODULES[kind].from_parts(kind, index.dim, index.config, stored.parts,
                                                      stored.proj)
        index.centre, index.centre_count = stored.centre, int(stored.header.get("centre_count", 0))
        index.file_sha256 = stored.sha256
        return index
