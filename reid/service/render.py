"""Play back a tracklet: a short browser-playable clip or a strip of frames, with its box drawn."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import cv2
import numpy as np

from reid.untrusted import printable

logger = logging.getLogger(__name__)

BOX_COLOUR_BGR = (40, 220, 40)
# (fourcc, suffix) in order of preference: VP8 WebM plays in every browser; mp4v is the fallback.
CLIP_CODECS = (("VP80", ".webm"), ("mp4v", ".mp4"))


def _box_at(frames: np.ndarray, boxes_xyxy: np.ndarray, index: int) -> np.ndarray | None:
    """The tracklet's box at frame ``index``, linearly interpolated between detections."""
    if index < frames[0] or index > frames[-1]:
        return None
    j = int(np.searchsorted(frames, index))
    if frames[j] == index:
        return np.asarray(boxes_xyxy[j])
    a, b = j - 1, j
    w = (index - frames[a]) / max(1, frames[b] - frames[a])
    return np.asarray((1 - w) * boxes_xyxy[a] + w * boxes_xyxy[b])


def _draw(image_bgr: np.ndarray, box: np.ndarray | None, label: str) -> np.ndarray:
    label = printable(label, max_chars=40)  # the camera name is user text
    if box is not None:
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(image_bgr, (x1, y1), (x2, y2), BOX_COLOUR_BGR, 2)
        cv2.putText(image_bgr, label, (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    BOX_COLOUR_BGR, 1, cv2.LINE_AA)
    return image_bgr


def _open(video_path: str | Path) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(str(video_path))
    if not cap.isOpened():
        raise FileNotFoundError(f"cannot open the source video {video_path} (moved or deleted?)")
    return cap


def render_clip(
    video_path: str | Path,
    frames: np.ndarray,
    boxes_xyxy: np.ndarray,
    out_stem: Path,
    *,
    label: str = "",
    margin_frames: int = 10,
    max_frames: int = 600,
    max_side: int = 640,
) -> Path:
    """Write the frames of a tracklet (plus a margin) with its box drawn.

    Args:
        video_path: the source video.
        frames: (N,) increasing frame indices of the tracklet's boxes.
        boxes_xyxy: (N, 4) pixel boxes of those frames.
        out_stem: output path without suffix; ``.webm`` (VP8) or ``.mp4`` is added.
        margin_frames: frames shown before the first and after the last box.
        max_frames: cap on the clip length (frames).
        max_side: frames are downscaled so that their longer side is at most this.

    Returns:
        The written file.
    """
    cap = _open(video_path)
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    first = max(0, int(frames[0]) - margin_frames)
    last = min(int(frames[-1]) + margin_frames, first + max_frames - 1)
    writer, path, scale, size = None, None, 1.0, (0, 0)
    try:
        cap.set(cv2.CAP_PROP_POS_FRAMES, first)
        for index in range(first, last + 1):
            ok, image = cap.read()
            if not ok:
                break
            image = _draw(image, _box_at(frames, boxes_xyxy, index), label)
            if writer is None:
                scale = min(1.0, max_side / max(image.shape[:2]))
                size = (int(image.shape[1] * scale) // 2 * 2, int(image.shape[0] * scale) // 2 * 2)
                # Written under a temporary name, renamed when complete: a reader never gets a
                # half-written clip, and a crash leaves no truncated clip in the cache.
                writer, path = _open_writer(out_stem.with_name(out_stem.name + ".partial"), fps, size)
            writer.write(cv2.resize(image, size) if scale < 1.0 else image)
    finally:
        cap.release()
        if writer is not None:
            writer.release()
    if path is None:
        raise ValueError(f"no frames could be read from {video_path} at frames {first}..{last}")
    final = out_stem.with_suffix(path.suffix)
    os.replace(path, final)
    return final


def _open_writer(out_stem: Path, fps: float, size: tuple[int, int]) -> tuple[cv2.VideoWriter, Path]:
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    for fourcc, suffix in CLIP_CODECS:
        path = out_stem.with_suffix(suffix)
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), fps, size)
        if writer.isOpened():
            return writer, path
        writer.release()
    raise RuntimeError("OpenCV cannot write video here (no VP8 or mp4v encoder)")


def render_frames(
    video_path: str | Path, frames: np.ndarray, boxes_xyxy: np.ndarray, n: int = 6, label: str = ""
) -> list[np.ndarray]:
    """``n`` annotated RGB frames sampled evenly over the tracklet (a strip for quick review)."""
    cap = _open(video_path)
    picks = np.unique(np.linspace(0, len(frames) - 1, num=min(n, len(frames))).round().astype(int))
    out = []
    try:
        for j in picks:
            cap.set(cv2.CAP_PROP_POS_FRAMES, int(frames[j]))
            ok, image = cap.read()
            if ok:
                out.append(cv2.cvtColor(_draw(image, boxes_xyxy[j], label), cv2.COLOR_BGR2RGB))
    finally:
        cap.release()
    return out
