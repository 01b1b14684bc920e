"""Video decoding with OpenCV: real fps, per-frame timestamps, frame stride, clear errors.

Frames are BGR uint8 ``(H, W, 3)`` arrays as OpenCV decodes them; timestamps are seconds from the
video start, taken from the container when it gives increasing values, else ``index / fps``.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

logger = logging.getLogger(__name__)

_CONVERT_HINT = "convert it with `ffmpeg -i INPUT -c:v libx264 -pix_fmt yuv420p OUTPUT.mp4`"
# A read failure is retried this many times (skipping frames) before the stream is declared ended,
# so one corrupt frame in the middle does not end the video.
_MAX_CONSECUTIVE_FAILURES = 5


class VideoError(RuntimeError):
    """The file cannot be decoded as a video (not a video, zero frames, unsupported codec)."""


@dataclass(frozen=True)
class VideoInfo:
    """Static properties of an opened video.

    Attributes:
        path: the file path.
        fps: frames per second reported by the container (``default_fps`` when it reports none).
        frame_count: frames announced by the container (may be wrong or 0 for some containers).
        width: frame width in pixels.
        height: frame height in pixels.
    """

    path: str
    fps: float
    frame_count: int
    width: int
    height: int

    @property
    def duration_seconds(self) -> float:
        """Announced duration in seconds (``frame_count / fps``)."""
        return self.frame_count / self.fps if self.fps > 0 else 0.0


@dataclass
class Frame:
    """One decoded frame: ``index`` (0-based over all frames), ``timestamp`` (seconds from the video
    start) and ``image`` (BGR uint8 ``(H, W, 3)``)."""

    index: int
    timestamp: float
    image: np.ndarray


@dataclass
class ReadStats:
    """What happened while reading: frames decoded, frames that failed, and whether the stream
    ended before the announced frame count (a truncated file)."""

    decoded: int = 0
    failed: int = 0
    truncated: bool = False


class VideoReader:
    """Iterate over the frames of a video file with their timestamps.

    Args:
        path: video file path.
        stride: yield every ``stride``-th frame (1 = all frames); skipped frames are grabbed, not
            converted.
        default_fps: fps assumed when the container reports none (with a warning).
        max_frames: stop after this many frames of the video (``None``: read to the end).

    Raises:
        FileNotFoundError: the path does not exist.
        VideoError: the file is not a decodable video or has zero frames.
    """

    def __init__(self, path: str | os.PathLike[str], stride: int = 1, default_fps: float = 25.0,
                 max_frames: int | None = None):
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        self.path = str(path)
        self.stride = int(stride)
        self.max_frames = max_frames
        if not Path(self.path).is_file():
            raise FileNotFoundError(f"video file not found: {self.path}")
        self.stats = ReadStats()
        self.info = self._probe(default_fps)

    def _probe(self, default_fps: float) -> VideoInfo:
        cap = cv2.VideoCapture(self.path)
        try:
            if not cap.isOpened():
                raise VideoError(
                    f"cannot open {self.path}: not a video file or an unsupported codec; "
                    f"{_CONVERT_HINT}"
                )
            ok, image = cap.read()
            if not ok or image is None:
                raise VideoError(
                    f"{self.path} has zero decodable frames (empty, truncated or unsupported "
                    f"codec); {_CONVERT_HINT}"
                )
            fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
            if not math.isfinite(fps) or fps <= 0 or fps > 1000:
                logger.warning("%s reports no frame rate; assuming %.1f fps", self.path, default_fps)
                fps = float(default_fps)
            count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            height, width = image.shape[:2]
            return VideoInfo(self.path, fps, max(count, 0), int(width), int(height))
        finally:
            cap.release()

    def __iter__(self) -> Iterator[Frame]:
        return self.frames()

    def frames(self) -> Iterator[Frame]:
        """Yield :class:`Frame` objects for every ``stride``-th decodable frame.

        A frame that fails to decode is skipped with a warning; the stream ends after
        several consecutive failures. ``self.stats`` tells what happened once iteration ends.
        """
        self.stats = ReadStats()
        cap = cv2.VideoCapture(self.path)
        if not cap.isOpened():
            raise VideoError(f"cannot reopen {self.path}; {_CONVERT_HINT}")
        index, failures, last_ts = -1, 0, -1.0
        try:
            while True:
                index += 1
                if self.max_frames is not None and index >= self.max_frames:
                    break
                want = index % self.stride == 0
                ok = cap.grab()
                image = None
                if ok and want:
                    ok, image = cap.retrieve()
                    ok = ok and image is not None
                if not ok:
                    if index >= self.info.frame_count > 0 or failures >= _MAX_CONSECUTIVE_FAILURES:
                        break
                    failures += 1
                    self.stats.failed += 1
                    logger.warning("%s: frame %d failed to decode, skipped", self.path, index)
                    continue
                failures = 0
                self.stats.decoded += 1
                if not want:
                    continue
                ts = self._timestamp(cap, index, last_ts)
                last_ts = ts
                yield Frame(index=index, timestamp=ts, image=image)
        finally:
            cap.release()
            self._finish(index)

    def _timestamp(self, cap: cv2.VideoCapture, index: int, last_ts: float) -> float:
        ms = cap.get(cv2.CAP_PROP_POS_MSEC)
        ts = ms / 1000.0 if ms is not None and math.isfinite(ms) else -1.0
        # Containers without timestamps return 0 or stale values; fall back to the frame clock.
        if ts <= last_ts or (index > 0 and ts <= 0):
            ts = index / self.info.fps
        return float(ts)

    def _finish(self, last_index: int) -> None:
        expected = self.info.frame_count
        if self.max_frames is not None:
            expected = min(expected, self.max_frames)
        seen = self.stats.decoded + self.stats.failed
        # Containers often over-announce by a frame or two; only call it truncated beyond that.
        if expected > 0 and seen < expected - 2 and last_index >= 0:
            self.stats.truncated = True
            logger.warning(
                "%s ended after %d of %d announced frames (truncated or corrupt file); "
                "tracklets up to that point are kept",
                self.path,
                seen,
                expected,
            )


def open_video_writer(
    path: str | os.PathLike[str], fps: float, size_wh: tuple[int, int]
) -> cv2.VideoWriter:
    """Open an OpenCV writer for ``.mp4`` (mp4v) or ``.avi`` (MJPG); ``size_wh`` is (width, height).

    Raises:
        VideoError: the writer cannot be opened for that path or codec.
    """
    suffix = Path(path).suffix.lower()
    codecs = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "mp4v", ".mov": "mp4v"}
    if suffix not in codecs:
        raise VideoError(f"unsupported output extension {suffix!r}; use one of {sorted(codecs)}")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codecs[suffix]), fps, size_wh)
    if not writer.isOpened():
        raise VideoError(f"cannot open a video writer for {path} ({codecs[suffix]} codec)")
    return writer
