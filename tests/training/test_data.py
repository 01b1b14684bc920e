"""Sampling, the P x K sampler, augmentation placement and per-worker seeding."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from PIL import Image

from training.data import Augment, ClipDataset, random_erase, train_loader
from training.datasets import DatasetTracklet
from training.sampling import IdentityBatchSampler, rrs_indices, rrs_test_indices

PRE = {"input_size": [16, 8], "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "seq_len": 8}


def test_rrs_segments_and_padding():
    rng = np.random.default_rng(0)
    draws = np.stack([rrs_indices(20, 8, rng) for _ in range(300)])  # L = 3, padded to 24
    for s in range(8):
        allowed = {min(i, 19) for i in range(3 * s, 3 * s + 3)}
        assert set(draws[:, s]) == allowed
    assert rrs_test_indices(20, 8).tolist() == [0, 3, 6, 9, 12, 15, 18, 19]
    assert rrs_indices(3, 8, rng).tolist() == [0, 1, 2, 2, 2, 2, 2, 2]
    assert rrs_test_indices(8, 8).tolist() == list(range(8))


def test_identity_sampler_pk_and_distributed_split():
    pids = [0] * 9 + [1] * 4 + [2] * 2 + [3] * 5 + [4] * 8
    s = IdentityBatchSampler(pids, p=2, k=4, seed=1)
    batches = list(s)
    assert len(batches) == len(s) > 0
    for b in batches:
        counts = Counter(pids[i] for i in b)
        assert len(b) == 8 and len(counts) == 2 and set(counts.values()) == {4}
    # pid 2 has 2 tracklets: resampled with replacement to one group of 4.
    assert any(Counter(pids[i] for i in b).get(2) == 4 for b in batches)
    s.set_epoch(1)
    assert list(s) != batches
    r0 = IdentityBatchSampler(pids, 2, 4, seed=1, rank=0, world_size=2)
    r1 = IdentityBatchSampler(pids, 2, 4, seed=1, rank=1, world_size=2)
    assert len(r0) == len(r1) == len(batches) // 2
    assert list(r0) == batches[0:2 * len(r0):2] and list(r1) == batches[1:2 * len(r1):2]
    with pytest.raises(ValueError, match="at least P"):
        IdentityBatchSampler([0, 0, 1], p=4, k=4)


def test_random_erase_is_placed_anywhere():
    rng = np.random.default_rng(0)
    aug = Augment()
    corners, areas = [], []
    for _ in range(400):
        f = np.zeros((64, 32, 3), np.uint8)
        random_erase(f, rng, aug)
        ys, xs = np.nonzero(f.any(-1))
        if len(ys) == 0:  # a black fill colour is invisible; skip
            continue
        corners.append((ys.min(), xs.min()))
        areas.append(len(ys) / (64 * 32))
    corners = np.array(corners)
    assert corners[:, 0].max() > 32 and corners[:, 1].max() > 16  # not pinned to the top-left
    assert min(areas) >= 0.015 and max(areas) <= 0.21


def _tracklet(tmp_path, n=10):
    paths = []
    for i in range(n):
        arr = np.zeros((16, 8, 3), np.uint8)
        arr[:, :4] = 200  # left half bright
        arr[0, 0] = i  # frame number
        p = tmp_path / f"{i}.png"
        Image.fromarray(arr).save(p)
        paths.append(str(p))
    return DatasetTracklet(tuple(paths), 3, 1)


def test_flip_is_clip_level_and_dense_chunks(tmp_path):
    rec = _tracklet(tmp_path)
    ds = ClipDataset([rec], PRE, "rrs", Augment(flip_p=1.0, erase_p=0.0))
    clip, pid, cam, idx = ds[0]
    assert clip.shape == (8, 3, 16, 8) and (pid, cam, idx) == (3, 1, 0)
    assert (clip[:, :, :, 4:] > clip[:, :, :, :4]).all()  # every frame flipped
    plain, *_ = ClipDataset([rec], PRE, "rrs_test")[0]
    assert (plain[:, :, 1:, :4] > plain[:, :, 1:, 4:]).all()  # unaugmented: not flipped
    expected = (200 / 255 - 0.5) / 0.25
    assert torch.allclose(plain[:, :, 1:, :4], torch.full_like(plain[:, :, 1:, :4], expected))
    dense, *_ = ClipDataset([rec], PRE, "dense")[0]
    assert dense.shape == (2, 8, 3, 16, 8)
    frame_ids = ((dense[:, :, 0, 0, 0] * 0.25 + 0.5) * 255).round().int()
    assert frame_ids.tolist() == [list(range(8)), [8, 9] * 4]
    with pytest.raises(ValueError, match="sampling mode"):
        ClipDataset([rec], PRE, "random")


def test_loader_seeding_reproducible_across_workers(tmp_path):
    recs = [DatasetTracklet(_tracklet(tmp_path, 24).frame_paths, pid, 0) for pid in range(4)]
    recs += [DatasetTracklet(r.frame_paths, r.pid, 1) for r in recs]

    def first_batch(seed, workers):
        loader = train_loader(recs, PRE, p=2, k=2, seed=seed, num_workers=workers)
        return next(iter(loader))[0]

    a, b, c = first_batch(7, 2), first_batch(7, 2), first_batch(8, 2)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert a.shape == (4, 8, 3, 16, 8)
