"""Follow jobs that other processes run, from their rows in the gallery's job queue.

A process that enqueued jobs but does not run them (``reid index --cluster``: Ray actors run
them) reads the rows every ``poll_s`` and reports what changed through the same callbacks as
:func:`reid.jobs.worker.run_worker`: a claim (a worker took the job, attempt N), progress (the
fraction and message the worker's heartbeat wrote), a retry (an attempt failed or its worker died
and the job is pending again) and the end (done or failed). The report of a job run elsewhere is
``None``; the row (``JobInfo.result``) holds its fields.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from reid.service.types import IndexReport
from reid.store import JobInfo, JobQueue

logger = logging.getLogger(__name__)

__all__ = ["JobWatch", "watch_jobs"]


@dataclass
class JobWatch:
    """What :func:`watch_jobs` has seen of each job (by id)."""

    claims: dict[int, tuple[int, str | None]] = field(default_factory=dict)
    progress: dict[int, tuple[float, str]] = field(default_factory=dict)
    retried: dict[int, int] = field(default_factory=dict)
    final: dict[int, JobInfo] = field(default_factory=dict)


def _retry_report(job: JobInfo, attempt: int) -> IndexReport:
    error = job.error or f"attempt {attempt} did not finish"
    return IndexReport(job.path, job.camera or Path(job.path).stem, "failed", error=error)


def watch_jobs(
    queue: JobQueue,
    job_ids: Iterable[int],
    *,
    poll_s: float = 0.5,
    keep_going: Callable[[], bool] | None = None,
    stop: threading.Event | None = None,
    on_claim: Callable[[JobInfo], None] | None = None,
    on_progress: Callable[[JobInfo, float, str], None] | None = None,
    on_final: Callable[[JobInfo, IndexReport | None], None] | None = None,
    on_retry: Callable[[JobInfo, IndexReport], None] | None = None,
) -> JobWatch:
    """Report the jobs' changes until each is done or failed (see the module docstring).

    Args:
        queue: the gallery's job queue.
        job_ids: the jobs to follow.
        poll_s: seconds between reads of their rows.
        keep_going: called after each read while jobs remain; False stops watching (e.g. every
            worker that could run them is gone).
        stop: set it to stop watching.
        on_claim: a worker claimed a job (``job.attempts`` is the attempt, ``job.worker_id`` who).
        on_progress: ``(job, fraction, message)`` when a running job's progress changed.
        on_final: ``(job, None)`` once per job when it is done or failed.
        on_retry: ``(job, report)`` when an attempt ended without the job ending (``report.error``
            says why: the worker's error, or that its worker stopped heart-beating or died).

    Returns:
        What was seen; ``final`` holds the jobs that ended.
    """
    ids = sorted({int(i) for i in job_ids})
    seen = JobWatch()
    stop = stop or threading.Event()
    while True:
        for job in queue.list(job_ids=[i for i in ids if i not in seen.final], limit=None):
            _report(job, seen, on_claim, on_progress, on_final, on_retry)
        if len(seen.final) == len(ids) or stop.is_set():
            return seen
        if keep_going is not None and not keep_going():
            # one last read: a job may have ended while the workers went away
            for job in queue.list(job_ids=[i for i in ids if i not in seen.final], limit=None):
                _report(job, seen, on_claim, on_progress, on_final, on_retry)
            return seen
        stop.wait(poll_s)


def _report(job: JobInfo, seen: JobWatch,
            on_claim: Callable[[JobInfo], None] | None,
            on_progress: Callable[[JobInfo, float, str], None] | None,
            on_final: Callable[[JobInfo, IndexReport | None], None] | None,
            on_retry: Callable[[JobInfo, IndexReport], None] | None) -> None:
    """Compare one row with what was seen of it and call the callbacks for what changed."""
    claimed = seen.claims.get(job.id)
    # An attempt we saw claimed ended and the job is not over: another attempt comes (or came).
    if (claimed is not None and seen.retried.get(job.id) != claimed[0]
            and not job.final and (job.attempts > claimed[0]
                                   or (job.state == "pending" and job.attempts == claimed[0]))):
        seen.retried[job.id] = claimed[0]
        if on_retry is not None:
            on_retry(job, _retry_report(job, claimed[0]))
    if job.final:
        seen.final[job.id] = job
        if on_final is not None:
            on_final(job, None)
        return
    if job.state != "claimed":
        return
    key = (job.attempts, job.worker_id)
    if claimed != key:
        seen.claims[job.id] = key
        seen.progress.pop(job.id, None)
        if on_claim is not None:
            on_claim(job)
    now = (job.progress, job.message or "")
    if job.message and seen.progress.get(job.id) != now:
        seen.progress[job.id] = now
        if on_progress is not None:
            on_progress(job, *now)
