"""The rows of the indexing job queue (``reid.store._jobs``): the ``index_jobs`` table
(:class:`JobRow`, on the gallery's ``Base``), the states a job goes through (:class:`JobState`) and
the plain copy of a row the queue gives back (:class:`JobInfo`)."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Enum, Float, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from reid.store._models import Base, UTCDateTime, utcnow

__all__ = ["DEFAULT_MAX_ATTEMPTS", "JobInfo", "JobRow", "JobState", "job_info"]

DEFAULT_MAX_ATTEMPTS = 3


class JobState(str, enum.Enum):
    """Where an indexing job stands."""

    PENDING = "pending"
    CLAIMED = "claimed"
    DONE = "done"
    FAILED = "failed"


_ACTIVE = (JobState.PENDING.value, JobState.CLAIMED.value)


class JobRow(Base):
    """One video to index (a row of ``index_jobs``)."""

    __tablename__ = "index_jobs"
    __table_args__ = (
        # At most one active (pending or claimed) job per file content: enqueueing is idempotent.
        Index("uq_index_jobs_active", "path", "content_key", unique=True,
              sqlite_where=text("state IN ('pending', 'claimed')"),
              postgresql_where=text("state IN ('pending', 'claimed')")),
        Index("ix_index_jobs_state", "state", "id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    content_key: Mapped[str] = mapped_column(String(64))
    camera: Mapped[str | None] = mapped_column(String(255))
    start_time: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(255), default="cli")
    state: Mapped[JobState] = mapped_column(
        Enum(JobState, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]),
        default=JobState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=DEFAULT_MAX_ATTEMPTS)
    worker_id: Mapped[str | None] = mapped_column(String(255))
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    video_id: Mapped[int | None] = mapped_column(Integer)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


@dataclass(frozen=True)
class JobInfo:
    """A job as the queue gives it back (a plain copy of its row).

    ``progress`` is a fraction in [0, 1] and ``message`` the worker's last progress text;
    ``result`` holds the indexing report's fields (``status``, ``tracklets``, ``video_seconds``,
    ``elapsed_s``...) once the job is done or failed.
    """

    id: int
    path: str
    camera: str | None
    start_time: dt.datetime | None
    actor: str
    state: str
    attempts: int
    max_attempts: int
    worker_id: str | None
    claimed_at: dt.datetime | None
    heartbeat_at: dt.datetime | None
    progress: float
    message: str | None
    error: str | None
    video_id: int | None
    result: dict[str, Any] | None
    created_at: dt.datetime
    finished_at: dt.datetime | None

    @property
    def final(self) -> bool:
        """True once the job is done or failed."""
        return self.state in (JobState.DONE.value, JobState.FAILED.value)


def job_info(r: JobRow) -> JobInfo:
    """The plain copy of a job's row."""
    return JobInfo(r.id, r.path, r.camera, r.start_time, r.actor, JobState(r.state).value,
                   r.attempts, r.max_attempts, r.worker_id, r.claimed_at, r.heartbeat_at,
                   float(r.progress or 0.0), r.message, r.error, r.video_id, r.result,
                   r.created_at, r.finished_at)
