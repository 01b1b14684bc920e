"""Plain values crossing the service boundary (what the CLI and the web UI see)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reid.search._types import Match as Match  # the service returns search's matches
from reid.store import TrackletInfo

# progress(fraction in [0, 1], message) — called from the worker doing the job.
ProgressFn = Callable[[float, str], None]


@dataclass(frozen=True)
class IndexReport:
    """Outcome of indexing one file.

    ``status``: ``"indexed"``, ``"duplicate"`` (same content already in the gallery; nothing done),
    ``"failed"`` (``error`` says why; the rest of the gallery is untouched) or ``"skipped"`` (a
    folder's symbolic link leading outside it; ``error`` says so).
    """

    path: str
    camera: str
    status: str
    video_id: int | None = None
    tracklets: int = 0
    video_seconds: float = 0.0
    elapsed_s: float = 0.0
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage (decode, detect, ...)


@dataclass
class SearchRequest:
    """A search: by a stored tracklet, or by one or more uploaded person images (RGB uint8 h x w x 3).

    Times: ``time_from``/``time_to`` are absolute (aware or naive-UTC) datetimes, compared with the
    tracklets' absolute times when their video has a start time. ``score_threshold`` is a cosine
    similarity in [-1, 1].
    """

    tracklet_id: int | None = None
    images: list[np.ndarray] | None = None
    top_k: int = 50
    cameras: list[str] | None = None
    time_from: dt.datetime | None = None
    time_to: dt.datetime | None = None
    min_duration_s: float = 0.0
    exclude_same_video: bool = False
    exclude_same_camera: bool = False
    score_threshold: float | None = None
    rerank: bool = False
    query_expansion: bool = False
    use_feedback: bool = True


@dataclass
class SearchResponse:
    """Ranked matches (best first), the same grouped by camera, and the query tracklet if any."""

    query: TrackletInfo | None
    matches: list[Match]
    elapsed_s: float
    notes: list[str] = field(default_factory=list)

    @property
    def by_camera(self) -> dict[str, list[Match]]:
        groups: dict[str, list[Match]] = {}
        for match in self.matches:
            groups.setdefault(match.tracklet.camera, []).append(match)
        return groups


@dataclass(frozen=True)
class ServiceStatus:
    """What the gallery holds and which models are in use (fallbacks flagged)."""

    data_dir: Path
    detector: str
    detector_fallback: bool
    embedder: str
    embedder_kind: str
    embedder_fallback: bool
    descriptor_dim: int
    index_type: str
    videos: int
    tracklets: int
    tracklets_per_camera: dict[str, int]
    notes: list[str] = field(default_factory=list)
    gallery_fingerprint: dict[str, Any] | None = None
    """Which model, weights, dimension and preprocessing made the stored descriptors (None: empty
    gallery); it names a TF-CLIP checkpoint by the first 16 hex digits of its sha256."""
    jobs: dict[str, int] = field(default_factory=dict)
    """Indexing jobs in the gallery's queue per state (``pending``, ``claimed``, ``done``,
    ``failed``); empty for an old gallery opened read-only, which has no queue."""
