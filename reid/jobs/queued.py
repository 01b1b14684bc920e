"""A service whose ``index_video`` / ``index_folder`` go through the job queue.

``reid serve`` wraps its ``ReidService`` in :class:`QueuedIndexing`: the UI's indexing actions
enqueue jobs, a :class:`~reid.jobs.local.LocalWorkerProcess` (or any ``reid worker`` on the same
gallery) runs them, and the caller waits for each job while its progress, read from the job row,
is forwarded to ``progress(fraction, message)``. The returned ``IndexReport`` is rebuilt from the
row. Everything else (search, browsing, export...) is the wrapped service's own.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from pathlib import Path
from typing import Any

from reid.jobs.local import LocalWorkerProcess
from reid.service.types import IndexReport, ProgressFn
from reid.store import JobInfo, JobQueue
from reid.store._jobs import DEFAULT_MAX_ATTEMPTS

logger = logging.getLogger(__name__)

__all__ = ["QueuedIndexing", "report_of"]


def report_of(job: JobInfo) -> IndexReport:
    """The ``IndexReport`` of a finished job, from its row (``result`` holds the worker's)."""
    result = dict(job.result or {})
    status = str(result.get("status") or ("failed" if job.state == "failed" else "indexed"))
    if job.state == "failed":
        status = "failed"
    timings = result.get("timings")
    return IndexReport(
        path=job.path, camera=str(result.get("camera") or job.camera or Path(job.path).stem),
        status=status, video_id=job.video_id if job.video_id is not None else result.get("video_id"),
        tracklets=int(result.get("tracklets") or 0),
        video_seconds=float(result.get("video_seconds") or 0.0),
        elapsed_s=float(result.get("elapsed_s") or 0.0),
        error=job.error if status == "failed" else result.get("error"),
        timings=dict(timings) if isinstance(timings, dict) else {})


class QueuedIndexing:
    """``service`` with indexing through the gallery's job queue (see the module docstring).

    Args:
        service: the server's ``ReidService``; its ``worker_factory`` builds the worker's service.
        max_attempts: attempts per job (a crashed attempt is retried).
        poll_s: how often a waiting caller reads its job's row.
        start_worker: run a :class:`LocalWorkerProcess` (False: rely on ``reid worker`` elsewhere).
    """

    def __init__(self, service: Any, *, max_attempts: int = DEFAULT_MAX_ATTEMPTS,
                 poll_s: float = 0.3, start_worker: bool = True) -> None:
        self._service = service
        self._queue: JobQueue = service.store.jobs
        self._max_attempts = max_attempts
        self._poll_s = poll_s
        self._start_worker = start_worker
        self._worker: LocalWorkerProcess | None = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._service, name)

    @property
    def worker(self) -> LocalWorkerProcess | None:
        """The local worker process, once started."""
        return self._worker

    def use_worker_process(self, niceness: int = 10) -> bool:
        """Start the local worker process (indexing at ``niceness`` lower CPU priority); True
        when indexing is isolated in a process (always, for queued indexing)."""
        with self._lock:
            if self._worker is None and self._start_worker:
                factory = getattr(self._service, "worker_factory", None)
                if factory is None:
                    raise ValueError("queued indexing needs a service with a worker_factory")
                self._worker = LocalWorkerProcess(
                    factory, self._queue, niceness=niceness,
                    on_crash=getattr(self._service, "fail_interrupted", None))
                self._worker.start()
        if hasattr(self._service, "isolate_playback"):
            self._service.isolate_playback()
        return True

    def index_video(self, path: str | Path, camera: str | None = None,
                    start_time: dt.datetime | None = None, progress: ProgressFn | None = None,
                    actor: str = "cli") -> IndexReport:
        """Enqueue one video and wait for its job to end; never raises for a bad file."""
        path = Path(path).expanduser().resolve()
        camera = (camera or path.stem).strip()
        if not path.is_file():
            return IndexReport(str(path), camera, "failed", error=f"no such file: {path}")
        self.use_worker_process()
        job = self._queue.enqueue(path, camera, start_time, actor=actor,
                                  max_attempts=self._max_attempts)
        return self._wait(job.id, progress)

    def index_folder(self, root: str | Path, progress: ProgressFn | None = None, actor: str = "cli",
                     start_time: dt.datetime | None = None) -> list[IndexReport]:
        """Enqueue every video under ``root`` (camera = first sub-folder), then wait for each."""
        from reid.service import iter_videos

        reports: list[IndexReport] = []

        def skipped(p: Path, reason: str) -> None:
            reports.append(IndexReport(str(p), "", "skipped", error=reason))

        files = list(iter_videos(root, exclude=self._service.data_dir, on_skip=skipped))
        self.use_worker_process()
        ids: list[int | IndexReport] = []
        for p, camera in files:
            try:
                ids.append(self._queue.enqueue(p, camera, start_time, actor=actor,
                                               max_attempts=self._max_attempts).id)
            except OSError as exc:  # gone since the folder was listed
                ids.append(IndexReport(str(p), camera, "failed", error=str(exc)))
        for i, job_id in enumerate(ids):
            def sub(fraction: float, message: str, i: int = i) -> None:
                if progress is not None:
                    progress((i + fraction) / len(ids), message)

            reports.append(job_id if isinstance(job_id, IndexReport) else self._wait(job_id, sub))
        return reports

    def _wait(self, job_id: int, progress: ProgressFn | None) -> IndexReport:
        last: tuple[float, str] | None = None
        while True:
            job = self._queue.get(job_id)
            if job.final:
                forget = getattr(self._service, "forget_cached_rows", None)
                if callable(forget):  # another process wrote the gallery
                    forget()
                report = report_of(job)
                if progress is not None and report.status != "failed":
                    progress(1.0, job.message or f"{Path(job.path).name}: done")
                return report
            now = (job.progress, job.message or _waiting(job))
            if progress is not None and now != last:
                progress(*now)
                last = now
            threading.Event().wait(self._poll_s)

    def close(self) -> None:
        """Stop the local worker process (its job goes back to the queue), then the service."""
        if self._worker is not None:
            self._worker.close()
        self._service.close()


def _waiting(job: JobInfo) -> str:
    name = Path(job.path).name
    if job.state == "pending":
        return f"{name}: queued" + (f" (attempt {job.attempts + 1})" if job.attempts else "")
    return f"{name}: starting"

