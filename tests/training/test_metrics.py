"""evaluate_rank against a slow, obviously-correct reference and a hand-computed case."""

from __future__ import annotations

import numpy as np
import pytest

from training import evaluate_rank
from training.metrics import euclidean_distmat, query_plus_gallery


def reference_rank(distmat, q_pids, g_pids, q_camids, g_camids, max_rank):
    """One query at a time, plain Python lists: the protocol written out literally."""
    cmc_rows, aps = [], []
    for i in range(len(q_pids)):
        ranked = sorted(range(len(g_pids)), key=lambda j: (distmat[i][j], j))
        ranked = [j for j in ranked if not (g_pids[j] == q_pids[i] and g_camids[j] == q_camids[i])]
        hits = [1 if g_pids[j] == q_pids[i] else 0 for j in ranked]
        if sum(hits) == 0:
            continue
        first = hits.index(1)
        cmc_rows.append([1.0 if k >= first else 0.0 for k in range(max_rank)])
        precisions, found = [], 0
        for rank, h in enumerate(hits, start=1):
            if h:
                found += 1
                precisions.append(found / rank)
        aps.append(sum(precisions) / len(precisions))
    return np.mean(np.array(cmc_rows), axis=0), float(np.mean(aps))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_matches_reference_on_random_inputs(seed):
    rng = np.random.default_rng(seed)
    nq, ng = 23, 71
    q_pids, g_pids = rng.integers(0, 9, nq), rng.integers(0, 9, ng)
    q_cams, g_cams = rng.integers(0, 3, nq), rng.integers(0, 3, ng)
    distmat = rng.random((nq, ng))
    cmc, mAP = evaluate_rank(distmat, q_pids, g_pids, q_cams, g_cams, max_rank=10, chunk_size=7)
    ref_cmc, ref_map = reference_rank(distmat, q_pids, g_pids, q_cams, g_cams, 10)
    assert cmc.shape == (10,)
    np.testing.assert_allclose(cmc, ref_cmc, atol=1e-12)
    assert mAP == pytest.approx(ref_map, abs=1e-12)
    assert 0.0 <= mAP <= 1.0


def test_query_plus_gallery_protocol_matches_reference():
    rng = np.random.default_rng(5)
    qf, gf = rng.normal(size=(12, 6)), rng.normal(size=(30, 6))
    q_pids, g_pids = rng.integers(0, 5, 12), rng.integers(0, 5, 30)
    q_cams, g_cams = rng.integers(0, 2, 12), rng.integers(0, 2, 30)
    feats, pids, cams = query_plus_gallery(qf, gf, q_pids, g_pids, q_cams, g_cams)
    assert feats.shape == (42, 6) and pids.shape == (42,)
    dist = euclidean_distmat(qf, feats)
    brute = ((qf[:, None, :] - feats[None, :, :]) ** 2).sum(-1)
    np.testing.assert_allclose(dist, brute, atol=1e-9)
    cmc, mAP = evaluate_rank(dist, q_pids, pids, q_cams, cams, max_rank=50)
    ref_cmc, ref_map = reference_rank(dist, q_pids, pids, q_cams, cams, 50)
    np.testing.assert_allclose(cmc, ref_cmc)
    assert mAP == pytest.approx(ref_map)


def test_hand_computed_case():
    # Query 0: pid 1 cam 0. Gallery sorted by distance: g0 (pid 1, cam 0: removed, same cam),
    # g1 (pid 2, negative), g2 (pid 1 cam 1: positive at rank 2), g3 (pid 3), g4 (pid 1 cam 2:
    # positive at rank 4). AP = (1/2 + 2/4) / 2 = 0.5; first hit at rank 2.
    # Query 1: pid 2 cam 1. g1 (pid 2, cam 0) is nearest: AP = 1, first hit at rank 1.
    # Query 2: pid 9 has no positive: skipped.
    distmat = np.array([
        [0.1, 0.2, 0.3, 0.4, 0.5],
        [0.9, 0.1, 0.5, 0.6, 0.7],
        [0.1, 0.2, 0.3, 0.4, 0.5],
    ])
    q_pids, q_cams = np.array([1, 2, 9]), np.array([0, 1, 0])
    g_pids, g_cams = np.array([1, 2, 1, 3, 1]), np.array([0, 0, 1, 0, 2])
    cmc, mAP = evaluate_rank(distmat, q_pids, g_pids, q_cams, g_cams, max_rank=5)
    np.testing.assert_allclose(cmc, [0.5, 1.0, 1.0, 1.0, 1.0])
    assert mAP == pytest.approx(0.75)


def test_cmc_longer_than_gallery_keeps_last_value():
    cmc, mAP = evaluate_rank(np.array([[0.2, 0.1]]), [0], [0, 1], [0], [1, 1], max_rank=50)
    assert cmc.shape == (50,)
    assert cmc[0] == 0.0 and cmc[1] == 1.0 and cmc[-1] == 1.0
    assert mAP == pytest.approx(0.5)


def test_errors_are_clear():
    with pytest.raises(ValueError, match="expected"):
        evaluate_rank(np.zeros((2, 3)), [0, 1], [0, 1], [0, 0], [1, 1])
    with pytest.raises(ValueError, match="no query has a positive"):
        evaluate_rank(np.zeros((1, 2)), [0], [1, 2], [0], [1, 1])


def test_rank_from_features_with_rerank():
    from training.engine import rank_from_features

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(6, 16))

    def feats(pids):
        f = centres[pids] + 0.05 * rng.normal(size=(len(pids), 16))
        return f / np.linalg.norm(f, axis=1, keepdims=True)

    q_pids, g_pids = np.arange(6), np.repeat(np.arange(6), 3)
    q = (feats(q_pids), q_pids, np.zeros(6, int))
    g = (feats(g_pids), g_pids, np.ones(18, int))
    plain = rank_from_features(q, g, max_rank=10)
    reranked = rank_from_features(q, g, rerank=True, max_rank=10)
    assert plain["mAP"] == pytest.approx(1.0) and reranked["mAP"] == pytest.approx(1.0)
    assert reranked["rerank"] is True and len(reranked["cmc"]) == 10
    assert reranked["num_gallery"] == 24  # gallery + queries
