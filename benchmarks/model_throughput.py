"""Inference throughput of TF-CLIP vs the bare open_clip ViT-B/16 visual tower on the same frames.

    python benchmarks/model_throughput.py [--model tfclip-vit-b16] [--repeats 5] [--device cpu]

Both models are random-init (the cost is the same as with trained weights). TF-CLIP's ``encode``
runs the backbone, the camera embedding, the projection and TMD; the bare tower is open_clip's own
``VisionTransformer.forward`` (pooled, projected [CLS]). Prints a table of clips/s and the ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from reid.model import create_model
from reid.model.backbone import build_clip_visual


def time_pair(fns, repeats: int, device: torch.device) -> list[float]:
    """Median seconds of each function, run alternately (so load drift hits both alike)."""
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, bucket in zip(fns, times, strict=True):
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            bucket.append(time.perf_counter() - start)
    return [statistics.median(bucket) for bucket in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tfclip-vit-b16")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4], help="clips per forward")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", action="store_true", help="fp16 autocast (CUDA)")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args()

    device = torch.device(args.device)
    torch.manual_seed(0)
    model = create_model(args.model, num_classes=0, num_cameras=6, device=device).eval()
    bare = build_clip_visual(model.config["backbone"]).to(device).eval()
    seq_len = model.preprocess["seq_len"]
    h, w = model.preprocess["input_size"]
    rows = []
    print(f"device={device} threads={torch.get_num_threads()} model={args.model} amp={args.amp}")
    print(f"{'clips':>5} {'frames':>6} {'bare clips/s':>13} {'tfclip clips/s':>15} {'tfclip/bare time':>17}")
    for n in args.batches:
        clips = torch.randn(n, seq_len, 3, h, w, device=device)
        cams = torch.zeros(n, dtype=torch.long, device=device)
        frames = clips.flatten(0, 1)
        with torch.inference_mode(), torch.autocast(device.type, enabled=args.amp):
            t_bare, t_tf = time_pair(
                [lambda f=frames: bare(f), lambda c=clips, k=cams: model.encode(c, k)], args.repeats, device
            )
        row = {"clips": n, "frames": n * seq_len, "bare_clips_per_s": n / t_bare,
               "tfclip_clips_per_s": n / t_tf, "time_ratio": t_tf / t_bare}
        rows.append(row)
        print(f"{n:>5} {n * seq_len:>6} {row['bare_clips_per_s']:>13.2f} "
              f"{row['tfclip_clips_per_s']:>15.2f} {row['time_ratio']:>17.3f}")
    if args.json:
        with open(args.json, "w") as f:
            meta = {"device": str(device), "model": args.model, "amp": args.amp}
            json.dump({**meta, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
