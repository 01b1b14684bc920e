"""Adapter between our :class:`Detection` records and ultralytics' ByteTrack / BoT-SORT.

The only module that touches ultralytics' trackers. Track ids handed out here are per-video: they
count from 1 in order of first appearance, whatever ultralytics' own counters say.
"""

from __future__ import annotations

import math
from argparse import Namespace
from dataclasses import dataclass
from typing import Any

import numpy as np

from tracking.records import Detection


class _DetectionBoxes:
    """The minimal results-like object ultralytics' trackers consume: ``conf``, ``cls``, ``xyxy``,
    ``xywh`` (centre x, centre y, w, h) numpy arrays, ``len`` and boolean/int indexing."""

    def __init__(self, xyxy: np.ndarray, conf: np.ndarray):
        self.xyxy = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
        self.conf = np.asarray(conf, dtype=np.float32).reshape(-1)
        self.cls = np.zeros(len(self.conf), dtype=np.float32)

    @property
    def xywh(self) -> np.ndarray:
        x1, y1, x2, y2 = self.xyxy.T
        return np.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], axis=1)

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, index: Any) -> _DetectionBoxes:
        return _DetectionBoxes(self.xyxy[index], self.conf[index])


@dataclass
class TrackedBox:
    """One tracked person in one frame: per-video ``track_id``, the detector's ``box_xyxy``
    (pixels) and ``score``, and ``det_index`` (row in the frame's :class:`Detection`)."""

    track_id: int
    box_xyxy: np.ndarray
    score: float
    det_index: int


def build_ultralytics_tracker(tracker_cfg: dict[str, Any], fps: float, stride: int = 1) -> Any:
    """Instantiate ultralytics' BYTETracker or BOTSORT from our ``tracker`` config section.

    ``lost_track_seconds`` becomes ``track_buffer`` frames at the rate the tracker sees frames
    (``fps / stride``), so the same config behaves the same on 10 fps and 30 fps video.
    """
    from ultralytics.trackers.bot_sort import BOTSORT
    from ultralytics.trackers.byte_tracker import BYTETracker

    args = dict(tracker_cfg)
    seconds = float(args.pop("lost_track_seconds", 1.0))
    args.setdefault("track_buffer", max(1, math.ceil(seconds * fps / stride)))
    kind = args["tracker_type"]
    cls = {"bytetrack": BYTETracker, "botsort": BOTSORT}[kind]
    if kind == "botsort":
        args.setdefault("gmc_method", "none")
        args.setdefault("with_reid", False)
        args.setdefault("model", "auto")
        args.setdefault("proximity_thresh", 0.5)
        args.setdefault("appearance_thresh", 0.8)
        if str(args["gmc_method"]).lower() == "none":
            args["gmc_method"] = None
    return cls(Namespace(**args))


class OnlineTracker:
    """Runs one ultralytics tracker over the frames of one video.

    Args:
        tracker_cfg: the ``tracker`` section of a :class:`~tracking.config.TrackingConfig`.
        fps: the video's real frame rate.
        stride: frame stride the caller uses (the tracker sees ``fps / stride`` frames a second).
    """

    def __init__(self, tracker_cfg: dict[str, Any], fps: float, stride: int = 1):
        self._tracker = build_ultralytics_tracker(tracker_cfg, fps, stride)
        self.max_frames_lost = int(self._tracker.max_frames_lost)
        self._ids: dict[int, int] = {}  # ultralytics id -> per-video id

    def update(self, detection: Detection, image: np.ndarray | None = None) -> list[TrackedBox]:
        """Feed one frame's detections; return the confirmed tracks matched in this frame.

        ``image`` (BGR) is only needed by BoT-SORT's motion compensation.
        """
        boxes = _DetectionBoxes(detection.boxes_xyxy, detection.scores)
        rows = self._tracker.update(boxes, image)
        out: list[TrackedBox] = []
        for row in np.asarray(rows).reshape(-1, 8) if len(rows) else ():
            det_index = int(row[7])
            if det_index < 0 or det_index >= len(detection):
                continue
            raw_id = int(row[4])
            track_id = self._ids.setdefault(raw_id, len(self._ids) + 1)
            out.append(
                TrackedBox(
                    track_id,
                    detection.boxes_xyxy[det_index].copy(),
                    float(detection.scores[det_index]),
                    det_index,
                )
            )
        return out
