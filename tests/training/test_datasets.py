"""Dataset loaders on tiny fake trees in the real formats, and the synthetic generator."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.training.fake_datasets import make_ilids, make_lsvid, make_mars, make_prid
from training.datasets import (
    DatasetTracklet,
    generate_splits,
    generate_synthetic,
    list_datasets,
    load_dataset,
    load_synthetic,
    read_splits,
    save_splits,
    split_long_tracklets,
)


def _snapshot(root: Path) -> set[str]:
    return {str(p) for p in root.rglob("*")}


def test_mars_records_junk_distractors_relabel(tmp_path):
    root = make_mars(tmp_path / "MARS")
    before = _snapshot(root)
    s = load_dataset("mars", root)
    assert _snapshot(root) == before  # no caches written into the dataset folder
    assert s.num_train_pids == 3
    assert sorted({r.pid for r in s.train}) == [0, 1, 2]
    assert [(r.pid, r.camid) for r in s.train] == [(0, 0), (0, 1), (1, 0), (1, 3), (2, 1), (2, 2)]
    assert [(r.pid, r.camid) for r in s.query] == [(2, 0), (4, 0)]  # junk query row dropped
    assert [(r.pid, r.camid) for r in s.gallery] == [(2, 1), (2, 1), (4, 1), (4, 1), (0, 2)]
    assert all(r.pid != -1 for r in s.query + s.gallery)
    assert s.num_cams == 4
    first = s.train[0].frame_paths
    assert len(first) == 10 and first[0].endswith("bbox_train/0001/0001C1T0001F001.jpg")
    assert all(os.path.exists(p) for r in s.train + s.query + s.gallery for p in r.frame_paths)


def test_mars_missing_file_names_file_and_layout(tmp_path):
    root = make_mars(tmp_path / "MARS")
    (root / "info" / "query_IDX.mat").unlink()
    with pytest.raises(FileNotFoundError, match="query_IDX.mat") as err:
        load_dataset("mars", root)
    assert "Expected dataset layout" in str(err.value) and "bbox_train" in str(err.value)


def test_lsvid_v73_mat_cameras_and_recut(tmp_path):
    root = make_lsvid(tmp_path / "LS-VID")
    before = _snapshot(root)
    s = load_dataset("lsvid", root)
    assert _snapshot(root) == before
    # train pid 10 -> 0, 20 -> 1; 100 frames -> pieces 48 + 52; 30 frames kept whole; 50 -> one piece
    assert [(r.pid, r.camid, len(r)) for r in s.train] == [(0, 2, 48), (0, 2, 52), (0, 4, 30),
                                                          (1, 0, 50)]
    assert s.train[0].frame_paths[0] < s.train[1].frame_paths[0]
    assert [(r.pid, r.camid) for r in s.query] == [(30, 1), (40, 1)]
    assert [(r.pid, r.camid) for r in s.gallery] == [(30, 3)]  # pid -1 row skipped
    no_cut = load_dataset("lsvid", root, train_piece_len=0)
    assert [len(r) for r in no_cut.train] == [100, 30, 50]


def test_ilids_official_mat_split_and_identity_protocol(tmp_path):
    root = make_ilids(tmp_path / "iLIDS")
    s = load_dataset("ilidsvid", root, split_index=2)
    assert s.num_train_pids == 4 and len(s.train) == 8 and s.num_cams == 2
    assert {r.camid for r in s.query} == {0} and {r.camid for r in s.gallery} == {1}
    assert [r.pid for r in s.query] == [r.pid for r in s.gallery]
    assert len(s.query) == 4 and 3 not in {r.pid for r in s.query}
    assert "train_test_splits_ilidsvid.mat" in s.info["split_source"]
    # Every train label has one tracklet per camera.
    for label in range(4):
        assert sorted(r.camid for r in s.train if r.pid == label) == [0, 1]


def test_ilids_generated_splits_reproducible_and_saved_only_where_asked(tmp_path):
    root = make_ilids(tmp_path / "iLIDS", with_mat=False)
    before = _snapshot(root)
    a = load_dataset("ilidsvid", root, split_index=1, seed=3)
    b = load_dataset("ilidsvid", root, split_index=1, seed=3)
    assert a == b and _snapshot(root) == before
    splits = generate_splits([1, 2, 4, 5, 6, 7, 8, 9], seed=3)
    assert len(splits) == 10 and len({tuple(sp["test"]) for sp in splits}) > 1
    for sp in splits:
        assert sorted(sp["train"] + sp["test"]) == [1, 2, 4, 5, 6, 7, 8, 9]
    out = save_splits(splits, tmp_path / "mine" / "splits.json")
    assert read_splits(out) == splits
    c = load_dataset("ilidsvid", root, split_index=1, split_file=out)
    assert [r.pid for r in c.query] == splits[1]["test"] == [r.pid for r in a.query]


def test_prid_min_length_and_cameras(tmp_path):
    root = make_prid(tmp_path / "prid")
    s = load_dataset("prid2011", root, min_seq_len=10)
    assert {r.pid for r in s.query} < {1, 2, 3, 4, 5}  # 6 too short in cam_b, 7-8 only in cam_b
    assert s.num_train_pids + len(s.query) == 5
    with pytest.raises(ValueError, match="split_index"):
        load_dataset("prid2011", root, split_index=10)
    with pytest.raises(FileNotFoundError, match="multi_shot"):
        load_dataset("prid2011", tmp_path / "nowhere")


def test_registry_errors():
    assert set(list_datasets()) >= {"mars", "lsvid", "ilidsvid", "prid2011", "synthetic"}
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("market", "/x")
    with pytest.raises(ValueError, match="does not take"):
        load_dataset("mars", "/x", split_index=1)


def test_split_long_tracklets():
    r = DatasetTracklet(tuple(str(i) for i in range(10)), 0, 0)
    assert [len(x) for x in split_long_tracklets([r], 4)] == [4, 6]
    assert split_long_tracklets([r], 11, keep_short=False) == ()
    assert split_long_tracklets([r], 11) == (r,)


def test_synthetic_seeded_held_out_and_reloadable(tmp_path):
    kw = dict(num_train_ids=4, num_test_ids=3, num_cams=2, frames_range=(3, 5), size=(32, 16))
    a = generate_synthetic(tmp_path / "a", seed=5, **kw)
    b = generate_synthetic(tmp_path / "b", seed=5, **kw)
    c = generate_synthetic(tmp_path / "c", seed=6, **kw)
    assert load_synthetic(tmp_path / "a") == a
    assert {r.pid for r in a.train} == set(range(4)) and a.num_train_pids == 4
    assert {r.pid for r in a.query} == {r.pid for r in a.gallery} == {4, 5, 6}
    assert len(a.train) == 8 and len(a.query) == 3 and len(a.gallery) == 3
    img_a = np.asarray(Image.open(a.train[0].frame_paths[0]))
    img_b = np.asarray(Image.open(b.train[0].frame_paths[0]))
    img_c = np.asarray(Image.open(c.train[0].frame_paths[0]))
    assert img_a.shape == (32, 16, 3)
    np.testing.assert_array_equal(img_a, img_b)
    assert np.abs(img_a.astype(int) - img_c.astype(int)).mean() > 5
    with pytest.raises(FileNotFoundError, match="manifest.json"):
        load_synthetic(tmp_path / "missing")
