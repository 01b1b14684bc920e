"""k-reciprocal re-ranking against a direct transcription of the paper's definitions."""

import numpy as np
import pytest

from reid.search import average_query_expansion, k_reciprocal_rerank


def _reference(dist, num_q, k1, k2, lam):
    """Slow set-based version of Zhong et al. 2017, eqs. 1-12 (no vectorisation)."""
    n = len(dist)
    def knn(p, k):
        others = sorted((j for j in range(n) if j != p), key=lambda j: (dist[p, j], j))
        return [p, *others[:k]]
    def recip(p, k):
        return {g for g in knn(p, k) if p in knn(g, k)}
    V = np.zeros((n, n))
    for p in range(n):
        r = recip(p, k1)
        star = set(r)
        for q in r:
            rq = recip(q, round(k1 / 2))
            if len(r & rq) >= 2 / 3 * len(rq):
                star |= rq
        for g in star:
            V[p, g] = np.exp(-dist[p, g])
    if k2 > 1:
        V = np.stack([V[knn(p, k2 - 1)].mean(0) for p in range(n)])
    out = np.zeros((num_q, n - num_q))
    for i in range(num_q):
        for j in range(num_q, n):
            mn, mx = np.minimum(V[i], V[j]).sum(), np.maximum(V[i], V[j]).sum()
            out[i, j - num_q] = (1 - lam) * (1 - mn / mx) + lam * dist[i, j]
    return out


@pytest.mark.parametrize("k1,k2,lam", [(4, 1, 0.3), (6, 3, 0.3), (20, 6, 0.5)])
def test_matches_reference(k1, k2, lam):
    rng = np.random.default_rng(k1)
    x = rng.standard_normal((24, 5))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    d = 2 - 2 * x @ x.T
    d = np.clip((d + d.T) / 2, 0, None)
    np.fill_diagonal(d, 0)
    nq = 5
    got = k_reciprocal_rerank(d[:nq, nq:], d[:nq, :nq], d[nq:, nq:], k1=k1, k2=k2,
                              lambda_value=lam)
    np.testing.assert_allclose(got, _reference(d, nq, k1, k2, lam), atol=1e-5)


def test_improves_map_on_clusters():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(30), 6)
    x = rng.standard_normal((30, 32))[labels] + 0.9 * rng.standard_normal((180, 32))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    qi = np.arange(0, 180, 6)
    gi = np.setdiff1d(np.arange(180), qi)
    def d(a, b):
        return 2 - 2 * a @ b.T
    def mean_ap(dist):
        aps = []
        for i, q in enumerate(qi):
            match = labels[gi][np.argsort(dist[i])] == labels[q]
            hits = np.cumsum(match)
            aps.append(np.mean(hits[match] / (np.nonzero(match)[0] + 1)))
        return np.mean(aps)
    base = d(x[qi], x[gi])
    reranked = k_reciprocal_rerank(base, d(x[qi], x[qi]), d(x[gi], x[gi]))
    assert mean_ap(reranked) > mean_ap(base) + 0.01


def test_shapes_and_validation():
    assert k_reciprocal_rerank(np.zeros((2, 0)), np.zeros((2, 2)), np.zeros((0, 0))).shape == (2, 0)
    with pytest.raises(ValueError):
        k_reciprocal_rerank(np.zeros((2, 3)), np.zeros((2, 2)), np.zeros((2, 2)))
    q = np.array([1.0, 0.0])
    out = average_query_expansion(q, np.array([[0.0, 1.0]]))
    np.testing.assert_allclose(out, [np.sqrt(0.5), np.sqrt(0.5)], rtol=1e-6)
    np.testing.assert_allclose(average_query_expansion(q, np.zeros((0, 2))), q)
