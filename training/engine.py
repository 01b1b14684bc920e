"""The train step loop and the evaluator, as plain functions."""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from tqdm import tqdm

from training.data import ClipItem, eval_loader
from training.datasets.records import DatasetTracklet
from training.losses import LossTerm, compute_loss
from training.metrics import euclidean_distmat, evaluate_rank, query_plus_gallery

if TYPE_CHECKING:
    from torch.utils.data import DataLoader

    from reid.model import TFCLIP

logger = logging.getLogger(__name__)


def autocast_for(device: torch.device, amp: bool) -> contextlib.AbstractContextManager[Any]:
    """fp16 autocast on CUDA when ``amp``; a no-op context elsewhere (AMP is CUDA-only here)."""
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def train_one_epoch(
    model: torch.nn.Module,
    loader: DataLoader[ClipItem],
    optimizer: torch.optim.Optimizer,
    terms: list[LossTerm],
    *,
    device: torch.device,
    scaler: torch.amp.GradScaler | None = None,
    amp: bool = False,
    max_iters: int = 0,
    progress: bool = False,
    desc: str = "train",
) -> dict[str, float]:
    """One pass over a P x K loader; returns mean loss parts, ``acc`` (proj-head top-1), ``iters``.

    ``model`` may be DDP-wrapped; its forward returns a ``TFCLIPOutput``. ``max_iters`` > 0 stops
    early (smoke runs).
    """
    model.train()
    sums: dict[str, float] = defaultdict(float)
    n = 0
    total = min(len(loader), max_iters) if max_iters else len(loader)
    bar = tqdm(loader, total=total, desc=desc, disable=not progress, leave=False)
    for clips, pids, camids, _ in bar:
        clips = clips.to(device, non_blocking=True)
        pids, camids = pids.to(device), camids.to(device)
        optimizer.zero_grad(set_to_none=True)
        with autocast_for(device, amp):
            out = model(clips, camids)
        loss, parts = compute_loss(terms, out, pids)
        if scaler is not None and scaler.is_enabled():
            scaler.scale(loss).backward()  # type: ignore[no-untyped-call]  # Tensor.backward has no annotations
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()  # type: ignore[no-untyped-call]  # Tensor.backward has no annotations
            optimizer.step()
        parts["acc"] = float((out.proj_logits.argmax(1) == pids).float().mean())
        for key, value in parts.items():
            sums[key] += value
        n += 1
        bar.set_postfix(loss=f"{parts['total']:.3f}", acc=f"{parts['acc']:.2f}")
        if max_iters and n >= max_iters:
            break
    if n == 0:
        raise ValueError("the training loader produced no batch: too few identities for P x K")
    result = {key: value / n for key, value in sums.items()}
    result["iters"] = n
    return result


@torch.no_grad()
def extract_features(
    model: TFCLIP,
    records: Sequence[DatasetTracklet],
    *,
    sampling: str = "dense",
    device: torch.device | str = "cpu",
    batch_size: int = 16,
    amp: bool = False,
    num_workers: int = 0,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """L2-normalised descriptors of tracklets: (N, D) float32, pids (N,), camids (N,).

    ``dense``: mean of the descriptors of all T-frame chunks, the camera repeated per chunk (spec
    9.2); ``rrs_test``: one deterministic RRS clip per tracklet. ``model.encode`` gives the
    descriptor (concat before BN).
    """
    model.eval()
    device = torch.device(device)
    pre = model.preprocess
    loader = eval_loader(records, pre, mode=sampling, batch_size=batch_size if sampling != "dense"
                         else 1, num_workers=num_workers)
    feats: list[torch.Tensor] = []
    for batch in tqdm(loader, desc=f"features ({sampling})", disable=not progress, leave=False):
        if sampling == "dense":
            chunks, _, cam, _ = batch[0]
            parts: list[torch.Tensor] = []
            for s in range(0, len(chunks), batch_size):
                c = chunks[s:s + batch_size].to(device)
                cams = torch.full((len(c),), cam, dtype=torch.long, device=device)
                with autocast_for(device, amp):
                    parts.append(model.encode(c, cams).float())
            feats.append(torch.cat(parts).mean(0, keepdim=True).cpu())
        else:
            clips, _, cams, _ = batch
            with autocast_for(device, amp):
                feats.append(model.encode(clips.to(device), cams.to(device)).float().cpu())
    f = torch.nn.functional.normalize(torch.cat(feats), dim=1).numpy()
    return f, np.array([r.pid for r in records]), np.array([r.camid for r in records])


def rank_from_features(
    q: tuple[np.ndarray, np.ndarray, np.ndarray],
    g: tuple[np.ndarray, np.ndarray, np.ndarray],
    *,
    rerank: bool = False,
    max_rank: int = 50,
) -> dict[str, Any]:
    """Spec-9.3 protocol on (feats, pids, camids) of query and gallery -> metrics dict.

    Gallery = gallery ∪ query; squared Euclidean on the (already L2-normalised) descriptors;
    optional k-reciprocal re-ranking (Zhong et al. 2017, ``reid.model.rerank``).
    """
    qf, q_pids, q_cams = q
    gf, g_pids, g_cams = query_plus_gallery(q[0], g[0], q[1], g[1], q[2], g[2])
    dist = euclidean_distmat(qf, gf)
    if rerank:
        from reid.model.rerank import k_reciprocal_rerank

        dist = k_reciprocal_rerank(dist, euclidean_distmat(qf, qf), euclidean_distmat(gf, gf))
    cmc, mAP = evaluate_rank(dist, q_pids, g_pids, q_cams, g_cams, max_rank=max_rank)
    result: dict[str, Any] = {"mAP": float(mAP), "cmc": cmc.tolist(), "rerank": rerank,
                              "num_query": int(len(q_pids)), "num_gallery": int(len(g_pids))}
    for r in (1, 5, 10, 20):
        if r <= max_rank:
            result[f"rank{r}"] = float(cmc[r - 1])
    return result


def evaluate(
    model: TFCLIP,
    query: Sequence[DatasetTracklet],
    gallery: Sequence[DatasetTracklet],
    *,
    sampling: str = "dense",
    device: torch.device | str = "cpu",
    batch_size: int = 16,
    amp: bool = False,
    rerank: bool = False,
    num_workers: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """Encode query and gallery, then CMC/mAP: returns ``{"mAP", "rank1", ..., "cmc": [...]}``."""
    q, g = (extract_features(model, records, sampling=sampling, device=device, batch_size=batch_size,
                             amp=amp, num_workers=num_workers, progress=progress)
            for records in (query, gallery))
    result = rank_from_features(q, g, rerank=rerank)
    result["sampling"] = sampling
    return result
