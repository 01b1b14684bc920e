"""The query side of ``ReidService``: browse the gallery, search, feedback, playback, export.

Searches read tracklet rows through the service's row cache (``reid.service._rows``) and run
concurrently with indexing and with each other; playback clips are cached under ``clips/``.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import numpy as np

from reid.search import SearchFilters, SearchOptions, search_tracklet, search_vectors
from reid.service import export as exporting
from reid.service._core import ServiceCore
from reid.service.names import EXPORT_FORMATS
from reid.service.render import render_clip, render_frames
from reid.service.types import SearchRequest, SearchResponse
from reid.store import TrackletInfo, VideoInfo

__all__ = ["QueryMixin"]


class QueryMixin(ServiceCore):
    """``ReidService``'s read side (``list_*``, ``get_tracklet``, ``search``, ``add_feedback``,
    ``render_clip``, ``render_frames``, ``export``)."""

    # ------------------------------------------------------------------ browse
    def list_cameras(self) -> list[str]:
        return [name for _, name in self.store.list_cameras()]

    def list_videos(self) -> list[VideoInfo]:
        return self.store.list_videos()

    def list_tracklets(self, camera: str | None = None, video_id: int | None = None,
                       limit: int | None = 500) -> list[TrackletInfo]:
        return self.store.list_tracklets(camera=camera, video_id=video_id, limit=limit)

    def get_tracklet(self, tracklet_id: int) -> TrackletInfo:
        info = self._rows.get_tracklets([tracklet_id]).get(tracklet_id)
        if info is None:
            raise KeyError(f"no tracklet with id {tracklet_id}")
        return info

    # ------------------------------------------------------------------ search
    def search(self, request: SearchRequest, actor: str = "cli") -> SearchResponse:
        """Run a search (by tracklet or by images) and write it to the audit log."""
        t0 = time.perf_counter()
        self.store.vectors.catch_up()  # what other processes indexed meanwhile
        filters = SearchFilters(
            cameras=request.cameras, time_from=request.time_from, time_to=request.time_to,
            min_duration_s=request.min_duration_s, exclude_same_video=request.exclude_same_video,
            exclude_same_camera=request.exclude_same_camera, min_score=request.score_threshold,
        )
        options = SearchOptions(k=request.top_k, rerank=request.rerank,
                                query_expansion=request.query_expansion, use_feedback=request.use_feedback)
        query = None
        if request.tracklet_id is not None:
            query = self.get_tracklet(request.tracklet_id)
            found = search_tracklet(self._rows, request.tracklet_id, filters, options)
        elif request.images:
            # Photos must be embedded by the gallery's own embedder (same dimension is not enough).
            self.store.check_fingerprint(self.embedder.fingerprint)
            vectors = self.embedder.embed_images(request.images)
            found = search_vectors(self._rows, vectors, filters, options)
        else:
            raise ValueError("a search needs a tracklet id or at least one person image")
        matches = found.matches  # each carries the stored record search read
        notes = []
        if (request.time_from or request.time_to) and any(v.start_time is None for v in self.list_videos()):
            notes.append("videos indexed without a start time are left out by the time filter "
                         "(index them with --start-time)")
        if found.reranked:
            notes.append("re-ranked (k-reciprocal)")
        if found.expanded:
            notes.append("query expansion")
        if found.confirmed or found.rejected:
            notes.append(f"feedback: {len(found.confirmed)} confirmed, {len(found.rejected)} rejected")
        self._log(actor, "search", {
            "tracklet_id": request.tracklet_id, "images": len(request.images or []),
            "results": len(matches), "cameras": request.cameras,
        })
        return SearchResponse(query, matches, time.perf_counter() - t0, notes)

    def add_feedback(self, query_id: int, candidate_id: int, same: bool, actor: str = "cli") -> None:
        """Save "same person" / "not this person" for a pair; later searches use it."""
        with self._writing():
            self.store.add_feedback(query_id, candidate_id, same, actor=actor)
        self._log(actor, "feedback", {"query": query_id, "candidate": candidate_id, "same": same})

    # ---------------------------------------------------------------- playback
    def render_clip(self, tracklet_id: int) -> Path:
        """A short clip of the tracklet with its box drawn, cached under ``clips/`` in the data dir."""
        info = self.get_tracklet(tracklet_id)
        with self._render_lock:
            cached = self._cached_clips(tracklet_id)
            if cached:
                return cached[0]
            frames, boxes = self.store.get_boxes(tracklet_id)
            video = self.store.get_video(info.video_id)
            return self._native(render_clip, video.path, frames, boxes,
                                self.store.layout.clip_stem(tracklet_id),
                                label=f"{info.camera} #{info.track_id}")

    def render_frames(self, tracklet_id: int, n: int = 6) -> list[np.ndarray]:
        """``n`` annotated RGB frames of the tracklet (a strip, when a clip cannot be played)."""
        info = self.get_tracklet(tracklet_id)
        frames, boxes = self.store.get_boxes(tracklet_id)
        video = self.store.get_video(info.video_id)
        return self._native(render_frames, video.path, frames, boxes, n,
                            label=f"{info.camera} #{info.track_id}")

    # ------------------------------------------------------------------ export
    def export(self, response: SearchResponse, fmt: str, actor: str = "cli") -> Path:
        """Write matches as ``csv``, ``json`` or a ``zip`` of crops and clips under ``exports/``."""
        if fmt not in EXPORT_FORMATS:
            raise ValueError(f"unknown export format {fmt!r}; choose one of {EXPORT_FORMATS}")
        folder = self.store.layout.exports
        folder.mkdir(parents=True, exist_ok=True)
        query = f"t{response.query.id}" if response.query else "images"
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%f")
        path = folder / f"matches_{query}_{stamp}.{fmt}"
        if fmt == "csv":
            exporting.write_csv(response, path)
        elif fmt == "json":
            exporting.write_json(response, path)
        else:
            exporting.write_zip(response, path, self.render_clip)
        self._log(actor, "export", {"format": fmt, "path": self.store.relpath(path),
                                    "matches": len(response.matches)})
        return path
