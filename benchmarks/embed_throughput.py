"""MobileNetV2 fallback embedder: crops per second, and the bare network in both memory layouts.

    python benchmarks/embed_throughput.py [--tracklets 16] [--crops 16] [--repeats 3]

Prints, on the same random crops in the same run: ``MobileNetEmbedder.embed_tracklets`` (resize,
normalise, network, stripe pooling, colour histograms) with batches of 8 and 64 crops, and the bare
network in the default (NCHW) layout and in channels-last. That the two layouts give the same
descriptors is a test (``tests/embed/test_embedders.py``).
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
    rates = {}
    for batch in (8, 64):
        embedder = MobileNetEmbedder(batch_size=batch)
        rates[batch] = best_rate(lambda e=embedder: e.embed_tracklets(crops), n, args.repeats)
    nchw = MobileNetEmbedder().features.to(memory_format=torch.contiguous_format)
    x = torch.randn(8, 3, 256, 128)
    with torch.inference_mode():
        x_cl = x.contiguous(memory_format=torch.channels_last)
        net_cl = best_rate(lambda: embedder.features(x_cl), 8, args.repeats)
        net_nchw = best_rate(lambda: nchw(x), 8, args.repeats)
    print(f"torch threads: {torch.get_num_threads()}")
    for batch, rate in rates.items():
        print(f"embed_tracklets, batches of {batch:2d} crops: {rate:7.1f} crops/s")
    print(f"bare network (features[:18]), batches of 8, NCHW:          {net_nchw:7.1f} crops/s")
    print(f"bare network (features[:18]), batches of 8, channels-last: {net_cl:7.1f} crops/s  "
          f"({net_cl / net_nchw:.2f}x)")
    print(f"embed_tracklets (batches of 8) / bare channels-last network: {rates[8] / net_cl:.2f}")

if __name__ == "__main__":
    main()
