"""``--stride`` against the hand labels of vtest.avi: how much of each person the tracklets still cover
when only every N-th frame is detected, with the stride measures on (defaults) and off.

For each stride the offline default detector (SSDLite) + ByteTrack run once at default settings (that
run gives the fps); its detections are recorded and replayed with the stride measures off
(``tracker.stride_buffer_per_second: 0``, ``tracklets.fill_gaps_seconds: 0``), so both rows see the
same boxes (each track's first detection, which the tracker does not report, is recovered in
both). Scored with :func:`tracking.labels.coverage_idf1` against

- the labels as stored (every 3rd box of each labelled span; they came from stride-1 tracks, so
  stride 1 covers them by construction),
- the labels made dense: every frame of each labelled span, boxes interpolated linearly between the
  labelled ones (a stand-in for labels of every frame; at stride 3 it can flatter interpolation),
- the dense labels of even and of odd frames apart (a stride must not favour some frames),
- every person of 10 frames (``assets/labels/vtest_all_people.json``,
  :func:`tracking.labels.frame_coverage`; frames 40, 120, ..., 760: all even, so stride 2 detects
  on each of them, stride 3 on three of them).

Decoding alone is timed too (skipped frames are grabbed, not converted).

Needs ``data/vtest.avi`` (``make sample-data``) and the SSDLite graph (``reid weights fetch ssdlite-person``).

    python benchmarks/stride_recall.py [--strides 1 2 3] [--out benchmarks/results/stride_recall_<tag>.json]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from split_tracklets import Replay  # a sibling script: benchmarks/ is on sys.path when run

if TYPE_CHECKING:
    from tracking.detect import Detector
    from tracking.labels import FrameLabels
    from tracking.records import Detection

ROOT = Path(__file__).resolve().parents[1]
VTEST = ROOT / "data" / "vtest.avi"
LABELS = ROOT / "assets" / "labels" / "vtest_identities.json"
ALL_PEOPLE = ROOT / "assets" / "labels" / "vtest_all_people.json"
OFF = {"tracker": {"stride_buffer_per_second": 0.0}, "tracklets": {"fill_gaps_seconds": 0.0}}


class _Recording:
    """Wraps a detector and keeps its detections by frame index."""

    def __init__(self, detector: Detector):
        self.detector, self.name, self.batch_size = detector, detector.name, detector.batch_size
        self.seen: dict[int, Detection] = {}

    def detect(self, images: Sequence[np.ndarray], frame_indices: Sequence[int]) -> list[Detection]:
        out = self.detector.detect(images, frame_indices)
        self.seen.update({int(i): d for i, d in zip(frame_indices, out, strict=True)})
        return out


def dense_labels(labels: list) -> list:
    """Every frame of each labelled span, boxes (xyxy pixels) interpolated between labelled ones."""
    from tracking.labels import LabelledTracklet

    out = []
    for t in labels:
        frames = np.arange(t.frames[0], t.frames[-1] + 1)
        boxes = np.stack([np.interp(frames, t.frames, t.boxes_xyxy[:, k]) for k in range(4)], axis=1)
        out.append(LabelledTracklet(t.identity, t.source_track_id, frames, boxes.astype(np.float32)))
    return out


def scores(tracklets: list, labels: list, dense: list, everyone: FrameLabels) -> dict:
    """Coverage and IDF1 on the stored labels, on the dense ones, on the dense even/odd frames, and
    the share of every person in the frame-complete label frames."""
    from tracking.boxes import tracklets_to_frames
    from tracking.labels import coverage_idf1, frame_coverage

    hyp = tracklets_to_frames(tracklets)
    row: dict = {"coverage_all_people": round(frame_coverage(everyone, hyp), 4)}
    for name, lab in (("labels", labels), ("dense", dense)):
        r = coverage_idf1(lab, hyp)
        row[name] = {"coverage": round(r.coverage, 4), "idf1_matched": round(r.idf1, 4),
                     "idf1_labelled": round(r.idf1_labelled, 4), "labelled_boxes": r.num_labelled}
    frames = sorted({int(f) for t in dense for f in t.frames})
    for parity, name in ((0, "dense_even"), (1, "dense_odd")):
        r = coverage_idf1(dense, hyp, frames=[f for f in frames if f % 2 == parity])
        row[name] = {"coverage": round(r.coverage, 4)}
    row["tracklets"] = len(tracklets)
    row["boxes"] = int(sum(len(t) for t in tracklets))
    return row


def decode_fps(video: Path, stride: int) -> float:
    """Video frames per second that :class:`~tracking.video.VideoReader` gets through at ``stride``."""
    from tracking.video import VideoReader

    reader = VideoReader(video, stride=stride)
    t0 = time.perf_counter()
    for _ in reader:
        pass
    return (reader.stats.decoded + reader.stats.failed) / max(time.perf_counter() - t0, 1e-9)


def run_stride(video: Path, labels: list, dense: list, everyone: FrameLabels, stride: int) -> dict:
    """Default settings with the real detector (timed), then the stride measures off on replay."""
    from tracking import create_detector, load_tracking_config, track_video

    rec = _Recording(create_detector("ssd", fallback=False))
    t0 = time.perf_counter()
    on, stats = track_video(video, rec, "bytetrack", stride=stride, with_crops=False)
    wall = time.perf_counter() - t0
    off, _ = track_video(video, Replay(rec.name, rec.seen), load_tracking_config("bytetrack", OFF),
                         stride=stride, with_crops=False)
    return {"stride": stride, "seconds": round(wall, 1),
            "fps_processed": round(stats.frames_processed / wall, 1),
            "fps_video": round(stats.read.decoded / wall, 1),
            "fps_decode_only": round(decode_fps(video, stride), 1),
            "filled_boxes": stats.filled_boxes, "backfilled_boxes": stats.backfilled_boxes,
            "default": scores(on, labels, dense, everyone),
            "measures_off": scores(off, labels, dense, everyone)}


def _line(tag: str, row: dict) -> str:
    lab, den = row["labels"], row["dense"]
    return (f"  {tag:<12} labels: coverage {lab['coverage']:.3f} IDF1(matched) {lab['idf1_matched']:.3f} "
            f"IDF1(all) {lab['idf1_labelled']:.3f} | dense: coverage {den['coverage']:.3f} "
            f"IDF1(matched) {den['idf1_matched']:.3f} IDF1(all) {den['idf1_labelled']:.3f} | even/odd "
            f"{row['dense_even']['coverage']:.3f}/{row['dense_odd']['coverage']:.3f} | every person of "
            f"10 frames {row['coverage_all_people']:.3f} | {row['tracklets']} tracklets")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", default=str(VTEST))
    parser.add_argument("--labels", default=str(LABELS))
    parser.add_argument("--strides", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--out", default=None, help="write the results JSON here too")
    args = parser.parse_args()

    import ultralytics  # noqa: F401  (same OpenCV threading as the application)

    from tracking.labels import load_frame_labels, load_labels

    video = Path(args.video)
    if not video.exists():
        raise SystemExit(f"{video} missing: make sample-data")
    labels = load_labels(args.labels)
    dense = dense_labels(labels)
    rows = []
    for stride in args.strides:
        row = run_stride(video, labels, dense, load_frame_labels(ALL_PEOPLE), stride)
        rows.append(row)
        print(f"stride {stride}: {row['fps_processed']} processed frames/s, {row['fps_video']} video "
              f"frames/s (decoding alone {row['fps_decode_only']}); {row['filled_boxes']} boxes filled, "
              f"{row['backfilled_boxes']} track births recovered")
        print(_line("default", row["default"]))
        print(_line("measures off", row["measures_off"]))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        result = {"video": str(video.name), "labels": Path(args.labels).name,
                  "all_people": ALL_PEOPLE.name, "strides": rows}
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
        print(f"-> {args.out}")


if __name__ == "__main__":
    main()
