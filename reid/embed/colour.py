"""Colour part of the offline descriptor: square-rooted HSV histograms of horizontal body stripes.

Clothing colours separate people that ImageNet features see as alike (dark jackets, a white shirt
over dark or light trousers). Each crop is cut into ``stripes`` horizontal bands (2: upper and lower
body); each band's joint HSV histogram is L1-normalised and square-rooted (so the inner product of
two bands is their Bhattacharyya coefficient and each band has unit L2 norm).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from reid.embed.describe import HSV_BINS  # hue x saturation x value bins (the recipe lives there)


def stripe_colour_histograms(crops: Sequence[np.ndarray], stripes: int = 2,
                             bins: tuple[int, int, int] = HSV_BINS) -> np.ndarray:
    """Per crop, the concatenated square-rooted HSV histograms of its horizontal stripes.

    Args:
        crops: RGB uint8 images ``(h, w, 3)``, any size (at least ``stripes`` rows).
        stripes: horizontal bands per crop, top to bottom.
        bins: histogram bins for hue, saturation and value.

    Returns:
        ``(N, stripes * prod(bins))`` float32; each stripe's block has unit L2 norm (zero for an
        empty band).
    """
    size = int(np.prod(bins))
    out = np.zeros((len(crops), stripes * size), np.float32)
    for i, crop in enumerate(crops):
        hsv = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2HSV)
        edges = np.linspace(0, hsv.shape[0], stripes + 1).round().astype(int)
        for s, (top, bottom) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
            if bottom <= top:
                continue
            hist = cv2.calcHist([hsv[top:bottom]], [0, 1, 2], None, list(bins),
                                [0, 180, 0, 256, 0, 256]).ravel()
            out[i, s * size:(s + 1) * size] = np.sqrt(hist / max(float(hist.sum()), 1.0))
    return out
