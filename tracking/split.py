"""Finding where a tracklet's person changes for good (the tracker switched people in a crowd).

A track's boxes get appearance signatures from their frames, sampled evenly over its life
(:func:`appearance_signature`): a colour histogram of the box centre in which background colours
count less. A track whose signatures fall into runs with clearly different means is cut between
them (:func:`change_points`); the builder then makes one tracklet of each run
(:class:`tracking.tracklets.TrackletBuilder`, ``tracklets.split_min_similarity``). Colour alone
cannot tell apart two people dressed alike (in vtest.avi many wear dark coats): those switches stay.

The histogram follows Pérez et al. (ECCV 2002, colour-based probabilistic tracking): hue x
saturation bins for coloured pixels and value-only bins for dark or grey ones, whose hue is noise
(a black coat on grass takes a green tint from the video's chroma subsampling). Background colours
are weighted down with the bands left and right of the box, as the background-weighted histogram
of Comaniciu et al. (PAMI 2003) does.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

HUE_BINS, SAT_BINS, VALUE_BINS = 8, 4, 6
SIGNATURE_SIZE = HUE_BINS * SAT_BINS + VALUE_BINS
"""Length of an :func:`appearance_signature`."""

# Pixels under these (0-255 HSV) go to the value-only bins: their hue is unreliable.
_MIN_SATURATION, _MIN_VALUE = 50, 50
# The box centre that describes the person (fractions of the box), and the width of each
# background band beside the box (fraction of the box width).
_CORE_X, _CORE_Y, _BAND = (0.2, 0.8), (0.1, 0.9), 0.5


def _histogram(hsv: np.ndarray) -> npt.NDArray[np.float64]:
    """Normalised ``(SIGNATURE_SIZE,)`` histogram of ``(..., 3)`` uint8 OpenCV HSV pixels."""
    px = hsv.reshape(-1, 3).astype(np.int32)
    out = np.zeros(SIGNATURE_SIZE, np.float64)
    if not len(px):
        return out
    h, s, v = px[:, 0], px[:, 1], px[:, 2]
    colour = (s >= _MIN_SATURATION) & (v >= _MIN_VALUE)
    hue = np.minimum(h * HUE_BINS // 180, HUE_BINS - 1)
    sat = np.minimum((s - _MIN_SATURATION) * SAT_BINS // (256 - _MIN_SATURATION), SAT_BINS - 1)
    bins = np.where(colour, hue * SAT_BINS + sat,
                    HUE_BINS * SAT_BINS + np.minimum(v * VALUE_BINS // 256, VALUE_BINS - 1))
    out += np.bincount(bins, minlength=SIGNATURE_SIZE)
    out /= out.sum()
    return out


def appearance_signature(image_bgr: np.ndarray, box_xyxy: np.ndarray) -> np.ndarray | None:
    """Colour signature ``(SIGNATURE_SIZE,)`` float32 (sums to 1) of the person in ``box_xyxy``
    (pixels) of a BGR frame; ``None`` when the box centre holds no pixels.

    Each bin of the centre's histogram is weighted by ``core / (core + background)``, the
    background histogram taken over the bands beside the box (half the box width each side,
    clipped to the frame; none when the box spans the frame).
    """
    height, width = image_bgr.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    bw, bh = x2 - x1, y2 - y1
    cx1, cx2 = int(max(0, x1 + _CORE_X[0] * bw)), int(min(width, x1 + _CORE_X[1] * bw))
    cy1, cy2 = int(max(0, y1 + _CORE_Y[0] * bh)), int(min(height, y1 + _CORE_Y[1] * bh))
    if cx2 - cx1 < 1 or cy2 - cy1 < 1:
        return None
    ya, yb = int(max(0, y1)), int(min(height, y2))
    left = (int(max(0, x1 - _BAND * bw)), int(max(0, x1)))
    right = (int(min(width, np.ceil(x2))), int(min(width, x2 + _BAND * bw)))
    cut = [(cy1, cy2, cx1, cx2)] + [(ya, yb, a, b) for a, b in (left, right) if b > a and yb > ya]
    hsv = [cv2.cvtColor(np.ascontiguousarray(image_bgr[r0:r1, c0:c1]), cv2.COLOR_BGR2HSV)
           for r0, r1, c0, c1 in cut]
    core = _histogram(hsv[0])
    background = _histogram(np.concatenate([p.reshape(-1, 3) for p in hsv[1:]])) if len(hsv) > 1 \
        else np.zeros_like(core)
    weighted = core * core / np.maximum(core + background, 1e-12)
    weighted /= weighted.sum()
    return weighted.astype(np.float32)


def _similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Bhattacharyya coefficient of two normalised histograms, in ``[0, 1]``."""
    return float(np.sum(np.sqrt(np.clip(a, 0, None) * np.clip(b, 0, None))))


def _allowed(n: int, min_side: int, times: np.ndarray | None, min_seconds: float) -> np.ndarray:
    """Cuts ``k`` in ``[1, n)`` that leave each side at least ``min_side`` crops and, with
    ``times``, at least ``min_seconds`` between its first and last crop."""
    k = np.arange(1, n)
    ok = (k >= min_side) & (n - k >= min_side)
    if times is not None and min_seconds > 0:
        t = np.asarray(times, np.float64)
        ok &= (t[k - 1] - t[0] >= min_seconds) & (t[-1] - t[k] >= min_seconds)
    return k[ok]


def best_cut(signatures: np.ndarray, min_side: int, times: np.ndarray | None = None,
             min_seconds: float = 0.0) -> tuple[int, float] | None:
    """The cut ``k`` (signatures ``[:k]`` against ``[k:]``) whose two sides' mean signatures are
    least alike, with that similarity; ``None`` when no cut leaves both sides long enough.

    Args:
        signatures: ``(N, D)`` normalised histograms in time order.
        min_side: fewest signatures on each side.
        times: ``(N,)`` seconds of the signatures, to require ``min_seconds`` from the first to the
            last of each side.
    """
    n = len(signatures)
    cuts = _allowed(n, max(1, min_side), times, min_seconds)
    if not len(cuts):
        return None
    sig = np.asarray(signatures, np.float64)
    before = np.cumsum(sig, axis=0)
    sims = [_similarity(before[k - 1] / k, (before[-1] - before[k - 1]) / (n - k)) for k in cuts]
    j = int(np.argmin(sims))
    return int(cuts[j]), float(sims[j])


def _segment(signatures: np.ndarray, min_similarity: float, min_side: int,
             times: np.ndarray | None, min_seconds: float) -> list[int]:
    """Binary segmentation: cut at :func:`best_cut` when under ``min_similarity``, then recurse."""
    found = best_cut(signatures, min_side, times, min_seconds)
    if found is None or found[1] >= min_similarity:
        return []
    k = found[0]
    t_left, t_right = (None, None) if times is None else (times[:k], times[k:])
    left = _segment(signatures[:k], min_similarity, min_side, t_left, min_seconds)
    right = _segment(signatures[k:], min_similarity, min_side, t_right, min_seconds)
    return left + [k] + [k + c for c in right]


def change_points(signatures: np.ndarray, min_similarity: float, min_side: int,
                  times: np.ndarray | None = None, min_seconds: float = 0.0) -> list[int]:
    """Where a run of signatures changes person: sorted cut indices (a part starts at each).

    Binary segmentation: the least-alike cut (:func:`best_cut`) is taken when the similarity of
    its two sides' mean signatures is below ``min_similarity``, then each side is searched again.
    Then every cut must still part its two neighbouring parts: while the most alike neighbours are
    not under ``min_similarity`` the cut between them is dropped (over a gradual change, two people
    overlapping as they cross, the segmentation can cut at its start and again inside it, leaving
    a fragment alike to the part before). ``min_similarity <= 0`` never cuts.

    Args:
        signatures: ``(N, D)`` normalised histograms in time order.
        min_similarity: Bhattacharyya coefficient under which the two sides are different people.
        min_side: fewest signatures a part may have.
        times: ``(N,)`` seconds of the signatures; with ``min_seconds``, the shortest span (first
            to last signature) a part may have.
    """
    if min_similarity <= 0:
        return []
    sig = np.asarray(signatures, np.float64)
    cuts = _segment(sig, min_similarity, min_side, times, min_seconds)
    while cuts:
        bounds = [0, *cuts, len(sig)]
        means = [sig[a:b].mean(axis=0) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        sims = [_similarity(a, b) for a, b in zip(means[:-1], means[1:], strict=True)]
        j = int(np.argmax(sims))
        if sims[j] < min_similarity:
            break
        del cuts[j]
    return cuts
