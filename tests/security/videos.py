"""Small videos and gallery look-ups shared by the security tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from reid.store import Store


def write_mjpg(path: Path, width: int, height: int, frames: int = 4, fps: float = 5.0) -> Path:
    """An MJPG AVI of ``frames`` flat grey frames of ``width`` x ``height`` pixels."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened(), path
    for k in range(frames):
        writer.write(np.full((height, width, 3), 40 * k % 256, np.uint8))
    writer.release()
    assert path.stat().st_size > 0
    return path


def scene_video(path: Path, seed: int = 1) -> Path:
    """A short synthetic two-person video (640x360, 30 frames) that HOG finds people in."""
    from tests.support.synthetic import make_multicamera_scenes

    scene = make_multicamera_scenes(num_cameras=1, num_identities=2, per_camera=2,
                                    num_frames=30, seed=seed)[0]
    return Path(scene.write_video(path))


def videos_by_name(data_dir: Path) -> dict[str, object]:
    """The gallery's videos by file name."""
    store = Store.open(data_dir)
    try:
        return {Path(v.path).name: v for v in store.list_videos()}
    finally:
        store.close()
