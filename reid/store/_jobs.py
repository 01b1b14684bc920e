"""The indexing job queue: one row per video to index, claimed atomically by workers.

A job goes ``pending -> claimed -> done | failed``. A worker claims the oldest pending job
(:meth:`JobQueue.claim`), heart-beats while it indexes (:meth:`JobQueue.heartbeat`, which also
records a progress fraction and message for the UI) and records the outcome
(:meth:`JobQueue.finish`, :meth:`JobQueue.fail`). A claimed job whose worker stopped heart-beating
for longer than a lease goes back to ``pending`` (:meth:`JobQueue.requeue_expired`), and so does
one whose worker process on this machine is gone (:meth:`JobQueue.requeue_orphans`), until its
``max_attempts`` are used up; then it is ``failed``.

Claiming is atomic on both databases the gallery supports:

- PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED`` then ``UPDATE`` in one transaction, so
  concurrent workers each lock a different pending row without waiting on one another;
- SQLite: a conditional ``UPDATE ... WHERE id = :id AND state = 'pending'`` in its own write
  transaction (SQLite runs one writer at a time), won only when it changed one row.

Times are the workers' clocks (aware UTC); a lease should be far longer than their skew.

The table lives in the gallery's database (``Base`` of ``reid.store._models``), so ``Store.open``
creates it; :class:`JobQueue` also creates it when missing (``ensure_table``). The rows are in
``reid.store._job_rows``, the worker ids in ``reid.store._worker_ids``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from reid.store._db import Database
from reid.store._job_rows import DEFAULT_MAX_ATTEMPTS, JobInfo, JobRow, JobState, job_info
from reid.store._models import utcnow
from reid.store._worker_ids import machine_id, parse_worker_id, pid_alive, worker_id_for

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_MAX_ATTEMPTS", "JobInfo", "JobQueue", "JobRow", "JobState", "content_key",
           "machine_id", "parse_worker_id", "worker_id_for"]

_MESSAGE_CHARS = 500
_ERROR_CHARS = 2000


def content_key(path: str | Path) -> str:
    """A cheap stand-in for a file's content: ``"<size>-<mtime ns>"`` (no read of the file; the
    gallery itself recognises equal content by sha256 when the job runs)."""
    st = Path(path).stat()
    return f"{st.st_size}-{st.st_mtime_ns}"


class JobQueue:
    """The indexing jobs of one gallery database (see the module docstring).

    Args:
        db: the gallery's database (``Store.database``); PostgreSQL or SQLite.
        ensure_table: create the ``index_jobs`` table when it is missing.
    """

    def __init__(self, db: Database, *, ensure_table: bool = True) -> None:
        self._db = db
        if ensure_table:
            JobRow.__table__.create(db.engine, checkfirst=True)  # type: ignore[attr-defined]

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._db.engine.dialect.name

    # ------------------------------------------------------------------ producers
    def enqueue(self, path: str | Path, camera: str | None = None,
                start_time: dt.datetime | None = None, *, actor: str = "cli",
                max_attempts: int = DEFAULT_MAX_ATTEMPTS, key: str | None = None) -> JobInfo:
        """Add a job for ``path`` (made absolute), or return the active one for the same file.

        Idempotent while a job for the same path and content (:func:`content_key`) is pending or
        claimed: that job is returned unchanged. A done or failed job does not count: enqueueing
        again indexes again (the gallery then reports a duplicate when the content is stored).

        Raises:
            FileNotFoundError: ``path`` is not a file (and no ``key`` was given).
            ValueError: ``max_attempts`` < 1.
        """
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        resolved = str(Path(path).expanduser().resolve())
        if key is None:
            if not Path(resolved).is_file():
                raise FileNotFoundError(f"no such file: {resolved}")
            key = content_key(resolved)
        try:
            with self._db.begin() as s:
                row = JobRow(path=resolved, content_key=key, camera=camera, start_time=start_time,
                             actor=actor, state=JobState.PENDING, attempts=0,
                             max_attempts=max_attempts, progress=0.0, created_at=utcnow())
                s.add(row)
                s.flush()
                return job_info(row)
        except IntegrityError:  # an active job for this file exists (or was added meanwhile)
            with self._db() as s:
                existing = s.scalar(select(JobRow).where(
                    JobRow.path == resolved, JobRow.content_key == key,
                    JobRow.state.in_([JobState.PENDING, JobState.CLAIMED])))
                if existing is None:  # it finished between our insert and this read
                    return self.enqueue(path, camera, start_time, actor=actor,
                                        max_attempts=max_attempts, key=key)
                return job_info(existing)

    # ------------------------------------------------------------------ workers
    def claim(self, worker_id: str, *, job_ids: Iterable[int] | None = None) -> JobInfo | None:
        """Atomically claim the oldest pending job (one of ``job_ids`` when given) for
        ``worker_id``; None when there is none. Counts an attempt."""
        if not worker_id:
            raise ValueError("a worker needs a non-empty worker id")
        ids = None if job_ids is None else sorted({int(i) for i in job_ids})
        if ids is not None and not ids:
            return None
        if self.dialect == "postgresql":
            return self._claim_locked(worker_id, ids)
        return self._claim_conditional(worker_id, ids)

    @staticmethod
    def _pending(ids: Sequence[int] | None) -> Any:
        q = select(JobRow.id).where(JobRow.state == JobState.PENDING).order_by(JobRow.id)
        return q if ids is None else q.where(JobRow.id.in_(ids))

    @staticmethod
    def _claimed_values(worker_id: str) -> dict[str, Any]:
        now = utcnow()
        return {"state": JobState.CLAIMED, "worker_id": worker_id, "claimed_at": now,
                "heartbeat_at": now, "attempts": JobRow.attempts + 1, "progress": 0.0,
                "message": None}

    def _claim_locked(self, worker_id: str, ids: Sequence[int] | None) -> JobInfo | None:
        """PostgreSQL: lock one pending row, skipping rows other workers hold locked."""
        with self._db.begin() as s:
            job_id = s.scalar(self._pending(ids).limit(1).with_for_update(skip_locked=True))
            if job_id is None:
                return None
            s.execute(update(JobRow).where(JobRow.id == job_id)
                      .values(**self._claimed_values(worker_id))
                      .execution_options(synchronize_session=False))
            return job_info(s.get_one(JobRow, job_id, populate_existing=True))

    def _claim_conditional(self, worker_id: str, ids: Sequence[int] | None) -> JobInfo | None:
        """SQLite: read candidates, then win one with a conditional UPDATE (its own write
        transaction, so it waits for other writers instead of failing on a stale snapshot)."""
        while True:
            with self._db() as s:
                candidates = list(s.scalars(self._pending(ids).limit(8)))
            if not candidates:
                return None
            for job_id in candidates:
                with self._db.begin() as s:
                    won = s.execute(update(JobRow)
                                    .where(JobRow.id == job_id, JobRow.state == JobState.PENDING)
                                    .values(**self._claimed_values(worker_id))
                                    .execution_options(synchronize_session=False))
                    if won.rowcount == 1:  # type: ignore[attr-defined]
                        return job_info(s.get_one(JobRow, job_id, populate_existing=True))

    def _mine(self, s: Session, job_id: int, worker_id: str, values: dict[str, Any]) -> bool:
        """Update the job only while ``worker_id`` holds its claim; True if it did."""
        done = s.execute(update(JobRow)
                         .where(JobRow.id == job_id, JobRow.worker_id == worker_id,
                                JobRow.state == JobState.CLAIMED)
                         .values(**values).execution_options(synchronize_session=False))
        return bool(done.rowcount == 1)  # type: ignore[attr-defined]

    def heartbeat(self, job_id: int, worker_id: str, *, progress: float | None = None,
                  message: str | None = None) -> bool:
        """Renew ``worker_id``'s lease on the job (and record its progress); False when the
        worker no longer holds it (its lease expired and the job was re-queued)."""
        values: dict[str, Any] = {"heartbeat_at": utcnow()}
        if progress is not None:
            values["progress"] = max(0.0, min(1.0, float(progress)))
        if message is not None:
            values["message"] = message[:_MESSAGE_CHARS]
        with self._db.begin() as s:
            return self._mine(s, job_id, worker_id, values)

    def finish(self, job_id: int, worker_id: str, *, video_id: int | None = None,
               result: dict[str, Any] | None = None, message: str | None = None) -> bool:
        """Mark the job done; False when ``worker_id`` no longer held it."""
        values: dict[str, Any] = {"state": JobState.DONE, "finished_at": utcnow(), "progress": 1.0,
                                  "video_id": video_id, "result": result, "error": None}
        if message is not None:
            values["message"] = message[:_MESSAGE_CHARS]
        with self._db.begin() as s:
            ok = self._mine(s, job_id, worker_id, values)
        if not ok:
            logger.warning("job %d: worker %s finished it after losing its claim", job_id, worker_id)
        return ok

    def fail(self, job_id: int, worker_id: str, error: str, *, retry: bool = True,
             video_id: int | None = None, result: dict[str, Any] | None = None) -> str | None:
        """Record a failed attempt: back to ``pending`` while ``retry`` and attempts remain,
        ``failed`` otherwise. Returns the new state, or None when ``worker_id`` no longer held it."""
        with self._db.begin() as s:
            row = s.get(JobRow, job_id)
            if row is None or row.worker_id != worker_id or row.state != JobState.CLAIMED:
                return None
            again = retry and row.attempts < row.max_attempts
            state = JobState.PENDING if again else JobState.FAILED
            values: dict[str, Any] = {"state": state, "error": error[:_ERROR_CHARS],
                                      "video_id": video_id, "result": result}
            if again:
                values.update(worker_id=None, progress=0.0,
                              message=f"retrying after attempt {row.attempts}")
            else:
                values["finished_at"] = utcnow()
            if not self._mine(s, job_id, worker_id, values):
                return None
        logger.info("job %d attempt failed (%s): %s", job_id, state.value, error)
        return state.value

    def release(self, job_id: int, worker_id: str) -> bool:
        """Give a claimed job back (pending) without counting the attempt: the worker is
        stopping (SIGTERM, Ctrl-C), not failing. False when it no longer held it."""
        with self._db.begin() as s:
            return self._mine(s, job_id, worker_id, {
                "state": JobState.PENDING, "worker_id": None, "progress": 0.0,
                "message": "released by a stopping worker",
                "attempts": func.max(JobRow.attempts - 1, 0) if self.dialect == "sqlite"
                else func.greatest(JobRow.attempts - 1, 0)})

    def cancel(self, job_id: int, reason: str = "cancelled") -> bool:
        """Fail a pending job without running it (e.g. the ``reid index`` that enqueued it was
        interrupted); False when it is not pending (claimed, done or failed)."""
        with self._db.begin() as s:
            done = s.execute(update(JobRow)
                             .where(JobRow.id == job_id, JobRow.state == JobState.PENDING)
                             .values(state=JobState.FAILED, error=reason[:_ERROR_CHARS],
                                     finished_at=utcnow())
                             .execution_options(synchronize_session=False))
            return bool(done.rowcount == 1)  # type: ignore[attr-defined]

    def requeue_expired(self, timeout_s: float) -> list[int]:
        """Re-queue claimed jobs whose last heartbeat is older than ``timeout_s`` (their worker
        is dead or cut off); those without attempts left become ``failed``. Returns their ids."""
        cutoff = utcnow() - dt.timedelta(seconds=float(timeout_s))
        with self._db() as s:
            stale = list(s.execute(select(JobRow.id, JobRow.worker_id).where(
                JobRow.state == JobState.CLAIMED, JobRow.heartbeat_at < cutoff)).all())
        return [job_id for job_id, worker in stale if worker and self._take_back(
            job_id, worker, f"worker {worker} stopped heart-beating for over {timeout_s:g} s")]

    def requeue_orphans(self, host: str | None = None) -> list[int]:
        """Re-queue claimed jobs of workers on ``host`` (default this machine, :func:`machine_id`)
        whose process is gone (e.g. killed with ``kill -9``), without waiting for their lease."""
        host = host or machine_id()
        with self._db() as s:
            claimed = list(s.execute(select(JobRow.id, JobRow.worker_id)
                                     .where(JobRow.state == JobState.CLAIMED)).all())
        taken = []
        for job_id, worker in claimed:
            parsed = parse_worker_id(worker or "")
            if worker is None or parsed is None or parsed[0] != host or pid_alive(parsed[1]):
                continue
            if self._take_back(job_id, worker, f"worker {worker} died (its process is gone)"):
                taken.append(job_id)
        return taken

    def _take_back(self, job_id: int, worker_id: str, why: str) -> bool:
        with self._db.begin() as s:
            row = s.get(JobRow, job_id)
            if row is None or row.worker_id != worker_id or row.state != JobState.CLAIMED:
                return False
            again = row.attempts < row.max_attempts
            values: dict[str, Any] = {"state": JobState.PENDING if again else JobState.FAILED,
                                      "error": why[:_ERROR_CHARS]}
            if again:
                values.update(worker_id=None, progress=0.0, message=f"re-queued: {why}")
            else:
                values["finished_at"] = utcnow()
            ok = self._mine(s, job_id, worker_id, values)
        if ok:
            logger.warning("job %d %s: %s", job_id, "re-queued" if again else "failed", why)
        return ok

    # ------------------------------------------------------------------ reading
    def get(self, job_id: int) -> JobInfo:
        """One job; raises KeyError if absent."""
        with self._db() as s:
            row = s.get(JobRow, job_id)
            if row is None:
                raise KeyError(f"no indexing job with id {job_id}")
            return job_info(row)

    def list(self, *, state: str | None = None, job_ids: Iterable[int] | None = None,
             limit: int | None = 1000) -> list[JobInfo]:
        """Jobs by id (optionally one state, or the given ids), newest last."""
        q = select(JobRow).order_by(JobRow.id)
        if state is not None:
            q = q.where(JobRow.state == JobState(state))
        if job_ids is not None:
            q = q.where(JobRow.id.in_(sorted({int(i) for i in job_ids})))
        with self._db() as s:
            return [job_info(r) for r in s.scalars(q.limit(limit))]

    def counts(self) -> dict[str, int]:
        """How many jobs are in each state (every state named, 0 when none)."""
        with self._db() as s:
            found = dict(s.execute(select(JobRow.state, func.count(JobRow.id))
                                   .group_by(JobRow.state)).all())
        return {st.value: int(found.get(st, 0)) for st in JobState}
