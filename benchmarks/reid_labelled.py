"""Scores from the hand-labelled identities of vtest.avi (``assets/labels/vtest_identities.json``).

1. Tracking, with ByteTrack at default settings: the share of every person in 10 frames checked by eye
   (``assets/labels/vtest_all_people.json``, 65 people, 5 of them with no detector box: missed by
   all) that a tracked box covers at IoU 0.5; then coverage of the labelled tracklets' boxes and IDF1
   on the matched boxes. Rows: the offline defaults (SSDLite on two strips, the automatic stride:
   every 2nd frame of this 10-fps video), the same on every frame (``--stride 1``), SSDLite on the
   whole frame (one strip) and HOG. The identity labels were taken from
   SSDLite + ByteTrack boxes (whole frame, the settings of commit 579d517), so that configuration
   covered them by construction (1.0); there the figures that matter are IDF1 and the all-people
   share.
2. ReID on the labelled tracklets (perfect boxes): mAP / Rank-1 of cross-tracklet queries (gallery:
   the other labelled tracklets not overlapping the query in time), for the MobileNetV2 fallback
   descriptor as a gallery compares it (centred on the gallery mean), its parts and choices
   (ablation rows: not centred, CNN stripes only, colour stripes only, with re-ranking), a plain HSV
   colour histogram of the same crops and random descriptors (mean over seeds);
   again with only gallery tracklets 5 s or more away from the query ("came back": the person left and
   returned, not the next fragment of the same walk).

Needs ``data/vtest.avi`` (``make sample-data``) and the SSDLite graph (``reid weights fetch ssdlite-person``).

    python benchmarks/reid_labelled.py [--no-hog] [--out benchmarks/results/reid_labelled_<tag>.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
VTEST = ROOT / "data" / "vtest.avi"
LABELS = ROOT / "assets" / "labels" / "vtest_identities.json"
ALL_PEOPLE = ROOT / "assets" / "labels" / "vtest_all_people.json"  # every person in 10 frames
RANDOM_SEEDS = 100
COME_BACK_FRAMES = 50  # 5 s at 10 fps: fragments of one walk are further apart than that only rarely


def _tracking(video: Path, labels: list, detector: str, stride: int, strips: int = 2) -> dict:
    from tracking import create_detector, track_video
    from tracking.boxes import tracklets_to_frames
    from tracking.labels import coverage_idf1, frame_coverage, load_frame_labels
    from tracking.pipeline import detection_stride
    from tracking.video import VideoReader

    det = create_detector(detector, fallback=False, **({"strips": strips} if detector == "ssd" else {}))
    stride = stride or detection_stride(VideoReader(video).info.fps)
    t0 = time.perf_counter()
    tracklets, stats = track_video(video, det, "bytetrack", stride=stride, with_crops=False)
    wall = time.perf_counter() - t0
    hyp = tracklets_to_frames(tracklets)
    res = coverage_idf1(labels, hyp)
    everyone = frame_coverage(load_frame_labels(ALL_PEOPLE), hyp)
    return {"detector": detector, "stride": stride, **({"strips": strips} if detector == "ssd" else {}),
            "coverage_all_people": round(everyone, 4), "coverage": round(res.coverage, 4),
            "idf1_matched": round(res.idf1, 4), "idf1_labelled": round(res.idf1_labelled, 4),
            "labelled_boxes": res.num_labelled,
            "matched_boxes": res.num_matched, "tracks_on_labels": res.num_hyp_tracks,
            "tracklets": len(tracklets), "seconds": round(wall, 1),
            "fps": round(stats.frames_processed / max(wall, 1e-9), 1)}


def _tracklet_means(per_crop: np.ndarray, counts: list[int]) -> np.ndarray:
    owners = np.repeat(np.arange(len(counts)), counts)
    sums = np.zeros((len(counts), per_crop.shape[1]))
    np.add.at(sums, owners, per_crop)
    return sums / np.linalg.norm(sums, axis=1, keepdims=True)


def _rerank_scorer(q: np.ndarray, g: np.ndarray) -> np.ndarray:
    """The gallery search's k-reciprocal re-ranking at its default settings, as scores."""
    from reid.model.rerank import k_reciprocal_rerank
    from reid.search import SearchOptions

    opts = SearchOptions()
    q_g = np.clip(2.0 - 2.0 * (g @ q), 0.0, None)[None, :]
    g_g = np.clip(2.0 - 2.0 * (g @ g.T), 0.0, None)
    return -k_reciprocal_rerank(q_g, np.zeros((1, 1)), g_g, k1=opts.k1, k2=opts.k2,
                                lambda_value=opts.lambda_value)[0]


def _reid(video: Path, labels: list) -> dict:
    import cv2

    from reid.embed import create_embedder
    from tracking.labels import label_crops

    ids = np.array([t.identity for t in labels])
    spans = np.array([t.span for t in labels])
    crops = label_crops(video, labels)
    embedder = create_embedder("mobilenet")
    t0 = time.perf_counter()
    embedder.embed_tracklets(crops)
    embed_s = time.perf_counter() - t0
    result = {"tracklets": len(ids), "identities": len(set(ids.tolist())),
              "crops": int(sum(len(c) for c in crops)), "embedder": embedder.name,
              "descriptor": "the embedder's descriptors centred on their mean, as a gallery compares them",
              "embed_seconds": round(embed_s, 1),
              "protocols": _reid_protocols(embedder, crops, ids, spans)}
    # smaller people (the median labelled crop is 85 px tall): the same crops at half resolution
    small = [[cv2.resize(c, (max(2, c.shape[1] // 2), max(2, c.shape[0] // 2)),
                         interpolation=cv2.INTER_AREA) for c in cs] for cs in crops]
    result["half_resolution"] = {"protocols": _reid_protocols(embedder, small, ids, spans)}
    return result


def _reid_protocols(embedder, crops: list, ids: np.ndarray, spans: np.ndarray) -> dict:
    from reid.embed.colour import stripe_colour_histograms
    from reid.embed.mobilenet import COLOUR_STRIPES
    from reid.store import VectorIndex
    from tracking.labels import hsv_histograms, reid_rank_scores

    mob = embedder.embed_tracklets(crops)

    def centred(x: np.ndarray) -> np.ndarray:  # as a gallery of these tracklets compares them
        return VectorIndex.build(x.shape[1], np.arange(len(x)), x).prepare(x)

    # the descriptor's parts, to show what each choice adds (README: "The offline descriptor")
    counts = [len(c) for c in crops]
    flat = [c for cs in crops for c in cs]
    cnn = _tracklet_means(embedder.crop_features(flat), counts)
    colour = _tracklet_means(stripe_colour_histograms(flat, COLOUR_STRIPES), counts)
    hist = hsv_histograms(crops)
    descriptors = {
        "mobilenetv2": (centred(mob), None),
        "hsv_histogram": (hist, None),
        "ablation: descriptor, not centred": (mob, None),
        "ablation: cnn stripes only, centred": (centred(cnn), None),
        "ablation: colour stripes only, centred": (centred(colour), None),
        "ablation: descriptor centred, re-ranked": (centred(mob), _rerank_scorer),
    }
    protocols = {}
    for protocol, gap in (("no_time_overlap", 1), (f"came_back_{COME_BACK_FRAMES}f", COME_BACK_FRAMES)):
        rows = {}
        for name, (feats, scorer) in descriptors.items():
            r = reid_rank_scores(feats, ids, spans, gap, scorer)
            rows[name] = {"mAP": round(r.mean_ap, 4), "rank1": round(r.rank1, 4), "queries": r.num_queries}
        rand = [reid_rank_scores(np.random.default_rng(s).standard_normal((len(ids), 128)), ids, spans, gap)
                for s in range(RANDOM_SEEDS)]
        rows["random"] = {"mAP": round(float(np.mean([r.mean_ap for r in rand])), 4),
                          "mAP_std": round(float(np.std([r.mean_ap for r in rand])), 4),
                          "rank1": round(float(np.mean([r.rank1 for r in rand])), 4),
                          "queries": rand[0].num_queries, "seeds": RANDOM_SEEDS}
        protocols[protocol] = {"min_gap_frames": gap, "scores": rows}
    return protocols


def _print_reid(reid: dict, protocols: dict, variant: str) -> None:
    for protocol, entry in protocols.items():
        s = entry["scores"]
        print(f"reid on {reid['tracklets']} labelled tracklets of {reid['identities']} people{variant}, "
              f"{protocol} (gallery >= {entry['min_gap_frames']} frames away), "
              f"{s['random']['queries']} queries:")
        for name, row in s.items():
            print(f"  {name:>40}: mAP {row['mAP']:.3f}  Rank-1 {row['rank1']:.3f}"
                  f"   (colour histogram {s['hsv_histogram']['mAP']:.3f} / random {s['random']['mAP']:.3f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", default=str(VTEST))
    parser.add_argument("--labels", default=str(LABELS))
    parser.add_argument("--no-hog", action="store_true", help="skip the HOG row (about 3 minutes on 2 cores)")
    parser.add_argument("--out", default=None, help="write the results JSON here too")
    args = parser.parse_args()

    import ultralytics  # noqa: F401  (same OpenCV threading as the application)

    from tracking.labels import load_labels

    video = Path(args.video)
    if not video.exists():
        raise SystemExit(f"{video} missing: make sample-data")
    labels = load_labels(args.labels)
    print(f"labels: {len({t.identity for t in labels})} identities, {len(labels)} tracklets, "
          f"{sum(len(t.frames) for t in labels)} boxes ({args.labels})")
    # stride 0: the application's default (about 5 detections a second: every 2nd frame here)
    runs = [("ssd", 0, 2), ("ssd", 1, 2), ("ssd", 1, 1)] + ([] if args.no_hog else [("hog", 1, 0)])
    tracking = []
    for det, stride, strips in runs:
        row = _tracking(video, labels, det, stride, strips)
        tracking.append(row)
        print(f"tracking {det:>3}{f' {strips} strip(s)' if det == 'ssd' else ''} stride "
              f"{row['stride'] if stride else 'auto = ' + str(row['stride'])}: "
              f"every person of 10 frames {row['coverage_all_people']:.3f}; labelled tracklets: "
              f"coverage {row['coverage']:.3f}  IDF1(matched) "
              f"{row['idf1_matched']:.3f}  IDF1(all labelled) {row['idf1_labelled']:.3f}  "
              f"({row['matched_boxes']}/{row['labelled_boxes']} boxes, "
              f"{row['tracks_on_labels']} tracks on {len({t.identity for t in labels})} people; "
              f"{row['fps']} fps)")
    reid = _reid(video, labels)
    _print_reid(reid, reid["protocols"], "")
    _print_reid(reid, reid["half_resolution"]["protocols"], ", crops at half resolution")
    result = {"labels": str(Path(args.labels).relative_to(ROOT)) if Path(args.labels).is_absolute()
              and ROOT in Path(args.labels).parents else args.labels,
              "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
              "tracking": tracking, "reid": reid}
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
        print(f"-> {args.out}")


if __name__ == "__main__":
    main()
