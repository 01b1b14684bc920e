"""Search latency, recall@10 vs exact search, build time and memory of the gallery's vector index.

Clustered synthetic descriptors stand in for TF-CLIP's (dimension 2048 by default): each tracklet
belongs to a person (Poisson, mean ``--per-person`` tracklets each) and was seen by one of 16 cameras;

    x = normalise(person_centre + 0.35 * camera_bias + noise),   |centre| = 1, |noise| ~ 0.8,

with person centres drawn from a 256-d latent subspace (real descriptors are far from isotropic).
Why these sizes (measured on this generator, 10^4 gallery, 200 queries):

- unit vectors, inner product = cosine, as the store keeps them;
- identity is 57 % of a descriptor's energy (1 / 1.76), camera 7 % (0.35^2 / 1.76), tracklet noise
  36 %: a person's tracklets have cosine 0.57 +- 0.02 with each other, other people 0.00 +- 0.045,
  so the first hits of a query are its person, as with a trained ReID model (positive pairs
  ~0.6-0.8); real negatives spread more (~0.1), which only makes the true neighbours stand out less;
- the camera bias is a shared per-camera offset (lighting, viewpoint, background), the documented
  reason cross-camera ReID is hard; at 7 % of the energy it adds +0.07 to same-camera pairs, smaller
  than identity yet enough that k-means partitions split by camera: a person's tracklets from 8
  cameras fall into 8 different IVF lists, and the lists of the query's own camera score first;
- top-10 of a query holds ~7.4 tracklets of its person; the rest are same-camera lookalikes at
  cosine ~0.27, near-ties among many candidates, which is where approximate search loses recall.

Queries are fresh tracklets of gallery people. The gallery is generated in chunks from per-chunk
seeds, so exact ground truth is computed by streaming the chunks and no index ever needs all
float32 vectors at once unless it stores them (flat, HNSW).

Measured per size and index kind, through ``reid.store.VectorIndex`` (the code the store uses):
build time, index file size (its memory footprint), process peak RSS, latency p50/p95 of a single
query and of a batch of 32 queries, and recall@10 = |approx top-10 ∩ exact top-10| / 10.

Usage:
    python benchmarks/search_scale.py --sizes 10000 100000 --kinds flat hnsw ivfsq
    python benchmarks/search_scale.py --sizes 1000000 --kinds ivfsq --nprobe 128 256 512
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reid.store import IndexConfig, VectorIndex  # noqa: E402

LATENT, CAMERAS, CHUNK = 256, 16, 65_536


class Synthetic:
    """Deterministic clustered descriptors, generated chunk by chunk."""

    def __init__(self, n: int, dim: int, per_person: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.n, self.dim, self.seed = n, dim, seed
        self.people = max(1, n // per_person)
        self.proj = (rng.standard_normal((LATENT, dim), np.float32) / np.sqrt(LATENT)).astype(
            np.float32)
        self.latent = rng.standard_normal((self.people, LATENT), np.float32)
        cams = rng.standard_normal((CAMERAS, dim), np.float32)
        self.cams = cams / np.linalg.norm(cams, axis=1, keepdims=True)

    def _make(self, rng: np.random.Generator, persons: np.ndarray) -> np.ndarray:
        centre = self.latent[persons] @ self.proj
        centre /= np.linalg.norm(centre, axis=1, keepdims=True)
        cams = self.cams[rng.integers(0, CAMERAS, len(persons))]
        noise = rng.standard_normal((len(persons), self.dim), np.float32) * (0.8 / np.sqrt(self.dim))
        x = centre + 0.35 * cams + noise
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    def chunks(self):
        """Yield ``(ids, vectors)`` chunks covering ids ``0..n-1``."""
        for start in range(0, self.n, CHUNK):
            stop = min(self.n, start + CHUNK)
            rng = np.random.default_rng((self.seed, start))
            persons = rng.integers(0, self.people, stop - start)
            yield np.arange(start, stop, dtype=np.int64), self._make(rng, persons)

    def queries(self, count: int) -> np.ndarray:
        rng = np.random.default_rng((self.seed, 2**40))
        return self._make(rng, rng.integers(0, self.people, count))


def exact_topk(data: Synthetic, queries: np.ndarray, k: int) -> np.ndarray:
    """Exact top-k ids ``(Q, k)`` by streaming the gallery chunks."""
    best_s = np.full((len(queries), k), -np.inf, np.float32)
    best_i = np.full((len(queries), k), -1, np.int64)
    for ids, x in data.chunks():
        s = queries @ x.T
        all_s = np.concatenate([best_s, s], axis=1)
        all_i = np.concatenate([best_i, np.broadcast_to(ids, s.shape)], axis=1)
        top = np.argpartition(-all_s, k - 1, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(all_s, top, 1), np.take_along_axis(all_i, top, 1)
    return best_i


def build(data: Synthetic, config: IndexConfig, threads: int | None = None) -> VectorIndex:
    """Build through the store's code path: the first chunk trains, later chunks are added."""
    search_threads = faiss.omp_get_max_threads()
    if threads:
        faiss.omp_set_num_threads(threads)
    index = None
    for ids, x in data.chunks():
        if index is None:
            index = VectorIndex.build(data.dim, ids, x, config)
        else:
            index.add(ids, x)
    faiss.omp_set_num_threads(search_threads)
    return index


def latency_ms(index: VectorIndex, queries: np.ndarray, batch: int, reps: int) -> tuple[float, ...]:
    times = []
    for i in range(reps):
        start = (i * batch) % max(1, len(queries) - batch)
        q = queries[start:start + batch]
        t = time.perf_counter()
        index.search(q, 10)
        times.append((time.perf_counter() - t) * 1e3)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def recall_at_10(index: VectorIndex, queries: np.ndarray, truth: np.ndarray) -> float:
    _, got = index.search(queries, 10)
    hits = [len(set(g.tolist()) & set(t.tolist())) for g, t in zip(got, truth, strict=True)]
    return float(np.mean(hits) / 10)


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _sweep(kind: str, args: argparse.Namespace) -> list[tuple[str, int]]:
    """Search-time settings to measure on one built index: ``(config field, value)`` pairs."""
    if kind in ("ivfsq", "ivfpq"):
        return [("ivf_nprobe", v) for v in args.nprobe]
    if kind in ("hnsw", "hnswsq"):
        return [("hnsw_ef_search", v) for v in args.ef_search]
    return [("", 0)]


def run_one(data: Synthetic, kind: str, base: IndexConfig, queries: np.ndarray,
            truth: np.ndarray, args: argparse.Namespace) -> list[dict]:
    """Build one index of ``kind`` and measure it at each search-time setting of ``_sweep``."""
    config = replace(base, kind=kind, approx_min_size=0,  # measure the kind itself
                     ivf_nlist=base.ivf_nlist or base.nlist_for(data.n))  # as if built at size n
    load_before = os.getloadavg()[0]
    t = time.perf_counter()
    index = build(data, config, args.build_threads)
    build_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vectors.faiss"
        index.save(path)
        size_gb = path.stat().st_size / 2**30
    rows = []
    for field, value in _sweep(kind, args):
        if field:
            # the kind's backend keeps its own copy of the settings it searches with
            index.config = index.backend.config = replace(config, **{field: value})
        index.search(queries[:32], 10)  # warm-up
        p50_1, p95_1 = latency_ms(index, queries, 1, args.reps)
        p50_32, p95_32 = latency_ms(index, queries, 32, max(5, args.reps // 10))
        rows.append({"n": data.n, "dim": data.dim, "kind": index.kind, "param": field,
                     "value": value, "nlist": config.ivf_nlist if kind.startswith("ivf") else 0,
                     "build_s": build_s, "index_gb": size_gb, "p50_1": p50_1, "p95_1": p95_1,
                     "p50_32": p50_32, "p95_32": p95_32,
                     "recall10": recall_at_10(index, queries, truth),
                     "peak_rss_gb": peak_rss_gb(), "load1_before": load_before,
                     "load1_after": os.getloadavg()[0]})
    del index
    gc.collect()
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    p.add_argument("--kinds", nargs="+", default=["flat", "hnsw", "ivfsq"],
                   choices=["flat", "hnsw", "hnswsq", "ivfsq", "ivfpq"])
    p.add_argument("--dim", type=int, default=2048)
    p.add_argument("--per-person", type=int, default=8)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--reps", type=int, default=200, help="single-query latency repetitions")
    p.add_argument("--nprobe", type=int, nargs="+", default=[IndexConfig.ivf_nprobe],
                   help="IVF lists visited per query (several: one row each, same index)")
    p.add_argument("--nlist", type=int, default=IndexConfig.ivf_nlist,
                   help="IVF lists (0: sqrt(n) rounded to a power of two)")
    p.add_argument("--pca-dim", type=int, default=IndexConfig.pca_dim)
    p.add_argument("--ef-search", type=int, nargs="+", default=[IndexConfig.hnsw_ef_search])
    p.add_argument("--refine", default=IndexConfig.refine, choices=["sq8", "fp16", "none"])
    p.add_argument("--refine-factor", type=int, default=IndexConfig.refine_factor)
    p.add_argument("--threads", type=int, default=None,
                   help="faiss threads for search (default: faiss' own choice)")
    p.add_argument("--build-threads", type=int, default=None,
                   help="faiss threads while building (e.g. all cores of a bigger machine)")
    p.add_argument("--json", type=Path, default=None, help="also write the rows to this file")
    args = p.parse_args(argv)
    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    base = IndexConfig(ivf_nlist=args.nlist, pca_dim=args.pca_dim, refine=args.refine,
                       refine_factor=args.refine_factor)
    print(f"# faiss threads: {faiss.omp_get_max_threads()}, build threads: {args.build_threads}, "
          f"cpus: {os.cpu_count()}, load: {os.getloadavg()}", flush=True)
    print("n,dim,kind,param,value,build_s,index_gb,p50_1_ms,p95_1_ms,p50_b32_ms,p95_b32_ms,"
          "recall10,peak_rss_gb,load1", flush=True)
    rows = []
    for n in args.sizes:
        data = Synthetic(n, args.dim, args.per_person)
        queries = data.queries(args.queries)
        truth = exact_topk(data, queries, 10)
        for kind in args.kinds:
            for r in run_one(data, kind, base, queries, truth, args):
                rows.append(r)
                print(f"{r['n']},{r['dim']},{r['kind']},{r['param']},{r['value']},"
                      f"{r['build_s']:.1f},{r['index_gb']:.3f},{r['p50_1']:.2f},{r['p95_1']:.2f},"
                      f"{r['p50_32']:.1f},{r['p95_32']:.1f},{r['recall10']:.3f},"
                      f"{r['peak_rss_gb']:.2f},{r['load1_after']:.2f}", flush=True)
                if args.json:
                    args.json.write_text(json.dumps({"args": {k: str(v) for k, v in
                                                              vars(args).items()},
                                                     "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
