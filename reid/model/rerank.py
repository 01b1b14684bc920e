"""Re-ranking: k-reciprocal encoding (Zhong et al., CVPR 2017) and average query expansion.

Pure numpy, under ``reid.model`` so that both the gallery search (``reid.search``) and the training
package's evaluation may use it (``training`` imports nothing of ``reid`` but ``reid.model``).

k-reciprocal re-ranking, as described in the paper ("Re-ranking Person Re-identification with
k-reciprocal Encoding"), over the ``N = Q + G`` probe and gallery samples:

1. ``N(p, k)``: the ``k`` nearest samples of ``p`` (``p`` itself is its own nearest, so the list
   holds ``k + 1`` entries including ``p``).
2. k-reciprocal neighbours ``R(p, k) = {g in N(p, k) : p in N(g, k)}``.
3. Expansion ``R*(p, k) = R(p, k) ∪ R(q, k/2)`` for every ``q in R(p, k)`` whose
   ``|R(p, k) ∩ R(q, k/2)| >= 2/3 |R(q, k/2)|`` (recovers positives hidden by hard negatives).
4. Encoding ``V_p[g] = exp(-d(p, g))`` for ``g in R*(p, k)``, else 0.
5. Local query expansion: ``V_p <- mean of V_g over g in N(p, k2)``.
6. Jaccard distance ``d_J(p, g) = 1 - sum_j min(V_p[j], V_g[j]) / sum_j max(V_p[j], V_g[j])``.
7. Final distance ``d*(p, g) = (1 - lambda) d_J(p, g) + lambda d(p, g)``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["average_query_expansion", "k_reciprocal_rerank"]


_ROWS = 64  # rows per chunk: bounds temporaries to (_ROWS, k, N) for large evaluation sets


def _neighbour_lists(dist: np.ndarray, k: int) -> np.ndarray:
    """``(N, k)`` nearest indices per row, sorted, each row's own index first."""
    n = len(dist)
    out = np.empty((n, k), dtype=np.int64)
    for s in range(0, n, _ROWS):
        block = dist[s:s + _ROWS].copy()
        rows = np.arange(len(block))
        block[rows, rows + s] = -np.inf  # self first even when another sample ties at 0
        part = np.argpartition(block, k - 1, axis=1)[:, :k] if k < n else np.tile(
            np.arange(n), (len(block), 1))
        order = np.argsort(np.take_along_axis(block, part, axis=1), axis=1, kind="stable")
        out[s:s + _ROWS] = np.take_along_axis(part, order, axis=1)
    return out


def _reciprocal(nn: np.ndarray, p: int, k: int) -> np.ndarray:
    """``R(p, k)`` from the sorted neighbour lists ``nn`` (row i: i's neighbours, i first)."""
    forward = nn[p, :k + 1]
    back = nn[forward, :k + 1]
    reciprocal: np.ndarray = forward[(back == p).any(axis=1)]
    return reciprocal


def _expanded(nn: np.ndarray, p: int, k1: int) -> np.ndarray:
    base = _reciprocal(nn, p, k1)
    half = max(1, int(round(k1 / 2)))
    members = set(base.tolist())
    expansion = [base]
    for q in base:
        cand = _reciprocal(nn, int(q), half)
        if len(members.intersection(cand.tolist())) >= 2.0 / 3.0 * len(cand):
            expansion.append(cand)
    return np.unique(np.concatenate(expansion))


def k_reciprocal_rerank(
    q_g_dist: np.ndarray,
    q_q_dist: np.ndarray,
    g_g_dist: np.ndarray,
    k1: int = 20,
    k2: int = 6,
    lambda_value: float = 0.3,
) -> np.ndarray:
    """Re-ranked probe-to-gallery distances.

    Args:
        q_g_dist: ``(Q, G)`` original distances, probe to gallery (e.g. squared Euclidean of
            L2-normalised descriptors, ``2 - 2 cos``; any non-negative distance works).
        q_q_dist: ``(Q, Q)`` probe-to-probe distances.
        g_g_dist: ``(G, G)`` gallery-to-gallery distances.
        k1: neighbourhood size of the k-reciprocal sets (clamped to ``N - 1``).
        k2: neighbourhood size of the local query expansion (clamped to ``N``; 1 disables it).
        lambda_value: weight of the original distance in the final distance, in [0, 1].

    Returns:
        ``(Q, G)`` float32 final distances; smaller is more similar.
    """
    q_g = np.asarray(q_g_dist, dtype=np.float32)
    num_q, num_g = q_g.shape
    if np.shape(q_q_dist) != (num_q, num_q) or np.shape(g_g_dist) != (num_g, num_g):
        raise ValueError(f"distance shapes disagree: q_g {q_g.shape}, q_q {np.shape(q_q_dist)}, "
                         f"g_g {np.shape(g_g_dist)}")
    if not 0.0 <= lambda_value <= 1.0:
        raise ValueError(f"lambda_value must be in [0, 1], got {lambda_value}")
    if num_g == 0:
        return np.zeros((num_q, 0), np.float32)
    dist = np.block([[np.asarray(q_q_dist, np.float32), q_g],
                     [q_g.T, np.asarray(g_g_dist, np.float32)]])
    n = num_q + num_g
    k1, k2 = max(1, min(k1, n - 1)), max(1, min(k2, n))
    nn = _neighbour_lists(dist, k1 + 1)

    V = np.zeros((n, n), dtype=np.float32)
    for p in range(n):
        members = _expanded(nn, p, k1)
        V[p, members] = np.exp(-dist[p, members])
    if k2 > 1:
        V = np.concatenate([V[nn[s:s + _ROWS, :k2]].mean(axis=1) for s in range(0, n, _ROWS)])

    jaccard = np.empty((num_q, num_g), dtype=np.float32)
    gallery_V = V[num_q:]
    gallery_mass = gallery_V.sum(axis=1)
    for i in range(num_q):
        cols = np.nonzero(V[i])[0]
        shared = np.minimum(V[i, cols][None, :], gallery_V[:, cols]).sum(axis=1)
        union = V[i].sum() + gallery_mass - shared
        jaccard[i] = 1.0 - np.divide(shared, union, out=np.zeros_like(shared), where=union > 0)
    return ((1.0 - lambda_value) * jaccard + lambda_value * q_g).astype(np.float32)


def average_query_expansion(query: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """Average query expansion: the normalised mean of the query and its top neighbours.

    Args:
        query: ``(D,)`` L2-normalised descriptor.
        neighbours: ``(n, D)`` descriptors of the top-``n`` results (n may be 0).

    Returns:
        ``(D,)`` float32, L2-normalised.
    """
    stacked = np.vstack([np.asarray(query, np.float32)[None, :],
                         np.asarray(neighbours, np.float32).reshape(-1, np.shape(query)[-1])])
    mean: npt.NDArray[np.float32] = stacked.mean(axis=0)
    norm = np.linalg.norm(mean)
    return (mean / norm if norm > 0 else mean).astype(np.float32)
