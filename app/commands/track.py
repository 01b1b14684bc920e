"""``reid track VIDEO``: detect and track people, write tracklets as JSON (and an annotated video)."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from app.commands._common import UserError, printable, say
from tracking.names import DETECTOR_NAMES, TRACKER_NAMES

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("track", help="track the people of a video into tracklets")
    parser.add_argument("video", help="video file (any format OpenCV/FFmpeg decodes)")
    parser.add_argument("--detector", choices=DETECTOR_NAMES, default=DETECTOR_NAMES[0],
                        help="person detector (offline, yolo falls back to ssd, then hog, with a warning)")
    parser.add_argument("--weights", default="yolo11n.pt", help="YOLO weights name or local path")
    parser.add_argument("--imgsz", type=int, default=640, help="YOLO inference size in pixels")
    parser.add_argument("--device", default=None, help="YOLO device: cpu, cuda:0, ...")
    parser.add_argument("--hog-max-side", type=int, default=None,
                        help="HOG detects on frames downscaled to this longer side (faster)")
    parser.add_argument("--tracker", default=TRACKER_NAMES[0],
                        help=f"{', '.join(TRACKER_NAMES)}, or a path to a tracking YAML config")
    parser.add_argument("--stitch", action="store_true", help="re-link broken tracklets")
    parser.add_argument("--stride", type=int, default=1, help="process every N-th frame")
    parser.add_argument("--max-frames", type=int, default=None, help="only the first N frames")
    parser.add_argument("--out", default="tracklets.json", help="output JSON path")
    parser.add_argument("--annotated", default=None, help="also write boxes and ids to this .mp4/.avi")
    parser.add_argument("--camera", default=None, help="camera name stored in the tracklets")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from tracking import VideoError, VideoTracker, create_detector, load_tracking_config
    from tracking.annotate import Annotator

    if args.stride < 1:
        raise UserError(f"--stride must be >= 1, got {args.stride}")
    kwargs = {"yolo": {"weights": args.weights, "imgsz": args.imgsz, "device": args.device},
              "hog": {"max_side": args.hog_max_side}}.get(args.detector, {})
    detector = create_detector(args.detector, **kwargs)
    overrides = {"stitching": {"enabled": True}} if args.stitch else None
    config = load_tracking_config(args.tracker, overrides)
    try:
        tracker = VideoTracker(args.video, detector, config, camera_id=args.camera,
                               stride=args.stride, max_frames=args.max_frames,
                               with_crops=False)
    except VideoError as exc:
        raise UserError(str(exc)) from exc
    info = tracker.info
    annotator = Annotator(args.annotated, info.fps / args.stride, (info.width, info.height)) \
        if args.annotated else None
    bar = tqdm(total=tracker.total_frames or None, unit="frame",
               desc=printable(Path(args.video).name, max_chars=60))

    def progress(done: int, total: int) -> None:
        bar.update(done - bar.n)

    tracker.progress = progress
    tracker.on_frame = annotator.write if annotator else None
    try:
        tracklets = list(tracker.run())
    finally:
        bar.close()
        if annotator:
            annotator.close()
    stats = tracker.stats
    payload = {
        "video": str(args.video), "fps": info.fps, "width": info.width, "height": info.height,
        "detector": type(detector).__name__, "tracker": config.tracker_type, "stride": args.stride,
        "frames_processed": stats.frames_processed, "truncated": stats.read.truncated,
        "tracklets": [t.to_dict() for t in tracklets],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(payload))
    speed = stats.frames_processed / max(stats.total_seconds, 1e-9)
    say(f"{len(tracklets)} tracklets from {stats.frames_processed} frames "
          f"({speed:.1f} frames/s) -> {args.out}" + (f", {args.annotated}" if args.annotated else ""))
    return 0
