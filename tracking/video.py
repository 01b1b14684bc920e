"""Video decoding with OpenCV: real fps, per-frame timestamps, frame stride, clear errors.

Frames are BGR uint8 ``(H, W, 3)`` arrays; timestamps are seconds from the video start, taken from
the container when it gives increasing values, else ``index / fps``.

Every video is checked against :data:`LIMITS` before its frames reach native code (the detector,
the tracker, the crop writer): frames smaller than 64x64 pixels or larger than 4K
(4096x2160 = 8.8 megapixels), and absurd announced frame counts, are refused with a
:class:`VideoError` naming the limit. Each decoded frame is normalised (grey, BGRA and 16-bit
frames become BGR uint8) and must keep the size of the first frame (else it is resized to it, or
skipped when it is itself out of limits).
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
    """The file cannot be decoded as a video (not a video, zero frames, unsupported codec), or its
    frames are outside :data:`LIMITS`."""


@dataclass(frozen=True)
class VideoLimits:
    """What an indexed video may be.

    Attributes:
        min_side: smallest frame width and height in pixels (smaller frames cannot show a person
            a detector can find, and crash OpenCV's HOG detector).
        max_side: largest frame width or height in pixels.
        max_pixels: largest frame area (default 4K DCI, 4096x2160); decoding and detecting on
            larger frames takes minutes and gigabytes per frame.
        max_frames: largest announced (and read) frame count (about 4.6 days at 25 fps).
    """

    min_side: int = 64
    max_side: int = 8192
    max_pixels: int = 4096 * 2160
    max_frames: int = 10_000_000

    def frame_problem(self, width: int, height: int) -> str | None:
        """Why a ``width`` x ``height`` frame is refused, or None when it is acceptable."""
        if width < self.min_side or height < self.min_side:
            return (f"frames of {width}x{height} pixels are too small to find people in "
                    f"(at least {self.min_side}x{self.min_side} pixels needed)")
        if width > self.max_side or height > self.max_side or width * height > self.max_pixels:
            return (f"frames of {width}x{height} pixels ({width * height / 1e6:.1f} megapixels) "
                    f"are over the limit of {self.max_pixels / 1e6:.1f} megapixels (4K, 4096x2160) "
                    f"and {self.max_side} pixels a side; downscale it, e.g. "
                    "`ffmpeg -i INPUT -vf scale=-2:2160 OUTPUT.mp4`")
        return None


LIMITS = VideoLimits()


def as_bgr_uint8(image: np.ndarray | None) -> np.ndarray | None:
    """``image`` as a contiguous BGR uint8 ``(H, W, 3)`` array, or None when it cannot be one.

    Grey ``(H, W)``/``(H, W, 1)`` and BGRA frames are converted; 16-bit frames are scaled to 8
    bits, float frames in [0, 1] to [0, 255]; empty arrays and other shapes give None.
    """
    if image is None or not isinstance(image, np.ndarray) or image.size == 0:
        return None
    if image.dtype != np.uint8:
        if image.dtype == np.uint16:
            image = (image >> 8).astype(np.uint8)
        elif np.issubdtype(image.dtype, np.floating):
            image = np.nan_to_num(image.astype(np.float32))
            scale = 255.0 if float(image.max(initial=0.0)) <= 1.0 else 1.0
            image = np.clip(image * scale, 0, 255).astype(np.uint8)
        elif np.issubdtype(image.dtype, np.integer) or image.dtype == np.bool_:
            image = np.clip(image, 0, 255).astype(np.uint8)
        else:
            return None
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        image = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_GRAY2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_BGRA2BGR)
    elif image.ndim != 3 or image.shape[2] != 3:
        return None
    return np.ascontiguousarray(image)


@dataclass(frozen=True)
class VideoProperties:
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
        max_frames: stop after this many frames of the video (``None``: read to the end, at most
            ``limits.max_frames``).
        limits: frame size and frame count limits (default :data:`LIMITS`).

    Raises:
        FileNotFoundError: the path does not exist.
        VideoError: the file is not a decodable video, has zero frames, or is outside ``limits``.
    """

    def __init__(self, path: str | os.PathLike[str], stride: int = 1, default_fps: float = 25.0,
                 max_frames: int | None = None, limits: VideoLimits = LIMITS):
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        self.path = str(path)
        self.stride = int(stride)
        self.limits = limits
        self.max_frames = limits.max_frames if max_frames is None else min(max_frames, limits.max_frames)
        if not Path(self.path).is_file():
            raise FileNotFoundError(f"video file not found: {self.path}")
        self.stats = ReadStats()
        self.info = self._probe(default_fps)

    def _open(self) -> cv2.VideoCapture:
        # FFmpeg only: no image-sequence patterns, pipelines or devices behind a file name.
        return cv2.VideoCapture(self.path, cv2.CAP_FFMPEG)

    def _probe(self, default_fps: float) -> VideoProperties:
        cap = self._open()
        try:
            if not cap.isOpened():
                raise VideoError(
                    f"cannot open {self.path}: not a video file or an unsupported codec; "
                    f"{_CONVERT_HINT}"
                )
            # The announced size is checked before a frame is decoded.
            announced = (_prop_int(cap, cv2.CAP_PROP_FRAME_WIDTH), _prop_int(cap, cv2.CAP_PROP_FRAME_HEIGHT))
            if announced[0] > 0 and announced[1] > 0:
                self._check_size(*announced)
            count = _prop_int(cap, cv2.CAP_PROP_FRAME_COUNT)
            if count > self.limits.max_frames:
                raise VideoError(
                    f"{self.path} announces {count} frames, more than the limit of "
                    f"{self.limits.max_frames} (a corrupt or hostile header); {_CONVERT_HINT}"
                )
            ok, raw = cap.read()
            image = as_bgr_uint8(raw) if ok else None
            if image is None:
                raise VideoError(
                    f"{self.path} has zero decodable frames (empty, truncated or unsupported "
                    f"codec); {_CONVERT_HINT}"
                )
            height, width = image.shape[:2]
            self._check_size(width, height)
            fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
            if not math.isfinite(fps) or fps < 0.1 or fps > 1000:
                logger.warning("%s reports no plausible frame rate (%s); assuming %.1f fps",
                               self.path, fps, default_fps)
                fps = float(default_fps)
            return VideoProperties(self.path, fps, max(count, 0), int(width), int(height))
        finally:
            cap.release()

    def _check_size(self, width: int, height: int) -> None:
        problem = self.limits.frame_problem(width, height)
        if problem is not None:
            raise VideoError(f"{self.path}: {problem}")

    def _conform(self, image: np.ndarray | None, index: int) -> np.ndarray | None:
        """A decoded frame as BGR uint8 of the video's size, or None to skip it."""
        image = as_bgr_uint8(image)
        if image is None:
            return None
        h, w = image.shape[:2]
        if (w, h) == (self.info.width, self.info.height):
            return image
        if self.limits.frame_problem(w, h) is not None:
            logger.warning("%s: frame %d is %dx%d, outside the limits; skipped", self.path, index, w, h)
            return None
        logger.warning("%s: frame %d is %dx%d, not %dx%d like the first; resized", self.path, index,
                       w, h, self.info.width, self.info.height)
        return cv2.resize(image, (self.info.width, self.info.height), interpolation=cv2.INTER_AREA)

    def __iter__(self) -> Iterator[Frame]:
        return self.frames()

    def frames(self) -> Iterator[Frame]:
        """Yield :class:`Frame` objects for every ``stride``-th decodable frame.

        A frame that fails to decode is skipped with a warning; the stream ends after
        several consecutive failures. ``self.stats`` tells what happened once iteration ends.
        """
        self.stats = ReadStats()
        cap = self._open()
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
                image: np.ndarray | None = None
                if ok and want:
                    ok, raw = cap.retrieve()
                    image = self._conform(raw, index) if ok else None
                    ok = image is not None
                if not ok:
                    if index >= self.info.frame_count > 0 or failures >= _MAX_CONSECUTIVE_FAILURES:
                        break
                    failures += 1
                    self.stats.failed += 1
                    logger.warning("%s: frame %d failed to decode, skipped", self.path, index)
                    continue
                failures = 0
                self.stats.decoded += 1
                if not want or image is None:  # image is None only when the frame is not wanted
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


def _prop_int(cap: cv2.VideoCapture, prop: int) -> int:
    """An integer capture property; 0 when missing, negative or not finite."""
    value = cap.get(prop)
    if value is None or not math.isfinite(value) or value <= 0:
        return 0
    return int(min(value, 2**62))


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
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*codecs[suffix]), fps, size_wh)
    if not writer.isOpened():
        raise VideoError(f"cannot open a video writer for {path} ({codecs[suffix]} codec)")
    return writer
