"""Plain records crossing the store's API: inputs from the indexer, rows returned to callers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["AuditEntry", "RepairReport", "TrackletInfo", "TrackletRecord", "VideoInfo"]


@dataclass(frozen=True)
class TrackletRecord:
    """A tracklet to store (input to ``Store.add_tracklets``).

    Attributes:
        track_id: tracker id, unique within its video.
        frames: ``(N,)`` frame indices of the boxes, increasing.
        boxes_xyxy: ``(N, 4)`` boxes in pixels, ``x1, y1, x2, y2``.
        start_s: time of the first box, seconds from the video's first frame.
        end_s: time of the last box, seconds from the video's first frame.
        quality: a score in [0, 1] (higher is a better tracklet for display and search).
        crop_paths: JPEG crops written under the data dir (absolute or relative to it).
        thumbnail_path: one representative crop, same convention.
    """

    track_id: int
    frames: np.ndarray
    boxes_xyxy: np.ndarray
    start_s: float
    end_s: float
    quality: float = 0.0
    crop_paths: Sequence[str | Path] = ()
    thumbnail_path: str | Path | None = None


@dataclass(frozen=True)
class VideoInfo:
    """A stored video. ``start_time`` is aware UTC or None when unknown."""

    id: int
    camera_id: int
    camera: str
    path: str
    content_hash: str
    fps: float | None
    duration_s: float | None
    frame_count: int | None
    start_time: dt.datetime | None
    status: str
    error: str | None


@dataclass(frozen=True)
class TrackletInfo:
    """A stored tracklet's metadata (boxes via ``Store.get_boxes``, vector via ``get_descriptors``).

    ``start_s``/``end_s`` are seconds from the video's first frame; ``start_time``/``end_time`` are
    absolute (aware UTC) when the video's start time is known, else None. Paths are absolute.
    """

    id: int
    video_id: int
    camera_id: int
    camera: str
    track_id: int
    first_frame: int
    last_frame: int
    start_s: float
    end_s: float
    quality: float
    crop_paths: tuple[Path, ...]
    thumbnail_path: Path | None
    video_start_time: dt.datetime | None
    has_descriptor: bool

    @property
    def duration_s(self) -> float:
        """Length of the tracklet in seconds."""
        return self.end_s - self.start_s

    @property
    def start_time(self) -> dt.datetime | None:
        """Absolute start time, when the video's start time is known."""
        if self.video_start_time is None:
            return None
        return self.video_start_time + dt.timedelta(seconds=self.start_s)

    @property
    def end_time(self) -> dt.datetime | None:
        """Absolute end time, when the video's start time is known."""
        if self.video_start_time is None:
            return None
        return self.video_start_time + dt.timedelta(seconds=self.end_s)


@dataclass(frozen=True)
class AuditEntry:
    """One audit-log row; ``created_at`` is aware UTC."""

    id: int
    actor: str
    action: str
    details: dict[str, Any]
    created_at: dt.datetime


@dataclass
class RepairReport:
    """What opening the store did to bring the vector index in line with the database."""

    actions: list[str] = field(default_factory=list)
    added: int = 0
    removed: int = 0
    rebuilt: bool = False
    max_index_id: int = 0  # the largest id the index file held before repair (0: none read)

    @property
    def changed(self) -> bool:
        """True when the index was modified."""
        return bool(self.actions)
