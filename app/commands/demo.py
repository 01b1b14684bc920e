"""``reid demo``: a two-camera gallery from the sample footage, a summary, then the web UI.

The sample is ``data/vtest.avi`` (real pedestrians, 795 frames at 10 fps; ``make sample-data``).
It is cut into two overlapping time windows written as two "camera" videos, with start times that
line up, so everyone seen during the shared seconds appears on both cameras at the same time. The
example search picks the camera-a person who spends longest in the shared window; its twin on
camera b is the expected best match.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from app.commands._common import printable, say

logger = logging.getLogger(__name__)

DEFAULT_VIDEO = "data/vtest.avi"
DEFAULT_DEMO_DIR = "data/demo-gallery"
DEMO_START = dt.datetime(2024, 5, 1, 9, 0, 0, tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class DemoCamera:
    """One synthetic camera: its video file, name and absolute start time (UTC)."""

    path: Path
    camera: str
    start_time: dt.datetime


def register(subparsers: argparse._SubParsersAction) -> None:
    from app.commands.serve import add_serve_arguments
    from app.settings import add_settings_arguments

    parser = subparsers.add_parser(
        "demo", help="index a two-camera sample of data/vtest.avi, print a summary, serve the UI")
    add_settings_arguments(parser, indexing=True)
    parser.set_defaults(data_dir=DEFAULT_DEMO_DIR)
    parser.add_argument("--video", default=DEFAULT_VIDEO,
                        help=f"source footage (default {DEFAULT_VIDEO}; `make sample-data` fetches it)")
    parser.add_argument("--overlap", type=float, default=0.15,
                        help="fraction of the footage both cameras see (default 0.15)")
    parser.add_argument("--no-serve", action="store_true", help="stop after the summary")
    add_serve_arguments(parser)
    parser.set_defaults(func=run)


def split_two_cameras(video: Path, out_dir: Path, overlap: float) -> list[DemoCamera]:
    """Write the first and last ``(1 + overlap) / 2`` of ``video`` as ``cam-a.mp4`` / ``cam-b.mp4``.

    Existing outputs with the expected frame count are reused (the gallery dedups by content).
    """
    import cv2

    from tracking.video import open_video_writer

    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise ValueError(f"cannot open {video} as a video")
    fps = cap.get(cv2.CAP_PROP_FPS) or 10.0
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    n = len(frames)
    if n < 20:
        raise ValueError(f"{video} has only {n} readable frames; the demo needs a real video")
    half = (1.0 + overlap) / 2.0
    spans = {"cam-a": (0, int(round(n * half))), "cam-b": (n - int(round(n * half)), n)}
    cameras = []
    for camera, (lo, hi) in spans.items():
        path = out_dir / f"{camera}.mp4"
        if not _has_frames(path, hi - lo):
            h, w = frames[0].shape[:2]
            writer = open_video_writer(path.with_suffix(".part.mp4"), fps, (w, h))
            for frame in frames[lo:hi]:
                writer.write(frame)
            writer.release()
            path.with_suffix(".part.mp4").replace(path)
        cameras.append(DemoCamera(path, camera, DEMO_START + dt.timedelta(seconds=lo / fps)))
    return cameras


def _has_frames(path: Path, count: int) -> bool:
    import cv2

    if not path.is_file():
        return False
    cap = cv2.VideoCapture(str(path))
    try:
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == count
    finally:
        cap.release()


def _index(service, cameras: list[DemoCamera]) -> list:
    from app.commands._common import progress_bar

    reports = []
    for cam in cameras:
        with progress_bar(f"indexing {cam.camera}") as progress:
            report = service.index_video(cam.path, camera=cam.camera, start_time=cam.start_time,
                                         progress=progress, actor="demo")
        if report.status == "failed":
            raise RuntimeError(f"indexing {cam.path} failed: {report.error}")
        reports.append(report)
    return reports


def _pick_query(service, cameras: list[DemoCamera]):
    """The camera-a tracklet overlapping the shared time window longest (else the longest one)."""
    shared_from = cameras[1].start_time
    tracklets = service.list_tracklets(camera=cameras[0].camera, limit=None)
    if not tracklets:
        return None

    def shared_seconds(t) -> float:
        if t.end_time is None:
            return 0.0
        return max(0.0, (t.end_time - max(t.start_time, shared_from)).total_seconds())

    return max(tracklets, key=lambda t: (shared_seconds(t), t.duration_s))


def summarize(service, cameras: list[DemoCamera]) -> list[str]:
    """Summary lines: tracklets per camera and one cross-camera search with scores."""
    from app.ui._format import tracklet_caption
    from reid.service import SearchRequest

    status = service.status()
    lines = [f"gallery: {status.data_dir}",
             f"detector: {status.detector}{' (offline fallback)' if status.detector_fallback else ''}; "
             f"embedder: {status.embedder} ({status.embedder_kind}, {status.descriptor_dim}-d)"
             f"{' (offline fallback)' if status.embedder_fallback else ''}"]
    lines += [f"  {cam}: {n} tracklets" for cam, n in sorted(status.tracklets_per_camera.items())]
    query = _pick_query(service, cameras)
    if query is None:
        return [*lines, "no person was tracked on cam-a; nothing to search"]
    response = service.search(SearchRequest(tracklet_id=query.id, top_k=5, exclude_same_camera=True),
                              actor="demo")
    lines.append(f"example search, query {tracklet_caption(query)}:")
    for m in response.matches:
        t = m.tracklet
        together = (t.start_time is not None and query.start_time is not None
                    and t.start_time < query.end_time and query.start_time < t.end_time)
        lines.append(f"  {m.rank}. score {m.score:.3f}  {tracklet_caption(t)}"
                     f"{'  <- seen at the same time as the query' if together else ''}")
    if not response.matches:
        lines.append("  no match on the other camera")
    return lines


def run(args: argparse.Namespace) -> int:
    from app.cli import UserError
    from app.commands.serve import serve_options, serve_service
    from app.compose import build_service
    from app.settings import Settings

    video = Path(args.video)
    if not video.is_file():
        raise UserError(f"the sample footage {video} is missing: run `make sample-data` (it fetches "
                        "vtest.avi from Debian's opencv-doc package) or pass --video PATH")
    if not 0.0 < args.overlap < 1.0:
        raise UserError(f"--overlap must be between 0 and 1, got {args.overlap}")
    options = None if args.no_serve else serve_options(args)
    t0 = time.perf_counter()
    settings = Settings.from_sources(args)
    cameras = split_two_cameras(video, Path(settings.data_dir) / "demo-footage", args.overlap)
    service = build_service(settings)
    reports = _index(service, cameras)
    for r in reports:
        say(f"{printable(r.camera)}: {r.status}, {r.tracklets} tracklets, {r.video_seconds:.0f} s of video "
              f"in {r.elapsed_s:.0f} s")
    say("\n".join(summarize(service, cameras)))
    say(f"demo ready in {time.perf_counter() - t0:.0f} s")
    if options is None:
        return 0
    say(f"serving on http://{options.host}:{options.port} (Ctrl-C to stop)")
    return serve_service(service, options)
