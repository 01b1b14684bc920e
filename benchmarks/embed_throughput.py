"""MobileNetV2 fallback embedder: crops per second, and the bare network in both memory layouts.

    python benchmarks/embed_throughput.py [--tracklets 16] [--crops 16] [--repeats 3]

Prints, on the same random crops in the same run: ``MobileNetEmbedder.embed_tracklets`` (resize,
normalise, network, pooling), the bare ``features`` network in the default (NCHW) layout and in
channels-last, and the largest difference between the embedder's descriptors computed in the two
layouts (they must agree to float rounding).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def best_rate(fn, n: int, repeats: int) -> float:
    """Items per second of ``fn()`` processing ``n`` items, best of ``repeats`` (after one warm-up)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return n / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracklets", type=int, default=16)
    parser.add_argument("--crops", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from reid.embed import MobileNetEmbedder

    rng = np.random.default_rng(0)
    crops = [[rng.integers(0, 255, (int(rng.integers(60, 140)), int(rng.integers(25, 60)), 3),
                           dtype=np.uint8) for _ in range(args.crops)] for _ in range(args.tracklets)]
    n = args.tracklets * args.crops
    embedder = MobileNetEmbedder()
    rate = best_rate(lambda: embedder.embed_tracklets(crops), n, args.repeats)
    channels_last = embedder.embed_tracklets(crops)

    reference = MobileNetEmbedder()  # the default layout throughout, for speed and the check
    reference.features = reference.features.to(memory_format=torch.contiguous_format)

    @torch.inference_mode()
    def nchw_features(frames: torch.Tensor) -> torch.Tensor:
        return torch.cat([reference.features(frames[i:i + 64].contiguous()).mean(dim=(2, 3))
                          for i in range(0, len(frames), 64)])

    reference._frame_features = nchw_features
    nchw = reference.embed_tracklets(crops)
    x = torch.randn(64, 3, 256, 128)
    with torch.inference_mode():
        x_cl = x.contiguous(memory_format=torch.channels_last)
        net_cl = best_rate(lambda: embedder.features(x_cl), 64, args.repeats)
        net_nchw = best_rate(lambda: reference.features(x), 64, args.repeats)
    print(f"torch threads: {torch.get_num_threads()}")
    print(f"embed_tracklets (channels-last): {rate:7.1f} crops/s")
    print(f"bare network, NCHW:              {net_nchw:7.1f} crops/s")
    print(f"bare network, channels-last:     {net_cl:7.1f} crops/s  ({net_cl / net_nchw:.2f}x)")
    print(f"max |descriptor difference| between the layouts: {np.abs(channels_last - nchw).max():.2e}")


if __name__ == "__main__":
    main()
