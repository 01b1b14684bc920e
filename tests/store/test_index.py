"""VectorIndex: exact results, approximate kinds, removal, persistence, corruption."""

import json
import struct

import faiss
import numpy as np
import pytest

from reid.store import IndexConfig, IndexFileError, VectorIndex


def _unit(n: int, d: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _clustered(people: int, per: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit descriptors: identity centre + camera bias + noise (the benchmark's model, smaller)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((people, 16)).astype(np.float32) @ rng.standard_normal(
        (16, d)).astype(np.float32)  # identities span a low-dimensional subspace, as real ones do
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    cams = rng.standard_normal((8, d)).astype(np.float32)
    cams /= np.linalg.norm(cams, axis=1, keepdims=True)
    who = np.repeat(np.arange(people), per)
    x = (centres[who] + 0.35 * cams[rng.integers(0, 8, len(who))]
         + rng.standard_normal((len(who), d)).astype(np.float32) * 0.8 / np.sqrt(d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), who


def _recall(got: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / truth.shape[1]
                          for a, b in zip(got, truth, strict=True)]))


def _exact(x: np.ndarray, ids: np.ndarray, q: np.ndarray, k: int,
           index: VectorIndex | None = None) -> np.ndarray:
    """Brute-force top-k ids, comparing as ``index`` does (centred) when given."""
    if index is not None:
        x, q = index.prepare(x), index.prepare(q)
    return ids[np.argsort(-(q @ x.T), axis=1, kind="stable")[:, :k]]


def test_flat_matches_brute_force_and_pads():
    x, ids = _unit(300, 32), np.arange(300) * 7 + 3
    index = VectorIndex.build(32, ids, x)
    scores, got = index.search(x[:10], 5)
    assert index.centre is not None  # 300 vectors: centred
    np.testing.assert_array_equal(got, _exact(x, ids, x[:10], 5, index))
    assert np.all(np.diff(scores, axis=1) <= 1e-6)
    small = VectorIndex.build(32, ids[:2], x[:2])
    s, i = small.search(x[:1], 4)
    assert i[0, 2:].tolist() == [-1, -1] and np.isneginf(s[0, 2:]).all()


@pytest.mark.parametrize("kind", ["hnsw", "hnswsq", "ivfpq", "ivfpqfs", "ivfsq", "auto"])
def test_approximate_kinds_fall_back_then_switch(kind):
    cfg = IndexConfig(kind=kind, approx_min_size=1500, pq_m=8, ivf_nprobe=64, refine_factor=10)
    x, ids = _unit(2000, 32, 1), np.arange(2000) + 1
    index = VectorIndex(32, cfg)
    index.add(ids[:1000], x[:1000])
    assert index.kind == "flat"
    index.add(ids[1000:], x[1000:])
    assert index.kind == ("ivfsq" if kind == "auto" else kind)
    _, got = index.search(x[:50], 10)
    truth = _exact(x, ids, x[:50], 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, truth, strict=True)])
    assert recall > 0.8
    assert (got[:, 0] == ids[:50]).all()


@pytest.mark.parametrize("kind", ["flat", "hnsw", "hnswsq", "ivfpq", "ivfpqfs", "ivfsq"])
def test_remove_and_roundtrip(tmp_path, kind):
    cfg = IndexConfig(kind=kind, approx_min_size=0, pq_m=8, ivf_nprobe=64, pca_dim=16)
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


@pytest.mark.parametrize(("kind", "refine"), [("ivfsq", "fp16"), ("ivfsq", "none"),
                                              ("ivfpq", "sq8"), ("ivfpq", "none"),
                                              ("ivfpqfs", "sq8")])
def test_ivf_ids_stay_right_after_removal(kind, refine):
    # IndexIDMap2 over IVF renumbered positions on removal and returned neighbours' ids
    cfg = IndexConfig(kind=kind, approx_min_size=0, pq_m=8, ivf_nprobe=64, pca_dim=0,
                      refine=refine)
    x, ids = _unit(1500, 32, 3), np.arange(1500) * 3 + 5
    index = VectorIndex.build(32, ids, x, cfg)
    assert index.remove(ids[:40]) == 40
    assert sorted(index.ids().tolist()) == sorted(ids[40:].tolist())
    _, got = index.search(x[40:240], 1)
    assert np.mean(got[:, 0] == ids[40:240]) > 0.95
    index.add(ids[:40], x[:40])
    _, got = index.search(x[:40], 1)
    assert np.mean(got[:, 0] == ids[:40]) > 0.95


@pytest.mark.parametrize("kind", ["ivfsq", "ivfpqfs", "hnswsq", "hnsw"])
def test_recall_on_clustered_descriptors(tmp_path, kind):
    x, who = _clustered(people=400, per=8, d=128)
    ids = np.arange(len(x)) + 1
    cfg = IndexConfig(kind=kind, approx_min_size=0, pca_dim=32, ivf_nlist=64, ivf_nprobe=16,
                      pq_m=8)
    index = VectorIndex.build(128, ids, x, cfg)
    q, _ = _clustered(people=400, per=1, d=128, seed=0)  # same centres and cameras, new noise
    q = q[:100]
    scores, got = index.search(q, 10)
    truth = _exact(x, ids, q, 10, index)
    assert _recall(got, truth) >= 0.95
    best = np.sort(index.prepare(q) @ index.prepare(x).T, axis=1)[:, -1]
    np.testing.assert_allclose(scores[:, 0], best, atol=2e-3)
    index.save(tmp_path / "v.faiss")
    loaded = VectorIndex.load(tmp_path / "v.faiss", cfg)
    np.testing.assert_array_equal(loaded.search(q, 10)[1], got)


def test_projection_keeps_inner_products_of_low_rank_data():
    rng = np.random.default_rng(4)
    basis = np.linalg.qr(rng.standard_normal((64, 12)))[0].T.astype(np.float32)  # (12, 64)
    x = (rng.standard_normal((3000, 12)).astype(np.float32) + 2.0) @ basis  # not centred
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    cfg = IndexConfig(kind="ivfsq", approx_min_size=0, pca_dim=12, refine="none", ivf_nprobe=64)
    index = VectorIndex.build(64, np.arange(3000), x, cfg)
    np.testing.assert_allclose(index.reconstruct([0, 1, 2]), index.prepare(x[:3]), atol=0.05)
    _, got = index.search(x[:50], 10)
    assert _recall(got, _exact(x, np.arange(3000), x[:50], 10, index)) >= 0.9


def test_old_ivf_layout_is_refused_for_rebuild(tmp_path):
    cfg = IndexConfig(kind="ivfsq", approx_min_size=0, pca_dim=0)
    index = VectorIndex.build(32, np.arange(500), _unit(500, 32, 5), cfg)
    path = tmp_path / "v.faiss"
    index.save(path)
    data = path.read_bytes()
    (hlen,) = struct.unpack("<I", data[8:12])
    header = json.loads(data[12:12 + hlen])
    del header["layout"]
    new = json.dumps(header).encode()
    path.write_bytes(data[:8] + struct.pack("<I", len(new)) + new + data[12 + hlen:])
    with pytest.raises(IndexFileError, match="older layout"):
        VectorIndex.load(path)


def test_ivf_retrains_lists_when_the_gallery_outgrows_them():
    x, ids = _unit(12000, 32, 6), np.arange(12000) + 1
    index = VectorIndex.build(32, ids[:3000], x[:3000], IndexConfig(kind="ivfsq", approx_min_size=0))
    assert faiss.extract_index_ivf(index.backend.main).nlist == 64
    index.add(ids[3000:], x[3000:])
    assert faiss.extract_index_ivf(index.backend.main).nlist == 128 and index.ntotal == 12000
    _, got = index.search(x[:20], 1)
    assert (got[:, 0] == ids[:20]).all()


def test_a_fixed_list_count_is_reached_once_the_gallery_can_train_it():
    """A first build too small for ``ivf_nlist`` lists gets ``n / 39``; the index is retrained
    to the fixed count once the gallery holds enough vectors, and not again after that."""
    x, ids = _unit(12000, 32, 7), np.arange(12000) + 1
    cfg = IndexConfig(kind="ivfsq", approx_min_size=0, ivf_nlist=256, refine="sq8")
    index = VectorIndex.build(32, ids[:3900], x[:3900], cfg)
    assert faiss.extract_index_ivf(index.backend.main).nlist == 100
    index.add(ids[3900:8000], x[3900:8000])  # 8000 / 39 = 205 lists: twice 100
    assert faiss.extract_index_ivf(index.backend.main).nlist == 205
    index.add(ids[8000:], x[8000:])  # 12000 / 39 = 307 >= the fixed 256
    assert faiss.extract_index_ivf(index.backend.main).nlist == 256 and index.ntotal == 12000
    assert not index.backend.wants_retrain(10**7)
    _, got = index.search(x[:20], 1)
    assert (got[:, 0] == ids[:20]).all()


def test_centring_starts_at_the_minimum_and_follows_the_gallery_as_it_doubles(tmp_path):
    from reid.store.index import CENTRE_MIN_VECTORS

    rng = np.random.default_rng(7)
    common = rng.standard_normal(48).astype(np.float32) * 3.0  # what every descriptor shares
    raw = common + rng.standard_normal((200, 48)).astype(np.float32)
    raw /= np.linalg.norm(raw, axis=1, keepdims=True)
    index = VectorIndex(48)
    index.add(np.arange(CENTRE_MIN_VECTORS - 1), raw[:CENTRE_MIN_VECTORS - 1])
    assert index.centre is None  # too few: plain cosine
    np.testing.assert_allclose(index.search(raw[:1], 1)[0][0, 0], 1.0, atol=1e-5)
    index.add([CENTRE_MIN_VECTORS - 1], raw[CENTRE_MIN_VECTORS - 1:CENTRE_MIN_VECTORS])
    np.testing.assert_allclose(index.centre, raw[:CENTRE_MIN_VECTORS].mean(0), atol=1e-6)
    index.add(np.arange(CENTRE_MIN_VECTORS, 63), raw[CENTRE_MIN_VECTORS:63])
    assert index.centre_count == CENTRE_MIN_VECTORS  # not doubled yet
    index.add(np.arange(63, 200), raw[63:200])
    assert index.centre_count == 200
    # recentring recovered the original descriptors exactly from the centred ones
    np.testing.assert_allclose(index.centre, raw.mean(0), atol=1e-5)
    centred = raw - raw.mean(0)
    centred /= np.linalg.norm(centred, axis=1, keepdims=True)
    np.testing.assert_allclose(index.reconstruct(np.arange(200)), centred, atol=1e-5)
    scores, got = index.search(raw[:5], 3)
    truth = np.argsort(-(centred[:5] @ centred.T), axis=1, kind="stable")[:, :3]
    np.testing.assert_array_equal(got, truth)
    np.testing.assert_allclose(scores, np.take_along_axis(centred[:5] @ centred.T, truth, 1),
                               atol=1e-5)
    # the shared component no longer makes everyone alike
    assert float(np.median(centred @ centred.T)) < 0.1 < float(np.median(raw @ raw.T))
    index.save(tmp_path / "v.faiss")
    loaded = VectorIndex.load(tmp_path / "v.faiss")
    np.testing.assert_array_equal(loaded.centre, index.centre)
    assert loaded.centre_count == 200
    np.testing.assert_array_equal(loaded.search(raw[:5], 3)[1], got)


def test_a_damaged_centre_is_refused(tmp_path):
    x = _unit(64, 16)
    index = VectorIndex.build(16, np.arange(64), x)
    path = tmp_path / "v.faiss"
    index.save(path)
    data = bytearray(path.read_bytes())
    data[-64:] = np.full(16, 5.0, np.float32).tobytes()  # the centre is the file's last 16 floats
    path.write_bytes(bytes(data))
    with pytest.raises(IndexFileError):
        VectorIndex.load(path)


def test_id_map_ids_reads_the_ids_of_a_loaded_idmap_and_refuses_other_structures(tmp_path):
    """``faiss.read_index`` returns the concrete ``IndexIDMap2``, whose ids ``id_map_ids`` lists;
    any other structure is a clear TypeError rather than a missing attribute."""
    from reid.store.index.base import as_id_map, id_map_ids

    m = faiss.IndexIDMap2(faiss.IndexFlatIP(8))
    m.add_with_ids(_unit(5, 8), np.array([7, 3, 11, 2, 40], np.int64))
    faiss.write_index(m, str(tmp_path / "m.faiss"))
    loaded = faiss.read_index(str(tmp_path / "m.faiss"))
    assert id_map_ids(loaded).tolist() == [7, 3, 11, 2, 40]
    assert as_id_map(loaded) is loaded
    with pytest.raises(TypeError, match="IndexIDMap2"):
        id_map_ids(faiss.IndexFlatIP(8))


def test_fast_scan_pq_needs_its_rescoring_copy():
    with pytest.raises(ValueError, match="refine"):
        IndexConfig(kind="ivfpqfs", refine="none")
    index = VectorIndex.build(32, np.arange(2000), _unit(2000, 32, 8),
                              IndexConfig(kind="ivfpqfs", approx_min_size=0, pq_m=8, pca_dim=0,
                                          refine="sq8"))
    assert isinstance(index.backend.main, faiss.IndexIVFPQFastScan)


def test_fast_scan_single_queries_are_repeatable():
    """Single queries on ``ivfpqfs`` scan with several threads; candidates tied at the pool's
    edge would otherwise be kept or not by the threads' timing (2 distinct results in 300
    repetitions here without the tie rule)."""
    cfg = IndexConfig(kind="ivfpqfs", approx_min_size=0, pq_m=8, ivf_nprobe=64, pca_dim=16,
                      refine="sq8", refine_factor=10)
    x, ids = _unit(1200, 32, 2), np.arange(1200) + 10
    index = VectorIndex.build(32, ids, x, cfg)
    results = {index.search(x[5:9], 3)[1].tobytes() for _ in range(300)}
    assert len(results) == 1
    scores, got = index.search(x[5:9], 3)
    assert (got >= 0).all() and np.isfinite(scores).all()


def test_refine_min_sets_the_candidates_re_scored():
    """``refine_min`` candidates are re-scored even when ``k * refine_factor`` is fewer: with all
    lists probed and every vector a candidate the top 10 is the exact one (up to 8-bit codes);
    with ``k`` candidates it is the coarse 4-bit ranking's."""
    x, ids = _unit(3000, 64, 5), np.arange(3000) + 1
    q = _unit(20, 64, 6)
    base = dict(kind="ivfpqfs", approx_min_size=0, pq_m=16, pca_dim=32, ivf_nlist=16,
                ivf_nprobe=16, refine="sq8", refine_factor=1)
    coarse = VectorIndex.build(64, ids, x, IndexConfig(**base))
    truth = _exact(x, ids, q, 10, coarse)
    every = VectorIndex.build(64, ids, x, IndexConfig(**base, refine_min=3000))
    assert _recall(every.search(q, 10)[1], truth) >= 0.97
    assert _recall(coarse.search(q, 10)[1], truth) < 0.8


def test_the_ivfpqfs_preset_is_the_benchmarked_one():
    cfg = IndexConfig.for_kind("ivfpqfs")
    assert (cfg.refine, cfg.ivf_nlist, cfg.ivf_nprobe, cfg.refine_min) == ("sq8", 4096, 2048, 3000)
    assert IndexConfig.for_kind("ivfsq") == IndexConfig(kind="ivfsq")
    with pytest.raises(ValueError):
        IndexConfig(refine_min=-1)
