"""Tracklet assembly while a video streams: boxes per track, bounded crop sampling, best thumbnail,
finishing of tracks the tracker dropped, and filtering of useless tracklets.

Memory per active track is bounded: at most ``2 * max_crops`` crops are buffered, thinned by
doubling the sampling step whenever the buffer fills, so the kept crops stay evenly spread over
the track's life however long it runs.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field

import cv2
import numpy as np

from tracking.config import TrackletConfig
from tracking.records import Tracklet

logger = logging.getLogger(__name__)


def crop_rgb(image_bgr: np.ndarray, box_xyxy: np.ndarray, padding: float = 0.0,
             max_height: int = 0) -> np.ndarray | None:
    """Cut ``box_xyxy`` (pixels) out of a BGR frame as an RGB uint8 ``(h, w, 3)`` array.

    The box is padded by ``padding`` times its size, clipped to the frame, and the crop resized
    down to ``max_height`` pixels when taller (0: never). Returns ``None`` for empty boxes.
    """
    h, w = image_bgr.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    px, py = padding * (x2 - x1), padding * (y2 - y1)
    x1, x2 = int(max(0, np.floor(x1 - px))), int(min(w, np.ceil(x2 + px)))
    y1, y2 = int(max(0, np.floor(y1 - py))), int(min(h, np.ceil(y2 + py)))
    if x2 - x1 < 2 or y2 - y1 < 2:
        return None
    crop = image_bgr[y1:y2, x1:x2]
    if max_height and crop.shape[0] > max_height:
        f = max_height / crop.shape[0]
        crop = cv2.resize(crop, (max(1, round(crop.shape[1] * f)), max_height),
                          interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(crop[:, :, ::-1])


def occlusion_fractions(boxes_xyxy: np.ndarray) -> np.ndarray:
    """For ``(N, 4)`` boxes, the largest fraction of each box's area covered by another box, ``(N,)``."""
    n = len(boxes_xyxy)
    if n < 2:
        return np.zeros(n, dtype=np.float32)
    b = boxes_xyxy.astype(np.float32)
    ix = np.clip(np.minimum(b[:, None, 2], b[None, :, 2]) - np.maximum(b[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(b[:, None, 3], b[None, :, 3]) - np.maximum(b[:, None, 1], b[None, :, 1]), 0, None)
    area = np.maximum((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]), 1e-6)
    inter = ix * iy
    np.fill_diagonal(inter, 0)
    return (inter.max(axis=1) / area).astype(np.float32)


def outside_fraction(boxes_xyxy: np.ndarray, width: int, height: int) -> np.ndarray:
    """Fraction of each box's area that lies outside a ``width`` x ``height`` frame, ``(N,)``."""
    b = np.asarray(boxes_xyxy, dtype=np.float32).reshape(-1, 4)
    area = np.maximum((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]), 1e-6)
    iw = np.clip(np.minimum(b[:, 2], width) - np.maximum(b[:, 0], 0), 0, None)
    ih = np.clip(np.minimum(b[:, 3], height) - np.maximum(b[:, 1], 0), 0, None)
    return 1.0 - iw * ih / area


@dataclass
class _ActiveTrack:
    track_id: int
    frames: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    crops: list[tuple[int, int, np.ndarray]] = field(default_factory=list)  # (obs#, frame, rgb)
    step: int = 1
    thumb: np.ndarray | None = None
    thumb_frame: int = -1
    thumb_quality: float = -1.0


class TrackletBuilder:
    """Accumulates tracked boxes per track and turns finished tracks into :class:`Tracklet` s.

    Args:
        video_id: id stored in every tracklet.
        camera_id: camera name stored in every tracklet.
        frame_size: ``(width, height)`` of the video in pixels.
        config: filtering and crop settings.
        with_crops: keep crops and thumbnails (False: boxes only, no pixel memory).
        start_time: wall-clock POSIX seconds of the video start, if known.
    """

    def __init__(self, video_id: str, camera_id: str, frame_size: tuple[int, int],
                 config: TrackletConfig, with_crops: bool = True, start_time: float | None = None):
        self.video_id, self.camera_id = video_id, camera_id
        self.width, self.height = frame_size
        self.cfg = config
        self.with_crops = with_crops
        self.start_time = start_time
        self.active: dict[int, _ActiveTrack] = {}
        self.dropped = 0

    def add(self, frame_index: int, timestamp: float, image_bgr: np.ndarray | None,
            track_ids: list[int], boxes_xyxy: np.ndarray, scores: np.ndarray,
            occlusion: np.ndarray) -> None:
        """Record one frame's tracked boxes (``(N, 4)`` pixels) with their scores and occlusion."""
        for i, tid in enumerate(track_ids):
            t = self.active.get(tid)
            if t is None:
                t = self.active[tid] = _ActiveTrack(tid)
            obs = len(t.frames)
            box = np.asarray(boxes_xyxy[i], dtype=np.float32)
            t.frames.append(frame_index)
            t.times.append(timestamp)
            t.boxes.append(box)
            t.scores.append(float(scores[i]))
            if self.with_crops and image_bgr is not None:
                self._sample_crop(t, obs, frame_index, image_bgr, box, float(scores[i]),
                                  float(occlusion[i]))

    def _sample_crop(self, t: _ActiveTrack, obs: int, frame_index: int, image: np.ndarray,
                     box: np.ndarray, score: float, occ: float) -> None:
        inside = 1.0 - float(outside_fraction(box[None], self.width, self.height)[0])
        quality = score * float(box[3] - box[1]) * (1.0 - occ) ** 2 * inside
        if quality > t.thumb_quality:
            crop = crop_rgb(image, box, self.cfg.crop_padding, self.cfg.crop_max_height)
            if crop is not None:
                t.thumb, t.thumb_frame, t.thumb_quality = crop, frame_index, quality
        if obs % t.step:
            return
        crop = crop_rgb(image, box, self.cfg.crop_padding, self.cfg.crop_max_height)
        if crop is None:
            return
        t.crops.append((obs, frame_index, crop))
        if len(t.crops) > 2 * max(1, self.cfg.max_crops):
            t.step *= 2
            t.crops = [c for c in t.crops if c[0] % t.step == 0]

    def finish_stale(self, current_frame: int, max_gap_frames: int) -> list[Tracklet]:
        """Finish tracks not seen for more than ``max_gap_frames`` frames (the tracker has
        removed them); returns them as raw (unfiltered) tracklets."""
        stale = [tid for tid, t in self.active.items() if current_frame - t.frames[-1] > max_gap_frames]
        return [self._finish(self.active.pop(tid)) for tid in stale]

    def finish_all(self) -> list[Tracklet]:
        """Finish every active track (end of video); returns raw tracklets."""
        done = [self._finish(t) for t in self.active.values()]
        self.active.clear()
        return done

    def active_start_times(self) -> list[float]:
        """Start times (seconds) of the tracks still running."""
        return [t.times[0] for t in self.active.values()]

    def _finish(self, t: _ActiveTrack) -> Tracklet:
        crops, crop_frames = [], []
        if t.crops:
            k = min(len(t.crops), max(1, self.cfg.max_crops))
            for j in np.unique(np.linspace(0, len(t.crops) - 1, k).round().astype(int)):
                crops.append(t.crops[j][2])
                crop_frames.append(t.crops[j][1])
        return Tracklet(
            video_id=self.video_id, camera_id=self.camera_id, track_id=t.track_id,
            frame_indices=t.frames, timestamps=t.times, boxes_xyxy=np.stack(t.boxes),
            scores=t.scores, crops=crops, crop_frame_indices=crop_frames, thumbnail=t.thumb,
            thumbnail_frame_index=t.thumb_frame, start_time=self.start_time,
        )

    def keep(self, tracklet: Tracklet) -> bool:
        """Whether ``tracklet`` passes the filters (length, duration, box height, inside frame)."""
        c = self.cfg
        heights = tracklet.boxes_xyxy[:, 3] - tracklet.boxes_xyxy[:, 1]
        outside = outside_fraction(tracklet.boxes_xyxy, self.width, self.height)
        reasons = []
        if len(tracklet) < c.min_boxes:
            reasons.append(f"{len(tracklet)} boxes < {c.min_boxes}")
        if tracklet.duration_seconds < c.min_duration_seconds:
            reasons.append(f"{tracklet.duration_seconds:.2f}s < {c.min_duration_seconds}s")
        if float(np.median(heights)) < c.min_box_height:
            reasons.append(f"median height {float(np.median(heights)):.0f}px < {c.min_box_height}")
        if float(np.median(outside)) > c.max_outside_fraction:
            reasons.append("mostly outside the frame")
        if reasons:
            logger.debug("dropping track %d: %s", tracklet.track_id, "; ".join(reasons))
        return not reasons


def gap_fill_frames(fill_gaps_seconds: float, fps: float, stride: int = 1) -> int:
    """Largest frame distance between two consecutive boxes of a track that :func:`fill_gaps`
    bridges: ``fill_gaps_seconds`` at the video's ``fps``, and never less than ``stride`` (the
    frames a stride skips are always filled). 0 (no filling) when ``fill_gaps_seconds <= 0``."""
    if fill_gaps_seconds <= 0:
        return 0
    return max(int(stride), int(round(fill_gaps_seconds * fps)))


def fill_gaps(tracklet: Tracklet, max_gap_frames: int) -> Tracklet:
    """Give ``tracklet`` a box on every frame between two of its boxes at most ``max_gap_frames``
    frames apart (the frames a ``--stride`` skipped, short detector misses).

    Boxes (xyxy pixels) and timestamps are interpolated linearly between the two real boxes
    around each gap (for a constant-rate video the timestamps are ``index / fps``). A filled box
    has score 0: it is no detection, and ``scores > 0`` tells the real boxes. Longer gaps (the
    person was hidden or gone) stay gaps; nothing is added before the first or after the last box.
    Crops and the thumbnail are untouched (they come from real frames).

    Returns:
        ``tracklet`` itself when there is nothing to fill, else a new :class:`Tracklet`.
    """
    f = tracklet.frame_indices
    steps = np.diff(f)
    gaps = np.flatnonzero((steps > 1) & (steps <= max_gap_frames))
    if not len(gaps):
        return tracklet
    filled = np.concatenate([np.arange(f[i] + 1, f[i + 1]) for i in gaps])
    frames = np.sort(np.concatenate([f, filled]))
    real = np.isin(frames, f, assume_unique=True)
    boxes = np.stack([np.interp(frames, f, tracklet.boxes_xyxy[:, k]) for k in range(4)], axis=1)
    scores = np.zeros(len(frames), np.float32)
    scores[real] = tracklet.scores
    return dataclasses.replace(
        tracklet, frame_indices=frames, timestamps=np.interp(frames, f, tracklet.timestamps),
        boxes_xyxy=boxes.astype(np.float32), scores=scores,
    )


def merge_tracklets(first: Tracklet, second: Tracklet, max_crops: int) -> Tracklet:
    """Concatenate two fragments of one person (``first`` ends before ``second`` starts).

    Keeps ``first``'s id, re-samples crops evenly over the joined life, keeps the better
    thumbnail (the larger one).
    """
    crops = list(zip(first.crop_frame_indices, first.crops, strict=False)) + list(
        zip(second.crop_frame_indices, second.crops, strict=False))
    if len(crops) > max_crops > 0:
        keep = np.unique(np.linspace(0, len(crops) - 1, max_crops).round().astype(int))
        crops = [crops[j] for j in keep]
    thumbs = [(t.thumbnail, t.thumbnail_frame_index) for t in (first, second) if t.thumbnail is not None]
    thumb, thumb_frame = max(thumbs, key=lambda x: x[0].shape[0]) if thumbs else (None, -1)
    return Tracklet(
        video_id=first.video_id, camera_id=first.camera_id, track_id=first.track_id,
        frame_indices=np.concatenate([first.frame_indices, second.frame_indices]),
        timestamps=np.concatenate([first.timestamps, second.timestamps]),
        boxes_xyxy=np.concatenate([first.boxes_xyxy, second.boxes_xyxy]),
        scores=np.concatenate([first.scores, second.scores]),
        crops=[c for _, c in crops], crop_frame_indices=[f for f, _ in crops],
        thumbnail=thumb, thumbnail_frame_index=thumb_frame, start_time=first.start_time,
    )
