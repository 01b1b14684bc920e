"""Stitching: re-link tracklets of one camera that the tracker broke (occlusion, missed boxes).

A fragment B is linked after a finished fragment A when B starts at most ``max_gap_seconds`` after
A ends, the implied speed is plausible, a constant-velocity extrapolation of A lands near B's first
box, and their colour histograms agree. Works online: finished fragments wait in a pending pool
only until no running track could still link to them.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from tracking.config import StitchConfig
from tracking.records import Tracklet
from tracking.tracklets import merge_tracklets

logger = logging.getLogger(__name__)


def colour_signature(crops: list[np.ndarray]) -> np.ndarray | None:
    """Normalised HSV hue-saturation histogram (``(16*8,)`` float32) averaged over RGB crops;
    ``None`` without crops. The central part of each crop is used to limit background."""
    hists = []
    for crop in crops:
        h, w = crop.shape[:2]
        core = crop[h // 10 : h - h // 10, w // 5 : w - w // 5]
        if core.size == 0:
            continue
        hsv = cv2.cvtColor(np.ascontiguousarray(core), cv2.COLOR_RGB2HSV)
        hist = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256]).reshape(-1)
        hists.append(hist / max(hist.sum(), 1e-6))
    return np.mean(hists, axis=0).astype(np.float32) if hists else None


def appearance_similarity(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
    """Bhattacharyya coefficient of two normalised histograms in ``[0, 1]``; ``None`` if unknown."""
    if a is None or b is None:
        return None
    return float(np.sum(np.sqrt(a * b)))


def _centre(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], dtype=np.float64)


def link_cost(a: Tracklet, b: Tracklet, cfg: StitchConfig) -> float | None:
    """Cost of linking ``b`` after ``a`` (lower is better), or ``None`` when not allowed."""
    gap = b.start_seconds - a.end_seconds
    if gap <= 0 or gap > cfg.max_gap_seconds:
        return None
    last, first = a.boxes_xyxy[-1], b.boxes_xyxy[0]
    jump = np.linalg.norm(_centre(first) - _centre(last))
    if jump / gap > cfg.max_speed_px_s:
        return None
    # Velocity over A's last second, extrapolated across the gap.
    recent = a.timestamps >= a.end_seconds - 1.0
    t, boxes = a.timestamps[recent], a.boxes_xyxy[recent]
    vel = np.zeros(2)
    if len(t) >= 2 and t[-1] > t[0]:
        vel = (_centre(boxes[-1]) - _centre(boxes[0])) / (t[-1] - t[0])
    height = max(float(last[3] - last[1]), 1.0)
    error = np.linalg.norm(_centre(last) + vel * gap - _centre(first)) / height
    if error > cfg.max_motion_error * (1.0 + gap):
        return None
    sim = appearance_similarity(colour_signature(a.crops[-4:]), colour_signature(b.crops[:4]))
    if sim is not None and sim < cfg.min_appearance_similarity:
        return None
    return float(error / (1.0 + gap) + (1.0 - (sim if sim is not None else 0.5)))


class Stitcher:
    """Online stitcher between the tracklet builder and the consumer.

    ``push`` finished raw tracklets; ``release`` returns those that can no longer be extended.
    """

    def __init__(self, cfg: StitchConfig, max_crops: int):
        self.cfg = cfg
        self.max_crops = max_crops
        self.pending: list[Tracklet] = []
        self.links = 0

    def push(self, tracklet: Tracklet) -> None:
        """Add a finished fragment, merging it onto the best pending fragment it continues."""
        best, best_cost = -1, float("inf")
        for i, cand in enumerate(self.pending):
            cost = link_cost(cand, tracklet, self.cfg)
            if cost is not None and cost < best_cost:
                best, best_cost = i, cost
        if best < 0:
            self.pending.append(tracklet)
            return
        head = self.pending[best]
        logger.debug("stitching track %d onto %d (cost %.2f)", tracklet.track_id, head.track_id, best_cost)
        self.pending[best] = merge_tracklets(head, tracklet, self.max_crops)
        self.links += 1

    def release(self, now_seconds: float, active_starts: list[float]) -> list[Tracklet]:
        """Return pending tracklets that no running or future fragment can continue."""
        ready: list[Tracklet] = []
        keep: list[Tracklet] = []
        for t in self.pending:
            horizon = t.end_seconds + self.cfg.max_gap_seconds
            blocked = now_seconds <= horizon or any(t.end_seconds < s <= horizon for s in active_starts)
            (keep if blocked else ready).append(t)
        self.pending = keep
        return ready

    def flush(self) -> list[Tracklet]:
        """Return every pending tracklet (end of video)."""
        out, self.pending = self.pending, []
        return out
