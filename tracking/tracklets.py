"""Tracklet assembly while a video streams: boxes per track, bounded crop sampling, best thumbnail,
finishing of tracks the tracker dropped, and filtering of useless tracklets.

Memory per active track is bounded: at most ``2 * max_crops`` crops are buffered, thinned by
doubling the sampling step whenever the buffer fills, so the kept crops stay evenly spread over
the track's life however long it runs.

A finished track that shows two people one after the other (the tracker switched identities when
they crossed) is cut into one tracklet per person (``split_min_similarity``, see
:mod:`tracking.split`). For that each track also keeps up to ``SIGNATURES_PER_CROP * max_crops``
colour signatures (``SIGNATURE_SIZE`` floats each), thinned the same way: denser than the crops, so
a person seen for a few seconds of a long track still has enough of them.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from tracking.config import TrackletConfig
from tracking.records import Tracklet
from tracking.split import appearance_signature, change_points

logger = logging.getLogger(__name__)

SIGNATURES_PER_CROP = 4
"""Signatures buffered per crop of ``max_crops`` (a bound on memory: 4 x 16 x 38 floats a track)."""


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
    covered: npt.NDArray[np.float32] = inter.max(axis=1)
    return (covered / area).astype(np.float32)


def outside_fraction(boxes_xyxy: np.ndarray, width: int, height: int) -> np.ndarray:
    """Fraction of each box's area that lies outside a ``width`` x ``height`` frame, ``(N,)``."""
    b = np.asarray(boxes_xyxy, dtype=np.float32).reshape(-1, 4)
    area = np.maximum((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]), 1e-6)
    iw: npt.NDArray[np.float32] = np.clip(np.minimum(b[:, 2], width) - np.maximum(b[:, 0], 0), 0, None)
    ih: npt.NDArray[np.float32] = np.clip(np.minimum(b[:, 3], height) - np.maximum(b[:, 1], 0), 0, None)
    return 1.0 - iw * ih / area


@dataclass
class _Sample:
    """One buffered crop: observation number, frame, RGB crop, thumbnail quality."""

    obs: int
    frame: int
    crop: np.ndarray
    quality: float


@dataclass
class _ActiveTrack:
    track_id: int
    frames: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    crops: list[_Sample] = field(default_factory=list)
    step: int = 1
    signatures: list[tuple[int, np.ndarray]] = field(default_factory=list)  # (obs#, signature)
    signature_step: int = 1
    thumb: np.ndarray | None = None
    thumb_frame: int = -1
    thumb_quality: float = -1.0


class TrackletBuilder:
    """Accumulates tracked boxes per track and turns finished tracks into :class:`Tracklet` s.

    Track ids: a track keeps the id it is added with (the tracker's) until the first split. A part
    split off a finished track takes the next free number (after every track already started), and
    the ids of tracks that start later move up by one per earlier split (:meth:`track_id`), so ids
    stay unique within the video and unsplit tracks keep their order of first appearance. This
    needs the ids given to :meth:`add` to be new ones above all earlier ones when a track starts,
    as :class:`~tracking.track.OnlineTracker` hands them out.

    Args:
        video_id: id stored in every tracklet.
        camera_id: camera name stored in every tracklet.
        frame_size: ``(width, height)`` of the video in pixels.
        config: filtering, crop and split settings.
        with_crops: keep crops and thumbnails (False: boxes only, no pixel memory, no splitting).
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
        self.splits = 0
        self._max_id = 0

    def track_id(self, tracker_id: int) -> int:
        """The tracklet id of the tracker's running (or starting) track ``tracker_id``: the
        tracker's id moved up by the parts split off before the track started."""
        t = self.active.get(tracker_id)
        return t.track_id if t is not None else tracker_id + self.splits

    def add(self, frame_index: int, timestamp: float, image_bgr: np.ndarray | None,
            track_ids: list[int], boxes_xyxy: np.ndarray, scores: np.ndarray,
            occlusion: np.ndarray) -> None:
        """Record one frame's tracked boxes (``(N, 4)`` pixels) with their scores and occlusion;
        ``track_ids`` are the tracker's."""
        for i, tid in enumerate(track_ids):
            t = self.active.get(tid)
            if t is None:
                t = self.active[tid] = _ActiveTrack(self.track_id(tid))
                self._max_id = max(self._max_id, t.track_id)
            obs = len(t.frames)
            box = np.asarray(boxes_xyxy[i], dtype=np.float32)
            t.frames.append(frame_index)
            t.times.append(timestamp)
            t.boxes.append(box)
            t.scores.append(float(scores[i]))
            if self.with_crops and image_bgr is not None:
                self._sample_crop(t, obs, frame_index, image_bgr, box, float(scores[i]),
                                  float(occlusion[i]))
                self._sample_signature(t, obs, image_bgr, box)

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
        t.crops.append(_Sample(obs, frame_index, crop, quality))
        if len(t.crops) > 2 * max(1, self.cfg.max_crops):
            t.step *= 2
            t.crops = [c for c in t.crops if c.obs % t.step == 0]

    def _sample_signature(self, t: _ActiveTrack, obs: int, image: np.ndarray, box: np.ndarray) -> None:
        if self.cfg.split_min_similarity <= 0 or obs % t.signature_step:
            return
        signature = appearance_signature(image, box)
        if signature is None:
            return
        t.signatures.append((obs, signature))
        if len(t.signatures) > 2 * SIGNATURES_PER_CROP * max(1, self.cfg.max_crops):
            t.signature_step *= 2
            t.signatures = [s for s in t.signatures if s[0] % t.signature_step == 0]

    def finish_stale(self, current_frame: int, max_gap_frames: int) -> list[Tracklet]:
        """Finish tracks not seen for more than ``max_gap_frames`` frames (the tracker has
        removed them); returns them as raw (unfiltered) tracklets, split where the person
        changes."""
        stale = [tid for tid, t in self.active.items() if current_frame - t.frames[-1] > max_gap_frames]
        return [part for tid in stale for part in self._finish(self.active.pop(tid))]

    def finish_all(self) -> list[Tracklet]:
        """Finish every active track (end of video); returns raw tracklets, split where the person
        changes."""
        done = [part for t in self.active.values() for part in self._finish(t)]
        self.active.clear()
        return done

    def active_start_times(self) -> list[float]:
        """Start times (seconds) of the tracks still running."""
        return [t.times[0] for t in self.active.values()]

    def _cuts(self, t: _ActiveTrack) -> list[int]:
        """Box indices where a new person starts (empty: one person): each cut between two
        signatures falls on the middle observation between them."""
        min_side = max(1, self.cfg.split_min_signatures)
        if self.cfg.split_min_similarity <= 0 or len(t.signatures) < 2 * min_side:
            return []
        obs = np.array([o for o, _ in t.signatures])
        cuts = change_points(np.stack([s for _, s in t.signatures]), self.cfg.split_min_similarity,
                             min_side, np.asarray(t.times)[obs], self.cfg.split_min_seconds)
        return [int(obs[k - 1] + obs[k] + 1) // 2 for k in cuts]

    def _finish(self, t: _ActiveTrack) -> list[Tracklet]:
        bounds = [0, *self._cuts(t), len(t.frames)]
        parts = []
        for j in range(len(bounds) - 1):
            if j:
                self._max_id += 1
                self.splits += 1
            track_id = t.track_id if j == 0 else self._max_id
            lo, hi = bounds[j], bounds[j + 1]
            parts.append(self._part(t, track_id, lo, hi, [c for c in t.crops if lo <= c.obs < hi]))
        if len(parts) > 1:
            logger.debug("track %d split at frames %s into %s", t.track_id,
                         [t.frames[b] for b in bounds[1:-1]], [p.track_id for p in parts])
        return parts

    def _part(self, t: _ActiveTrack, track_id: int, lo: int, hi: int,
              samples: list[_Sample]) -> Tracklet:
        """Boxes ``lo:hi`` of ``t`` with ``samples`` (its crops in that span) as one tracklet; a
        part without crops (shorter than the crop spacing of a long track) has no thumbnail."""
        k = min(len(samples), max(1, self.cfg.max_crops))
        keep: np.ndarray | list[int] = (
            np.unique(np.linspace(0, len(samples) - 1, k).round().astype(int)) if samples else [])
        chosen = [samples[j] for j in keep]
        first, last = t.frames[lo], t.frames[hi - 1]
        thumb, thumb_frame = t.thumb, t.thumb_frame
        if t.thumb is not None and not first <= t.thumb_frame <= last:
            best = max(samples, key=lambda c: c.quality, default=None)
            thumb, thumb_frame = (best.crop, best.frame) if best is not None else (None, -1)
        return Tracklet(
            video_id=self.video_id, camera_id=self.camera_id, track_id=track_id,
            frame_indices=np.asarray(t.frames[lo:hi], dtype=np.int64),
            timestamps=np.asarray(t.times[lo:hi], dtype=np.float64),
            boxes_xyxy=np.stack(t.boxes[lo:hi]), scores=np.asarray(t.scores[lo:hi], dtype=np.float32),
            crops=[c.crop for c in chosen], crop_frame_indices=[c.frame for c in chosen],
            thumbnail=thumb, thumbnail_frame_index=thumb_frame, start_time=self.start_time,
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
