"""Reading a tracklet's stored crop files (OpenCV and numpy only: no torch)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def read_rgb_crop(path: str | Path) -> np.ndarray | None:
    """A stored crop as an RGB uint8 ``(h, w, 3)`` array, or None when the file is missing or
    unreadable."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
