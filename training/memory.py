"""CLIP-Memory construction (spec 4.1): one vector per training identity, built once before training.

For each training tracklet: dense T-frame chunks (last padded by cycling), ``model.memory_features``
(projected [CLS] averaged over the chunk's frames, no camera SIE, no augmentation), averaged over the
chunks -> u_i (not normalised). M_y = mean of u_i over the tracklets of label y; rows in label order.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch

from training.data import eval_loader
from training.datasets.records import DatasetTracklet

if TYPE_CHECKING:
    from reid.model import TFCLIP

logger = logging.getLogger(__name__)


@torch.no_grad()
def build_clip_memory(
    model: TFCLIP,
    records: Sequence[DatasetTracklet],
    num_classes: int,
    *,
    device: str | torch.device = "cpu",
    tracklets_per_batch: int = 4,
    clips_per_forward: int = 32,
    num_workers: int = 0,
    amp: bool = False,
    progress: Callable[[int, int], None] | None = None,
    rank: int = 0,
    world_size: int = 1,
) -> torch.Tensor:
    """The CLIP-Memory M, (num_classes, proj_dim) float32, from the model's current weights.

    Call it on the freshly built model (pretrained CLIP weights, nothing fine-tuned). Under
    ``world_size > 1`` each rank encodes every ``world_size``-th tracklet and the per-label sums
    are all-reduced, so every rank returns the same M.

    Args:
        model: a TFCLIP (unwrapped) providing ``memory_features`` and ``preprocess``.
        records: training tracklets with labels 0..num_classes-1.
        progress: optional callback ``(done, total)`` after each batch of tracklets.

    Raises:
        ValueError: a label in 0..num_classes-1 has no tracklet (its row would be undefined).
    """
    labels = {r.pid for r in records}
    missing = sorted(set(range(num_classes)) - labels)
    if missing or max(labels, default=-1) >= num_classes:
        raise ValueError(f"CLIP-Memory needs every label 0..{num_classes - 1} in the training "
                         f"records; missing {missing[:10]}, max label {max(labels, default=-1)}")
    mine = list(records)[rank::world_size]
    loader = eval_loader(mine, model.preprocess, mode="dense", batch_size=tracklets_per_batch,
                         num_workers=num_workers)
    sums = torch.zeros(num_classes, model.proj_dim, dtype=torch.float64, device=device)
    counts = torch.zeros(num_classes, dtype=torch.float64, device=device)
    autocast = (torch.autocast("cuda", dtype=torch.float16) if amp and torch.device(device).type
                == "cuda" else contextlib.nullcontext())
    was_training = model.training
    model.eval()
    done = 0
    for batch in loader:
        chunks = torch.cat([item[0] for item in batch])
        owners = torch.cat([torch.full((len(item[0]),), i) for i, item in enumerate(batch)])
        parts: list[torch.Tensor] = []
        with autocast:
            for s in range(0, len(chunks), clips_per_forward):
                clips = chunks[s:s + clips_per_forward].to(device, non_blocking=True)
                parts.append(model.memory_features(clips).double())
        feats = torch.cat(parts)
        for i, item in enumerate(batch):
            sums[item[1]] += feats[owners.to(feats.device) == i].mean(dim=0)
            counts[item[1]] += 1
        done += len(batch)
        if progress is not None:
            progress(done, len(mine))
    model.train(was_training)
    if world_size > 1:
        torch.distributed.all_reduce(sums)
        torch.distributed.all_reduce(counts)
    return (sums / counts.unsqueeze(1)).float()
