"""Multi-object tracking metrics as pure numpy functions: CLEAR-MOT MOTA and identity IDF1 (a test kit).

Inputs are per-frame dictionaries ``{frame_index: (ids (N,), boxes_xyxy (N, 4))}`` for ground
truth and hypotheses; a pair matches when IoU >= ``iou_threshold``.

- MOTA = 1 - (FN + FP + IDSW) / GT (Bernardin & Stiefelhagen 2008): matches persist from frame to
  frame while IoU allows, the rest are assigned by the Hungarian method; an identity switch is a
  ground-truth id matched to a different hypothesis id than at its previous match.
- IDF1 = 2 IDTP / (GT + HYP) (Ristani et al. 2016), IDTP from the one-to-one identity mapping
  that maximises the number of matched boxes over the whole sequence.

Tracker output becomes ``hyp`` with :func:`tracking.boxes.tracklets_to_frames`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from tracking.boxes import FrameBoxes, iou_matrix


@dataclass(frozen=True)
class MOTResult:
    """Counts and scores of one evaluation."""

    mota: float
    idf1: float
    num_gt: int
    num_hyp: int
    false_negatives: int
    false_positives: int
    id_switches: int
    idtp: int


def _empty() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(0, np.int64), np.zeros((0, 4), np.float32)


def _frame_matches(gt_ids: np.ndarray, gt_boxes: np.ndarray, hyp_ids: np.ndarray,
                   hyp_boxes: np.ndarray, previous: dict[int, int],
                   thr: float) -> list[tuple[int, int]]:
    """CLEAR-MOT matching of one frame: keep last frame's pairs that still overlap, then Hungarian."""
    iou = iou_matrix(gt_boxes, hyp_boxes)
    pairs: list[tuple[int, int]] = []
    used_g, used_h = set(), set()
    hyp_pos = {int(h): j for j, h in enumerate(hyp_ids)}
    for i, g in enumerate(gt_ids):
        j = hyp_pos.get(previous.get(int(g), -(10**9)))
        if j is not None and iou[i, j] >= thr and j not in used_h:
            pairs.append((i, j))
            used_g.add(i)
            used_h.add(j)
    rest_g = [i for i in range(len(gt_ids)) if i not in used_g]
    rest_h = [j for j in range(len(hyp_ids)) if j not in used_h]
    if rest_g and rest_h:
        sub = iou[np.ix_(rest_g, rest_h)]
        rows, cols = linear_sum_assignment(-sub)
        pairs += [(rest_g[r], rest_h[c]) for r, c in zip(rows, cols, strict=False) if sub[r, c] >= thr]
    return pairs


def evaluate_mot(gt: FrameBoxes, hyp: FrameBoxes, iou_threshold: float = 0.5) -> MOTResult:
    """MOTA and IDF1 of hypotheses ``hyp`` against ground truth ``gt`` (see module docstring)."""
    frames = sorted(set(gt) | set(hyp))
    last_match: dict[int, int] = {}
    fn = fp = idsw = num_gt = num_hyp = 0
    gt_index: dict[int, int] = {}
    hyp_index: dict[int, int] = {}
    co: dict[tuple[int, int], int] = {}
    for f in frames:
        g_ids, g_boxes = gt.get(f, _empty())
        h_ids, h_boxes = hyp.get(f, _empty())
        g_ids, h_ids = np.asarray(g_ids, np.int64), np.asarray(h_ids, np.int64)
        num_gt += len(g_ids)
        num_hyp += len(h_ids)
        for g in g_ids:
            gt_index.setdefault(int(g), len(gt_index))
        for h in h_ids:
            hyp_index.setdefault(int(h), len(hyp_index))
        pairs = _frame_matches(g_ids, g_boxes, h_ids, h_boxes, last_match, iou_threshold)
        fn += len(g_ids) - len(pairs)
        fp += len(h_ids) - len(pairs)
        for i, j in pairs:
            g, h = int(g_ids[i]), int(h_ids[j])
            if g in last_match and last_match[g] != h:
                idsw += 1
            last_match[g] = h
        # Identity co-occurrence counts use every pair above threshold, not only CLEAR matches.
        iou = iou_matrix(g_boxes, h_boxes)
        for i, j in zip(*np.nonzero(iou >= iou_threshold), strict=False):
            key = (gt_index[int(g_ids[i])], hyp_index[int(h_ids[j])])
            co[key] = co.get(key, 0) + 1
    idtp = _max_identity_matching(co, len(gt_index), len(hyp_index))
    mota = 1.0 - (fn + fp + idsw) / num_gt if num_gt else 0.0
    denom = num_gt + num_hyp
    idf1 = 2.0 * idtp / denom if denom else 0.0
    return MOTResult(mota, idf1, num_gt, num_hyp, fn, fp, idsw, idtp)


def _max_identity_matching(co: dict[tuple[int, int], int], n_gt: int, n_hyp: int) -> int:
    if not co:
        return 0
    m = np.zeros((n_gt, n_hyp))
    for (g, h), c in co.items():
        m[g, h] = c
    rows, cols = linear_sum_assignment(-m)
    return int(m[rows, cols].sum())
