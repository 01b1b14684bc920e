"""SSDLite person detector on real footage: its speed against a bare ``cv2.dnn`` loop on the same
frames (same run), people per frame, box heights; then the tracking pipeline with it.

With ``--strips 2`` (the detector's default) the bare loop runs the network on the same two strips of
each frame, so the ratio compares like with like; ``--strips 1`` is the whole-frame mode.

Needs ``data/vtest.avi`` (``make sample-data``) and the graph (``reid weights fetch ssdlite-person``).
ultralytics is imported first, as in the pipeline (it sets ``cv2.setNumThreads(0)``), so the bare
loop runs under the same OpenCV threading as the application does.

    python benchmarks/ssd_detector.py [--strips 1|2] [--max-frames N] [--no-track]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
VTEST = ROOT / "data" / "vtest.avi"


def read_frames(path: Path, limit: int | None = None) -> list[np.ndarray]:
    """The first ``limit`` (default: all) BGR frames of ``path``, read with plain OpenCV."""
    cap = cv2.VideoCapture(str(path))
    frames = []
    while limit is None or len(frames) < limit:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", default=str(VTEST))
    parser.add_argument("--max-frames", type=int, default=None)
    parser.add_argument("--no-track", action="store_true", help="skip the tracking run")
    parser.add_argument("--strips", type=int, default=2, help="strips per frame (default 2)")
    args = parser.parse_args()

    import ultralytics  # noqa: F401  (same OpenCV threading as the pipeline)

    from tracking import track_video
    from tracking.ssd import INPUT_SIZE, SSDLiteDetector, find_ssd_graph, strip_windows, text_graph_for

    graph = find_ssd_graph()
    if graph is None:
        raise SystemExit("SSDLite graph missing: reid weights fetch ssdlite-person")
    frames = read_frames(Path(args.video), args.max_frames)
    h = frames[0].shape[0]
    net = cv2.dnn.readNetFromTensorflow(str(graph), str(text_graph_for(graph)))
    detector = SSDLiteDetector(graph, strips=args.strips)
    windows = strip_windows(frames[0].shape[1], args.strips)

    def bare() -> list[np.ndarray]:
        out = []
        for f in frames:
            for x0, x1 in windows:
                net.setInput(cv2.dnn.blobFromImage(np.ascontiguousarray(f[:, x0:x1]), size=INPUT_SIZE,
                                                   swapRB=True))
                rows = net.forward()[0, 0]
                out.append(rows[(rows[:, 1] == 1) & (rows[:, 2] > 0.5)])
        return out

    def ours() -> list[np.ndarray]:
        out = []
        b = detector.batch_size
        for s in range(0, len(frames), b):
            out += [d.boxes_xyxy[d.scores > 0.5] for d in detector.detect(frames[s:s + b], range(s, s + b))]
        return out

    t = time.perf_counter()
    bare_rows = bare()
    bare_s = time.perf_counter() - t
    t = time.perf_counter()
    our_boxes = ours()
    our_s = time.perf_counter() - t
    heights = np.concatenate([(r[:, 6] - r[:, 4]) * h for r in bare_rows])
    result = {
        "frames": len(frames), "bare_fps": len(frames) / bare_s, "detector_fps": len(frames) / our_s,
        "ratio_vs_bare": bare_s / our_s, "cv2_threads": cv2.getNumThreads(),
        "workers": detector.workers, "batch_size": detector.batch_size, "strips": args.strips,
        "people_per_strip_0.5_bare": float(np.mean([len(r) for r in bare_rows])),
        "people_per_frame_0.5_detector": float(np.mean([len(b) for b in our_boxes])),
        "box_height_px_p5_p50_p95": np.percentile(heights, [5, 50, 95]).round(1).tolist(),
    }
    if not args.no_track:
        t = time.perf_counter()
        tracklets, stats = track_video(args.video, detector, "bytetrack", max_frames=args.max_frames)
        wall = time.perf_counter() - t
        lengths = np.array([len(tr.frame_indices) for tr in tracklets])
        fps = cv2.VideoCapture(args.video).get(cv2.CAP_PROP_FPS) or 10.0
        result.update({
            "track_fps": stats.frames_processed / wall, "track_realtime": stats.frames_processed / fps / wall,
            "tracklets": len(tracklets), "tracklet_len_median": float(np.median(lengths)),
            "tracklets_20plus": int((lengths >= 20).sum()),
            "tracked_boxes_per_frame": float(lengths.sum() / max(stats.frames_processed, 1)),
        })
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
