"""Our own records at the package boundary: per-frame detections and per-person tracklets.

Boxes are ``boxes_xyxy``: ``(x1, y1, x2, y2)`` in pixels of the original (full-resolution) frame,
float32. Timestamps are seconds from the start of the video. Nothing here knows ultralytics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


def _as_boxes(boxes: Any) -> np.ndarray:
    arr = np.asarray(boxes, dtype=np.float32)
    if arr.size == 0:
        return np.zeros((0, 4), dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"boxes_xyxy must have shape (N, 4), got {arr.shape}")
    return arr


@dataclass
class Detection:
    """All person detections of one frame.

    Attributes:
        frame_index: index of the frame in the video (0-based, counts every decoded frame, not only
            the strided ones).
        boxes_xyxy: ``(N, 4)`` float32, ``x1, y1, x2, y2`` in pixels of the full-resolution frame.
        scores: ``(N,)`` float32 detector confidences in ``[0, 1]`` (HOG margins are squashed).
    """

    frame_index: int
    boxes_xyxy: np.ndarray
    scores: np.ndarray

    def __post_init__(self) -> None:
        self.boxes_xyxy = _as_boxes(self.boxes_xyxy)
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        if len(self.scores) != len(self.boxes_xyxy):
            raise ValueError(
                f"Detection has {len(self.boxes_xyxy)} boxes but {len(self.scores)} scores"
            )

    def __len__(self) -> int:
        return len(self.boxes_xyxy)


@dataclass
class Tracklet:
    """One person's boxes over consecutive (strided) frames of one camera.

    Identity is ``(video_id, track_id)``: ``track_id`` counts from 1 within the video, in order of
    first appearance (the later parts of a track split where the person changed take the next
    numbers), and never depends on ultralytics' id counters.

    Attributes:
        video_id: caller-given id of the video (a file stem, a content hash, a database key).
        camera_id: caller-given camera name; may equal ``video_id``.
        track_id: per-video track number, 1-based.
        frame_indices: ``(T,)`` int64, increasing frame indices.
        timestamps: ``(T,)`` float64 seconds from the video start.
        boxes_xyxy: ``(T, 4)`` float32 pixel boxes (detector boxes, not Kalman-smoothed).
        scores: ``(T,)`` float32 detector confidences; 0 marks a box interpolated between detections
            (``tracklets.fill_gaps_seconds``).
        crops: at most ``max_crops`` RGB uint8 ``(H, W, 3)`` crops, sampled evenly over the life of
            the tracklet (empty when crops were not requested).
        crop_frame_indices: the frame index of each crop.
        thumbnail: one RGB uint8 ``(H, W, 3)`` crop chosen as the best view (large, confident,
            unoccluded, inside the frame), or ``None``.
        thumbnail_frame_index: frame index of the thumbnail, or -1.
        start_time: wall-clock POSIX seconds of the video start when the caller gave one.
    """

    video_id: str
    camera_id: str
    track_id: int
    frame_indices: np.ndarray
    timestamps: np.ndarray
    boxes_xyxy: np.ndarray
    scores: np.ndarray
    crops: list[np.ndarray] = field(default_factory=list)
    crop_frame_indices: list[int] = field(default_factory=list)
    thumbnail: np.ndarray | None = None
    thumbnail_frame_index: int = -1
    start_time: float | None = None

    def __post_init__(self) -> None:
        self.frame_indices = np.asarray(self.frame_indices, dtype=np.int64).reshape(-1)
        self.timestamps = np.asarray(self.timestamps, dtype=np.float64).reshape(-1)
        self.boxes_xyxy = _as_boxes(self.boxes_xyxy)
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        n = len(self.frame_indices)
        if not (len(self.timestamps) == len(self.boxes_xyxy) == len(self.scores) == n):
            raise ValueError("Tracklet arrays must all have the same length")

    def __len__(self) -> int:
        return len(self.frame_indices)

    @property
    def start_seconds(self) -> float:
        """Time of the first box, seconds from the video start."""
        return float(self.timestamps[0])

    @property
    def end_seconds(self) -> float:
        """Time of the last box, seconds from the video start."""
        return float(self.timestamps[-1])

    @property
    def duration_seconds(self) -> float:
        """Seconds between the first and the last box."""
        return self.end_seconds - self.start_seconds

    @property
    def wall_clock_start(self) -> float | None:
        """POSIX seconds of the first box when the video start time is known, else ``None``."""
        return None if self.start_time is None else self.start_time + self.start_seconds

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready metadata (no pixel data): ids, frames, timestamps, boxes, scores."""
        return {
            "video_id": self.video_id,
            "camera_id": self.camera_id,
            "track_id": int(self.track_id),
            "num_boxes": len(self),
            "start_seconds": round(self.start_seconds, 4),
            "end_seconds": round(self.end_seconds, 4),
            "wall_clock_start": self.wall_clock_start,
            "frame_indices": self.frame_indices.tolist(),
            "timestamps": [round(float(t), 4) for t in self.timestamps],
            "boxes_xyxy": np.round(self.boxes_xyxy, 1).tolist(),
            "scores": np.round(self.scores, 4).tolist(),
            "crop_frame_indices": list(self.crop_frame_indices),
            "thumbnail_frame_index": int(self.thumbnail_frame_index),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tracklet:
        """Rebuild a tracklet (without pixel data) from :meth:`to_dict` output."""
        wall = data.get("wall_clock_start")
        start = None if wall is None else float(wall) - float(data["timestamps"][0])
        return cls(
            video_id=data["video_id"],
            camera_id=data["camera_id"],
            track_id=int(data["track_id"]),
            frame_indices=data["frame_indices"],
            timestamps=data["timestamps"],
            boxes_xyxy=data["boxes_xyxy"],
            scores=data["scores"],
            crop_frame_indices=list(data.get("crop_frame_indices", [])),
            thumbnail_frame_index=int(data.get("thumbnail_frame_index", -1)),
            start_time=start,
        )
