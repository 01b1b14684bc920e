"""Reading a gallery's stored descriptors back from the database, checked.

A descriptor is stored as float32 bytes of an L2-normalised vector (``_codec``). One that does not
decode to a finite unit vector of the gallery's dimension is damaged: when an index is built it
is left out (and cleared, so that ``reid reindex`` re-embeds its tracklet) instead of keeping the
gallery from opening; asked for by id, it is an error that names the fix.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
from sqlalchemy import func, select, update

from reid.store._codec import decode_descriptor
from reid.store._errors import GalleryError
from reid.store._models import TrackletRow
from reid.store._shared import GalleryContext, chunks
from reid.store._version import bump_version

logger = logging.getLogger(__name__)

__all__ = ["DescriptorReader", "checked_descriptor", "compare_ids"]

FETCH_CHUNK = 20_000
"""Descriptors read per query when an index is built (~40 MB at 512-d)."""

Chunks = Iterator[tuple[np.ndarray, np.ndarray]]


def checked_descriptor(blob: bytes | None, dim: int) -> np.ndarray | None:
    """The decoded ``(dim,)`` descriptor, or None when damaged (wrong length, not finite, not
    unit length: stored descriptors are L2-normalised)."""
    if blob is None or len(blob) != 4 * dim or dim <= 0:
        return None
    vec = decode_descriptor(blob)
    if not np.isfinite(vec).all() or abs(float(np.linalg.norm(vec)) - 1.0) > 1e-3:
        return None
    return vec


def compare_ids(have: np.ndarray, want: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(extra, missing)``: the ids of ``have`` that ``want`` lacks and those of ``want`` that
    ``have`` lacks, each ``(K,)`` int64 ascending; both inputs hold unique ids, in any order.
    Through ``np.isin`` (a lookup table for dense ids such as tracklet ids): 10^6 ids against
    10^6 in 0.02 s, where ``np.setdiff1d`` twice took 3 s."""
    have, want = np.asarray(have, np.int64), np.asarray(want, np.int64)
    extra = have[~np.isin(have, want, assume_unique=True)]
    missing = want[~np.isin(want, have, assume_unique=True)]
    return np.sort(extra), np.sort(missing)


class DescriptorReader:
    """Descriptors of a gallery's tracklets, read from its database.

    Args:
        context: the opened gallery.
        dim: returns the gallery's descriptor dimension (0 before the first descriptor).
    """

    def __init__(self, context: GalleryContext, dim: Callable[[], int]) -> None:
        self._ctx = context
        self._dim = dim

    def ids(self) -> np.ndarray:
        """``(N,)`` int64 ids of the tracklets that have a descriptor, ascending."""
        with self._ctx.db() as s:
            rows = s.scalars(select(TrackletRow.id).where(
                TrackletRow.descriptor.is_not(None)).order_by(TrackletRow.id))
            return np.fromiter(rows, np.int64)

    def count(self) -> int:
        """How many tracklets have a descriptor (one SQL count, no descriptor read)."""
        with self._ctx.db() as s:
            return int(s.scalar(select(func.count(TrackletRow.id)).where(
                TrackletRow.descriptor.is_not(None))) or 0)

    def chunks(self, ids: np.ndarray) -> Chunks:
        """Chunks of ``(ids, vectors (n, D))`` of ``ids`` for building an index; damaged
        descriptors are left out (and cleared)."""
        ids = np.asarray(ids, np.int64)
        dim = self._dim()
        for start in range(0, len(ids), FETCH_CHUNK):
            part = ids[start:start + FETCH_CHUNK].tolist()
            found = self.blobs(part)
            yield from self._good(((key, found.get(key)) for key in part), dim)

    def chunks_above(self, watermark: int) -> Chunks:
        """Chunks of ``(ids, vectors)`` of the descriptors with ids above ``watermark``, in id
        order (read through the primary key); damaged ones are left out as in ``chunks``."""
        dim = self._dim()
        while True:
            with self._ctx.db() as s:
                rows = s.execute(select(TrackletRow.id, TrackletRow.descriptor).where(
                    TrackletRow.id > watermark, TrackletRow.descriptor.is_not(None))
                    .order_by(TrackletRow.id).limit(FETCH_CHUNK)).all()
            if not rows:
                return
            watermark = int(rows[-1][0])
            yield from self._good(((int(key), blob) for key, blob in rows), dim)

    def _good(self, rows: Iterable[tuple[int, bytes | None]], dim: int) -> Chunks:
        good, vectors, bad = [], [], []
        for key, blob in rows:
            vec = checked_descriptor(blob, dim)
            if vec is None:
                bad.append(key)
            else:
                good.append(key)
                vectors.append(vec)
        if bad:
            self.clear_damaged(bad)
        if good:
            yield np.array(good, np.int64), np.stack(vectors)

    def clear_damaged(self, ids: list[int]) -> None:
        """Clear damaged descriptors, so that ``reid reindex`` re-embeds those tracklets (a
        change of descriptors: followers reconcile)."""
        if not self._ctx.read_only:
            with self._ctx.db.begin() as s:
                bump_version(s)
                for part in chunks(ids):
                    s.execute(update(TrackletRow).where(TrackletRow.id.in_(part))
                              .values(descriptor=None))
        logger.warning("tracklets %s have damaged descriptors in %s: they are left out of searches"
                       "%s; run `reid reindex` to re-embed them from their crops", ids[:20],
                       self._ctx.db.label, "" if self._ctx.read_only else " and were cleared")

    def blobs(self, keys: Iterable[int]) -> dict[int, bytes]:
        """The stored bytes of the descriptors of ``keys`` that have one."""
        found: dict[int, bytes] = {}
        with self._ctx.db() as s:
            for part in chunks(keys):
                rows = s.execute(select(TrackletRow.id, TrackletRow.descriptor).where(
                    TrackletRow.id.in_(part), TrackletRow.descriptor.is_not(None))).all()
                found.update((key, blob) for key, blob in rows if blob is not None)
        return found

    def get(self, ids: Sequence[int]) -> np.ndarray:
        """Descriptors ``(N, D)`` float32 for ``ids``, in that order.

        Raises:
            KeyError: a tracklet has no descriptor.
            GalleryError: a descriptor is damaged (the message names the fix).
        """
        keys = [int(i) for i in np.asarray(ids).reshape(-1)]
        found = self.blobs(keys)
        missing = [k for k in keys if k not in found]
        if missing:
            raise KeyError(f"no descriptor for tracklets {missing[:10]}")
        dim = self._dim()
        if not keys:
            return np.zeros((0, dim), np.float32)
        vectors = [checked_descriptor(found[k], dim) for k in keys]
        bad = [k for k, v in zip(keys, vectors, strict=True) if v is None]
        if bad:
            raise GalleryError(f"the descriptors of tracklets {bad[:10]} in "
                               f"{self._ctx.db.label} are damaged: run `reid reindex` to "
                               "re-embed them from their crops, or restore the database from a "
                               "backup")
        return np.stack([v for v in vectors if v is not None])  # none is None (checked above)
