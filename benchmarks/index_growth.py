"""Adding videos to a 10^6-tracklet gallery: what persisting the vector index costs per video,
before (the whole ``vectors.faiss`` rewritten after every video) and after (the video appended to
``vectors.delta``, merged into ``vectors.faiss`` when the delta passes 5 % of it) (issue 13, part 4).

The gallery is built directly through the store's vector side, not by indexing video:
``VectorIndex`` of the default kind (exact ``flat``, centred) over ``--n`` synthetic 512-d unit
descriptors, saved with ``reid.store._sync.write_index_files`` as the store saves it. Each video is
``~--per-video`` (Poisson) new descriptors added to the in-memory index, then persisted:

- before: ``write_index_files(index, ...)`` without a change: the main file rewritten (temporary
  file, fsync, rename) and ``vectors.json``, as ``Store.add_tracklets`` did for every video;
- after: ``write_index_files(index, ..., change=DeltaOp(ADD, ids, x), delta_bytes=...)``, what
  ``Store.add_tracklets`` now does (``Vectors.add``): one fsynced record appended to the delta and
  ``vectors.json`` rewritten, and a merge (the main file rewritten, an empty delta) once due.

Measured per video: wall time of the in-memory add and of persisting, bytes written (files' sizes:
the record, ``vectors.json``, and the main file when rewritten); then the time to open the index
(main file verified by sha256, delta replayed) with the delta full and after merging it. The
database side of ``add_tracklets`` (the same before and after) is not included.

Usage:
    python benchmarks/index_growth.py --n 1000000 --videos 1000 --before-videos 5 \
        --json benchmarks/results/index_growth_2026-12-01.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reid.store import IndexConfig, VectorIndex  # noqa: E402
from reid.store._sync import (  # noqa: E402
    CompactionPolicy,
    delta_path,
    sync_index,
    write_index_files,
)
from reid.store.index.delta import ADD, HEADER_BYTES, DeltaOp  # noqa: E402

FP = {"model": "synthetic", "weights": "none", "dim": 512, "preprocess": {}}


def unit_rows(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((n, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def build(n: int, dim: int, seed: int) -> VectorIndex:
    """A flat, centred index of ``n`` unit descriptors under ids ``1..n`` (generated in chunks)."""
    rng = np.random.default_rng(seed)
    x = np.empty((n, dim), np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        x[start:stop] = unit_rows(rng, stop - start, dim)
    index = VectorIndex.build(dim, np.arange(1, n + 1, dtype=np.int64), x, IndexConfig())
    return index


def summary(values: list[float]) -> dict[str, float]:
    a = np.asarray(values, float)
    return {"mean": float(a.mean()), "p50": float(np.percentile(a, 50)),
            "p95": float(np.percentile(a, 95)), "max": float(a.max()), "total": float(a.sum())}


def open_time(index_path: Path, meta_path: Path, ids: np.ndarray) -> tuple[float, int, bool]:
    """Seconds to load the index as ``Store.open`` does (checksum, main file, delta replayed),
    its size, and whether anything needed repair."""
    t = time.perf_counter()
    loaded, report, _ = sync_index(index_path, meta_path, FP, IndexConfig(), ids,
                                   lambda _ids: iter(()), writable=False)
    seconds = time.perf_counter() - t
    return seconds, 0 if loaded is None else loaded.ntotal, report.changed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--videos", type=int, default=1000)
    p.add_argument("--per-video", type=float, default=50.0)
    p.add_argument("--before-videos", type=int, default=5,
                   help="videos persisted the old way (each rewrites the whole main file)")
    p.add_argument("--open-at", type=int, default=900,
                   help="after this many videos, time opening the index with its delta")
    p.add_argument("--dir", type=Path, default=None, help="where to write (default: a temp dir)")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    FP["dim"] = args.dim
    work = Path(tempfile.mkdtemp(prefix="index_growth_", dir=args.dir))
    index_path, meta_path = work / "vectors.faiss", work / "vectors.json"
    rng = np.random.default_rng(1)
    try:
        t = time.perf_counter()
        index = build(args.n, args.dim, 0)
        build_s = time.perf_counter() - t
        t = time.perf_counter()
        delta = write_index_files(index, FP, index_path, meta_path, "bench")
        first_save_s = time.perf_counter() - t
        main_bytes = index_path.stat().st_size
        print(f"# {index.ntotal:,} x {args.dim} ({index.kind}) built in {build_s:.0f} s, saved "
              f"{main_bytes / 2**30:.2f} GiB in {first_save_s:.1f} s; load "
              f"{os.getloadavg()[0]:.2f}", flush=True)
        next_id = args.n + 1

        def video() -> tuple[np.ndarray, np.ndarray]:
            nonlocal next_id
            m = max(1, int(rng.poisson(args.per_video)))
            ids = np.arange(next_id, next_id + m, dtype=np.int64)
            next_id += m
            return ids, unit_rows(rng, m, args.dim)

        before: dict[str, list[float]] = {"add_s": [], "persist_s": [], "bytes": []}
        for _ in range(args.before_videos):
            ids, x = video()
            t = time.perf_counter()
            index.add(ids, x)
            t1 = time.perf_counter()
            delta = write_index_files(index, FP, index_path, meta_path, "bench")  # old path
            t2 = time.perf_counter()
            before["add_s"].append(t1 - t)
            before["persist_s"].append(t2 - t1)
            before["bytes"].append(index_path.stat().st_size + meta_path.stat().st_size)
            print(f"  before: {len(ids)} tracklets, add {t1 - t:.3f} s, rewrite "
                  f"{t2 - t1:.2f} s, {before['bytes'][-1] / 2**20:.0f} MiB", flush=True)

        policy = CompactionPolicy()
        after: dict[str, list[float]] = {"add_s": [], "persist_s": [], "bytes": [],
                                         "tracklets": []}
        merges = []
        open_with_delta = (float("nan"), 0, False)
        delta_at_open = 0
        for v in range(args.videos):
            if v == args.open_at:  # not counted in the per-video times
                delta_at_open = delta - HEADER_BYTES
                open_with_delta = open_time(index_path, meta_path, index.ids())
                print(f"  opened with a {delta_at_open / 2**20:.1f} MiB delta in "
                      f"{open_with_delta[0]:.1f} s", flush=True)
            ids, x = video()
            sha = index.file_sha256
            t = time.perf_counter()
            index.add(ids, x)
            t1 = time.perf_counter()
            old = delta
            delta = write_index_files(index, FP, index_path, meta_path, "bench",
                                      change=DeltaOp(ADD, ids, x), delta_bytes=delta,
                                      policy=policy)
            t2 = time.perf_counter()
            merged = index.file_sha256 != sha
            record = len(DeltaOp(ADD, ids, x).encode(args.dim))
            written = record + meta_path.stat().st_size
            if merged:  # the record and vectors.json, then main, vectors.json and a new delta
                written += index_path.stat().st_size + meta_path.stat().st_size + HEADER_BYTES
                merges.append({"video": v, "seconds": t2 - t1, "delta_bytes": old + record})
                print(f"  merged the delta at video {v}: {t2 - t1:.1f} s", flush=True)
            after["add_s"].append(t1 - t)
            after["persist_s"].append(t2 - t1)
            after["bytes"].append(written)
            after["tracklets"].append(len(ids))
            if v % 100 == 99:
                print(f"  after: {v + 1} videos, persist p50 "
                      f"{np.median(after['persist_s']) * 1e3:.1f} ms, delta "
                      f"{delta / 2**20:.1f} MiB, load {os.getloadavg()[0]:.2f}", flush=True)

        all_ids = index.ids()
        delta_now = delta_path(index_path).stat().st_size - HEADER_BYTES
        final_merge_s, final_merge_bytes = 0.0, 0
        if delta_now > 0:  # Vectors.compact(): what is left is merged too
            t = time.perf_counter()
            delta = write_index_files(index, FP, index_path, meta_path, "bench")
            final_merge_s = time.perf_counter() - t
            final_merge_bytes = (index_path.stat().st_size + meta_path.stat().st_size
                                 + HEADER_BYTES)
        open_merged = open_time(index_path, meta_path, all_ids)
        tracklets = int(sum(after["tracklets"]))
        result = {
            "benchmark": "benchmarks/index_growth.py", "argv": sys.argv[1:],
            "n": args.n, "dim": args.dim, "kind": index.kind, "videos": args.videos,
            "tracklets_added": tracklets, "main_file_bytes": main_bytes,
            "build_s": build_s, "first_save_s": first_save_s,
            "policy": {"fraction": policy.fraction, "min_bytes": policy.min_bytes},
            "before_full_rewrite": {"videos": args.before_videos,
                                    "add_s": summary(before["add_s"]),
                                    "persist_s": summary(before["persist_s"]),
                                    "bytes_per_video": summary(before["bytes"])},
            "after_delta": {"add_s": summary(after["add_s"]),
                            "persist_s": summary(after["persist_s"]),
                            "bytes_per_video": summary(after["bytes"]),
                            "merges_during_run": merges,
                            "delta_bytes_at_end": delta_now,
                            "final_merge_s": final_merge_s,
                            "amortised_bytes_per_video_all_merged":
                                (sum(after["bytes"]) + final_merge_bytes) / args.videos,
                            "amortised_persist_s_per_video_all_merged":
                                (sum(after["persist_s"]) + final_merge_s) / args.videos},
            "open_s": {"with_delta": open_with_delta[0], "delta_bytes": delta_at_open,
                       "after_merge": open_merged[0], "count_with_delta": open_with_delta[1],
                       "repaired": [open_with_delta[2], open_merged[2]]},
            "cpus": os.cpu_count(), "load1_end": os.getloadavg()[0],
        }
        print(json.dumps(result, indent=1), flush=True)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(result, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
