"""From a video file to filtered person tracklets with crops, streamed as tracks finish.

``VideoTracker(...).run()`` yields :class:`Tracklet` s while the video is decoded, so an indexer
can embed and store them without holding the video; :func:`track_video` collects them.

With ``stride`` N > 1 only every N-th frame is detected. Two things keep the tracklets whole: the
tracker matches with widened boxes (people move further between the frames it sees; the tracker
key ``stride_buffer_per_second``), and finished tracklets get interpolated boxes on the frames in
between (``tracklets.fill_gaps_seconds``, :func:`~tracking.tracklets.fill_gaps`; the filters run
before, so ``min_boxes`` counts detections). At any stride each track also gets back the detection
it was born from, which the tracker does not report (it confirms a track on its second frame).

A finished track whose person changes for good (the tracker switched people as they crossed) is
cut into one tracklet per person before stitching and the filters, which then see each part on its
own (``tracklets.split_min_similarity``, :mod:`tracking.split`); the crops this needs are collected
even when the caller wants none.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from tracking.boxes import iou_matrix
from tracking.config import TrackingConfig, load_tracking_config
from tracking.detect import Detector
from tracking.records import Detection, Tracklet
from tracking.stitch import Stitcher
from tracking.track import OnlineTracker, TrackedBox
from tracking.tracklets import TrackletBuilder, fill_gaps, gap_fill_frames, occlusion_fractions
from tracking.video import Frame, ReadStats, VideoProperties, VideoReader

logger = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]
"""``progress(frames_done, frames_total)``; frames count decoded frames, total may be 0 (unknown)."""
FrameFn = Callable[[Frame, list[TrackedBox]], None]
"""``on_frame(frame, tracked_boxes)`` after each processed frame (annotation, live display)."""

# A track's first detection is found again in the previous frame above this IoU (widened boxes);
# ultralytics confirms a new track at about this overlap (cost 1 - IoU x score <= 0.7).
_BIRTH_MIN_IOU = 0.3

AUTO_STRIDE = 0
"""``stride`` value meaning: detect about :data:`DETECTIONS_PER_SECOND` frames a second."""
DETECTIONS_PER_SECOND = 5.0
"""Detection rate of the automatic stride: every 2nd frame of a 10-fps video, every 5th at 25 fps,
every 6th at 30 fps. On vtest.avi (10 fps) stride 2 tracked 0.80 of every person of the frames checked
by eye against 0.85 at stride 1, IDF1 0.52 both, whole-pipeline mAP 0.83 against 0.87, and indexed at
3.8x real time against 2.1x (``benchmarks/reid_labelled.py``, ``pipeline_labelled.py``)."""


def detection_stride(fps: float, rate: float = DETECTIONS_PER_SECOND) -> int:
    """The stride that detects about ``rate`` frames a second of a ``fps`` video (at least 1)."""
    return max(1, round(fps / rate)) if fps > 0 else 1


STRIDE_BUFFER_KEY = "stride_buffer_per_second"
"""Tracker config key read here, not by ultralytics: see :func:`stride_buffer`."""


def stride_buffer(tracker_cfg: Mapping[str, Any], fps: float, stride: int) -> float:
    """Fraction of a box's width and height added on each side for matching at ``stride``:
    ``stride_buffer_per_second`` times the seconds of skipped video between two processed frames,
    ``(stride - 1) / fps``; 0 at stride 1 or when the key is 0 or absent."""
    rate = float(tracker_cfg.get(STRIDE_BUFFER_KEY, 0.0) or 0.0)
    return max(0.0, rate * (stride - 1) / fps) if fps > 0 else 0.0


def widen_boxes(boxes_xyxy: np.ndarray, fraction: float) -> np.ndarray:
    """``(N, 4)`` xyxy pixel boxes grown by ``fraction`` of their width/height on each side
    (same centres); the buffered IoU of Yang et al. (C-BIoU, 2023) for matching fast movers."""
    b = np.asarray(boxes_xyxy, np.float32).reshape(-1, 4)
    pad = fraction * np.concatenate([b[:, 2:] - b[:, :2]] * 2, axis=1)
    return b + pad * np.array([-1, -1, 1, 1], np.float32)


@dataclass
class TrackingStats:
    """Counters and timings of one run (seconds of wall time per stage)."""

    frames_processed: int = 0
    detections: int = 0
    raw_tracks: int = 0
    kept_tracklets: int = 0
    stitched_links: int = 0
    split_tracks: int = 0
    filled_boxes: int = 0
    backfilled_boxes: int = 0
    decode_seconds: float = 0.0
    detect_seconds: float = 0.0
    track_seconds: float = 0.0
    total_seconds: float = 0.0
    read: ReadStats = field(default_factory=ReadStats)


class VideoTracker:
    """Track the people of one video.

    Args:
        video: path of the video file.
        detector: any :class:`~tracking.detect.Detector`.
        config: a :class:`TrackingConfig` or a config name/path (``"bytetrack"``, ``"botsort"``).
        video_id: id stored in the tracklets (default: the file stem).
        camera_id: camera name stored in the tracklets (default: ``video_id``).
        stride: detect every ``stride``-th frame (tracklets still get boxes on the frames between,
            see the module docstring); :data:`AUTO_STRIDE` (0): :func:`detection_stride` of the
            video's frame rate.
        max_frames: only the first ``max_frames`` frames of the video (``None``: all).
        start_time: wall-clock POSIX seconds of the first frame, if known.
        with_crops: collect crops and thumbnails (RGB uint8 ``(H, W, 3)``).
        progress: optional ``progress(done, total)`` callback.
        on_frame: optional per-frame callback with the tracked boxes.
    """

    def __init__(self, video: str | os.PathLike[str], detector: Detector,
                 config: TrackingConfig | str = "bytetrack", *, video_id: str | None = None,
                 camera_id: str | None = None, stride: int = 1, max_frames: int | None = None,
                 start_time: float | None = None,
                 with_crops: bool = True, progress: ProgressFn | None = None,
                 on_frame: FrameFn | None = None):
        if stride < 0:
            raise ValueError(f"stride must be >= 1, or {AUTO_STRIDE} for automatic, got {stride}")
        self.reader = VideoReader(video, stride=max(1, stride), max_frames=max_frames)
        if stride == AUTO_STRIDE:
            self.reader.stride = stride = detection_stride(self.reader.info.fps)
        self.detector = detector
        self.config = config if isinstance(config, TrackingConfig) else load_tracking_config(config)
        self.video_id = video_id or Path(video).stem
        self.camera_id = camera_id or self.video_id
        self.stride = stride
        self.start_time = start_time
        self.with_crops = with_crops
        self.progress = progress
        self.on_frame = on_frame
        self.stats = TrackingStats()
        fps = self.reader.info.fps
        self._buffer = stride_buffer(self.config.tracker, fps, stride)
        self._fill_frames = gap_fill_frames(self.config.tracklets.fill_gaps_seconds, fps, stride)
        self._new_thresh = float(self.config.tracker.get("new_track_thresh", 0.0))
        self._last_id = 0
        self._prev: tuple[int, float, np.ndarray, np.ndarray] | None = None

    @property
    def info(self) -> VideoProperties:
        """The video's fps, size and announced frame count."""
        return self.reader.info

    @property
    def total_frames(self) -> int:
        """Frames this run will read (announced count, capped by ``max_frames``)."""
        n = self.reader.info.frame_count
        return min(n, self.reader.max_frames) if self.reader.max_frames is not None else n

    def run(self) -> Iterator[Tracklet]:
        """Yield kept tracklets as their tracks finish (then the rest at the end of the video)."""
        info, cfg = self.reader.info, self.config
        self.stats = stats = TrackingStats()
        self._last_id, self._prev = 0, None
        t_start = time.perf_counter()
        tracker_cfg = {k: v for k, v in cfg.tracker.items() if k != STRIDE_BUFFER_KEY}
        tracker = OnlineTracker(tracker_cfg, info.fps, self.stride)
        # Stitching and splitting compare crops: they are collected even when not returned.
        need_crops = cfg.stitching.enabled or cfg.tracklets.split_min_similarity > 0
        builder = TrackletBuilder(self.video_id, self.camera_id, (info.width, info.height),
                                  cfg.tracklets, with_crops=self.with_crops or need_crops,
                                  start_time=self.start_time)
        stitcher = Stitcher(cfg.stitching, cfg.tracklets.max_crops) if cfg.stitching.enabled else None
        # A track unseen this many frames has been dropped by the tracker.
        gap_frames = (tracker.max_frames_lost + 1) * self.stride
        batch: list[Frame] = []
        frames = iter(self.reader)
        while True:
            t0 = time.perf_counter()
            frame = next(frames, None)
            stats.decode_seconds += time.perf_counter() - t0
            if frame is not None:
                batch.append(frame)
                if len(batch) < max(1, self.detector.batch_size):
                    continue
            if batch:
                t0 = time.perf_counter()
                dets = self.detector.detect([f.image for f in batch], [f.index for f in batch])
                stats.detect_seconds += time.perf_counter() - t0
                for f, det in zip(batch, dets, strict=False):
                    yield from self._step(f, det, tracker, builder, stitcher, gap_frames)
                batch = []
            if frame is None:
                break
        yield from self._emit(builder.finish_all(), builder, stitcher, final=True)
        stats.read = self.reader.stats
        stats.total_seconds = time.perf_counter() - t_start
        if stitcher is not None:
            stats.stitched_links = stitcher.links
        stats.split_tracks = builder.splits

    def _step(self, frame: Frame, det: Detection, tracker: OnlineTracker,
              builder: TrackletBuilder, stitcher: Stitcher | None,
              gap_frames: int) -> Iterator[Tracklet]:
        stats = self.stats
        t0 = time.perf_counter()
        if self._buffer > 0:
            # Match on widened boxes, keep the detector's boxes.
            wide = Detection(det.frame_index, widen_boxes(det.boxes_xyxy, self._buffer), det.scores)
            tracked = [TrackedBox(t.track_id, det.boxes_xyxy[t.det_index].copy(), t.score, t.det_index)
                       for t in tracker.update(wide, frame.image)]
        else:
            tracked = tracker.update(det, frame.image)
        stats.track_seconds += time.perf_counter() - t0
        stats.frames_processed += 1
        stats.detections += len(det)
        self._backfill(frame, det, tracked, builder)
        if tracked:
            boxes = np.stack([t.box_xyxy for t in tracked])
            occ = occlusion_fractions(det.boxes_xyxy)[[t.det_index for t in tracked]]
            builder.add(frame.index, frame.timestamp, frame.image, [t.track_id for t in tracked],
                        boxes, np.array([t.score for t in tracked]), occ)
        if self.on_frame is not None:
            # The ids the tracklets will carry (they move up after a split, see TrackletBuilder).
            self.on_frame(frame, [dataclasses.replace(t, track_id=builder.track_id(t.track_id))
                                  for t in tracked])
        if self.progress is not None:
            self.progress(frame.index + 1, self.total_frames)
        finished = builder.finish_stale(frame.index, gap_frames)
        yield from self._emit(finished, builder, stitcher, now=frame.timestamp)

    def _backfill(self, frame: Frame, det: Detection, tracked: list[TrackedBox],
                  builder: TrackletBuilder) -> None:
        """Give each new track the detection it was born from.

        The tracker reports a track from its second matched frame on; its first detection was
        unmatched in the previous processed frame. Found again by IoU of the (widened) boxes."""
        prev, self._prev = self._prev, None
        new = [t for t in tracked if t.track_id > self._last_id]
        self._last_id = max([self._last_id] + [t.track_id for t in tracked])
        used = {t.det_index for t in tracked}
        free = [i for i in range(len(det)) if i not in used and det.scores[i] >= self._new_thresh]
        self._prev = (frame.index, frame.timestamp, det.boxes_xyxy[free], det.scores[free])
        if not new or prev is None or not len(prev[2]):
            return
        index, ts, boxes, scores = prev
        cur = widen_boxes(np.stack([t.box_xyxy for t in new]), self._buffer)
        iou = iou_matrix(cur, widen_boxes(boxes, self._buffer))
        rows, cols = linear_sum_assignment(-iou)
        ok = [(r, c) for r, c in zip(rows, cols, strict=True) if iou[r, c] >= _BIRTH_MIN_IOU]
        if ok:
            builder.add(index, ts, None, [new[r].track_id for r, _ in ok], boxes[[c for _, c in ok]],
                        scores[[c for _, c in ok]], np.zeros(len(ok), np.float32))
            self.stats.backfilled_boxes += len(ok)

    def _emit(self, finished: list[Tracklet], builder: TrackletBuilder, stitcher: Stitcher | None,
              now: float = 0.0, final: bool = False) -> Iterator[Tracklet]:
        self.stats.raw_tracks += len(finished)
        if stitcher is None:
            ready = finished
        else:
            for t in sorted(finished, key=lambda t: t.start_seconds):
                stitcher.push(t)
            ready = stitcher.flush() if final else stitcher.release(now, builder.active_start_times())
        for t in sorted(ready, key=lambda t: t.track_id):
            if not builder.keep(t):
                continue
            n = len(t)
            t = fill_gaps(t, self._fill_frames)
            self.stats.filled_boxes += len(t) - n
            if not self.with_crops:
                t.crops, t.crop_frame_indices, t.thumbnail = [], [], None
            self.stats.kept_tracklets += 1
            yield t


def track_video(video: str | os.PathLike[str], detector: Detector,
                config: TrackingConfig | str = "bytetrack", *,
                on_tracklet: Callable[[Tracklet], None] | None = None,
                **kwargs: object) -> tuple[list[Tracklet], TrackingStats]:
    """Track a whole video and return ``(tracklets, stats)``.

    Keyword arguments are those of :class:`VideoTracker`. With ``on_tracklet`` each tracklet is
    handed over as soon as it is final and is not kept in the returned list (bounded memory).
    """
    vt = VideoTracker(video, detector, config, **kwargs)  # type: ignore[arg-type]
    kept: list[Tracklet] = []
    for tracklet in vt.run():
        if on_tracklet is None:
            kept.append(tracklet)
        else:
            on_tracklet(tracklet)
    return kept, vt.stats
