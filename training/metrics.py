"""Retrieval metrics of the video-ReID protocol (TFCLIP.md section 9.3): CMC and mAP.

Pure numpy. ``evaluate_rank`` follows torchreid's signature; the caller decides what the gallery
is. Under the spec protocol the gallery is query ∪ gallery; :func:`query_plus_gallery` builds it.
"""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["evaluate_rank", "query_plus_gallery", "euclidean_distmat"]


def evaluate_rank(
    distmat: np.ndarray,
    q_pids: np.ndarray,
    g_pids: np.ndarray,
    q_camids: np.ndarray,
    g_camids: np.ndarray,
    max_rank: int = 50,
    chunk_size: int = 256,
) -> tuple[np.ndarray, float]:
    """CMC curve and mAP of a query-by-gallery distance matrix.

    For each query the gallery is sorted by ascending distance (stable sort), gallery items with the
    query's pid **and** camera are removed (this removes the query itself when the gallery contains
    the queries, and its same-camera positives), and queries with no positive left are skipped.
    CMC is the cumulative hit vector clipped to 1; AP is the non-interpolated mean of precision at
    the rank of each positive.

    Args:
        distmat: (Q, G) float distances (smaller = more similar).
        q_pids, q_camids: (Q,) integer identity / camera of each query.
        g_pids, g_camids: (G,) integer identity / camera of each gallery item.
        max_rank: length of the returned CMC; ranks beyond the gallery keep the last value.
        chunk_size: queries processed at once (bounds memory to about ``chunk_size * G`` elements).

    Returns:
        ``(cmc, mAP)``: cmc is a float64 array of shape (max_rank,), cmc[k] = fraction of valid
        queries with a true match within the top k+1; mAP is a float in [0, 1].

    Raises:
        ValueError: shapes disagree, or no query has a positive in the gallery.
    """
    distmat = np.asarray(distmat)
    q_pids, g_pids = np.asarray(q_pids).ravel(), np.asarray(g_pids).ravel()
    q_camids, g_camids = np.asarray(q_camids).ravel(), np.asarray(g_camids).ravel()
    if distmat.ndim != 2 or distmat.shape != (q_pids.size, g_pids.size):
        raise ValueError(
            f"distmat has shape {distmat.shape}, expected (num_query={q_pids.size}, "
            f"num_gallery={g_pids.size})"
        )
    if q_camids.size != q_pids.size or g_camids.size != g_pids.size:
        raise ValueError("camera id arrays must have the same length as the pid arrays")
    if max_rank < 1:
        raise ValueError(f"max_rank must be >= 1, got {max_rank}")

    hits_at = np.zeros(max_rank, dtype=np.float64)
    ap_sum, num_valid = 0.0, 0
    for start in range(0, q_pids.size, chunk_size):
        sl = slice(start, start + chunk_size)
        order = np.argsort(distmat[sl], axis=1, kind="stable")
        same_pid = g_pids[order] == q_pids[sl, None]
        same_cam = g_camids[order] == q_camids[sl, None]
        keep = ~(same_pid & same_cam)
        positive = same_pid & keep
        num_pos = positive.sum(axis=1)
        valid = num_pos > 0
        if not valid.any():
            continue
        keep, positive, num_pos = keep[valid], positive[valid], num_pos[valid]
        # Rank (0-based) of every kept item once the removed items are taken out.
        new_rank = np.cumsum(keep, axis=1) - 1
        first_hit = np.where(positive, new_rank, np.iinfo(np.int64).max).min(axis=1)
        ranks = np.arange(max_rank)
        hits_at += (first_hit[:, None] <= ranks[None, :]).sum(axis=0)
        # Removed leading items have new_rank -1; they are never positives, so clamp the divisor.
        precision = np.cumsum(positive, axis=1) / np.maximum(new_rank + 1.0, 1.0)
        ap = np.where(positive, precision, 0.0).sum(axis=1) / num_pos
        ap_sum += float(ap.sum())
        num_valid += int(valid.sum())
    if num_valid == 0:
        raise ValueError(
            "no query has a positive (same pid, different camera) in the gallery; check the split"
        )
    skipped = q_pids.size - num_valid
    if skipped:
        logger.info("evaluate_rank: %d of %d queries have no positive and were skipped",
                    skipped, q_pids.size)
    return hits_at / num_valid, ap_sum / num_valid


def euclidean_distmat(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances ``‖a‖² + ‖b‖² − 2 a·b`` between rows.

    Shapes: (N, D), (M, D) -> (N, M), float64, clamped at 0.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    out: np.ndarray = np.maximum(d, 0.0)
    return out


def query_plus_gallery(
    q_feats: np.ndarray,
    g_feats: np.ndarray,
    q_pids: np.ndarray,
    g_pids: np.ndarray,
    q_camids: np.ndarray,
    g_camids: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The spec-9.3 evaluation gallery: gallery items followed by the queries.

    Returns ``(feats (G+Q, D), pids (G+Q,), camids (G+Q,))``; each query then finds itself in the
    gallery with its own pid and camera, and ``evaluate_rank`` removes it.
    """
    return (
        np.concatenate([np.asarray(g_feats), np.asarray(q_feats)], axis=0),
        np.concatenate([np.asarray(g_pids), np.asarray(q_pids)]),
        np.concatenate([np.asarray(g_camids), np.asarray(q_camids)]),
    )
