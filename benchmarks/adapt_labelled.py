"""``reid adapt`` on real footage, scored with the hand-labelled identities before and after.

Two galleries from ``data/vtest.avi``, indexed with the application's defaults:

- ``one-camera``: the whole video as one camera (the setting of ``pipeline_labelled.py``);
- ``two-cameras``: the demo's two cameras (first half / second half, ``reid demo``'s split), where a
  match is a person who left camera a and appeared on camera b.

Then ``reid adapt`` runs exactly as a user runs it (the CLI, in this process, timed end to end with
its re-embedding), and every stored tracklet of one labelled person with another stored,
non-overlapping tracklet of that person is a query, searched through the service, before and after.

The labelled people are split in two: **dev** (odd identity ids), the only ones looked at to choose
the head's options (``--shrinkage`` grid below), and **held-out** (even ids), reported as the result.
The colour histogram of the stored crops and random descriptors are scored beside them.

    python benchmarks/adapt_labelled.py [--shrinkage 0.3 1 3] [--refine-steps 0 200] [--out FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.pipeline_labelled import cosine_rankings, ranked_scores  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
VTEST = ROOT / "data" / "vtest.avi"
LABELS = ROOT / "assets" / "labels" / "vtest_identities.json"
RANDOM_SEEDS = 50


def scores(rankings: dict[int, list[int]], identity: dict[int, int | None], people: set[int]) -> dict:
    """mAP / Rank-1 over the queries of ``people``."""
    rows = [r for q, order in rankings.items() if identity[q] in people
            and (r := ranked_scores(order, identity, identity[q]))]
    if not rows:
        return {"mAP": 0.0, "rank1": 0.0, "queries": 0}
    return {"mAP": round(float(np.mean([a for a, _ in rows])), 4),
            "rank1": round(float(np.mean([h for _, h in rows])), 4), "queries": len(rows)}


def build_gallery(data_dir: Path, setup: str, work: Path) -> dict[int, int]:
    """Index the footage into ``data_dir``; camera name -> full-video frame of its frame 0."""
    from app.commands.demo import split_two_cameras
    from app.compose import build_service
    from app.settings import Settings

    service = build_service(Settings(data_dir=data_dir))
    offsets = {}
    try:
        if setup == "one-camera":
            cameras = [(VTEST, "vtest", None, 0)]
        else:
            footage = split_two_cameras(VTEST, work / "cameras", overlap=0.0)
            cameras = [(c.path, c.camera, c.start_time, c.first_frame) for c in footage.cameras]
        for path, camera, start, first in cameras:
            report = service.index_video(path, camera=camera, start_time=start)
            if report.status != "indexed":
                raise SystemExit(f"indexing {path} failed: {report.error}")
            offsets[service.store.get_or_create_camera(camera)] = first
    finally:
        service.close()
    return offsets


def evaluate(data_dir: Path, offsets: dict[int, int], labelled) -> dict:
    """Rankings of the service's search, the colour histogram and random descriptors, with the
    identity of every stored tracklet."""
    from app.compose import build_service
    from app.settings import Settings
    from reid.service import SearchRequest
    from tracking.labels import identity_from_votes, identity_votes

    service = build_service(Settings(data_dir=data_dir))
    try:
        infos = service.list_tracklets(limit=None)
        identity = {}
        for t in infos:
            frames, boxes = service.store.get_boxes(t.id)
            votes = identity_votes(frames, boxes, labelled, first_frame=offsets[t.camera_id])
            identity[t.id] = identity_from_votes(votes)
        clock = {t.id: (t.camera_id, t.start_time.timestamp() if t.start_time else t.start_s,
                        t.end_time.timestamp() if t.end_time else t.end_s) for t in infos}

        def apart(a: int, b: int) -> bool:
            return clock[a][0] != clock[b][0] or clock[a][1] > clock[b][2] or clock[a][2] < clock[b][1]

        queries = [q for q in identity if identity[q] is not None
                   and any(identity[o] == identity[q] and o != q and apart(o, q) for o in identity)]
        ours, allowed = {}, {}
        for q in queries:
            response = service.search(SearchRequest(tracklet_id=q, top_k=len(infos), use_feedback=False),
                                      actor="benchmark")
            ours[q] = [m.tracklet.id for m in response.matches]
            allowed[q] = [g for g in identity if g != q and apart(g, q)]
        embedder = service.embedder.name
    finally:
        service.close()
    ids = [t.id for t in infos]
    from tracking.labels import hsv_histograms

    crops = [[cv2.imread(str(p))[:, :, ::-1].copy() for p in t.crop_paths] for t in infos]
    return {"identity": identity, "ours": ours, "embedder": embedder,
            "hist": cosine_rankings(hsv_histograms(crops), ids, allowed),
            "random": [cosine_rankings(np.random.default_rng(s).standard_normal((len(ids), 128)), ids,
                                       allowed) for s in range(RANDOM_SEEDS)]}


def adapt(data_dir: Path, extra: list[str]) -> float:
    """``reid adapt`` through the CLI (its output kept quiet); seconds it took."""
    from app.cli import main as reid

    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = reid(["adapt", "--data-dir", str(data_dir), *extra])
    if code != 0:
        raise SystemExit(f"reid adapt {' '.join(extra)} exited with {code}")
    return time.perf_counter() - t0


def rows(result: dict, people: dict[str, set[int]]) -> dict:
    out = {}
    for name, group in people.items():
        rand = [scores(r, result["identity"], group) for r in result["random"]]
        out[name] = {"ours": scores(result["ours"], result["identity"], group),
                     "hsv_histogram": scores(result["hist"], result["identity"], group),
                     "random_mAP": round(float(np.mean([r["mAP"] for r in rand])), 4)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setups", nargs="+", default=["one-camera", "two-cameras"])
    parser.add_argument("--shrinkage", nargs="+", type=float, default=[1.0])
    parser.add_argument("--refine-steps", nargs="+", type=int, default=[0])
    parser.add_argument("--out", default=None, help="write the results JSON here too")
    args = parser.parse_args()

    from tracking.labels import labelled_frames, load_labels

    if not VTEST.exists():
        raise SystemExit(f"{VTEST} missing: make sample-data")
    labels = load_labels(LABELS)
    labelled = labelled_frames(labels)
    identities = sorted({t.identity for t in labels})
    people = {"dev": {i for i in identities if i % 2}, "held_out": {i for i in identities if not i % 2}}
    results = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
               "people": {k: sorted(v) for k, v in people.items()}, "setups": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for setup in args.setups:
            base_dir = Path(tmp) / setup / "gallery"
            t0 = time.perf_counter()
            offsets = build_gallery(base_dir, setup, Path(tmp) / setup)
            entry = {"index_seconds": round(time.perf_counter() - t0, 1)}
            before = evaluate(base_dir, offsets, labelled)
            entry["before"] = rows(before, people)
            entry["embedder"] = before["embedder"]
            entry["adapted"] = []
            for shrinkage in args.shrinkage:
                for steps in args.refine_steps:
                    data_dir = Path(tmp) / setup / f"s{shrinkage}-r{steps}"
                    shutil.copytree(base_dir, data_dir)
                    seconds = adapt(data_dir, ["--shrinkage", str(shrinkage), "--refine-steps", str(steps)])
                    after = evaluate(data_dir, offsets, labelled)
                    entry["adapted"].append({"shrinkage": shrinkage, "refine_steps": steps,
                                             "adapt_seconds": round(seconds, 1),
                                             "embedder": after["embedder"],
                                             **rows(after, people)})
                    shutil.rmtree(data_dir)
            results["setups"][setup] = entry
            b = entry["before"]
            print(f"{setup}: indexed in {entry['index_seconds']} s; before: dev mAP "
                  f"{b['dev']['ours']['mAP']:.3f} ({b['dev']['ours']['queries']} q), held-out mAP "
                  f"{b['held_out']['ours']['mAP']:.3f} / R1 {b['held_out']['ours']['rank1']:.3f} "
                  f"({b['held_out']['ours']['queries']} q); colour histogram held-out "
                  f"{b['held_out']['hsv_histogram']['mAP']:.3f}, random {b['held_out']['random_mAP']:.3f}")
            for a in entry["adapted"]:
                print(f"  adapt shrinkage {a['shrinkage']} refine {a['refine_steps']} "
                      f"({a['adapt_seconds']} s): dev mAP {a['dev']['ours']['mAP']:.3f}, held-out mAP "
                      f"{a['held_out']['ours']['mAP']:.3f} / R1 {a['held_out']['ours']['rank1']:.3f}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
        print(f"-> {args.out}")


if __name__ == "__main__":
    main()
