"""Drawing tracked boxes and ids on frames, and writing them to an annotated video."""

from __future__ import annotations

import os

import cv2
import numpy as np

from tracking.track import TrackedBox
from tracking.video import Frame, open_video_writer


def id_colour(track_id: int) -> tuple[int, int, int]:
    """A stable, distinct BGR colour for a track id."""
    hue = (track_id * 37) % 180
    bgr = cv2.cvtColor(np.array([[[hue, 220, 255]]], dtype=np.uint8), cv2.COLOR_HSV2BGR)[0, 0]
    return int(bgr[0]), int(bgr[1]), int(bgr[2])


def draw_tracks(
    image_bgr: np.ndarray, tracked: list[TrackedBox], timestamp: float | None = None
) -> np.ndarray:
    """Return a copy of ``image_bgr`` with each box (pixels, xyxy), its id and score drawn."""
    out = image_bgr.copy()
    for t in tracked:
        x1, y1, x2, y2 = (int(round(v)) for v in t.box_xyxy)
        colour = id_colour(t.track_id)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, 2)
        label = f"{t.track_id} {t.score:.2f}"
        cv2.putText(out, label, (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1,
                    cv2.LINE_AA)
    if timestamp is not None:
        cv2.putText(out, f"{timestamp:7.2f}s", (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6,
                    (255, 255, 255), 2, cv2.LINE_AA)
    return out


class Annotator:
    """A ``VideoTracker`` ``on_frame`` callback that writes annotated frames to ``path``."""

    def __init__(self, path: str | os.PathLike[str], fps: float, size_wh: tuple[int, int]):
        self._writer = open_video_writer(path, fps, size_wh)

    def write(self, frame: Frame, tracked: list[TrackedBox]) -> None:
        """Draw and write one frame."""
        self._writer.write(draw_tracks(frame.image, tracked, frame.timestamp))

    def close(self) -> None:
        """Finish the file."""
        self._writer.release()
