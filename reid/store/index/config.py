"""How a vector index is built (``IndexConfig``) and the error for an unusable index file."""

from __future__ import annotations

import math
from dataclasses import dataclass

from reid.index_kinds import INDEX_KINDS

__all__ = ["IVF_KINDS", "KINDS", "REFINES", "IndexConfig", "IndexFileError"]

KINDS = INDEX_KINDS  # the CLI offers the same tuple without importing the store
IVF_KINDS = ("ivfsq", "ivfpq", "ivfpqfs")
REFINES = ("sq8", "fp16", "none")


class IndexFileError(RuntimeError):
    """The vector index file is missing, truncated or not a vector index written by this code."""


@dataclass(frozen=True)
class IndexConfig:
    """How the vector index is built. Defaults come from ``benchmarks/search_scale.py``.

    Attributes:
        kind: ``"flat"`` (exact, default), ``"hnsw"``, ``"hnswsq"``, ``"ivfsq"``, ``"ivfpq"``,
            ``"ivfpqfs"`` (4-bit PQ scanned with SIMD, needs ``refine``; the 10^7 kind: see
            ``benchmarks/search_10m.py``) or ``"auto"`` (flat below ``approx_min_size``, then
            ``ivfsq``).
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
        pq_nbits: bits per PQ code (``ivfpq``; ``ivfpqfs`` codes with 4 bits).
        refine: re-score ``hnswsq``/IVF candidates with ``"fp16"`` or ``"sq8"`` copies of the full vectors, or
            ``"none"`` (scores then come from the codes).
        refine_factor: candidates per wanted result when refining.
        refine_min: candidates re-scored at least (``ivfpqfs``' 4-bit codes rank coarsely: the
            top 10 of 10^7 needs ~3,000 candidates for recall@10 0.95, where ``k = 200`` at the
            same factor would re-score 60,000).
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
    refine_min: int = 0
    train_size: int = 65_536

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"index kind {self.kind!r} is unknown; choose one of {KINDS}")
        if self.refine not in REFINES:
            raise ValueError(f"index refine {self.refine!r} is unknown; choose one of {REFINES}")
        if (self.approx_min_size < 0 or self.refine_min < 0 or self.refine_factor < 1
                or self.ivf_nprobe < 1):
            raise ValueError("approx_min_size and refine_min must be >= 0, refine_factor and "
                             "ivf_nprobe >= 1")
        if self.pca_dim < 0:
            raise ValueError(f"pca_dim must be >= 0, got {self.pca_dim}")
        if self.kind == "ivfpqfs" and self.refine == "none":
            raise ValueError("index kind 'ivfpqfs' re-scores its 4-bit codes: refine must be "
                             "'sq8' or 'fp16', not 'none'")

    @classmethod
    def for_kind(cls, kind: str) -> IndexConfig:
        """The settings a gallery built with ``--index kind`` gets: the defaults, except for
        ``ivfpqfs``, tuned at 10^7 x 512 (``benchmarks/search_10m.py``: p95 14.6 ms, recall@10
        0.954 on 2 cores, 7.1 GB): an 8-bit re-scoring copy (half of fp16's 10 GB there), 4,096
        lists of which half are probed at any size, and at least 3,000 candidates re-scored."""
        if kind == "ivfpqfs":
            return cls(kind=kind, refine="sq8", ivf_nlist=4096, ivf_nprobe=2048,
                       refine_min=3000)
        return cls(kind=kind)

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
