"""``reid index PATH...``: index video files or folder trees into the gallery."""

from __future__ import annotations

import argparse

from app.commands._common import (
    build_service_from_args,
    format_seconds,
    parse_time,
    printable,
    progress_bar,
    say,
)
from app.settings import add_settings_arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "index", help="index videos (files or folders; camera = sub-folder name)",
        description="Track people in each video, embed each tracklet and add it to the gallery. "
        "Files already indexed (same content) are skipped; an interrupted run resumes.",
    )
    p.add_argument("paths", nargs="+", help="video files or folders")
    p.add_argument("--camera", help="camera name for the given files (default: sub-folder or file name)")
    p.add_argument("--start-time", help="wall-clock time of the first frame, ISO 8601 (naive = UTC)")
    add_settings_arguments(p, indexing=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    start = parse_time(args.start_time)
    service = build_service_from_args(args)
    # Each file is indexed in a worker process: a crash in a codec or the detector fails that
    # file only, and the batch goes on with a new worker.
    service.use_worker_process()
    try:
        return _index_all(service, args, start)
    finally:
        service.close()


def _index_all(service, args: argparse.Namespace, start) -> int:  # (ReidService, ..) -> exit code
    from reid.service import iter_videos

    def skipped(path, reason: str) -> None:
        say(f"skipped {printable(path)}: {printable(reason.removeprefix('skipped: '))}")

    jobs = [(path, args.camera or camera) for root in args.paths
            for path, camera in iter_videos(root, exclude=service.data_dir, on_skip=skipped)]
    if not jobs:
        say("no video files found")
        return 1
    for note in service.status().notes:
        say(f"note: {note}")
    failed = 0
    for i, (path, camera) in enumerate(jobs, start=1):
        with progress_bar(f"[{i}/{len(jobs)}] {path.name}") as update:
            report = service.index_video(path, camera, start, update, actor="cli")
        if report.status == "failed":
            failed += 1
            say(f"FAILED  {printable(path)} ({printable(camera)}): {printable(report.error)}")
        elif report.status == "duplicate":
            say(f"skipped {printable(path)}: already indexed as video {report.video_id}")
        else:
            rate = report.video_seconds / report.elapsed_s if report.elapsed_s else 0.0
            say(f"indexed {printable(path)} as camera {printable(repr(camera))}: "
                f"{report.tracklets} tracklets, "
                f"{format_seconds(report.video_seconds)} of video in {report.elapsed_s:.1f}s "
                f"({rate:.2f}x real time)")
    status = service.status()
    say(f"gallery: {status.videos} videos, {status.tracklets} tracklets in {status.data_dir}")
    return 1 if failed else 0
