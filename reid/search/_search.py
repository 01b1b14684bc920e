"""Cross-camera search over a ``reid.store.Store``: FAISS candidates, filters, optional re-ranking.

Pipeline: query vector (a tracklet's descriptor, joined by feedback-confirmed matches, or the mean of
uploaded-image vectors) -> top-``candidates`` from the vector index (grown until ``k`` survive the
filters or the gallery is exhausted) -> filters -> optional average query expansion (search again)
-> optional k-reciprocal re-ranking within the surviving candidates -> top ``k``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from reid.model.rerank import average_query_expansion, k_reciprocal_rerank
from reid.search._types import Match, Ranking, SearchFilters, SearchOptions
from reid.store import TrackletInfo

if TYPE_CHECKING:
    from reid.store import VectorIndex

logger = logging.getLogger(__name__)

__all__ = ["GalleryReader", "overlaps_on_camera", "search_tracklet", "search_vectors"]


class GalleryReader(Protocol):
    """What a search reads of the gallery: a ``reid.store.Store``, or a view of one that caches
    rows (``reid.service._rows.CachedGallery``)."""

    @property
    def index(self) -> VectorIndex | None: ...

    @property
    def fingerprint(self) -> dict[str, Any] | None: ...

    def search_vectors(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...

    def get_descriptors(self, ids: Sequence[int]) -> np.ndarray: ...

    def get_feedback(self, tracklet_id: int) -> tuple[list[int], list[int]]: ...

    def get_tracklets(self, ids: Sequence[int]) -> dict[int, TrackletInfo]: ...


def _utc(t: dt.datetime) -> dt.datetime:
    return t.replace(tzinfo=dt.timezone.utc) if t.tzinfo is None else t.astimezone(dt.timezone.utc)


def _in_window(info: TrackletInfo, f: SearchFilters) -> bool:
    if f.time_from is None and f.time_to is None:
        return True
    if isinstance(f.time_from, dt.datetime) or isinstance(f.time_to, dt.datetime):
        # SearchFilters holds two datetimes (or one and None) here, never a datetime and seconds
        start, end = info.start_time, info.end_time
        if start is None or end is None:  # the video's start time is unknown
            return False
        lo = _utc(f.time_from) if isinstance(f.time_from, dt.datetime) else None
        hi = _utc(f.time_to) if isinstance(f.time_to, dt.datetime) else None
        return (lo is None or end >= lo) and (hi is None or start <= hi)
    lo_s, hi_s = f.time_from, f.time_to
    return (lo_s is None or info.end_s >= lo_s) and (hi_s is None or info.start_s <= hi_s)


def overlaps_on_camera(a: TrackletInfo, b: TrackletInfo) -> bool:
    """True when ``a`` and ``b`` are on one camera at overlapping times (so different people).

    Compared in video seconds within one video, else in absolute time when both are known;
    unknown relative timing counts as no overlap. Touching intervals do not overlap.
    """
    if a.camera_id != b.camera_id:
        return False
    if a.video_id == b.video_id:
        return a.start_s < b.end_s and b.start_s < a.end_s
    a_start, a_end, b_start, b_end = a.start_time, a.end_time, b.start_time, b.end_time
    if a_start is None or a_end is None or b_start is None or b_end is None:
        return False
    return a_start < b_end and b_start < a_end


def _passes(info: TrackletInfo, f: SearchFilters, query: TrackletInfo | None) -> bool:
    if f.cameras is not None and info.camera not in f.cameras:
        return False
    if info.duration_s < f.min_duration_s or not _in_window(info, f):
        return False
    if query is None:
        return True
    if info.id == query.id:
        return False
    if f.exclude_same_video and info.video_id == query.video_id:
        return False
    if f.exclude_same_camera and info.camera_id == query.camera_id:
        return False
    return not overlaps_on_camera(query, info)


def _unit(x: np.ndarray) -> np.ndarray:
    v = np.asarray(x, np.float32).mean(axis=0) if np.ndim(x) == 2 else np.asarray(x, np.float32)
    norm = float(np.linalg.norm(v))
    if not np.isfinite(norm) or norm == 0:
        raise ValueError("query vector is zero or not finite")
    return (v / norm).astype(np.float32)


def _candidates(store: GalleryReader, q: np.ndarray, f: SearchFilters, opts: SearchOptions,
                query: TrackletInfo | None, rejected: set[int],
                ) -> tuple[list[tuple[TrackletInfo, float]], int]:
    """Filtered ``(info, cosine score)`` pairs, best first, and the candidate count used."""
    n = 0 if store.index is None else store.index.ntotal
    kc = min(n, max(opts.candidates, opts.k))
    while True:
        if kc == 0:
            return [], 0
        scores, ids = store.search_vectors(q[None, :], kc)
        hits = [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
        infos = store.get_tracklets([i for i, _ in hits])
        keep = [(infos[i], s) for i, s in hits
                if i in infos and i not in rejected
                and (f.min_score is None or s >= f.min_score) and _passes(infos[i], f, query)]
        below = f.min_score is not None and hits and hits[-1][1] < f.min_score
        if len(keep) >= opts.k or kc >= n or below:
            return keep, kc
        kc = min(n, kc * 4)


def _rerank(store: GalleryReader, q: np.ndarray, keep: list[tuple[TrackletInfo, float]],
            opts: SearchOptions) -> tuple[list[tuple[TrackletInfo, float]], list[float]]:
    g = store.get_descriptors([info.id for info, _ in keep])
    if store.index is not None:  # compare as the index does (centred)
        g, q = store.index.prepare(g), store.index.prepare(q)[0]
    q_g = np.clip(2.0 - 2.0 * (g @ q), 0.0, None)[None, :]
    g_g = np.clip(2.0 - 2.0 * (g @ g.T), 0.0, None)
    final = k_reciprocal_rerank(q_g, np.zeros((1, 1), np.float32), g_g, k1=opts.k1, k2=opts.k2,
                                lambda_value=opts.lambda_value)[0]
    order = np.argsort(final, kind="stable")
    return [keep[i] for i in order], [float(final[i]) for i in order]


def _run(store: GalleryReader, q: np.ndarray, f: SearchFilters, opts: SearchOptions,
         query: TrackletInfo | None, response: Ranking) -> Ranking:
    rejected = set(response.rejected)
    keep, used = _candidates(store, q, f, opts, query, rejected)
    if opts.query_expansion and keep:
        top = store.get_descriptors([info.id for info, _ in keep[:opts.qe_top]])
        q = average_query_expansion(q, top)
        keep, used = _candidates(store, q, f, opts, query, rejected)
        response.expanded = True
    distances: Sequence[float | None] = [None] * len(keep)
    if opts.rerank and len(keep) > 1:
        keep, distances = _rerank(store, q, keep, opts)
        response.reranked = True
    response.candidates = used
    confirmed = set(response.confirmed)
    response.matches = [
        Match(info, score, r + 1, True if info.id in confirmed else None, dist)
        for r, ((info, score), dist) in enumerate(zip(keep[:opts.k], distances[:opts.k], strict=True))]
    return response


def search_tracklet(store: GalleryReader, tracklet_id: int, filters: SearchFilters | None = None,
                    options: SearchOptions | None = None) -> Ranking:
    """Where else does the person of ``tracklet_id`` appear?

    The query tracklet itself and tracklets overlapping it in time on its own camera are never
    returned. With ``options.use_feedback``, saved feedback confirmed as the same person joins the
    query (mean of descriptors) and feedback rejected is dropped.

    Raises:
        KeyError: no such tracklet, or it has no descriptor yet (re-indexing in progress).
    """
    f, opts = filters or SearchFilters(), options or SearchOptions()
    info = store.get_tracklets([tracklet_id]).get(tracklet_id)
    if info is None:
        raise KeyError(f"no tracklet with id {tracklet_id}")
    response = Ranking(query_tracklet_id=tracklet_id)
    vectors = store.get_descriptors([tracklet_id])
    if opts.use_feedback:
        confirmed, rejected = store.get_feedback(tracklet_id)
        present = store.get_tracklets(confirmed)
        response.confirmed = [c for c in confirmed if c in present and present[c].has_descriptor]
        response.rejected = rejected
        if response.confirmed:
            vectors = np.vstack([vectors, store.get_descriptors(response.confirmed)])
    return _run(store, _unit(vectors), f, opts, info, response)


def search_vectors(store: GalleryReader, vectors: np.ndarray, filters: SearchFilters | None = None,
                   options: SearchOptions | None = None) -> Ranking:
    """Search with descriptors of uploaded images: ``(D,)`` or ``(M, D)`` (averaged into one
    normalised query). Same-video, same-camera and time-overlap exclusions need a query tracklet
    and do not apply here; the other filters do."""
    f, opts = filters or SearchFilters(), options or SearchOptions()
    q = _unit(vectors)
    fp = store.fingerprint
    if fp is not None and q.shape[0] != int(fp["dim"]):
        raise ValueError(f"query dimension {q.shape[0]} != gallery descriptor dimension "
                         f"{fp['dim']}; embed the query with the gallery's embedder")
    return _run(store, q, f, opts, None, Ranking())
