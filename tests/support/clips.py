"""Short clips cut out of real footage (``data/vtest.avi``) with OpenCV, for tests and benchmarks
that index a few seconds of real video (a test kit)."""

from __future__ import annotations

from pathlib import Path

import cv2

__all__ = ["clip_seconds", "cut_clip"]

_DEFAULT_FPS = 10.0  # where a container does not say


def cut_clip(src: Path, dst: Path, start: int, count: int) -> Path:
    """Write frames ``[start, start + count)`` of ``src`` (fewer where it ends first) to ``dst``
    as an MJPG AVI at the source's frame rate (10 fps where it has none); returns ``dst``.

    Raises:
        ValueError: no frame of ``src`` could be read from ``start`` on.
    """
    cap = cv2.VideoCapture(str(src))
    try:
        fps = cap.get(cv2.CAP_PROP_FPS) or _DEFAULT_FPS
        cap.set(cv2.CAP_PROP_POS_FRAMES, start)
        writer: cv2.VideoWriter | None = None
        try:
            for _ in range(count):
                ok, frame = cap.read()
                if not ok:
                    break
                if writer is None:
                    h, w = frame.shape[:2]
                    writer = cv2.VideoWriter(str(dst), cv2.VideoWriter.fourcc(*"MJPG"), fps, (w, h))
                writer.write(frame)
        finally:
            if writer is not None:
                writer.release()
    finally:
        cap.release()
    if writer is None:
        raise ValueError(f"could not read frames {start}.. of {src}")
    return dst


def clip_seconds(path: Path) -> float:
    """The length of a video file in seconds: its frame count over its frame rate (as its
    container declares them; 10 fps where it has none)."""
    cap = cv2.VideoCapture(str(path))
    try:
        fps = cap.get(cv2.CAP_PROP_FPS) or _DEFAULT_FPS
        return float(cap.get(cv2.CAP_PROP_FRAME_COUNT)) / fps
    finally:
        cap.release()
