"""Two-camera footage of known people of a synthetic video-ReID dataset, with ground-truth boxes.

The people are drawn by ``training.datasets.synthetic.render_walk``: the same identities and camera
looks as the dataset the model trains on, in fresh walks. Each camera shows its people side by side
in lanes (its own order), drifting slowly to the right; every box is fully visible.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.support.synthetic import GroundTruthFrame
from tracking.video import open_video_writer
from training.datasets.synthetic import render_walk

TILE_HW = (128, 64)
LANE_W = 96
MARGIN = 32


@dataclass
class Footage:
    """One camera's video of known people.

    Attributes:
        camera: camera name (the folder the video is written into).
        pids: the dataset identity in each lane, left to right.
        num_frames: frames in the video.
        frames: per frame, the BGR uint8 image ``(H, W, 3)``.
    """

    camera: str
    pids: list[int]
    num_frames: int
    frames: list[np.ndarray]

    def box(self, lane: int, frame: int) -> np.ndarray:
        """Box ``(4,)`` xyxy in pixels of the person in ``lane`` at ``frame``."""
        x0 = MARGIN + lane * LANE_W + 0.5 * frame
        return np.array([x0, 16, x0 + TILE_HW[1], 16 + TILE_HW[0]], np.float32)

    def ground_truth(self, frame: int) -> GroundTruthFrame:
        """Every person in every frame, fully visible (what ``GroundTruthDetector`` reads)."""
        boxes = np.stack([self.box(k, frame) for k in range(len(self.pids))])
        return GroundTruthFrame(np.array(self.pids, np.int64), boxes, np.ones(len(self.pids)))

    def identity_of(self, boxes_xyxy: np.ndarray, frames: np.ndarray) -> int:
        """The identity whose lane holds a stored tracklet's boxes ``(N, 4)`` at ``frames`` ``(N,)``."""
        x = float(np.median(boxes_xyxy[:, 0] - 0.5 * frames.astype(np.float64)))
        return self.pids[int(np.clip(round((x - MARGIN) / LANE_W), 0, len(self.pids) - 1))]

    def write(self, folder: Path, fps: float = 10.0) -> Path:
        """Write the video as ``folder/<camera>/walk.avi`` (MJPG); returns the path."""
        path = folder / self.camera / "walk.avi"
        path.parent.mkdir(parents=True, exist_ok=True)
        h, w = self.frames[0].shape[:2]
        writer = open_video_writer(path, fps, (w, h))
        try:
            for image in self.frames:
                writer.write(image)
        finally:
            writer.release()
        return path


def make_footage(dataset_root: Path, camid: int, pids: list[int], num_frames: int = 30,
                 seed: int = 0) -> Footage:
    """Camera ``camid`` of the dataset at ``dataset_root`` filming ``pids`` (lanes left to right)."""
    walks = [render_walk(dataset_root, pid, camid, num_frames, TILE_HW, seed=seed * 1000 + pid)
             for pid in pids]
    # The camera's background: the border of its first tile (the walk draws no clutter).
    first = walks[0][0].astype(np.float64)
    background = np.median(np.concatenate([first[:, :4].reshape(-1, 3), first[:, -4:].reshape(-1, 3)]), 0)
    rng = np.random.default_rng(seed)
    h = TILE_HW[0] + 32
    w = 2 * MARGIN + LANE_W * len(pids) + num_frames // 2
    footage = Footage(f"cam{camid}", list(pids), num_frames, [])
    for f in range(num_frames):
        canvas = np.clip(background + rng.normal(0, 4, (h, w, 3)), 0, 255).astype(np.uint8)
        for k in range(len(pids)):
            x0, y0 = (int(round(v)) for v in footage.box(k, f)[:2])
            canvas[y0:y0 + TILE_HW[0], x0:x0 + TILE_HW[1]] = walks[k][f]
        footage.frames.append(np.ascontiguousarray(canvas[..., ::-1]))  # RGB -> BGR for OpenCV
    return footage
