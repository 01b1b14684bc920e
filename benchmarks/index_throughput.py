"""End-to-end `reid index` throughput on vtest.avi, and where the time goes.

    python benchmarks/index_throughput.py [--video data/vtest.avi] [--configs hog-mobilenet hog-clip]

Each configuration runs in its own process (so peak RSS is its own) and indexes the whole video
into a fresh temporary gallery:

- ``ssd-mobilenet``: the offline default (SSDLite on two strips per frame + ByteTrack + MobileNetV2
  fallback embedder, the automatic stride: every 2nd frame of a 10-fps video, boxes interpolated
  between; needs `reid weights fetch ssdlite-person`).
- ``ssd-mobilenet-stride1``: the same, detecting on every frame.
- ``hog-mobilenet``: the last-resort pipeline (HOG instead of SSDLite).
- ``hog-clip``: HOG + the zero-shot CLIP ViT-B/16 descriptor (random init: same cost as pretrained).
- ``hog-mobilenet-stride2``: the offline pipeline on every second frame.

Prints video seconds per wall second (the real-time factor), the time per stage (decode, detect,
track, crops, embed, store) and peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.support (run as a script)

CONFIGS = {
    "ssd-mobilenet": {"detector": "ssd", "embedder": "mobilenet", "stride": 0},
    "ssd-mobilenet-stride1": {"detector": "ssd", "embedder": "mobilenet", "stride": 1},
    "hog-mobilenet": {"detector": "hog", "embedder": "mobilenet", "stride": 1},
    "hog-mobilenet-stride2": {"detector": "hog", "embedder": "mobilenet", "stride": 2},
    "hog-clip": {"detector": "hog", "embedder": "clip-random", "stride": 1},
}
STAGES = ("decode", "detect", "track", "crops", "embed", "store")


def run_one(name: str, video: Path) -> dict:
    """Index ``video`` with configuration ``name`` in a temporary gallery; the report as a dict."""
    from reid.embed import MobileNetEmbedder
    from reid.service import ReidService
    from reid.store import Store
    from tests.support.embedders import random_init_embedder
    from tracking import create_detector, load_tracking_config

    cfg = CONFIGS[name]
    if cfg["embedder"] == "mobilenet":
        embedder = MobileNetEmbedder()
    else:
        embedder = random_init_embedder("tfclip-vit-b16", zero_shot=True)
    with tempfile.TemporaryDirectory() as tmp:
        service = ReidService(Store.open(Path(tmp) / "gallery"), create_detector(cfg["detector"]), embedder,
                              load_tracking_config("bytetrack"), stride=cfg["stride"])
        report = service.index_video(video, camera="bench")
    if report.status != "indexed":
        raise RuntimeError(f"{name}: {report.status}: {report.error}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"config": name, "tracklets": report.tracklets, "video_s": report.video_seconds,
            "wall_s": report.elapsed_s, "realtime": report.video_seconds / report.elapsed_s,
            "peak_rss_mb": peak_mb, "stages": report.timings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=Path("data/vtest.avi"))
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--one", choices=list(CONFIGS), help=argparse.SUPPRESS)  # child process mode
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    if not args.video.is_file():
        sys.exit(f"{args.video} not found: run `make sample-data`")
    if args.one:
        print(json.dumps(run_one(args.one, args.video)))
        return
    rows = []
    for name in args.configs:
        out = subprocess.run([sys.executable, __file__, "--one", name, "--video", str(args.video)],
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    header = f"{'config':<24}{'tracklets':>10}{'video s':>9}{'wall s':>8}{'x realtime':>11}{'peak MB':>9}  "
    print(header + "  ".join(f"{s:>7}" for s in STAGES))
    for r in rows:
        stages = "  ".join(f"{r['stages'].get(s, 0.0):7.1f}" for s in STAGES)
        print(f"{r['config']:<24}{r['tracklets']:>10}{r['video_s']:>9.1f}{r['wall_s']:>8.1f}"
              f"{r['realtime']:>11.2f}{r['peak_rss_mb']:>9.0f}  {stages}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
