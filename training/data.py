"""Clip datasets and loaders: RRS / rrs_test / dense sampling, clip-level augmentation, seeding.

Augmentation (spec 3.2), per clip: bilinear resize to the model's input size (aspect not kept),
horizontal flip with p=0.5 for the whole clip, random erasing with p=0.5 independently per frame
(area 2-20 %, aspect 0.3-3.3, uniform random RGB fill, placed at the sampled random position: the
official code's top-left placement bug is not reproduced), then ImageNet-style normalisation with
the mean/std of ``model.preprocess``.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from training.datasets.records import DatasetTracklet
from training.sampling import IdentityBatchSampler, rrs_indices, rrs_test_indices

logger = logging.getLogger(__name__)

MODES = ("rrs", "rrs_test", "dense")

# One dataset item: (clip (T, 3, H, W) or dense chunks (n, T, 3, H, W), pid, camid, index).
ClipItem = tuple[torch.Tensor, int, int, int]


@dataclass(frozen=True)
class Augment:
    """Training augmentation settings (spec 3.2)."""

    flip_p: float = 0.5
    erase_p: float = 0.5
    erase_area: tuple[float, float] = (0.02, 0.2)
    erase_aspect: tuple[float, float] = (0.3, 1 / 0.3)


def random_erase(frame: np.ndarray, rng: np.random.Generator, aug: Augment) -> np.ndarray:
    """Paint one random-colour rectangle on an (H, W, 3) uint8 frame, in place; returns it.

    Area fraction and aspect ratio are drawn as in torchvision's RandomErasing (100 attempts);
    the rectangle's top-left corner is drawn uniformly among the positions where it fits.
    """
    H, W = frame.shape[:2]
    for _ in range(100):
        area = rng.uniform(*aug.erase_area) * H * W
        aspect = math.exp(rng.uniform(math.log(aug.erase_aspect[0]), math.log(aug.erase_aspect[1])))
        h, w = int(round(math.sqrt(area * aspect))), int(round(math.sqrt(area / aspect)))
        if 0 < h < H and 0 < w < W:
            y, x = int(rng.integers(0, H - h + 1)), int(rng.integers(0, W - w + 1))
            frame[y:y + h, x:x + w] = rng.integers(0, 256, 3, dtype=np.uint8)
            return frame
    return frame


def load_frames(paths: Sequence[str], size_hw: tuple[int, int]) -> np.ndarray:
    """Read and resize frames (bilinear, aspect not kept): -> (N, H, W, 3) uint8."""
    H, W = size_hw
    out = np.empty((len(paths), H, W, 3), dtype=np.uint8)
    for i, p in enumerate(paths):
        with Image.open(p) as im:
            out[i] = np.asarray(im.convert("RGB").resize((W, H), Image.Resampling.BILINEAR))
    return out


def to_tensor(frames: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> normalised float (N, 3, H, W)."""
    t = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float().div_(255.0)
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return (t - m) / s


class ClipDataset(Dataset[ClipItem]):
    """Tracklets as clips for the model.

    ``mode="rrs"``: (T, 3, H, W) from random RRS positions; ``"rrs_test"``: the deterministic RRS
    clip; ``"dense"``: all frames as consecutive T-frame chunks (n_chunks, T, 3, H, W), the last one
    padded by cycling (``reid.model.dense_chunk_indices``). Items are ``(clip, pid, camid, index)``.
    ``augment`` (training only) enables flip and random erasing. Randomness comes from a numpy
    Generator reseeded per DataLoader worker (:func:`seed_worker`).
    """

    def __init__(
        self, records: Sequence[DatasetTracklet], preprocess: dict[str, Any], mode: str = "rrs",
        augment: Augment | None = None, seed: int = 0,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown sampling mode {mode!r}; choose one of {MODES}")
        self.records = list(records)
        self.mode, self.augment = mode, augment
        self.size_hw = tuple(preprocess["input_size"])
        self.mean, self.std = preprocess["mean"], preprocess["std"]
        self.seq_len = int(preprocess["seq_len"])
        self.rng = np.random.default_rng(seed)

    def reseed(self, seed: int) -> None:
        """Reset this copy's random generator (called in each worker)."""
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> ClipItem:
        rec = self.records[index]
        n = len(rec.frame_paths)
        if self.mode == "dense":
            from reid.model import dense_chunk_indices

            chunks = dense_chunk_indices(n, self.seq_len).numpy()
            frames = load_frames(rec.frame_paths, self.size_hw)[chunks.reshape(-1)]
            clip = to_tensor(frames, self.mean, self.std)
            return clip.view(len(chunks), self.seq_len, *clip.shape[1:]), rec.pid, rec.camid, index
        if self.mode == "rrs":
            idx = rrs_indices(n, self.seq_len, self.rng)
        else:
            idx = rrs_test_indices(n, self.seq_len)
        frames = load_frames([rec.frame_paths[i] for i in idx], self.size_hw)
        if self.augment is not None:
            if self.rng.random() < self.augment.flip_p:
                frames = frames[:, :, ::-1]
            frames = np.ascontiguousarray(frames)
            for f in frames:
                if self.rng.random() < self.augment.erase_p:
                    random_erase(f, self.rng, self.augment)
        return to_tensor(frames, self.mean, self.std), rec.pid, rec.camid, index


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: seed numpy, ``random`` and the dataset's generator per worker.

    ``torch.initial_seed()`` in a worker is the loader's per-epoch base seed + worker id, so every
    worker (and every epoch) draws different RRS positions, reproducibly for a seeded loader.
    """
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)
    info = torch.utils.data.get_worker_info()
    if info is not None and hasattr(info.dataset, "reseed"):
        info.dataset.reseed(seed)


def _collate_list(batch: list[ClipItem]) -> list[ClipItem]:
    """Dense batches stay lists of items (their chunk counts differ)."""
    return batch


def train_loader(
    records: Sequence[DatasetTracklet], preprocess: dict[str, Any], *, p: int = 4, k: int = 4,
    augment: Augment | None = None, num_workers: int = 0, seed: int = 0,
    rank: int = 0, world_size: int = 1,
) -> DataLoader[ClipItem]:
    """RRS clips in P x K batches: yields (clips (P*K, T, 3, H, W), pids, camids, indices)."""
    ds = ClipDataset(records, preprocess, "rrs", augment or Augment(), seed=seed + rank)
    sampler = IdentityBatchSampler([r.pid for r in records], p, k, seed, rank, world_size)
    return DataLoader(
        ds, batch_sampler=sampler, num_workers=num_workers, worker_init_fn=seed_worker,
        generator=torch.Generator().manual_seed(seed + rank), pin_memory=torch.cuda.is_available(),
        persistent_workers=False,
    )


def eval_loader(
    records: Sequence[DatasetTracklet], preprocess: dict[str, Any], *, mode: str = "dense",
    batch_size: int = 16, num_workers: int = 0,
) -> DataLoader[ClipItem]:
    """Unaugmented clips in dataset order. ``rrs_test``: batched tensors as in ``train_loader``;
    ``dense``: lists of ``(chunks (n, T, 3, H, W), pid, camid, index)`` items (one per tracklet)."""
    if mode == "rrs":
        raise ValueError("evaluation uses 'rrs_test' or 'dense' sampling, not 'rrs'")
    ds = ClipDataset(records, preprocess, mode)
    collate = _collate_list if mode == "dense" else None
    return DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                      collate_fn=collate, worker_init_fn=seed_worker)
