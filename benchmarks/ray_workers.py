"""1 vs 2 Ray workers indexing the same clips on this machine: videos/hour and the ratio.

``--clips`` cuts of ``data/vtest.avi`` (``--frames`` frames each, 768x576 at 10 fps) are indexed
with the HOG detector and the offline embedder (``--stride`` 2) by ``reid index --cluster``'s own
code (``reid.jobs.ray_cluster``: one local Ray instance for the whole benchmark, actors with 1 CPU
each running ``run_worker`` on the gallery's jobs) in three set-ups, each into a fresh gallery:

- ``1_worker``: one actor reserving 1 CPU, one gallery;
- ``1_worker_2cpus``: one actor reserving 2 CPUs (2 OpenCV/torch threads), one gallery;
- ``2_workers``: two actors of 1 CPU, one gallery (what ``reid index --cluster local`` does);
- ``2_workers_2_galleries``: two actors of 1 CPU, each with its own gallery and half the clips:
  no gallery write lock between them, so the most 2 workers can give on these cores.

An actor keeps OpenCV's and torch's threads to the CPUs it reserved (``reid.jobs.ray_cluster``).

Each set-up runs ``--repeats`` times, interleaved. Times: ``wall_s`` from starting the actors
(which build their models) to the last job's end; ``index_s`` from the first claim to the last
job's end (what the workers' models cost is left out). The 1-minute load average is recorded
before and after each run: the machine is shared with other jobs, so the figures are noisy.
Results go to ``benchmarks/results/ray_workers_<date>.json``.

    python benchmarks/ray_workers.py                   # 4 clips of 60 frames, 2 repeats (~10 min)
    python benchmarks/ray_workers.py --clips 2 --frames 30 --repeats 1   # a quick check
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import cv2

REPO = Path(__file__).resolve().parents[1]
VTEST = REPO / "data" / "vtest.avi"
sys.path.insert(0, str(REPO))

from tests.support.clips import clip_seconds, cut_clip  # noqa: E402

SETUPS = {"1_worker": (1, 1.0), "1_worker_2cpus": (1, 2.0), "2_workers": (2, 1.0),
          "2_workers_2_galleries": (1, 1.0)}  # actors per gallery, CPUs per actor


def run_setup(name: str, galleries: list[tuple[Path, list[Path]]], stride: int) -> dict[str, Any]:
    """Index each gallery's clips with one actor per gallery, or two actors on one gallery."""
    from app.compose import ServiceFactory
    from app.settings import Settings
    from reid.jobs.ray_cluster import ClusterIndexing
    from reid.store import Store

    workers, cpus = SETUPS[name]
    load_before = os.getloadavg()[0]
    claims: list[float] = []
    finals: list[float] = []
    results: list[dict[str, Any]] = []
    lock = threading.Lock()

    # Galleries are created one after the other: two threads creating one each at once trip over
    # alembic's module-level context (KeyError: 'script' in migrations.stamp).
    for data, clips in galleries:
        with Store.open(data) as store:
            for c in clips:
                store.jobs.enqueue(c, c.stem)

    def one(data: Path, clips: list[Path]) -> None:
        settings = Settings(data_dir=data, detector="hog", stride=stride, embedder="mobilenet")
        with Store.open(data) as store:
            ids = [job.id for job in store.jobs.list(state="pending")]
            cluster = ClusterIndexing(ServiceFactory(settings), workers=workers, cpus=cpus,
                                      name=data.name)
            try:
                summary = cluster.run(
                    store.jobs, ids, poll_s=0.2,
                    on_claim=lambda job: claims.append(time.monotonic()),
                    on_final=lambda job, report: finals.append(time.monotonic()))
            finally:
                cluster.close()
            with lock:
                for job in summary.final.values():
                    results.append({"clip": Path(job.path).name, "state": job.state,
                                    "worker": job.worker_id, "attempts": job.attempts,
                                    "tracklets": (job.result or {}).get("tracklets"),
                                    "elapsed_s": (job.result or {}).get("elapsed_s")})

    t0 = time.monotonic()
    threads = [threading.Thread(target=one, args=g) for g in galleries]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = (max(finals) if finals else time.monotonic()) - t0
    n = sum(len(c) for _, c in galleries)
    done = sum(r["state"] == "done" for r in results)
    index_s = max(finals) - min(claims) if claims and finals else float("nan")
    return {"setup": name, "workers": workers * len(galleries), "cpus_per_worker": cpus,
            "videos": n, "done": done,
            "wall_s": round(wall, 2), "index_s": round(index_s, 2),
            "videos_per_hour": round(n / wall * 3600, 1),
            "videos_per_hour_indexing": round(n / index_s * 3600, 1),
            "load_1min_before": round(load_before, 2),
            "load_1min_after": round(os.getloadavg()[0], 2), "jobs": sorted(
                results, key=lambda r: r["clip"])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--stride", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path,
                        default=REPO / "benchmarks" / "results" / f"ray_workers_{dt.date.today()}.json")
    args = parser.parse_args()
    if not VTEST.is_file():
        raise SystemExit("data/vtest.avi missing: make sample-data")
    from reid.jobs.ray_cluster import ray_session

    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="ray-workers-") as tmp:
        root = Path(tmp)
        (root / "clips").mkdir()
        total = int(cv2.VideoCapture(str(VTEST)).get(cv2.CAP_PROP_FRAME_COUNT))
        step = max(args.frames, (total - args.frames) // max(1, args.clips - 1))
        clips, seconds = [], 0.0
        for i in range(args.clips):
            path = root / "clips" / f"cut{i}.avi"
            seconds += clip_seconds(cut_clip(VTEST, path, min(i * step, total - args.frames),
                                             args.frames))
            clips.append(path)
        half = len(clips) // 2
        with ray_session("local", num_cpus=os.cpu_count()) as session:
            for rep in range(args.repeats):
                for name in SETUPS:
                    base = root / f"{name}-{rep}"
                    galleries = ([(base / "a", clips[:half]), (base / "b", clips[half:])]
                                 if name == "2_workers_2_galleries" else [(base / "g", clips)])
                    result = run_setup(name, galleries, args.stride)
                    result["repeat"] = rep
                    runs.append(result)
                    print(f"{name:22s} rep {rep}: {result['done']}/{result['videos']} done, wall "
                          f"{result['wall_s']:.1f} s, indexing {result['index_s']:.1f} s, "
                          f"{result['videos_per_hour']:.0f} videos/h, load "
                          f"{result['load_1min_before']:.1f}->{result['load_1min_after']:.1f}",
                          flush=True)
            cpus = session.cpus

    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in runs if r["setup"] == name)

    summary = {name: {"wall_s": round(median(name, "wall_s"), 2),
                      "index_s": round(median(name, "index_s"), 2),
                      "videos_per_hour": round(args.clips / median(name, "wall_s") * 3600, 1),
                      "videos_per_hour_indexing": round(args.clips / median(name, "index_s") * 3600, 1)}
               for name in SETUPS}
    ratios = {f"{name}_vs_1": {"wall": round(median("1_worker", "wall_s") / median(name, "wall_s"), 2),
                                "indexing": round(median("1_worker", "index_s")
                                                  / median(name, "index_s"), 2)}
              for name in SETUPS if name != "1_worker"}
    out = {
        "benchmark": "ray_workers", "date": str(dt.date.today()),
        "machine": {"cpus": os.cpu_count(), "ray_cpus": cpus, "platform": platform.platform(),
                    "python": platform.python_version(),
                    "note": "shared machine: other jobs ran alongside; see the load averages"},
        "clips": {"count": args.clips, "frames": args.frames, "video_seconds": round(seconds, 1),
                  "source": "data/vtest.avi 768x576 10 fps", "detector": "hog",
                  "embedder": "mobilenet (offline)", "stride": args.stride},
        "summary_medians": summary, "ratios": ratios, "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({"summary_medians": summary, "ratios": ratios}, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
