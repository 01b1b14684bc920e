"""``run_training``: wire dataset, model, CLIP-Memory, optimiser and loops for one run.

Single process by default; under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) it joins the
process group (NCCL on CUDA, Gloo otherwise), wraps the model in DistributedDataParallel and gives
each rank its share of the P x K batches. Rank 0 evaluates, logs and writes checkpoints.
"""

from __future__ import annotations

import logging
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from training.checkpoints import load_training_checkpoint, save_training_checkpoint
from training.config import TrainConfig, save_config
from training.data import Augment, train_loader
from training.datasets import DatasetSplits, load_dataset
from training.engine import evaluate, train_one_epoch
from training.logbook import append_metrics, plot_metrics, read_metrics
from training.losses import tfclip_loss_terms
from training.memory import build_clip_memory
from training.optim import build_optimizer, build_scheduler
from training.sampling import IdentityBatchSampler

if TYPE_CHECKING:
    from reid.model import TFCLIP

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """Process placement: rank, world size, local rank and the torch device to use."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: str = "auto") -> DistInfo:
    """Join the torchrun process group when ``WORLD_SIZE`` > 1; pick the device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = f"cuda:{local}" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return DistInfo(rank, world, local, dev)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _build_model(cfg: TrainConfig, data: DatasetSplits, device: torch.device) -> TFCLIP:
    from reid.model import create_model, load_checkpoint

    model = create_model(
        cfg.model, num_classes=data.num_train_pids, num_cameras=data.num_cams, ssp=cfg.ssp,
        pretrained=None if cfg.init_checkpoint else cfg.pretrained, device=device,
        use_memory=cfg.use_memory, use_ssp=cfg.use_ssp, use_tmd=cfg.use_tmd,
    )
    if cfg.init_checkpoint:
        source = load_checkpoint(cfg.init_checkpoint).state_dict()
        target = model.state_dict()
        taken = {k: v for k, v in source.items() if k in target and v.shape == target[k].shape}
        model.load_state_dict(taken, strict=False)
        left = sorted(set(target) - set(taken))
        logger.info("started from %s: %d tensors taken, %d left as initialised%s", cfg.init_checkpoint,
                    len(taken), len(left), f" ({', '.join(left[:6])}...)" if left else "")
    return model


def run_training(
    cfg: TrainConfig, data: DatasetSplits | None = None, progress: bool = False
) -> dict[str, Any]:
    """Train (or resume) one run into ``cfg.output_dir``; returns a summary dict.

    Files: ``config.yaml``, ``last.pt`` (resumable), ``best.pt`` (best Rank-1 + mAP, the spec's
    selection on the test set), ``metrics.jsonl`` / ``metrics.csv``, ``curves.png``.
    """
    dist = setup_distributed(cfg.device)
    seed_everything(cfg.seed + dist.rank)
    out_dir = Path(cfg.output_dir)
    if data is None:
        data = load_dataset(cfg.dataset, cfg.root, **cfg.dataset_options)
    amp = cfg.amp and dist.device.type == "cuda"
    model = _build_model(cfg, data, dist.device)
    optimizer = build_optimizer(model, cfg.base_lr, cfg.weight_decay, cfg.bias_lr_factor,
                                cfg.large_fc_lr, cfg.large_module_lr)
    scheduler = build_scheduler(optimizer, cfg.warmup_epochs, cfg.warmup_factor, cfg.milestones,
                                cfg.gamma)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    start_epoch, best, last_eval, memory = 0, -1.0, None, None
    if cfg.resume and (out_dir / "last.pt").exists():
        state = load_training_checkpoint(out_dir / "last.pt")
        model.load_state_dict(state["model"], strict=True)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        start_epoch, best, memory = state["epoch"], state["best_score"], state["memory"]
        last_eval = state.get("last_eval")
        logger.info("resumed %s at epoch %d", out_dir / "last.pt", start_epoch)
    elif cfg.resume:
        logger.info("no checkpoint in %s: starting from scratch", out_dir)
    if model.use_memory:
        if memory is None:
            memory = build_clip_memory(model, data.train, data.num_train_pids, device=dist.device,
                                       num_workers=cfg.num_workers, amp=amp, rank=dist.rank,
                                       world_size=dist.world_size)
        model.set_memory(memory.to(dist.device))
    if dist.is_main:
        save_config(cfg, out_dir / "config.yaml")
    net: torch.nn.Module = model
    if dist.world_size > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[dist.device.index] if dist.device.type == "cuda" else None,
            find_unused_parameters=True)
    loader = train_loader(
        data.train, model.preprocess, p=cfg.p, k=cfg.k, seed=cfg.seed, rank=dist.rank,
        world_size=dist.world_size, num_workers=cfg.num_workers,
        augment=Augment(flip_p=cfg.flip_p, erase_p=cfg.erase_p))
    terms = tfclip_loss_terms(model.preprocess["seq_len"], epsilon=cfg.label_smoothing,
                              margin=cfg.triplet_margin)
    sampler = loader.batch_sampler
    assert isinstance(sampler, IdentityBatchSampler)  # built by train_loader
    for epoch in range(start_epoch + 1, cfg.epochs + 1):
        sampler.set_epoch(epoch)
        lr = optimizer.param_groups[0]["lr"] / optimizer.param_groups[0]["lr_mult"]
        stats = train_one_epoch(
            net, loader, optimizer, terms, device=dist.device, scaler=scaler, amp=amp,
            max_iters=cfg.max_iters_per_epoch, progress=progress and dist.is_main,
            desc=f"epoch {epoch}/{cfg.epochs}")
        scheduler.step()
        record: dict[str, Any] = {"epoch": epoch, "lr": lr, "loss": stats.pop("total"), **stats}
        if dist.is_main and cfg.eval_every > 0 and (epoch % cfg.eval_every == 0 or epoch == cfg.epochs):
            last_eval = evaluate(model, data.query, data.gallery, sampling=cfg.eval_sampling,
                                 device=dist.device, batch_size=cfg.eval_batch_size, amp=amp,
                                 num_workers=cfg.num_workers, progress=progress)
            record.update({k: v for k, v in last_eval.items() if k in ("mAP", "rank1", "rank5")})
        if dist.is_main:
            best = _save_epoch(out_dir, model, optimizer, scheduler, scaler, memory, cfg, data,
                               epoch, best, record, last_eval)
        if dist.world_size > 1:
            torch.distributed.barrier()
    if dist.world_size > 1:
        torch.distributed.destroy_process_group()
    return {"output_dir": str(out_dir), "epochs": cfg.epochs, "best_score": best,
            "last_eval": last_eval}


def _save_epoch(
    out_dir: Path, model: TFCLIP, optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LambdaLR, scaler: torch.amp.GradScaler,
    memory: torch.Tensor | None, cfg: TrainConfig, data: DatasetSplits, epoch: int, best: float,
    record: dict[str, Any], last_eval: dict[str, Any] | None,
) -> float:
    """Append the epoch's record, write ``last.pt`` (and ``best.pt`` on a better Rank-1 + mAP)."""
    append_metrics(out_dir, record)
    logger.info("epoch %d: %s", epoch, ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
             "epoch": epoch, "memory": None if memory is None else memory.cpu(),
             "config": cfg.to_dict(), "num_classes": data.num_train_pids,
             "num_cams": data.num_cams, "last_eval": last_eval, "best_score": best}
    score: float | None = record["rank1"] + record["mAP"] if "mAP" in record else None
    if score is not None and score > best:
        best = state["best_score"] = score
        save_training_checkpoint(out_dir / "best.pt", state)
    save_training_checkpoint(out_dir / "last.pt", state)
    plot_metrics(read_metrics(out_dir), out_dir / "curves.png")
    return best
