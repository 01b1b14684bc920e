"""Search at 10^7 tracklets on one 24 GB, 2-core machine: memory, build time, p95 latency of one
query, recall@10 against exact search (issue 13, part 5).

The index is the store's own ``VectorIndex`` with kind ``"ivfpqfs"`` and an 8-bit re-scoring copy:

    IndexConfig(kind="ivfpqfs", pca_dim=256, pq_m=64, refine="sq8", ivf_nlist=N, ivf_nprobe=P)

i.e. descriptors projected onto their top 256 (uncentred) principal directions, coarse-quantised
into ``N`` IVF lists and coded as 64 4-bit PQ codes (32 bytes) laid out for SIMD scanning; the
``k * refine_factor`` best candidates are then re-scored against 8-bit scalar-quantised copies of
the full 512-d vectors. Per vector: 32 B of code + 8 B id in the lists, 512 B of SQ8 copy + 8 B
id (+ the id map's hash entry), ~0.7 GB per 10^6 vectors, against 2.0 GB for the float32 flat
matrix (20 GB at 10^7: does not fit) and ~1.3 GB for the default ``ivfsq`` + fp16 copy (13 GB at
10^7: no room to build). ``ivfpq`` (8-bit PQ) scans the lists ~20x slower (this data needs half
of them), and HNSW over 10^7 would need the vectors plus ~256 B of graph per vector and hours of
build on 2 cores (``search_scale.py`` measured HNSW's 10^5 build at 91 s for 2048-d).

Descriptors are the clustered synthetic ones of ``search_scale.py`` (people x tracklets, camera
bias, noise; ~8 tracklets per person), 512-d, generated chunk by chunk from per-chunk seeds, so
10^7 x 512 float32 (20 GB) never exists at once. The exact top-10 of the queries is computed on the
same pass, as the index compares (centred on the gallery mean, then cosine), chunk by chunk.

Measured: build time (training included), RSS after building and peak RSS (``ru_maxrss``),
single-query latency p50/p95 (``--reps`` queries, one at a time, faiss' default threads), and
recall@10 = |approx top-10 ∩ exact top-10| / 10 over ``--queries`` queries, per ``--nprobe``.

Usage:
    python benchmarks/search_10m.py --n 1000000 --nlist 1024 --train 65536 --nprobe 512 768
    python benchmarks/search_10m.py --n 10000000 --nlist 4096 --train 163840 \
        --nprobe 1024 2048 3072 --refine-factor 80 160 --json out.json
    # build once (~12 min here), then search the saved run with other settings (~1 min each):
    python benchmarks/search_10m.py --n 10000000 --nlist 4096 --train 163840 --nprobe 2048 \
        --refine-factor 300 --save /tmp/s10m
    python benchmarks/search_10m.py --load /tmp/s10m --nlist 4096 --nprobe 1536 1792 2048 \
        --refine-factor 200 300 600 --json out.json

``--refine-factor 300`` with ``k = 10`` re-scores the 3,000 candidates that ``--index ivfpqfs``
re-scores at least (``IndexConfig.for_kind``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from search_scale import Synthetic  # noqa: E402

from reid.store import IndexConfig, VectorIndex  # noqa: E402


def rss_gb() -> float:
    """Current resident set size of this process, GiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def available_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def merge_topk(best_s: np.ndarray, best_i: np.ndarray, s: np.ndarray, ids: np.ndarray,
               k: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep the ``k`` best of ``(best, new chunk)`` per query row."""
    all_s = np.concatenate([best_s, s], axis=1)
    all_i = np.concatenate([best_i, np.broadcast_to(ids, s.shape)], axis=1)
    top = np.argpartition(-all_s, k - 1, axis=1)[:, :k]
    return np.take_along_axis(all_s, top, 1), np.take_along_axis(all_i, top, 1)


def persons_of(data: Synthetic, ids: np.ndarray) -> np.ndarray:
    """The person of each gallery id of a chunk (the chunk's first draw in ``Synthetic.chunks``)."""
    start = int(ids[0])
    return np.random.default_rng((data.seed, start)).integers(0, data.people, len(ids))


def query_persons(data: Synthetic, count: int) -> np.ndarray:
    """The person of each query (the first draw in ``Synthetic.queries``)."""
    return np.random.default_rng((data.seed, 2**40)).integers(0, data.people, count)


def build_with_truth(data: Synthetic, config: IndexConfig, queries: np.ndarray, k: int,
                     first: int, min_free_gb: float, qperson: np.ndarray
                     ) -> tuple[VectorIndex, np.ndarray, np.ndarray, dict]:
    """Build the index chunk by chunk (the first ``first`` vectors train it) and compute the exact
    centred top-``k`` of ``queries`` on the same pass, with whether each hit is the query's
    person."""
    index: VectorIndex | None = None
    pending_ids, pending_x = [], []
    best_s = np.full((len(queries), k), -np.inf, np.float32)
    best_i = np.full((len(queries), k), -1, np.int64)
    best_same = np.zeros((len(queries), k), bool)
    qp = None
    t0, train_s, exact_s, gen_s = time.perf_counter(), 0.0, 0.0, 0.0
    done = 0
    tg = time.perf_counter()
    for ids, x in data.chunks():
        gen_s += time.perf_counter() - tg
        if index is None:
            pending_ids.append(ids)
            pending_x.append(x)
            if sum(len(i) for i in pending_ids) < first:
                tg = time.perf_counter()
                continue
            ids, x = np.concatenate(pending_ids), np.concatenate(pending_x)
            pending_ids, pending_x = [], []
            t = time.perf_counter()
            index = VectorIndex.build(data.dim, ids, x, config)
            train_s = time.perf_counter() - t
            qp = index.prepare(queries)
        else:
            index.add(ids, x)
        t = time.perf_counter()
        same = persons_of(data, ids)[None, :] == qperson[:, None]
        all_same = np.concatenate([best_same, same], axis=1)
        scores = qp @ index.prepare(x).T
        all_s = np.concatenate([best_s, scores], axis=1)
        top = np.argpartition(-all_s, k - 1, axis=1)[:, :k]
        best_same = np.take_along_axis(all_same, top, 1)
        best_s, best_i = merge_topk(best_s, best_i, scores, ids, k)
        exact_s += time.perf_counter() - t
        done += len(ids)
        if done % (1 << 20) < len(ids):
            free = available_gb()
            print(f"  {done:>10,d} vectors  {time.perf_counter() - t0:7.0f} s  rss "
                  f"{rss_gb():5.2f} GB  available {free:5.1f} GB  load {os.getloadavg()[0]:.2f}",
                  flush=True)
            if free < min_free_gb:
                raise SystemExit(f"stopping: only {free:.1f} GB of memory left")
        tg = time.perf_counter()
    if index is None:
        raise ValueError("fewer vectors than the training chunk")
    order = np.argsort(-best_s, axis=1, kind="stable")
    truth = np.take_along_axis(best_i, order, 1)
    truth_same = np.take_along_axis(best_same, order, 1)
    total = time.perf_counter() - t0
    return index, truth, truth_same, {"wall_s": total, "train_s": train_s, "exact_topk_s": exact_s,
                          "generate_s": gen_s, "build_s": total - exact_s - gen_s}


def latency_ms(index: VectorIndex, queries: np.ndarray, reps: int) -> tuple[float, float, float]:
    times = []
    for i in range(reps):
        q = queries[i % len(queries)][None, :]
        t = time.perf_counter()
        index.search(q, 10)
        times.append((time.perf_counter() - t) * 1e3)
    return (float(np.percentile(times, 50)), float(np.percentile(times, 95)),
            float(np.percentile(times, 99)))


def same_person_recall(got: np.ndarray, truth: np.ndarray, truth_same: np.ndarray) -> float:
    """Of the exact top-k hits that are the query's own person, the share the index returned."""
    found = [len(set(g.tolist()) & set(t[s].tolist())) for g, t, s in
             zip(got, truth, truth_same, strict=True)]
    return float(np.sum(found) / max(1, truth_same.sum()))


def recall_at(got: np.ndarray, truth: np.ndarray) -> float:
    k = truth.shape[1]
    return float(np.mean([len(set(g.tolist()) & set(t.tolist())) / k
                          for g, t in zip(got, truth, strict=True)]))


def save_run(folder: Path, index: VectorIndex, queries: np.ndarray, truth: np.ndarray,
             truth_same: np.ndarray, times: dict, rss: float, peak: float) -> None:
    """Keep a built run (the index file, queries, exact top-10, build figures) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    index.save(folder / "index.faiss")
    np.savez(folder / "truth.npz", queries=queries, truth=truth, truth_same=truth_same)
    (folder / "build.json").write_text(json.dumps({"times_s": times, "rss_after_build_gb": rss,
                                                   "peak_rss_gb": peak}))


def load_run(folder: Path, config: IndexConfig) -> tuple:
    """A run kept by :func:`save_run`, with ``config``'s search settings; the build figures are
    the original run's."""
    index = VectorIndex.load(folder / "index.faiss", config, digest=False)
    arrays = np.load(folder / "truth.npz")
    built = json.loads((folder / "build.json").read_text())
    return (index, arrays["queries"], arrays["truth"], arrays["truth_same"], built["times_s"],
            built["rss_after_build_gb"], built["peak_rss_gb"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10_000_000)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--per-person", type=int, default=8)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--reps", type=int, default=500, help="single-query latency repetitions")
    p.add_argument("--kind", default="ivfpqfs", choices=["ivfpqfs", "ivfpq", "ivfsq"])
    p.add_argument("--nlist", type=int, default=4096)
    p.add_argument("--nprobe", type=int, nargs="+", default=[16, 32, 64])
    p.add_argument("--pca-dim", type=int, default=256)
    p.add_argument("--pq-m", type=int, default=64)
    p.add_argument("--refine", default="sq8", choices=["sq8", "fp16", "none"])
    p.add_argument("--refine-factor", type=int, nargs="+", default=[10])
    p.add_argument("--train", type=int, default=262_144,
                   help="vectors in the first (training) chunk; >= 39 x nlist")
    p.add_argument("--min-free-gb", type=float, default=3.0,
                   help="stop when the machine has less available memory than this")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--save", type=Path, default=None,
                   help="folder to keep the built index, queries and exact top-10 in (to search "
                        "again with --load without rebuilding; ~7 GB at 10^7)")
    p.add_argument("--load", type=Path, default=None,
                   help="folder written by --save: search it instead of building")
    args = p.parse_args(argv)
    config = IndexConfig(kind=args.kind, approx_min_size=0, ivf_nlist=args.nlist,
                         ivf_nprobe=args.nprobe[0], pca_dim=args.pca_dim, pq_m=args.pq_m,
                         refine=args.refine, refine_factor=args.refine_factor[0],
                         train_size=args.train)
    print(f"# n={args.n:,} dim={args.dim} {config}\n# faiss threads "
          f"{faiss.omp_get_max_threads()}, cpus {os.cpu_count()}, load {os.getloadavg()}, "
          f"available {available_gb():.1f} GB", flush=True)
    if args.load:
        index, queries, truth, truth_same, times, built_rss, built_peak = load_run(args.load, config)
    else:
        data = Synthetic(args.n, args.dim, args.per_person)
        queries = data.queries(args.queries)
        index, truth, truth_same, times = build_with_truth(
            data, config, queries, 10, args.train, args.min_free_gb,
            query_persons(data, args.queries))
        built_rss, built_peak = rss_gb(), peak_rss_gb()
        del data  # the people's latent table is not part of the index
        if args.save:
            save_run(args.save, index, queries, truth, truth_same, times, built_rss, built_peak)
    print(f"# exact top-10: {truth_same.mean():.2f} of the hits are the query's person",
          flush=True)
    print(f"# built {index.ntotal:,} ({index.kind}) in {times['build_s']:.0f} s (training "
          f"{times['train_s']:.0f} s); rss {built_rss:.2f} GB, peak {built_peak:.2f} GB", flush=True)
    rows = []
    for rf in args.refine_factor:
        for nprobe in args.nprobe:
            # search-time settings live in the kind index's config (the wrapper's is for growth)
            index.config = index.backend.config = replace(config, ivf_nprobe=nprobe,
                                                          refine_factor=rf)
            for q in queries[:20]:
                index.search(q[None, :], 10)  # warm-up
            load = os.getloadavg()[0]
            p50, p95, p99 = latency_ms(index, queries, args.reps)
            _, got = index.search(queries, 10)
            row = {"nprobe": nprobe, "refine_factor": rf, "p50_ms": p50, "p95_ms": p95,
                   "p99_ms": p99, "recall10": recall_at(got, truth),
                   "same_person_recall10": same_person_recall(got, truth, truth_same),
                   "load1_before": load,
                   "load1_after": os.getloadavg()[0]}
            rows.append(row)
            print(json.dumps(row), flush=True)
    result = {"benchmark": "benchmarks/search_10m.py", "argv": sys.argv[1:], "n": args.n,
              "dim": args.dim, "config": asdict(config), "faiss": faiss.__version__,
              "cpus": os.cpu_count(), "faiss_threads": faiss.omp_get_max_threads(),
              "built_by": "a --save run (figures of that run)" if args.load else "this run",
              "times_s": times, "rss_after_build_gb": built_rss, "peak_rss_gb": built_peak,
              "rss_searching_gb": rss_gb(), "load1_at_end": os.getloadavg()[0],
              "ntotal": index.ntotal, "exact_top10_same_person_share": float(truth_same.mean()),
              "rows": rows}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
