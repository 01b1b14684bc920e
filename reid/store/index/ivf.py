"""``"ivfsq"``, ``"ivfpq"`` and ``"ivfpqfs"``: inverted lists over codes of the projected vectors.

``ivfsq`` codes with an 8-bit scalar quantiser (the large-gallery kind: see
``benchmarks/search_scale.py``), ``ivfpq`` with product quantisation (``IndexIVFPQ``), ``ivfpqfs``
with 4-bit product quantisation laid out for SIMD scanning (``IndexIVFPQFastScan``): half the
bytes of ``ivfpq``'s codes and a scan ~20x faster on AVX2, coarser scores that the re-scoring copy
corrects (it needs ``refine``); for 10^7 descriptors, see ``benchmarks/search_10m.py``. Both keep the
caller's ids inside the inverted lists (not in ``IndexIDMap2``, whose ``remove_ids`` renumbers
positions that IVF lists do not follow and so corrupted ids after a removal). With automatic list
counts the index asks to be retrained (``wants_retrain``) once the gallery wants twice the lists.
"""

from __future__ import annotations

import logging

import faiss
import numpy as np

from reid.store.index.base import id_map_ids
from reid.store.index.coded import CodedIndex
from reid.store.index.config import IndexConfig

logger = logging.getLogger(__name__)

__all__ = ["IvfIndex"]

# A list holds at least this many training vectors on average (FAISS warns below 39).
_MIN_PER_LIST = 39


def _nlist(config: IndexConfig, n: int) -> int:
    return min(config.nlist_for(n), max(1, n // _MIN_PER_LIST))


class IvfIndex(CodedIndex):
    """IVF with scalar (``ivfsq``), product (``ivfpq``) or 4-bit fast-scan product (``ivfpqfs``)
    quantisation."""

    @classmethod
    def new_main(cls, kind: str, coded: np.ndarray, config: IndexConfig,
                 n_total: int) -> faiss.Index:
        d = coded.shape[1]
        nlist = _nlist(config, n_total)
        quantizer = faiss.IndexFlatIP(d)
        ivf: faiss.IndexIVF
        if kind in ("ivfpq", "ivfpqfs") and d % config.pq_m:
            raise ValueError(f"pq_m={config.pq_m} must divide the indexed dimension {d}")
        if kind == "ivfpq":
            ivf = faiss.IndexIVFPQ(quantizer, d, nlist, config.pq_m, config.pq_nbits,
                                   faiss.METRIC_INNER_PRODUCT)
        elif kind == "ivfpqfs":
            ivf = faiss.IndexIVFPQFastScan(quantizer, d, nlist, config.pq_m, 4,
                                           faiss.METRIC_INNER_PRODUCT)
        else:
            ivf = faiss.IndexIVFScalarQuantizer(quantizer, d, nlist, faiss.ScalarQuantizer.QT_8bit,
                                                faiss.METRIC_INNER_PRODUCT)
        ivf.train(coded)
        ivf.nprobe = min(config.ivf_nprobe, nlist)
        if config.refine == "none":
            # reconstruct by id; faiss stubs lack the DirectMap class and its Type constants
            ivf.set_direct_map_type(faiss.DirectMap.Hashtable)  # type: ignore[attr-defined]
        return ivf

    def ids(self) -> np.ndarray:
        if self.refine is not None:
            return id_map_ids(self.refine)
        ivf = faiss.extract_index_ivf(self.main)
        inv = ivf.invlists
        if inv is None:
            raise RuntimeError(f"{self.kind} index has no inverted lists")
        parts = [faiss.rev_swig_ptr(inv.get_ids(i), inv.list_size(i)).copy()
                 for i in range(ivf.nlist) if inv.list_size(i)]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    def remove(self, present: np.ndarray) -> int:
        if self.kind == "ivfpqfs":
            return self._remove_by_refilling(present)
        # an IVF direct map (IVF without refine) accepts only IDSelectorArray
        removed = int(self.main.remove_ids(faiss.IDSelectorArray(present.size,
                                                                 faiss.swig_ptr(present))))
        if self.refine is not None:
            self.refine.remove_ids(faiss.IDSelectorBatch(present))
        return removed

    def _remove_by_refilling(self, present: np.ndarray) -> int:
        """Remove ``present`` from a fast-scan index: empty each list that holds one of them and
        add the list's other vectors again, re-coded from the re-scoring copy. (FAISS 1.15's
        ``remove_ids`` on fast-scan lists leaves them so that later adds to them are not found.)"""
        if self.refine is None:
            raise RuntimeError("an ivfpqfs index always has a re-scoring copy")
        ivf = faiss.extract_index_ivf(self.main)
        inv = ivf.invlists
        if inv is None:
            raise RuntimeError(f"{self.kind} index has no inverted lists")
        keep, emptied, removed = [], 0, 0
        for i in range(ivf.nlist):
            size = inv.list_size(i)
            if not size:
                continue
            ids = faiss.rev_swig_ptr(inv.get_ids(i), size).astype(np.int64)
            gone = np.isin(ids, present)
            if gone.any():
                keep.append(ids[~gone])
                removed += int(gone.sum())
                emptied += size
                inv.resize(i, 0)
        ivf.ntotal -= emptied
        self.refine.remove_ids(faiss.IDSelectorBatch(present))
        rest = np.concatenate(keep) if keep else np.zeros(0, np.int64)
        if rest.size:
            x = self.refine.reconstruct_batch(rest)
            self.main.add_with_ids(x if self._proj is None else
                                   np.ascontiguousarray(x @ self._proj.T), rest)
        return removed

    def search_params(self, kc: int, few: bool) -> faiss.SearchParameters:
        ivf = faiss.extract_index_ivf(self.main)
        ivf.parallel_mode = 1 if few else 0
        params = faiss.SearchParametersIVF()
        params.nprobe = min(self.config.ivf_nprobe, ivf.nlist)
        return params

    def scan(self, coded: np.ndarray, kc: int, few: bool) -> tuple[np.ndarray, np.ndarray]:
        """See ``CodedIndex.scan``. A few queries on fast-scan lists (which ignore
        ``parallel_mode``) use FAISS' implementation 15, which spreads the (query, list) pairs
        over the OpenMP threads: 1.9x faster at 10^7 on 2 cores (``benchmarks/search_10m.py``).
        Which of the candidates tied with the last one it keeps depends on the threads' timing,
        so those are dropped (every exact top-``kc`` holds the rest): the same query always gets
        the same candidates. A query left with fewer than half of ``kc`` (codes that tie
        wholesale) is scanned again by the single-threaded implementation."""
        fast = faiss.downcast_index(faiss.extract_index_ivf(self.main))
        if not (few and isinstance(fast, faiss.IndexIVFFastScan)):
            return super().scan(coded, kc, few)
        params = self.search_params(kc, few)
        fast.implem = 15
        try:
            scores, ids = self.main.search(coded, kc, params=params)
        finally:
            fast.implem = 0
        full = ids[:, -1] >= 0
        tied = full[:, None] & (scores <= scores[:, -1:])
        scores, ids = np.where(tied, -np.inf, scores), np.where(tied, -1, ids)
        for row in np.nonzero(full & ((ids >= 0).sum(axis=1) < (kc + 1) // 2))[0]:
            scores[row], ids[row] = (a[0] for a in self.main.search(coded[row : row + 1], kc,
                                                                    params=params))
        return scores, ids

    def wants_retrain(self, n: int) -> bool:
        """True when the gallery calls for twice the lists it has (``sqrt(n)`` with automatic
        list counts), or for the most it will ever want (the fixed ``ivf_nlist``, or 8192) where
        a smaller first build could not train them (at most ``n / 39`` lists); then
        ``VectorIndex`` retrains from the full-precision re-scoring copy (logged). Without that
        copy (``refine="none"``) vectors cannot be recovered exactly, so the index is kept."""
        if self.refine is None:
            return False
        nlist = faiss.extract_index_ivf(self.main).nlist
        want, most = _nlist(self.config, n), self.config.nlist_for(2**62)
        grow = want > nlist and want >= min(2 * nlist, most)
        if grow:
            logger.info("vector index: retraining %s for %d vectors (had %d lists)", self.kind, n,
                        nlist)
        return grow
