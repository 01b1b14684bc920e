"""``reid index PATH...``: index video files or folder trees into the gallery.

Each file becomes a job in the gallery's queue (``reid.store.JobQueue``); this command then runs a
local worker (``reid.jobs.run_worker``) on its own jobs until each is done or failed. A job that
another worker (``reid worker``, a server) holds is waited for and reported when it ends. With
``--cluster`` Ray actors run the jobs instead (``app.commands._cluster``) and this command follows
their rows, printing the same lines.
"""

from __future__ import annotations

import argparse
import contextlib
from typing import TYPE_CHECKING, Any

from app.commands._cluster import add_cluster_arguments
from app.commands._common import (
    build_service_from_args,
    format_seconds,
    parse_time,
    printable,
    progress_bar,
    say,
)
from app.settings import add_settings_arguments

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable
    from pathlib import Path

    from reid.service import IndexReport
    from reid.store import JobInfo


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "index", help="index videos (files or folders; camera = sub-folder name)",
        description="Track people in each video, embed each tracklet and add it to the gallery. "
        "Files already indexed (same content) are skipped; an interrupted run resumes. Each file "
        "is a job in the gallery's queue, run here by a local worker (and by any `reid worker` "
        "on the same gallery).",
    )
    p.add_argument("paths", nargs="+", help="video files or folders")
    p.add_argument("--camera", help="camera name for the given files (default: sub-folder or file name)")
    p.add_argument("--start-time", help="wall-clock time of the first frame, ISO 8601 (naive = UTC)")
    p.add_argument("--max-attempts", type=int, default=3,
                   help="attempts per file when the indexing process crashes or dies (default 3)")
    add_cluster_arguments(p)
    add_settings_arguments(p, indexing=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    start = parse_time(args.start_time)
    if args.max_attempts < 1:
        raise ValueError(f"--max-attempts must be >= 1, got {args.max_attempts}")
    if args.cluster:  # Ray actors index; this process builds no model
        from app.commands._cluster import run_cluster

        return run_cluster(args, start, _index_all)
    service = build_service_from_args(args)
    # Each file is indexed in a worker process: a crash in a codec or the detector fails that
    # attempt only, and the batch goes on with a new worker.
    service.use_worker_process()
    try:
        return _index_all(service, args, start)
    finally:
        service.close()


def job_line(job: Any, report: Any) -> str:
    """The line printed when a job ends: from the worker's ``IndexReport`` when this process ran
    it, else from the job row (``reid.store.JobInfo``) another worker wrote."""
    path, camera = printable(job.path), printable(job.camera or "")
    result = dict(job.result or {})
    status = report.status if report is not None else result.get("status", job.state)
    if job.state == "failed" or status == "failed":
        error = report.error if report is not None and report.error else job.error
        return f"FAILED  {path} ({camera}): {printable(error)}"
    video_id = report.video_id if report is not None else job.video_id
    if status == "duplicate":
        return f"skipped {path}: already indexed as video {video_id}"
    tracklets = report.tracklets if report is not None else int(result.get("tracklets", 0))
    seconds = report.video_seconds if report is not None else float(result.get("video_seconds", 0.0))
    elapsed = report.elapsed_s if report is not None else float(result.get("elapsed_s", 0.0))
    rate = seconds / elapsed if elapsed else 0.0
    by = "" if report is not None else f" by worker {printable(job.worker_id or '?')}"
    return (f"indexed {path} as camera {printable(repr(job.camera or ''))}{by}: {tracklets} "
            f"tracklets, {format_seconds(seconds)} of video in {elapsed:.1f}s "
            f"({rate:.2f}x real time)")


@contextlib.contextmanager
def _cancel_unstarted_on_interrupt(queue: Any, job_ids: dict[int, int]) -> Any:
    """On Ctrl-C or SIGTERM, fail this run's jobs that are still pending (not started, or given
    back by the interrupted worker) instead of leaving them to any other worker: stopping
    ``reid index`` stops its indexing. Running the command again enqueues them anew."""
    try:
        yield
    except KeyboardInterrupt:
        cancelled = [j for j in job_ids if queue.cancel(j, "cancelled: reid index was interrupted")]
        if cancelled:
            say(f"interrupted: {len(cancelled)} file(s) not indexed; run the command again to "
                "index them")
        raise


def _index_all(service: Any, args: argparse.Namespace, start: dt.datetime | None,
               run_jobs: Callable[..., int] | None = None) -> int:
    """Enqueue the files, run their jobs (here, or ``run_jobs(queue, job_ids, on_claim=...,
    on_progress=..., on_final=..., on_retry=...)`` returning how many it left unfinished) and
    print a line per job; returns the exit code. ``service`` is a ``ReidService`` (or what
    ``--cluster`` gives: ``data_dir``, ``store``, ``status()``)."""
    from reid.jobs import run_worker, stop_on_sigterm
    from reid.service import iter_videos
    from reid.store._jobs import worker_id_for

    def skipped(path: Path, reason: str) -> None:
        say(f"skipped {printable(path)}: {printable(reason.removeprefix('skipped: '))}")

    files = [(path, args.camera or camera) for root in args.paths
             for path, camera in iter_videos(root, exclude=service.data_dir, on_skip=skipped)]
    if not files:
        say("no video files found")
        return 1
    for note in service.status().notes:
        say(f"note: {note}")
    queue = service.store.jobs
    queue.requeue_orphans()  # a killed earlier run's jobs: ours to take again
    order: dict[int, int] = {}
    for path, camera in files:
        job = queue.enqueue(path, camera, start, actor="cli", max_attempts=args.max_attempts)
        order.setdefault(job.id, len(order) + 1)
    failed = 0
    bars: dict[int, tuple[contextlib.ExitStack, Any]] = {}  # job id -> its progress bar

    def close_bar(job: JobInfo) -> None:
        stack, _ = bars.pop(job.id, (None, None))
        if stack is not None:
            stack.close()

    def claimed(job: JobInfo) -> None:
        close_bar(job)
        attempt = f" (attempt {job.attempts}/{job.max_attempts})" if job.attempts > 1 else ""
        name = job.path.rsplit("/", 1)[-1]
        stack = contextlib.ExitStack()
        bars[job.id] = (stack, stack.enter_context(
            progress_bar(f"[{order[job.id]}/{len(order)}] {name}{attempt}")))

    def progress(job: JobInfo, fraction: float, message: str) -> None:
        if job.id in bars:
            bars[job.id][1](fraction, message)

    def final(job: JobInfo, report: IndexReport | None) -> None:
        nonlocal failed
        close_bar(job)
        failed += job.state == "failed"
        say(job_line(job, report))

    def retry(job: JobInfo, report: IndexReport) -> None:
        close_bar(job)
        say(f"retrying {printable(job.path)} ({printable(job.camera or '')}): "
            f"{printable(report.error)}")

    left = 0
    try:
        with stop_on_sigterm(), _cancel_unstarted_on_interrupt(queue, order):
            if run_jobs is None:
                run_worker(queue, service, worker_id=worker_id_for("index"), job_ids=order,
                           poll_s=0.5, on_claim=claimed, on_progress=progress, on_final=final,
                           on_retry=retry)
            else:
                left = run_jobs(queue, list(order), on_claim=claimed, on_progress=progress,
                                on_final=final, on_retry=retry)
    finally:
        for stack, _ in list(bars.values()):
            stack.close()
    status = service.status()
    say(f"gallery: {status.videos} videos, {status.tracklets} tracklets in {status.data_dir}")
    return 1 if failed or left else 0
