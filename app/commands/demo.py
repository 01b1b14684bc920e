"""``reid demo``: a two-camera gallery from the sample footage, a summary, then the web UI.

The sample is ``data/vtest.avi`` (real pedestrians, 795 frames at 10 fps; ``make sample-data``).
It is cut into two time windows written as two "camera" videos: by default camera a is the first half
and camera b the rest, with start times that continue in real time (camera b starts when camera a
ends), so nothing is seen twice and a match across the cameras is a person who left one and appeared
in the other. ``--overlap`` lets the windows share a fraction of the footage instead; there a match
"seen at the same time" is the same pixels stored twice, not a re-identification.

When the hand labels (``assets/labels/vtest_identities.json``) fit the footage, each indexed tracklet
is matched to a labelled person by its boxes; the example query is a camera-a person who also appears
on camera b, the summary says where the true match ranks, and one line gives Rank-1 over every such
query. Other footage gets the example search without ground truth.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from app.commands._common import UserError, printable, progress_bar, say
from app.commands.serve import add_serve_arguments, serve_options, serve_service
from app.settings import Settings, add_settings_arguments

if TYPE_CHECKING:
    import numpy as np

    from reid.service import IndexReport, ReidService, SearchResponse
    from reid.store import TrackletInfo
    from tracking.labels import LabelledFrames, LabelledTracklet

logger = logging.getLogger(__name__)

DEFAULT_VIDEO = "data/vtest.avi"
DEFAULT_DEMO_DIR = "data/demo-gallery"
DEMO_START = dt.datetime(2024, 5, 1, 9, 0, 0, tzinfo=dt.timezone.utc)
SHOWN = 5  # matches printed for the example search


@dataclass(frozen=True)
class DemoCamera:
    """One synthetic camera: its video file, name, absolute start time (UTC), and the full-video
    frame of its frame 0 (``first_frame``) with its length in frames."""

    path: Path
    camera: str
    start_time: dt.datetime
    first_frame: int
    frame_count: int


@dataclass(frozen=True)
class DemoFootage:
    """The source video's frame count and ``(width, height)`` in pixels, and the cameras cut from it."""

    frame_count: int
    frame_size: tuple[int, int]
    cameras: list[DemoCamera]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo", help="index a two-camera sample of data/vtest.avi, print a summary, serve the UI")
    add_settings_arguments(parser, indexing=True)
    parser.set_defaults(data_dir=DEFAULT_DEMO_DIR)
    parser.add_argument("--video", default=DEFAULT_VIDEO,
                        help=f"source footage (default {DEFAULT_VIDEO}; `make sample-data` fetches it)")
    parser.add_argument("--overlap", type=float, default=0.0,
                        help="fraction of the footage both cameras see, in [0, 1) (default 0: camera b "
                             "starts where camera a ends)")
    parser.add_argument("--no-serve", action="store_true", help="stop after the summary")
    add_serve_arguments(parser)
    parser.set_defaults(func=run)


def split_spans(frame_count: int, overlap: float) -> tuple[tuple[int, int], tuple[int, int]]:
    """Frame spans ``[lo, hi)`` of camera a and camera b: together they cover all ``frame_count``
    frames and share ``round(frame_count * overlap)`` of them (none for ``overlap`` 0)."""
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    shared = int(round(frame_count * overlap))
    a_end = (frame_count + shared + 1) // 2
    return (0, a_end), (a_end - shared, frame_count)


def split_two_cameras(video: Path, out_dir: Path, overlap: float) -> DemoFootage:
    """Write the two spans of ``split_spans`` of ``video`` as ``cam-a.mp4`` / ``cam-b.mp4``.

    Existing outputs with the expected frame count are reused (the gallery dedups by content).
    """
    import cv2

    from tracking.video import open_video_writer

    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise ValueError(f"cannot open {video} as a video")
    fps = cap.get(cv2.CAP_PROP_FPS) or 10.0
    frames: list[np.ndarray] = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    n = len(frames)
    if n < 20:
        raise ValueError(f"{video} has only {n} readable frames; the demo needs a real video")
    h, w = frames[0].shape[:2]
    cameras = []
    for camera, (lo, hi) in zip(("cam-a", "cam-b"), split_spans(n, overlap), strict=True):
        path = out_dir / f"{camera}.mp4"
        if not _has_frames(path, hi - lo):
            writer = open_video_writer(path.with_suffix(".part.mp4"), fps, (w, h))
            for frame in frames[lo:hi]:
                writer.write(frame)
            writer.release()
            path.with_suffix(".part.mp4").replace(path)
        cameras.append(DemoCamera(path, camera, DEMO_START + dt.timedelta(seconds=lo / fps), lo, hi - lo))
    return DemoFootage(n, (w, h), cameras)


def _has_frames(path: Path, count: int) -> bool:
    import cv2

    if not path.is_file():
        return False
    cap = cv2.VideoCapture(str(path))
    try:
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == count
    finally:
        cap.release()


def _index(service: ReidService,
           cameras: list[DemoCamera]) -> tuple[list[IndexReport], dict[str, int]]:
    """Index each camera's video: its report, and the video id per camera name."""
    reports: list[IndexReport] = []
    video_ids: dict[str, int] = {}
    for cam in cameras:
        with progress_bar(f"indexing {cam.camera}") as progress:
            report = service.index_video(cam.path, camera=cam.camera, start_time=cam.start_time,
                                         progress=progress, actor="demo")
        if report.status == "failed" or report.video_id is None:  # only failed reports lack an id
            raise RuntimeError(f"indexing {cam.path} failed: {report.error}")
        reports.append(report)
        video_ids[cam.camera] = report.video_id
    return reports, video_ids


def _drop_stale_videos(service: ReidService, cameras: list[DemoCamera], keep: set[int]) -> int:
    """Delete the gallery's older demo videos on these cameras (from another ``--overlap``).

    Their file was overwritten by this run's cut, so their frames, times and boxes no longer
    match it; left in, they would be searched and scored as if they were this footage.
    """
    names = {cam.camera for cam in cameras}
    folders = {cam.path.resolve().parent for cam in cameras}
    stale = [v for v in service.list_videos()
             if v.camera in names and v.id not in keep and Path(v.path).resolve().parent in folders]
    for v in stale:
        service.delete_video(v.id, actor="demo")
    return len(stale)


def _pick_query(cameras: list[DemoCamera], tracklets: list[TrackletInfo]) -> TrackletInfo | None:
    """Without ground truth: the camera-a tracklet overlapping camera b's time window longest (with
    ``--overlap``), else the longest one."""
    shared_from = cameras[1].start_time
    tracklets = [t for t in tracklets if t.has_descriptor]
    if not tracklets:
        return None

    def shared_seconds(t: TrackletInfo) -> float:
        if t.start_time is None or t.end_time is None:  # both or neither (the video's start time)
            return 0.0
        return max(0.0, (t.end_time - max(t.start_time, shared_from)).total_seconds())

    return max(tracklets, key=lambda t: (shared_seconds(t), t.duration_s))


def _identities(service: ReidService, tracklets: list[TrackletInfo], cam: DemoCamera,
                labelled: LabelledFrames) -> dict[int, tuple[int, bool]]:
    """Tracklet id -> (labelled person, whether it shows that person only), for the tracklets of
    ``cam`` that show one."""
    from tracking.labels import identity_from_votes, identity_votes

    out: dict[int, tuple[int, bool]] = {}
    for t in tracklets:
        frames, boxes = service.store.get_boxes(t.id)
        votes = identity_votes(frames, boxes, labelled, first_frame=cam.first_frame)
        identity = identity_from_votes(votes)
        if identity is not None:
            out[t.id] = (identity, len(votes) == 1)
    return out


def _search_other_camera(service: ReidService, query: TrackletInfo, camera: str,
                         top_k: int) -> SearchResponse:
    from reid.service import SearchRequest

    # Saved feedback would move confirmed matches up: the demo scores the descriptors alone.
    return service.search(SearchRequest(tracklet_id=query.id, top_k=max(top_k, 1), cameras=[camera],
                                        exclude_same_camera=True, use_feedback=False), actor="demo")


def _match_lines(query: TrackletInfo, response: SearchResponse,
                 identities: dict[int, int] | None) -> list[str]:
    from app.ui._format import tracklet_caption

    lines = []
    for m in response.matches[:SHOWN]:
        t = m.tracklet
        together = (t.start_time is not None and t.end_time is not None
                    and query.start_time is not None and query.end_time is not None
                    and t.start_time < query.end_time and query.start_time < t.end_time)
        note = "  <- seen at the same time as the query (the same footage twice)" if together else ""
        if identities is not None:
            person = identities.get(t.id)
            who = "unlabelled" if person is None else f"person {person}"
            mark = " <- true match" if person is not None and person == identities.get(query.id) else ""
            note = f"  [{who}]{mark}{note}"
        lines.append(f"  {m.rank}. score {m.score:.3f}  {tracklet_caption(t)}{note}")
    if not response.matches:
        lines.append("  no match on the other camera")
    return lines


def _truth_lines(service: ReidService, footage: DemoFootage, tracklets: dict[str, list[TrackletInfo]],
                 labels: list[LabelledTracklet]) -> list[str]:
    """The example search of a labelled person seen on both cameras, where its true match ranks,
    and Rank-1 over every labelled camera-a tracklet whose person camera b also shows."""
    from app.commands._demo_truth import rank_lines, rank_summary, true_match_rank
    from app.ui._format import tracklet_caption
    from tracking.labels import labelled_frames

    gt = labelled_frames(labels)
    ids: dict[int, int] = {}
    clean: set[int] = set()  # tracklets that show their person only (no switch to another)
    seen: dict[str, set[int]] = {}
    for cam in footage.cameras:
        found = _identities(service, tracklets[cam.camera], cam, gt)
        ids |= {tid: person for tid, (person, _) in found.items()}
        clean |= {tid for tid, (_, only) in found.items() if only}
        seen[cam.camera] = {person for person, _ in found.values()}
    (a, a_list), (b, b_list) = ((c.camera, tracklets[c.camera]) for c in footage.cameras)
    both = seen[a] & seen[b]
    n_a, n_b = sum(t.id in ids for t in a_list), sum(t.id in ids for t in b_list)
    switched = len(ids.keys() - clean)
    lines = [f"ground truth: {len({t.identity for t in labels})} hand-labelled people; {n_a} of "
             f"{len(a_list)} {a} and {n_b} of {len(b_list)} {b} tracklets show one of them"
             + (f" ({switched} switch to another person part-way)" if switched else "")
             + f"; on both cameras: {', '.join(f'person {p}' for p in sorted(both)) or 'nobody'}"]
    queries = sorted((t for t in a_list if ids.get(t.id) in both and t.has_descriptor), key=lambda t: t.id)
    if not queries:
        return [*lines, "no labelled person was tracked on both cameras: no search to check",
                rank_summary([])]
    example = max(queries, key=lambda t: (t.id in clean, t.duration_s, t.quality))
    ranks: list[int | None] = []
    chance: list[float] = []
    for q in queries:
        response = _search_other_camera(service, q, b, len(b_list))
        ranked = [ids.get(m.tracklet.id) for m in response.matches]
        ranks.append(rank := true_match_rank(ranked, ids[q.id]))
        chance.append(ranked.count(ids[q.id]) / max(len(ranked), 1))
        if q.id == example.id:
            lines.append(f"example search, query {tracklet_caption(q)} [person {ids[q.id]}]:")
            lines += [*_match_lines(q, response, ids), *rank_lines(ids[q.id], rank, len(response.matches), b)]
    return [*lines, rank_summary(ranks, chance)]


def _span_line(footage: DemoFootage) -> str:
    cam_a, cam_b = footage.cameras
    shared = cam_a.first_frame + cam_a.frame_count - cam_b.first_frame
    spans = ", ".join(f"{c.camera} = frames {c.first_frame}-{c.first_frame + c.frame_count - 1}"
                      for c in footage.cameras)
    return (f"cameras: {spans} of {footage.frame_count}"
            + (f" ({shared} frames seen by both: a match there can be the same footage twice)"
               if shared > 0 else " (no frame seen by both)"))


def summarize(service: ReidService, footage: DemoFootage, video_ids: dict[str, int],
              labels: list[LabelledTracklet] | None = None, no_labels_reason: str = "") -> list[str]:
    """Summary lines: tracklets per camera, then the example search (checked against the labels
    when ``labels`` fit the footage, see ``_truth_lines``)."""
    from app.ui._format import tracklet_caption

    status = service.status()
    lines = [f"gallery: {status.data_dir}",
             f"detector: {status.detector}{' (offline fallback)' if status.detector_fallback else ''}; "
             f"embedder: {status.embedder} ({status.embedder_kind}, {status.descriptor_dim}-d)"
             f"{' (offline fallback)' if status.embedder_fallback else ''}"]
    lines += [f"  {cam}: {n} tracklets" for cam, n in sorted(status.tracklets_per_camera.items())]
    lines.append(_span_line(footage))
    cam_a, cam_b = footage.cameras
    tracklets = {cam.camera: service.list_tracklets(video_id=video_ids[cam.camera], limit=None)
                 for cam in footage.cameras}
    if labels is not None:
        return [*lines, *_truth_lines(service, footage, tracklets, labels)]
    lines.append(f"ground truth: none for this footage ({no_labels_reason}); the example is not checked")
    query = _pick_query(footage.cameras, tracklets[cam_a.camera])
    if query is None:
        return [*lines, f"no person was tracked on {cam_a.camera}; nothing to search"]
    response = _search_other_camera(service, query, cam_b.camera, SHOWN)
    return [*lines, f"example search, query {tracklet_caption(query)}:", *_match_lines(query, response, None)]


def run(args: argparse.Namespace) -> int:
    from app.commands._demo_truth import LABELS, footage_labels
    from app.compose import build_service

    video = Path(args.video)
    if not video.is_file():
        raise UserError(f"the sample footage {video} is missing: run `make sample-data` (it fetches "
                        "vtest.avi from Debian's opencv-doc package) or pass --video PATH")
    if not 0.0 <= args.overlap < 1.0:
        raise UserError(f"--overlap must be in [0, 1), got {args.overlap}")
    options = None if args.no_serve else serve_options(args)
    t0 = time.perf_counter()
    settings = Settings.from_sources(args)
    footage = split_two_cameras(video, Path(settings.data_dir) / "demo-footage", args.overlap)
    labels, reason = footage_labels(LABELS, footage.frame_count, footage.frame_size)
    service = build_service(settings)
    reports, video_ids = _index(service, footage.cameras)
    for r in reports:
        say(f"{printable(r.camera)}: {r.status}, {r.tracklets} tracklets, {r.video_seconds:.0f} s of video "
            f"in {r.elapsed_s:.0f} s")
    dropped = _drop_stale_videos(service, footage.cameras, set(video_ids.values()))
    if dropped:
        say(f"removed {dropped} older demo video{'s' if dropped > 1 else ''} cut with another --overlap")
    say("\n".join(summarize(service, footage, video_ids, labels, reason)))
    say(f"demo ready in {time.perf_counter() - t0:.0f} s")
    if options is None:
        return 0
    say(f"serving on http://{options.host}:{options.port} (Ctrl-C to stop)")
    return serve_service(service, options)
