"""GPU training-step and dense-test throughput of TF-CLIP at the paper's batch, on synthetic tensors.

Random-init ``tfclip-vit-b16`` (no download), AMP (fp16 autocast + GradScaler) on CUDA, a batch of
16 clips x 8 frames x 256x128 in P x K = 4 x 4 identity structure, MARS-sized heads (625 ids,
6 cameras) and a random CLIP-Memory. Measures training clips/s and peak GPU memory over timed steps
after warm-up, then dense-test encode throughput (clips/s, no grad). Prints a table and writes JSON
to ``--out`` after every stage, so a run cut short still leaves its partial results.

    python benchmarks/gpu_train_step.py --out gpu.json                      # the H100 check
    python benchmarks/gpu_train_step.py --model tfclip-tiny --steps 2 --warmup 1 --batch-clips 4 \
        --device cpu --out cpu.json                                         # CPU smoke path
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import traceback
from pathlib import Path

import torch

from training.engine import autocast_for
from training.losses import compute_loss, tfclip_loss_terms
from training.optim import build_optimizer


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_gib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def bench_train(model, args, device: torch.device, amp: bool) -> dict:
    """Timed optimiser steps on one fixed synthetic batch; returns clips/s and peak memory."""
    pre = model.preprocess
    h, w = pre["input_size"]
    t = pre["seq_len"]
    b = args.batch_clips
    k = min(4, b)
    clips = torch.randn(b, t, 3, h, w, device=device)
    labels = (torch.arange(b, device=device) // k) % args.num_classes
    cams = torch.arange(b, device=device) % args.num_cams
    optimizer = build_optimizer(model, base_lr=5e-6)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    terms = tfclip_loss_terms(t)
    model.train()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times, losses = [], []
    for step in range(args.warmup + args.steps):
        _sync(device)
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with autocast_for(device, amp):
            out = model(clips, cams)
        loss, _ = compute_loss(terms, out, labels)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        _sync(device)
        if step >= args.warmup:
            times.append(time.perf_counter() - start)
            losses.append(float(loss.detach()))
    total = sum(times)
    return {"clips_per_s": b * len(times) / total, "frames_per_s": b * t * len(times) / total,
            "step_ms_mean": 1000 * total / len(times), "step_ms_min": 1000 * min(times),
            "peak_mem_gib": _peak_gib(device), "steps": len(times), "batch_clips": b,
            "frames_per_clip": t, "input_hw": [h, w], "final_loss": losses[-1]}


@torch.no_grad()
def bench_dense(model, args, device: torch.device, amp: bool) -> dict:
    """Timed ``model.encode`` on batches of dense 8-frame chunks (the test-time workload)."""
    pre = model.preprocess
    h, w = pre["input_size"]
    clips = torch.randn(args.dense_batch, pre["seq_len"], 3, h, w, device=device)
    cams = torch.zeros(args.dense_batch, dtype=torch.long, device=device)
    model.eval()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for step in range(args.warmup + args.steps):
        _sync(device)
        start = time.perf_counter()
        with autocast_for(device, amp):
            desc = model.encode(clips, cams)
        _sync(device)
        if step >= args.warmup:
            times.append(time.perf_counter() - start)
    return {"clips_per_s": args.dense_batch * len(times) / sum(times),
            "batch_clips": args.dense_batch, "descriptor_dim": int(desc.shape[1]),
            "peak_mem_gib": _peak_gib(device), "steps": len(times)}


def _write(path: str | None, result: dict) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(result, indent=1))


def _table(result: dict) -> str:
    lines = ["| stage | clips/s | frames/s | step (ms) | peak GPU mem (GiB) |", "|---|---|---|---|---|"]
    for stage in ("train", "dense_test"):
        r = result.get(stage)
        if not r or "error" in r:
            lines.append(f"| {stage} | error: {r.get('error') if r else 'not run'} | | | |")
            continue
        mem = "n/a" if r["peak_mem_gib"] is None else f"{r['peak_mem_gib']:.2f}"
        frames = f"{r['frames_per_s']:.0f}" if "frames_per_s" in r else ""
        step = f"{r['step_ms_mean']:.0f}" if "step_ms_mean" in r else ""
        lines.append(f"| {stage} | {r['clips_per_s']:.1f} | {frames} | {step} | {mem} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tfclip-vit-b16")
    ap.add_argument("--batch-clips", type=int, default=16)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--dense-batch", type=int, default=32, help="clips per dense encode call")
    ap.add_argument("--num-classes", type=int, default=625)
    ap.add_argument("--num-cams", type=int, default=6)
    ap.add_argument("--ssp", default="enhanced", choices=("enhanced", "paper"))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--no-amp", action="store_true")
    ap.add_argument("--out", help="JSON results path")
    args = ap.parse_args(argv)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu")
                          if args.device == "auto" else args.device)
    amp = device.type == "cuda" and not args.no_amp
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    result: dict = {
        "model": args.model, "device": str(device), "amp": amp, "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
        "num_classes": args.num_classes, "num_cams": args.num_cams, "ssp": args.ssp,
    }
    from reid.model import create_model

    torch.manual_seed(0)
    model = create_model(args.model, num_classes=args.num_classes, num_cameras=args.num_cams,
                         ssp=args.ssp, pretrained=None, device=device)
    model.set_memory(torch.randn(args.num_classes, model.proj_dim, device=device))
    result["params_m"] = sum(p.numel() for p in model.parameters()) / 1e6
    for stage, fn in (("train", bench_train), ("dense_test", bench_dense)):
        try:
            result[stage] = fn(model, args, device, amp)
        except Exception as exc:  # an OOM or kernel error must not lose the other stage
            result[stage] = {"error": f"{type(exc).__name__}: {exc}"[:500],
                             "traceback": traceback.format_exc()[-2000:]}
            if device.type == "cuda":
                torch.cuda.empty_cache()
        _write(args.out, result)
    print(f"{args.model} on {result['gpu']} ({device}, AMP {amp}), {result['params_m']:.2f} M params")
    print(_table(result))
    return result


if __name__ == "__main__":
    main()
