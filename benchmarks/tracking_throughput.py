"""Tracking throughput on real footage: frames/s, real-time factor, tracker overhead, peak RSS.

Runs each configuration in its own subprocess (so peak RSS is per configuration) on
``data/vtest.avi`` (``make sample-data``), and optionally on a long video made by concatenating it
(``--long-minutes``) to check memory stays bounded.

    python benchmarks/tracking_throughput.py [--max-frames N] [--long-minutes 10]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VTEST = ROOT / "data" / "vtest.avi"

CONFIGS = {
    "hog+bytetrack": {"detector": "hog", "stride": 1},
    "hog+bytetrack s2": {"detector": "hog", "stride": 2},
    "hog(max 512)+bytetrack": {"detector": "hog", "stride": 1, "max_side": 512},
    "yolo11n(rand)+bytetrack": {"detector": "yolo", "stride": 1},
    "yolo11n(rand)+bytetrack s2": {"detector": "yolo", "stride": 2},
}
LONG_CONFIG = "hog(max 384)+bytetrack s2"
ALL_CONFIGS = {**CONFIGS, LONG_CONFIG: {"detector": "hog", "stride": 2, "max_side": 384}}


def _one(name: str, video: str, max_frames: int | None) -> dict:
    from tracking import create_detector, track_video

    cfg = ALL_CONFIGS[name]
    if cfg["detector"] == "yolo":
        det = create_detector("yolo", fallback=False, weights="yolo11n.yaml", imgsz=640, device="cpu")
    else:
        det = create_detector("hog", max_side=cfg.get("max_side"))
    t0 = time.perf_counter()
    tracklets, stats = track_video(video, det, "bytetrack", stride=cfg["stride"],
                                   max_frames=max_frames, on_tracklet=lambda t: None)
    wall = time.perf_counter() - t0
    frames_read = (stats.frames_processed - 1) * cfg["stride"] + 1
    from tracking import VideoReader

    fps = VideoReader(video).info.fps
    return {
        "name": name, "frames": stats.frames_processed, "wall_s": wall,
        "proc_fps": stats.frames_processed / wall, "realtime": frames_read / fps / wall,
        "track_share": stats.track_seconds / max(stats.detect_seconds, 1e-9),
        "tracklets": stats.kept_tracklets,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _make_long(minutes: float, out: Path) -> Path:
    import cv2

    from tracking.video import VideoReader, open_video_writer

    info = VideoReader(VTEST).info
    need = int(minutes * 60 * info.fps)
    writer = open_video_writer(out, info.fps, (info.width, info.height))
    written = 0
    while written < need:
        cap = cv2.VideoCapture(str(VTEST))
        while written < need:
            ok, img = cap.read()
            if not ok:
                break
            writer.write(img)
            written += 1
        cap.release()
    writer.release()
    return out


def _run(name: str, video: Path, max_frames: int | None) -> dict:
    cmd = [sys.executable, __file__, "--one", name, "--video", str(video)]
    if max_frames:
        cmd += ["--max-frames", str(max_frames)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--video", default=str(VTEST))
    ap.add_argument("--max-frames", type=int, default=None, help="frames per run (default: all)")
    ap.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated names")
    ap.add_argument("--long-minutes", type=float, default=0.0,
                    help="also track a video of this length (vtest concatenated), HOG max 384, s2")
    args = ap.parse_args()
    os.environ.setdefault("YOLO_OFFLINE", "1")
    if args.one:
        print(json.dumps(_one(args.one, args.video, args.max_frames)))
        return 0
    if not VTEST.exists():
        print(f"{VTEST} missing; run `make sample-data`", file=sys.stderr)
        return 1
    print(f"cpus={os.cpu_count()} load={os.getloadavg()[0]:.2f}  video={args.video}")
    head = (f"{'config':40} {'frames':>6} {'proc fps':>9} {'x realtime':>10} {'track/det':>9} "
            f"{'tracklets':>9} {'peak MB':>8}")
    print(head)
    rows = [_run(n, Path(args.video), args.max_frames) for n in args.configs.split(",")]
    if args.long_minutes:
        long_path = _make_long(args.long_minutes, ROOT / "data" / f"vtest_{args.long_minutes:g}min.avi")
        row = _run(LONG_CONFIG, long_path, None)
        row["name"] = f"{args.long_minutes:g}-min video, " + row["name"]
        rows.append(row)
    for r in rows:
        print(f"{r['name']:40} {r['frames']:6d} {r['proc_fps']:9.1f} {r['realtime']:10.2f} "
              f"{100 * r['track_share']:8.1f}% {r['tracklets']:9d} {r['peak_rss_mb']:8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
