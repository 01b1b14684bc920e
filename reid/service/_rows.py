"""A cache of the tracklet rows that searches read, in front of a ``reid.store.Store``.

A search by person reads the metadata (``TrackletInfo``) of the query and of its ~200 FAISS
candidates from the database on every call; under load that is most of the service-side time
of a search. ``CachedGallery`` serves ``get_tracklets`` from memory and passes everything else
to the store.

Invalidation: the cache is emptied when the gallery changes, seen two ways. The vector index
file's stamp (``vectors.json``, rewritten on every save: a video indexed, deleted or re-embedded,
here or by another process such as ``reid index`` or the indexing worker) is checked on every
read; the service also calls ``invalidate()`` after its own writes. Rows fetched while a change
was under way are not kept (a generation counter).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from reid.store import Store, TrackletInfo, VectorIndex

logger = logging.getLogger(__name__)

__all__ = ["CachedGallery"]


class CachedGallery:
    """``store`` for searches, with ``get_tracklets`` answered from a bounded row cache and
    ``get_descriptors`` from a small one (``max_vectors``, oldest dropped first).

    Args:
        store: the gallery.
        stamp: the vector index file's stamp (changes on every save of the index; None: none yet).
        max_rows: rows kept at most (least recently used dropped first); a row holds up to 16
            crop paths, ~4 KB, so the default bounds the cache near 80 MB.
    """

    def __init__(self, store: Store, stamp: Callable[[], int | None], max_rows: int = 20_000) -> None:
        if max_rows < 1:
            raise ValueError(f"max_rows must be >= 1, got {max_rows}")
        self.store = store
        self.max_rows = max_rows
        self._file_stamp = stamp
        self._rows: OrderedDict[int, TrackletInfo] = OrderedDict()
        self._vectors: OrderedDict[int, np.ndarray] = OrderedDict()
        self.max_vectors = 1024
        self._lock = threading.Lock()
        self._generation = 0
        self._stamp = self._file_stamp()
        self.hits = 0
        self.misses = 0

    # ------------------------------------------------------------ invalidation
    def invalidate(self) -> None:
        """Forget every cached row (the gallery changed)."""
        with self._lock:
            self._rows.clear()
            self._vectors.clear()
            self._generation += 1

    def _check_stamp(self) -> int:
        """Empty the cache if the index file changed since the last read; the generation."""
        stamp = self._file_stamp()
        with self._lock:
            if stamp != self._stamp:
                self._rows.clear()
                self._vectors.clear()
                self._generation += 1
                self._stamp = stamp
            return self._generation

    # ------------------------------------------------------------ reads
    def get_tracklets(self, ids: Sequence[int] | np.ndarray) -> dict[int, TrackletInfo]:
        """As ``Store.get_tracklets``: metadata of ``ids`` keyed by id, absent ids left out."""
        keys = [int(i) for i in np.asarray(ids).reshape(-1)]
        generation = self._check_stamp()
        out: dict[int, TrackletInfo] = {}
        missing: list[int] = []
        with self._lock:
            for k in keys:
                info = self._rows.get(k)
                if info is None:
                    missing.append(k)
                else:
                    self._rows.move_to_end(k)
                    out[k] = info
        self.hits += len(out)
        self.misses += len(missing)
        if missing:
            fetched = self.store.get_tracklets(missing)
            out.update(fetched)
            with self._lock:
                if generation == self._generation:  # no change while we read the database
                    self._rows.update(fetched)
                    while len(self._rows) > self.max_rows:
                        self._rows.popitem(last=False)
        return out

    def warm(self) -> int:
        """Read every row into the cache when the whole gallery fits (``max_rows``), so that the
        first searches after a start do not each wait for the database; returns the rows kept
        (0 when the gallery is larger, or changed while it was read)."""
        generation = self._check_stamp()
        rows = self.store.list_tracklets(limit=self.max_rows + 1)
        if len(rows) > self.max_rows:
            return 0
        with self._lock:
            if generation != self._generation:
                return 0
            for info in rows:
                self._rows.setdefault(info.id, info)
            return len(rows)

    # ------------------------------------------------------------ the rest: the store's own
    @property
    def index(self) -> VectorIndex | None:
        return self.store.index

    @property
    def fingerprint(self) -> dict[str, Any] | None:
        return self.store.fingerprint

    def search_vectors(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.store.search_vectors(queries, k)

    def get_descriptors(self, ids: Sequence[int]) -> np.ndarray:
        """As ``Store.get_descriptors``, from a small cache of recent ones (a search reads its
        query's descriptor, the same few people are searched again and again); emptied with the
        rows when the gallery changes."""
        keys = [int(i) for i in np.asarray(ids).reshape(-1)]
        if not keys:
            return self.store.get_descriptors(keys)
        generation = self._check_stamp()
        with self._lock:
            cached = [self._vectors.get(k) for k in keys]
        missing = [k for k, v in zip(keys, cached, strict=True) if v is None]
        if not missing:
            return np.stack([v for v in cached if v is not None])
        fetched = dict(zip(missing, self.store.get_descriptors(missing), strict=True))
        with self._lock:
            if generation == self._generation:
                self._vectors.update(fetched)
                while len(self._vectors) > self.max_vectors:
                    self._vectors.popitem(last=False)
        return np.stack([fetched[k] if v is None else v for k, v in zip(keys, cached, strict=True)])

    def get_feedback(self, tracklet_id: int) -> tuple[list[int], list[int]]:
        return self.store.get_feedback(tracklet_id)
