"""Splitting tracklets at identity switches (``tracklets.split_min_similarity``) against the hand labels
of vtest.avi.

The offline default detector (SSDLite) runs once over every frame; its detections are replayed for
each tracker, stride and threshold, so all rows see the same boxes. Per row:

- ``mixed``: tracklets whose boxes match two or more labelled people
  (:func:`tracking.labels.identity_votes`), and ``minority_boxes``, their matched boxes that are not
  of the tracklet's main person (only 10 people are labelled: switches between unlabelled people do
  not show here, hence the contact sheets);
- coverage and IDF1 on the matched boxes (:func:`tracking.labels.coverage_idf1`), the share of every
  person of 10 frames (:func:`tracking.labels.frame_coverage`), tracklets kept, tracks split.

``--sheets DIR`` writes one PNG per row with a split: each split track's parts, one row of crops per
part (frame numbers under them), to check by eye that the cuts fall where the person changes.

Needs ``data/vtest.avi`` (``make sample-data``) and the SSDLite graph (``reid weights fetch ssdlite-person``).

    python benchmarks/split_tracklets.py [--thresholds 0 0.75 0.8 0.85] [--sheets /tmp/split]
        [--out benchmarks/results/split_tracklets_<tag>.json]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from tracking.labels import FrameLabels, LabelledFrames, LabelledTracklet
    from tracking.records import Detection, Tracklet

ROOT = Path(__file__).resolve().parents[1]
VTEST = ROOT / "data" / "vtest.avi"
LABELS = ROOT / "assets" / "labels" / "vtest_identities.json"
ALL_PEOPLE = ROOT / "assets" / "labels" / "vtest_all_people.json"


class Replay:
    """A detector that hands back detections recorded for every frame."""

    def __init__(self, name: str, seen: dict[int, Detection]):
        self.name, self.batch_size, self.seen = name, 1, seen

    def detect(self, images: Sequence[np.ndarray], frame_indices: Sequence[int]) -> list[Detection]:
        return [self.seen[int(i)] for i in frame_indices]


def record_detections(video: Path) -> tuple[Replay, float]:
    """SSDLite over every frame of ``video``; returns the replaying detector and the seconds taken."""
    from tracking import VideoReader, create_detector

    detector = create_detector("ssd", fallback=False)
    seen = {}
    t0 = time.perf_counter()
    for frame in VideoReader(video):
        seen[frame.index] = detector.detect([frame.image], [frame.index])[0]
    return Replay(detector.name, seen), time.perf_counter() - t0


def scores(tracklets: list[Tracklet], labels: list[LabelledTracklet], labelled: LabelledFrames,
           everyone: FrameLabels) -> dict:
    """Mixed tracklets and their minority boxes, coverage, IDF1, all-people share, tracklet count."""
    from tracking.boxes import tracklets_to_frames
    from tracking.labels import coverage_idf1, frame_coverage, identity_votes

    mixed = minority = 0
    for t in tracklets:
        matched = sorted((n for n, _ in identity_votes(t.frame_indices, t.boxes_xyxy, labelled).values()),
                         reverse=True)
        if len(matched) > 1:
            mixed += 1
            minority += sum(matched[1:])
    hyp = tracklets_to_frames(tracklets)
    r = coverage_idf1(labels, hyp)
    return {"mixed": mixed, "minority_boxes": minority, "coverage": round(r.coverage, 4),
            "idf1_matched": round(r.idf1, 4), "all_people": round(frame_coverage(everyone, hyp), 4),
            "tracklets": len(tracklets)}


def split_parts(whole: list[Tracklet], split: list[Tracklet]) -> list[tuple[Tracklet, list[Tracklet]]]:
    """Pairs each tracklet of the run without splitting with the tracklets of the run with
    splitting that are pieces of it (same boxes on a subset of its frames), where it was cut."""
    out = []
    for t in whole:
        boxes = dict(zip(t.frame_indices.tolist(), t.boxes_xyxy, strict=True))
        parts = [p for p in split
                 if all(f in boxes for f in p.frame_indices.tolist())
                 and np.allclose(boxes[int(p.frame_indices[0])], p.boxes_xyxy[0])]
        if parts and (len(parts) > 1 or len(parts[0]) < len(t)):
            out.append((t, sorted(parts, key=lambda p: p.start_seconds)))
    return out


def contact_sheet(pairs: list[tuple[Tracklet, list[Tracklet]]], path: Path, height: int = 96) -> None:
    """One row of crops per part of each split track (RGB crops, frame numbers under them)."""
    import cv2

    width, label_w, rows = height * 5 // 12, 90, []
    for whole, parts in pairs:
        for p in parts:
            row = np.full((height + 14, label_w + 32 * (width + 2), 3), 255, np.uint8)
            cv2.putText(row, f"{whole.track_id}>{p.track_id}", (2, height // 2),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
            for j, (crop, frame) in enumerate(zip(p.crops[:32], p.crop_frame_indices, strict=False)):
                x = label_w + j * (width + 2)
                row[:height, x:x + width] = cv2.resize(crop[:, :, ::-1], (width, height))
                cv2.putText(row, str(frame), (x, height + 11), cv2.FONT_HERSHEY_SIMPLEX, 0.3, (0, 0, 200), 1)
            rows.append(row)
    if rows:
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), np.concatenate(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", default=str(VTEST))
    parser.add_argument("--labels", default=str(LABELS))
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.0, 0.7, 0.75, 0.8, 0.85])
    parser.add_argument("--trackers", nargs="+", default=["bytetrack", "botsort"])
    parser.add_argument("--strides", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--sheets", default=None, help="write contact sheets of the split tracks here")
    parser.add_argument("--out", default=None, help="write the results JSON here too")
    args = parser.parse_args()

    import ultralytics  # noqa: F401  (same OpenCV threading as the application)

    from tracking import load_tracking_config, track_video
    from tracking.labels import labelled_frames, load_frame_labels, load_labels

    video = Path(args.video)
    if not video.exists():
        raise SystemExit(f"{video} missing: make sample-data")
    labels = load_labels(args.labels)
    labelled, everyone = labelled_frames(labels), load_frame_labels(ALL_PEOPLE)
    replay, detect_s = record_detections(video)
    print(f"SSDLite over {len(replay.seen)} frames: {detect_s:.1f} s")
    rows = []
    for tracker in args.trackers:
        for stride in args.strides:
            whole = None
            for th in sorted(set(args.thresholds) | {0.0}):
                cfg = load_tracking_config(tracker, {"tracklets": {"split_min_similarity": th}})
                t0 = time.perf_counter()
                tracklets, stats = track_video(video, replay, cfg, stride=stride, with_crops=True)
                row = {"tracker": tracker, "stride": stride, "split_min_similarity": th,
                       "seconds": round(time.perf_counter() - t0, 2), "split_tracks": stats.split_tracks,
                       **scores(tracklets, labels, labelled, everyone)}
                rows.append(row)
                print("  ".join(f"{k} {v}" for k, v in row.items()))
                if th == 0.0:
                    whole = tracklets
                elif args.sheets and whole is not None:
                    contact_sheet(split_parts(whole, tracklets),
                                  Path(args.sheets) / f"split_{tracker}_s{stride}_{th:.2f}.png")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        result = {"video": video.name, "labels": Path(args.labels).name, "all_people": ALL_PEOPLE.name,
                  "detect_seconds": round(detect_s, 1), "rows": rows}
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
        print(f"-> {args.out}")


if __name__ == "__main__":
    main()
