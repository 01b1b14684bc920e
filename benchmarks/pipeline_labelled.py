"""The whole offline pipeline on the real vtest.avi, scored with the hand-labelled identities.

``reid index`` as the application runs it (default settings: the detector preference YOLO -> SSDLite
-> HOG, the offline MobileNetV2 descriptor, ByteTrack), into a fresh gallery; then every stored
tracklet that shows one labelled person (``tracking.labels.assign_identity``: most of its boxes on
that person's labelled frames cover the person's box at IoU >= 0.5) is a query, searched through the
service as the UI does (the query's own time span on its camera is excluded). Scores over the ranked
gallery, with tracklets of nobody labelled (unlabelled people, boxes that switch people) left out as
junk, neither right nor wrong:

- mAP and Rank-1 of the service's own search (centred gallery descriptors);
- the same ranking rules for an HSV colour histogram of the stored crops and for random descriptors
  (mean over seeds), printed beside it;
- queries: stored tracklets of one labelled person whose person has another stored tracklet.

Needs ``data/vtest.avi`` (``make sample-data``) and the SSDLite graph (``reid weights fetch
ssdlite-person``).

    python benchmarks/pipeline_labelled.py [--stride N] [--out benchmarks/results/pipeline_<tag>.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
VTEST = ROOT / "data" / "vtest.avi"
LABELS = ROOT / "assets" / "labels" / "vtest_identities.json"
RANDOM_SEEDS = 100


def ranked_scores(order: list[int], identity: dict[int, int | None],
                  query_identity: int) -> tuple[float, bool] | None:
    """Average precision and whether the first result is right, for a ranked list of tracklet ids;
    ids of nobody labelled are skipped. None when no true match is in the list."""
    judged = [identity[i] == query_identity for i in order if identity.get(i) is not None]
    hits = np.flatnonzero(judged) + 1
    if not hits.size:
        return None
    return float(np.mean(np.arange(1, len(hits) + 1) / hits)), bool(judged[0])


def cosine_rankings(features: np.ndarray, ids: list[int],
                    allowed: dict[int, list[int]]) -> dict[int, list[int]]:
    """Per query id, its allowed gallery ids ranked by cosine similarity of ``features`` rows."""
    x = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    row = {i: k for k, i in enumerate(ids)}
    out = {}
    for q, gallery in allowed.items():
        sims = x[[row[g] for g in gallery]] @ x[row[q]]
        out[q] = [gallery[j] for j in np.argsort(-sims, kind="stable")]
    return out


def score(rankings: dict[int, list[int]], identity: dict[int, int | None]) -> dict:
    rows = [r for q, order in rankings.items() if (r := ranked_scores(order, identity, identity[q]))]
    if not rows:
        return {"mAP": 0.0, "rank1": 0.0, "queries": 0}
    return {"mAP": round(float(np.mean([a for a, _ in rows])), 4),
            "rank1": round(float(np.mean([h for _, h in rows])), 4), "queries": len(rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", default=str(VTEST))
    parser.add_argument("--labels", default=str(LABELS))
    parser.add_argument("--stride", type=int, default=0, help="0 (default): the automatic stride")
    parser.add_argument("--out", default=None, help="write the results JSON here too")
    args = parser.parse_args()

    from app.compose import build_service
    from app.settings import Settings
    from reid.service import SearchRequest
    from tracking.labels import assign_identity, hsv_histograms, labelled_frames, load_labels

    video = Path(args.video)
    if not video.exists():
        raise SystemExit(f"{video} missing: make sample-data")
    labelled = labelled_frames(load_labels(args.labels))
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "gallery", stride=args.stride)
        service = build_service(settings)
        t0 = time.perf_counter()
        report = service.index_video(video, camera="vtest")
        index_s = time.perf_counter() - t0
        if report.status != "indexed":
            raise SystemExit(f"indexing failed: {report.error}")
        status = service.status()
        infos = service.list_tracklets(limit=None)
        identity = {t.id: assign_identity(*service.store.get_boxes(t.id), labelled) for t in infos}
        span = {t.id: (t.first_frame, t.last_frame) for t in infos}
        people = {i for i in identity.values() if i is not None}
        # queries: one labelled person with another stored tracklet of that person not overlapping
        queries = [t.id for t in infos if identity[t.id] is not None and any(
            identity[o] == identity[t.id] and (span[o][0] > span[t.id][1] or span[o][1] < span[t.id][0])
            for o in identity if o != t.id)]
        ours, allowed = {}, {}
        t1 = time.perf_counter()
        for q in queries:
            response = service.search(SearchRequest(tracklet_id=q, top_k=len(infos), use_feedback=False),
                                      actor="benchmark")
            ours[q] = [m.tracklet.id for m in response.matches]
            allowed[q] = [g for g in identity if g != q
                          and (span[g][0] > span[q][1] or span[g][1] < span[q][0])]
        search_s = time.perf_counter() - t1
        ids = [t.id for t in infos]
        crops = [[cv2.imread(str(p))[:, :, ::-1].copy() for p in t.crop_paths] for t in infos]
        hist = hsv_histograms(crops)
        result = {
            "video": str(video), "stride": args.stride or "auto", "detector": status.detector,
            "embedder": status.embedder, "index_seconds": round(index_s, 1),
            "video_seconds": round(report.video_seconds, 1),
            "realtime_factor": round(report.video_seconds / index_s, 2),
            "stored_tracklets": len(infos),
            "tracklets_of_one_labelled_person": sum(i is not None for i in identity.values()),
            "labelled_people_found": len(people),
            "search_ms_per_query": round(1000 * search_s / max(len(queries), 1), 1),
            "service_search": score(ours, identity),
            "hsv_histogram": score(cosine_rankings(hist, ids, allowed), identity),
        }
        rand = [score(cosine_rankings(np.random.default_rng(s).standard_normal((len(ids), 128)), ids,
                                      allowed), identity) for s in range(RANDOM_SEEDS)]
        result["random"] = {"mAP": round(float(np.mean([r["mAP"] for r in rand])), 4),
                            "rank1": round(float(np.mean([r["rank1"] for r in rand])), 4),
                            "queries": rand[0]["queries"], "seeds": RANDOM_SEEDS}
        service.close()
    result["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    print(f"indexed {result['video_seconds']} s of video in {result['index_seconds']} s "
          f"({result['realtime_factor']}x real time; {result['detector']} + {result['embedder']}, "
          f"stride {args.stride or 'auto'}): {result['stored_tracklets']} tracklets, "
          f"{result['tracklets_of_one_labelled_person']} of them one labelled person "
          f"({result['labelled_people_found']} people)")
    s, h, r = result["service_search"], result["hsv_histogram"], result["random"]
    print(f"search from every labelled stored tracklet ({s['queries']} queries): mAP {s['mAP']:.3f} "
          f"Rank-1 {s['rank1']:.3f}   (colour histogram {h['mAP']:.3f} / {h['rank1']:.3f}; "
          f"random {r['mAP']:.3f} / {r['rank1']:.3f})")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
        print(f"-> {args.out}")


if __name__ == "__main__":
    main()
