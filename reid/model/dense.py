"""Dense test sampling: a whole tracklet as consecutive 8-frame chunks (spec 4.1 / 9.2)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch


def dense_chunk_indices(n_frames: int, seq_len: int = 8) -> torch.Tensor:
    """Frame indices of consecutive, non-overlapping chunks, shape (n_chunks, seq_len).

    A short last chunk is padded by cycling its own frames: with ``seq_len=8`` a 2-frame remainder
    ``[24, 25]`` becomes ``[24, 25, 24, 25, 24, 25, 24, 25]``; a tracklet shorter than ``seq_len``
    is one such cycled chunk.
    """
    if n_frames < 1:
        raise ValueError(f"a tracklet needs at least one frame, got {n_frames}")
    chunks = []
    for start in range(0, n_frames, seq_len):
        own = torch.arange(start, min(start + seq_len, n_frames))
        chunks.append(own[torch.arange(seq_len) % len(own)])
    return torch.stack(chunks)


@torch.no_grad()
def encode_dense(
    encode_clips: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    tracklets: Sequence[torch.Tensor],
    cams: Sequence[int],
    seq_len: int,
    batch_size: int = 16,
) -> torch.Tensor:
    """One descriptor per tracklet: the mean of its dense-chunk descriptors (not normalised).

    Chunks of many tracklets share batches, and every chunk carries its own tracklet's camera, so
    the camera embedding is repeated for every chunk and frame (the official code crashes here).

    Args:
        encode_clips: maps clips (B, T, 3, H, W) and cams (B,) to descriptors (B, D).
        tracklets: per tracklet a frame tensor (N_i, 3, H, W), N_i >= 1.
        cams: the tracklet's 0-based camera id, one per tracklet.
        seq_len: frames per chunk (T).
        batch_size: clips per forward pass.

    Returns:
        (len(tracklets), D) float tensor.
    """
    if len(tracklets) != len(cams):
        raise ValueError(f"{len(tracklets)} tracklets but {len(cams)} camera ids")
    owners: list[int] = []
    clips: list[torch.Tensor] = []
    for i, frames in enumerate(tracklets):
        for chunk in dense_chunk_indices(frames.shape[0], seq_len):
            owners.append(i)
            clips.append(frames[chunk])
    cam_of_clip = torch.tensor([cams[i] for i in owners], dtype=torch.long)
    outputs = []
    for start in range(0, len(clips), batch_size):
        batch = torch.stack(clips[start : start + batch_size])
        outputs.append(encode_clips(batch, cam_of_clip[start : start + batch_size]).float().cpu())
    chunk_desc = torch.cat(outputs)
    owner_index = torch.tensor(owners)
    sums = torch.zeros(len(tracklets), chunk_desc.shape[1]).index_add_(0, owner_index, chunk_desc)
    counts = torch.bincount(owner_index, minlength=len(tracklets)).clamp_min(1)
    return sums / counts.unsqueeze(1).to(sums.dtype)
