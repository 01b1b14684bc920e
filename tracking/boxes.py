"""Per-frame box helpers shared by the tracking pipeline and the label scoring.

Boxes are ``xyxy`` pixels of the full frame. ``FrameBoxes`` is the per-frame form every scorer reads:
``{frame_index: (ids (N,), boxes_xyxy (N, 4))}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from tracking.records import Tracklet

FrameBoxes = Mapping[int, tuple[np.ndarray, np.ndarray]]


def iou_matrix(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> np.ndarray:
    """IoU between ``(N, 4)`` and ``(M, 4)`` pixel boxes, ``(N, M)``."""
    a = np.asarray(a_xyxy, np.float64).reshape(-1, 4)
    b = np.asarray(b_xyxy, np.float64).reshape(-1, 4)
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def tracklets_to_frames(tracklets: Iterable[Tracklet]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Hypotheses per frame from :class:`~tracking.records.Tracklet` s (id = ``track_id``):
    frame -> (track ids ``(M,)`` int64, boxes ``(M, 4)`` float32)."""
    acc: dict[int, tuple[list[int], list[np.ndarray]]] = {}
    for t in tracklets:
        for f, box in zip(t.frame_indices, t.boxes_xyxy, strict=False):
            ids, boxes = acc.setdefault(int(f), ([], []))
            ids.append(int(t.track_id))
            boxes.append(box)
    return {f: (np.array(i, np.int64), np.stack(b).astype(np.float32)) for f, (i, b) in acc.items()}
