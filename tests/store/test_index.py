"""VectorIndex: exact results, approximate kinds, removal, persistence, corruption."""

import numpy as np
import pytest

from reid.store import IndexConfig, IndexFileError, VectorIndex


def _unit(n: int, d: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _exact(x: np.ndarray, ids: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    return ids[np.argsort(-(q @ x.T), axis=1, kind="stable")[:, :k]]


def test_flat_matches_brute_force_and_pads():
    x, ids = _unit(300, 32), np.arange(300) * 7 + 3
    index = VectorIndex.build(32, ids, x)
    scores, got = index.search(x[:10], 5)
    np.testing.assert_array_equal(got, _exact(x, ids, x[:10], 5))
    assert np.all(np.diff(scores, axis=1) <= 1e-6)
    small = VectorIndex.build(32, ids[:2], x[:2])
    s, i = small.search(x[:1], 4)
    assert i[0, 2:].tolist() == [-1, -1] and np.isneginf(s[0, 2:]).all()


@pytest.mark.parametrize("kind", ["hnsw", "ivfpq", "auto"])
def test_approximate_kinds_fall_back_then_switch(kind):
    cfg = IndexConfig(kind=kind, approx_min_size=1500, pq_m=8, ivf_nprobe=64, refine_factor=10)
    x, ids = _unit(2000, 32, 1), np.arange(2000) + 1
    index = VectorIndex(32, cfg)
    index.add(ids[:1000], x[:1000])
    assert index.kind == "flat"
    index.add(ids[1000:], x[1000:])
    assert index.kind == ("ivfpq" if kind == "auto" else kind)
    _, got = index.search(x[:50], 10)
    truth = _exact(x, ids, x[:50], 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, truth, strict=True)])
    assert recall > 0.8
    assert (got[:, 0] == ids[:50]).all()


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivfpq"])
def test_remove_and_roundtrip(tmp_path, kind):
    cfg = IndexConfig(kind=kind, approx_min_size=0, pq_m=8, ivf_nprobe=64)
    x, ids = _unit(1200, 32, 2), np.arange(1200) + 10
    index = VectorIndex.build(32, ids, x, cfg)
    assert index.remove([10, 11, 99999]) == 2
    assert index.ntotal == 1198 and 10 not in set(index.ids().tolist())
    _, got = index.search(x[:2], 5)
    assert 10 not in got and 11 not in got
    index.save(tmp_path / "v.faiss")
    loaded = VectorIndex.load(tmp_path / "v.faiss", cfg)
    assert loaded.kind == index.kind and sorted(loaded.ids()) == sorted(index.ids())
    np.testing.assert_array_equal(loaded.search(x[5:9], 3)[1], index.search(x[5:9], 3)[1])


def test_rejects_duplicates_bad_shapes_and_corrupt_files(tmp_path):
    index = VectorIndex.build(8, [1, 2], _unit(2, 8))
    with pytest.raises(ValueError, match="unique"):
        index.add([2], _unit(1, 8))
    with pytest.raises(ValueError, match=r"\(N, 8\)"):
        index.add([3], _unit(1, 9))
    bad = tmp_path / "v.faiss"
    bad.write_bytes(b"not an index")
    with pytest.raises(IndexFileError, match="corrupt"):
        VectorIndex.load(bad)
    index.save(bad)
    bad.write_bytes(bad.read_bytes()[:-20])
    with pytest.raises(IndexFileError):
        VectorIndex.load(bad)
