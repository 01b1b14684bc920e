"""Synthetic camera scenes with ground truth, a kit for tests and benchmarks.

Procedural people (head, patterned torso, legs) whose clothing colours and pattern are a function
of their identity, so the same identity looks the same on every camera. They walk across the view
on straight paths, enter and leave through the edges, and (with ``occlusions=True``) cross each
other in depth so nearer people hide farther ones. Ground truth is per frame: identity, full box
``boxes_xyxy`` in pixels (may extend past the frame) and visible fraction.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from tracking.records import Detection
from tracking.video import open_video_writer

_PATTERNS = ("solid", "hstripes", "vstripes", "check")


@dataclass(frozen=True)
class Appearance:
    """Clothing of one identity: BGR colours and a torso pattern name."""

    shirt: tuple[int, int, int]
    pants: tuple[int, int, int]
    accent: tuple[int, int, int]
    pattern: str

    @classmethod
    def for_identity(cls, identity: int) -> Appearance:
        """Deterministic appearance of ``identity`` (same on every camera and run)."""
        rng = np.random.default_rng(10_007 * (identity + 1))
        hue = (identity * 47 + int(rng.integers(0, 20))) % 180

        def colour(h: int, s: int, v: int) -> tuple[int, int, int]:
            bgr = cv2.cvtColor(np.array([[[h % 180, s, v]]], dtype=np.uint8), cv2.COLOR_HSV2BGR)[0, 0]
            return int(bgr[0]), int(bgr[1]), int(bgr[2])

        return cls(
            shirt=colour(hue, 200, 220),
            pants=colour(hue + 90, int(rng.integers(60, 200)), int(rng.integers(60, 160))),
            accent=colour(hue + 45, 230, 250),
            pattern=_PATTERNS[identity % len(_PATTERNS)],
        )


@dataclass
class PersonPath:
    """One identity's straight walk through one camera view.

    ``start_frame``..``end_frame`` (inclusive) bound the walk; ``start_xy`` and ``velocity_xy``
    give the bottom-centre of the box in pixels and pixels per frame; ``size_wh`` the box size.
    """

    identity: int
    start_frame: int
    end_frame: int
    start_xy: tuple[float, float]
    velocity_xy: tuple[float, float]
    size_wh: tuple[float, float]

    def box_at(self, frame: int) -> np.ndarray | None:
        """Full box ``(4,)`` xyxy in pixels at ``frame``, or ``None`` outside the walk."""
        if not self.start_frame <= frame <= self.end_frame:
            return None
        k = frame - self.start_frame
        cx = self.start_xy[0] + self.velocity_xy[0] * k
        by = self.start_xy[1] + self.velocity_xy[1] * k
        w, h = self.size_wh
        return np.array([cx - w / 2, by - h, cx + w / 2, by], dtype=np.float32)


@dataclass
class GroundTruthFrame:
    """Ground truth of one frame: ``ids`` ``(N,)``, ``boxes_xyxy`` ``(N, 4)`` pixels,
    ``visibility`` ``(N,)`` fraction of each box that is visible and inside the frame."""

    ids: np.ndarray
    boxes_xyxy: np.ndarray
    visibility: np.ndarray


@dataclass
class SyntheticScene:
    """A rendered-on-demand camera view with ground truth.

    Attributes:
        camera_id: camera name.
        size_wh: frame size in pixels.
        fps: frames per second.
        num_frames: frames in the scene.
        paths: every identity's walk.
        seed: background seed.
    """

    camera_id: str
    size_wh: tuple[int, int]
    fps: float
    num_frames: int
    paths: list[PersonPath]
    seed: int = 0
    _background: np.ndarray | None = field(default=None, repr=False)

    def background(self) -> np.ndarray:
        """Static textured BGR background ``(H, W, 3)``."""
        if self._background is None:
            w, h = self.size_wh
            rng = np.random.default_rng(self.seed)
            bg = np.full((h, w, 3), 110, np.uint8)
            bg[: h // 3] = (150, 140, 120)
            for _ in range(12):
                x, y = int(rng.integers(0, w)), int(rng.integers(0, h // 3))
                c = tuple(int(v) for v in rng.integers(60, 200, 3))
                cv2.rectangle(bg, (x, y), (x + int(rng.integers(20, 90)), h // 3), c, -1)
            noise = rng.normal(0, 6, bg.shape)
            self._background = np.clip(bg + noise, 0, 255).astype(np.uint8)
        return self._background

    def ground_truth(self, frame: int) -> GroundTruthFrame:
        """Identities, full boxes and visible fractions at ``frame``."""
        w, h = self.size_wh
        items = [(p.identity, b) for p in self.paths if (b := p.box_at(frame)) is not None]
        if not items:
            return GroundTruthFrame(np.zeros(0, np.int64), np.zeros((0, 4), np.float32), np.zeros(0))
        ids = np.array([i for i, _ in items], np.int64)
        boxes = np.stack([b for _, b in items]).astype(np.float32)
        vis = np.zeros(len(items))
        order = np.argsort(boxes[:, 3])  # farther (smaller bottom y) first
        covered = np.zeros((h, w), bool)
        for j in order[::-1]:  # nearest first
            x1, y1, x2, y2 = (int(round(v)) for v in boxes[j])
            area = max((x2 - x1) * (y2 - y1), 1)
            cx1, cy1, cx2, cy2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
            if cx2 > cx1 and cy2 > cy1:
                region = covered[cy1:cy2, cx1:cx2]
                vis[j] = float((~region).sum()) / area
                region[:] = True
        return GroundTruthFrame(ids, boxes, vis)

    def render(self, frame: int) -> np.ndarray:
        """The BGR uint8 ``(H, W, 3)`` image of ``frame``."""
        img = self.background().copy()
        gt = self.ground_truth(frame)
        for j in np.argsort(gt.boxes_xyxy[:, 3]):
            _draw_person(img, gt.boxes_xyxy[j], Appearance.for_identity(int(gt.ids[j])), frame)
        return img

    def write_video(self, path: str | os.PathLike[str]) -> str:
        """Write the scene as ``.avi`` (MJPG) or ``.mp4`` (mp4v); returns the path."""
        writer = open_video_writer(path, self.fps, self.size_wh)
        try:
            for f in range(self.num_frames):
                writer.write(self.render(f))
        finally:
            writer.release()
        return str(path)


def _draw_person(img: np.ndarray, box: np.ndarray, app: Appearance, frame: int) -> None:
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    cx = (x1 + x2) / 2
    head_r = max(2, int(h * 0.09))
    cv2.circle(img, (int(cx), int(y1 + head_r)), head_r, (120, 160, 210), -1)
    t1, t2 = int(y1 + 2 * head_r), int(y1 + 0.58 * h)
    tx1, tx2 = int(x1 + 0.1 * w), int(x2 - 0.1 * w)
    cv2.rectangle(img, (tx1, t1), (tx2, t2), app.shirt, -1)
    step = max(3, int(h * 0.06))
    if app.pattern == "hstripes":
        for y in range(t1, t2, 2 * step):
            cv2.rectangle(img, (tx1, y), (tx2, min(y + step, t2)), app.accent, -1)
    elif app.pattern == "vstripes":
        for x in range(tx1, tx2, 2 * step):
            cv2.rectangle(img, (x, t1), (min(x + step, tx2), t2), app.accent, -1)
    elif app.pattern == "check":
        for y in range(t1, t2, 2 * step):
            for x in range(tx1 + (step if (y - t1) // (2 * step) % 2 else 0), tx2, 2 * step):
                cv2.rectangle(img, (x, y), (min(x + step, tx2), min(y + step, t2)), app.accent, -1)
    swing = int(0.12 * w * np.sin(frame * 0.6))
    leg_w = max(2, int(0.28 * w))
    for sgn in (-1, 1):
        lx = int(cx + sgn * 0.18 * w + sgn * swing)
        cv2.rectangle(img, (lx - leg_w // 2, t2), (lx + leg_w // 2, int(y2)), app.pants, -1)


def make_scene(num_people: int = 4, num_frames: int = 120, size_wh: tuple[int, int] = (640, 360),
               fps: float = 10.0, seed: int = 0, occlusions: bool = False,
               identities: Sequence[int] | None = None, camera_id: str = "cam0") -> SyntheticScene:
    """Build a scene of people walking across the view.

    Without ``occlusions`` every person keeps a lane of their own (no overlaps). With it, people
    walk in opposite directions through a shared band of depth and pass in front of each other.
    ``identities`` picks which identities appear (default ``0..num_people-1``).
    """
    rng = np.random.default_rng(seed)
    w, h = size_wh
    ids = list(identities) if identities is not None else list(range(num_people))
    paths = []
    for k, ident in enumerate(ids):
        ph = float(rng.uniform(0.30, 0.42) * h) if not occlusions else float(rng.uniform(0.36, 0.44) * h)
        pw = ph * 0.38
        if occlusions:
            bottom = h * 0.78 + (k % 2) * h * 0.12 + rng.uniform(-4, 4)
        else:
            bottom = h * (0.45 + 0.5 * (k + 0.5) / len(ids))
        direction = 1 if (k % 2 == 0) else -1
        speed = float(rng.uniform(0.012, 0.02) * w) * direction
        span = int((w + pw) / abs(speed))
        start = int(rng.integers(0, max(1, num_frames - min(span, num_frames) // 2)))
        x0 = -pw / 2 if direction > 0 else w + pw / 2
        end = min(num_frames - 1, start + span)
        drift = float(rng.uniform(-0.3, 0.3))
        paths.append(PersonPath(int(ident), start, end, (x0, bottom), (speed, drift), (pw, ph)))
    return SyntheticScene(camera_id, size_wh, fps, num_frames, paths, seed)


def make_multicamera_scenes(num_cameras: int = 3, num_identities: int = 6, per_camera: int = 4,
                            seed: int = 0, **kwargs: object) -> list[SyntheticScene]:
    """Several cameras sharing a pool of identities; each shows ``per_camera`` of them."""
    rng = np.random.default_rng(seed)
    scenes = []
    for c in range(num_cameras):
        chosen = rng.choice(num_identities, size=min(per_camera, num_identities), replace=False)
        scenes.append(make_scene(identities=[int(i) for i in chosen], seed=seed * 100 + c,
                                 camera_id=f"cam{c}", **kwargs))  # type: ignore[arg-type]
    return scenes


class GroundTruthDetector:
    """A detector that reads boxes from a :class:`SyntheticScene` (for tests).

    Args:
        scene: the scene whose ground truth is returned.
        min_visibility: people less visible than this are missed (as a real detector would).
        jitter_px: standard deviation of Gaussian box noise in pixels.
        miss_rate: probability of dropping a visible box.
        score: confidence given to every box.
        seed: noise seed.
    """

    name = "ground_truth"

    def __init__(self, scene: SyntheticScene, min_visibility: float = 0.4, jitter_px: float = 0.0,
                 miss_rate: float = 0.0, score: float = 0.9, seed: int = 0, batch_size: int = 4):
        self.scene = scene
        self.min_visibility = min_visibility
        self.jitter_px = jitter_px
        self.miss_rate = miss_rate
        self.score = score
        self.batch_size = batch_size
        self._rng = np.random.default_rng(seed)

    def detect(self, images: Sequence[np.ndarray], frame_indices: Sequence[int]) -> list[Detection]:
        """Ground-truth boxes of ``frame_indices`` (the images are ignored)."""
        out = []
        for idx in frame_indices:
            gt = self.scene.ground_truth(int(idx))
            keep = gt.visibility >= self.min_visibility
            if self.miss_rate:
                keep &= self._rng.random(len(keep)) >= self.miss_rate
            boxes = gt.boxes_xyxy[keep].copy()
            if self.jitter_px:
                boxes += self._rng.normal(0, self.jitter_px, boxes.shape).astype(np.float32)
            out.append(Detection(int(idx), boxes, np.full(len(boxes), self.score)))
        return out
