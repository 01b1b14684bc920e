"""The worker loop: claim a job, index its video while heart-beating, record the outcome.

:func:`run_worker` takes the gallery's :class:`~reid.store.JobQueue` and anything with
``ReidService.index_video``'s signature (an :class:`Indexer`; ``ReidService`` after
``use_worker_process()`` indexes in its child process, so a native crash fails one attempt and
not the worker). One job at a time:

1. take back jobs of dead workers: claimed jobs of this machine whose process is gone, and
   claimed jobs anywhere whose heartbeat is older than ``lease_s``;
2. claim the oldest pending job atomically;
3. index it, while a thread renews the lease every ``heartbeat_s`` and writes the progress
   (fraction + message, at most every ``progress_s``) into the job row for the UI;
4. ``done`` (the report's fields go to the row's ``result``), or a failed attempt: a crash of the
   indexing child or an exception is retried until the job's ``max_attempts``; a file the service
   reports as unreadable fails at once.

A tracklet is never stored twice: a job taken back from a dead worker is indexed again through
``index_video``, which deletes what an interrupted run left of the video (its rows, vectors and
crops) before indexing it again; the store's unique content hash and ``(video, track)`` keys
refuse any second copy.

Interrupting (``KeyboardInterrupt``; :func:`stop_on_sigterm` turns SIGTERM into one) gives the
claimed job back as ``pending`` without counting the attempt, then re-raises.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from reid.service.types import IndexReport, ProgressFn
from reid.store import JobInfo, JobQueue
from reid.store._jobs import worker_id_for

logger = logging.getLogger(__name__)

__all__ = ["Indexer", "WorkerSummary", "run_worker", "stop_on_sigterm"]

# The failed reports of ``ReidService._index_in_worker`` when the indexing child died or hung
# (``reid.service.worker.WorkerError`` messages): worth another attempt.
_TRANSIENT_PREFIXES = ("the indexing worker", "indexing was interrupted")


class Indexer(Protocol):
    """What a worker indexes with: ``ReidService.index_video``."""

    def index_video(self, path: str | Path, camera: str | None = None,
                    start_time: dt.datetime | None = None, progress: ProgressFn | None = None,
                    actor: str = "cli") -> IndexReport: ...


@dataclass
class WorkerSummary:
    """What one :func:`run_worker` call did: job ids by outcome of its own attempts."""

    worker_id: str
    done: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)
    released: list[int] = field(default_factory=list)

    @property
    def attempts(self) -> int:
        """Jobs this worker claimed (each attempt counts once)."""
        return len(self.done) + len(self.failed) + len(self.retried) + len(self.released)


def is_transient(report: IndexReport) -> bool:
    """True when a failed report comes from the indexing child dying or hanging (another
    attempt may succeed), not from the file itself."""
    return (report.error or "").startswith(_TRANSIENT_PREFIXES)


def report_fields(report: IndexReport) -> dict[str, Any]:
    """The report as the JSON kept in the job row's ``result``."""
    return {k: v for k, v in dataclasses.asdict(report).items() if k != "path"}


class _Heartbeat:
    """A thread renewing a job's lease every ``heartbeat_s`` and writing its latest progress at
    most every ``progress_s`` (the only writer of the row while the job runs)."""

    def __init__(self, queue: JobQueue, job_id: int, worker_id: str, heartbeat_s: float,
                 progress_s: float) -> None:
        self._queue, self._job_id, self._worker_id = queue, job_id, worker_id
        self._heartbeat_s, self._progress_s = heartbeat_s, progress_s
        self._latest: tuple[float, str] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.lost = False
        self._thread = threading.Thread(target=self._run, name=f"reid-job-{job_id}-heartbeat",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def update(self, fraction: float, message: str) -> None:
        with self._lock:
            self._latest = (float(fraction), str(message))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        tick = max(0.05, min(self._heartbeat_s, self._progress_s))
        last_beat = time.monotonic()
        written: tuple[float, str] | None = None
        while not self._stop.wait(tick):
            with self._lock:
                latest = self._latest
            now = time.monotonic()
            if latest == written and now - last_beat < self._heartbeat_s:
                continue
            try:
                held = self._queue.heartbeat(
                    self._job_id, self._worker_id,
                    progress=None if latest is None else latest[0],
                    message=None if latest is None else latest[1])
            except Exception:  # a busy or unreachable database: try again next tick
                logger.warning("job %d: heartbeat failed", self._job_id, exc_info=True)
                continue
            last_beat, written = now, latest
            if not held and not self.lost:
                self.lost = True
                logger.warning("job %d: worker %s lost its claim (lease expired); another worker "
                               "may be indexing it", self._job_id, self._worker_id)


def run_worker(
    queue: JobQueue,
    indexer: Indexer,
    *,
    worker_id: str | None = None,
    heartbeat_s: float = 10.0,
    lease_s: float = 60.0,
    progress_s: float = 1.0,
    poll_s: float = 1.0,
    once: bool = False,
    max_jobs: int | None = None,
    job_ids: Iterable[int] | None = None,
    stop: threading.Event | None = None,
    on_claim: Callable[[JobInfo], None] | None = None,
    on_progress: Callable[[JobInfo, float, str], None] | None = None,
    on_final: Callable[[JobInfo, IndexReport | None], None] | None = None,
    on_retry: Callable[[JobInfo, IndexReport], None] | None = None,
) -> WorkerSummary:
    """Claim and index jobs one at a time until told to stop (see the module docstring).

    Args:
        queue: the gallery's job queue (``Store.jobs``).
        indexer: indexes one video (``ReidService``).
        worker_id: this worker's id (default ``"<host>:<pid>"``, which lets other workers of this
            machine take its jobs back as soon as its process is gone).
        heartbeat_s: how often the lease is renewed while a video is indexed.
        lease_s: a claimed job whose heartbeat is older than this is taken back from its worker.
        progress_s: the job row's progress is written at most this often.
        poll_s: how long to wait for a job when none is pending.
        once: stop after one job (or at once when none is pending).
        max_jobs: stop after this many attempts.
        job_ids: work only on these jobs and stop once each is done or failed (jobs another
            worker holds are waited for).
        stop: set it to stop after the current job.
        on_claim: called with each job this worker claims.
        on_progress: ``(job, fraction, message)`` as the indexing reports progress.
        on_final: ``(job, report)`` when a job ends done or failed (``report`` None when another
            worker ran it; with ``job_ids`` only).
        on_retry: ``(job, report)`` when an attempt failed and the job went back to pending.

    Returns:
        What this worker did.

    Raises:
        KeyboardInterrupt: after giving the claimed job back (pending, attempt not counted).
    """
    if heartbeat_s <= 0 or lease_s <= heartbeat_s:
        raise ValueError(f"need 0 < heartbeat_s < lease_s, got {heartbeat_s} and {lease_s}")
    worker_id = worker_id or worker_id_for()
    stop = stop or threading.Event()
    wanted = None if job_ids is None else sorted({int(i) for i in job_ids})
    reported: set[int] = set()
    summary = WorkerSummary(worker_id)
    logger.info("worker %s started (heartbeat %g s, lease %g s)", worker_id, heartbeat_s, lease_s)

    def report_others() -> bool:
        """Report jobs of ``wanted`` that others finished; True when all of them are final."""
        assert wanted is not None
        jobs = queue.list(job_ids=wanted, limit=None)
        for job in jobs:
            if job.final and job.id not in reported:
                reported.add(job.id)
                if on_final is not None:
                    on_final(job, None)
        return all(job.final for job in jobs)

    while not stop.is_set():
        if max_jobs is not None and summary.attempts >= max_jobs:
            break
        queue.requeue_orphans()
        queue.requeue_expired(lease_s)
        todo = None if wanted is None else [i for i in wanted if i not in reported]
        job = queue.claim(worker_id, job_ids=todo)
        if job is None:
            if once or (wanted is not None and report_others()):
                break
            stop.wait(poll_s)
            continue
        if on_claim is not None:
            on_claim(job)
        final, report = _run_one(queue, indexer, job, worker_id, summary, heartbeat_s,
                                 progress_s, on_progress)
        if final is not None:
            reported.add(job.id)
            if on_final is not None:
                on_final(final, report)
        elif on_retry is not None and report is not None:
            on_retry(job, report)
        if once:
            break
    logger.info("worker %s stopped: %d done, %d failed, %d retried", worker_id,
                len(summary.done), len(summary.failed), len(summary.retried))
    return summary


def _run_one(queue: JobQueue, indexer: Indexer, job: JobInfo, worker_id: str,
             summary: WorkerSummary, heartbeat_s: float, progress_s: float,
             on_progress: Callable[[JobInfo, float, str], None] | None,
             ) -> tuple[JobInfo | None, IndexReport | None]:
    """One claimed job; returns ``(the job once final, the report)`` or ``(None, report)`` when
    it goes back to pending for another attempt."""
    beat = _Heartbeat(queue, job.id, worker_id, heartbeat_s, progress_s)

    def progress(fraction: float, message: str) -> None:
        beat.update(fraction, message)
        if on_progress is not None:
            on_progress(job, fraction, message)

    logger.info("job %d (attempt %d/%d): indexing %s", job.id, job.attempts, job.max_attempts,
                job.path)
    beat.start()
    try:
        report = indexer.index_video(job.path, job.camera, job.start_time, progress, job.actor)
    except BaseException as exc:
        beat.stop()
        if not isinstance(exc, Exception):  # KeyboardInterrupt, SystemExit: give the job back
            queue.release(job.id, worker_id)
            summary.released.append(job.id)
            logger.warning("job %d given back (pending): the worker is stopping", job.id)
            raise
        message = f"{type(exc).__name__}: {exc}"
        logger.warning("job %d: indexing raised %s", job.id, message, exc_info=True)
        report = IndexReport(job.path, job.camera or Path(job.path).stem, "failed", error=message)
        return _failed(queue, job, worker_id, summary, report, retry=True)
    beat.stop()
    if report.status == "failed":
        return _failed(queue, job, worker_id, summary, report, retry=is_transient(report))
    queue.finish(job.id, worker_id, video_id=report.video_id, result=report_fields(report),
                 message=_done_message(report))
    summary.done.append(job.id)
    return queue.get(job.id), report


def _failed(queue: JobQueue, job: JobInfo, worker_id: str, summary: WorkerSummary,
            report: IndexReport, *, retry: bool) -> tuple[JobInfo | None, IndexReport]:
    state = queue.fail(job.id, worker_id, report.error or "indexing failed", retry=retry,
                       video_id=report.video_id, result=report_fields(report))
    if state == "pending":
        summary.retried.append(job.id)
        return None, report
    summary.failed.append(job.id)
    return queue.get(job.id), report


def _done_message(report: IndexReport) -> str:
    if report.status == "duplicate":
        return f"same content already indexed as video {report.video_id}"
    return (f"{report.tracklets} people tracklets from {report.video_seconds:.0f} s of video in "
            f"{report.elapsed_s:.0f} s")


@contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Within the block, SIGTERM raises ``KeyboardInterrupt`` in the main thread (as Ctrl-C
    does), so :func:`run_worker` gives its job back and returns; no-op outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
