"""SQLAlchemy 2 models of the gallery database (portable types: SQLite and PostgreSQL).

Times of day are stored as naive UTC (``UTCDateTime`` converts aware datetimes on the way in and
returns aware UTC datetimes on the way out). Positions inside a video are float seconds from its
first frame. Paths under the data dir are stored relative to it, with forward slashes.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# The compatibility level in the schema_version table (2: ids never reused, AUTOINCREMENT). Alembic
# revisions (reid.store.migrations) track the schema itself; this number rises only with a revision
# that releases from before it could not use safely (see reid/store/migrations/__init__.py).
SCHEMA_VERSION = 2


def utcnow() -> dt.datetime:
    """The current time, aware UTC."""
    return dt.datetime.now(dt.timezone.utc)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stores naive UTC; naive inputs are taken as UTC; returns aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None,
                             dialect: Dialect) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.timezone.utc)


class VideoStatus(str, enum.Enum):
    """Indexing state of a video."""

    PENDING = "pending"
    INDEXING = "indexing"
    DONE = "done"
    FAILED = "failed"


class Base(DeclarativeBase):
    """Declarative base of the gallery schema."""


class SchemaVersion(Base):
    """One row: the schema version this database was created with."""

    __tablename__ = "schema_version"
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    applied_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class StoreMeta(Base):
    """Key/value settings of the gallery, e.g. the embedder fingerprint (JSON)."""

    __tablename__ = "store_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)


class CameraRow(Base):
    """A camera (one viewpoint); videos belong to one camera."""

    __tablename__ = "cameras"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class VideoRow(Base):
    """A video file, identified by the sha256 of its content."""

    __tablename__ = "videos"
    # Ids are never reused after a delete: playback clips and exports are keyed by id.
    __table_args__ = (Index("ix_videos_start_time", "start_time"), {"sqlite_autoincrement": True})
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id"), index=True)
    path: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    fps: Mapped[float | None] = mapped_column(Float)
    duration_s: Mapped[float | None] = mapped_column(Float)
    frame_count: Mapped[int | None] = mapped_column(Integer)
    start_time: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[VideoStatus] = mapped_column(
        Enum(VideoStatus, native_enum=False, length=16,
             values_callable=lambda e: [m.value for m in e]),
        default=VideoStatus.PENDING)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    camera: Mapped[CameraRow] = relationship()
    tracklets: Mapped[list[TrackletRow]] = relationship(
        back_populates="video", cascade="all, delete-orphan", passive_deletes=True)


class TrackletRow(Base):
    """One person's boxes over consecutive frames of one video; its id is the FAISS id."""

    __tablename__ = "tracklets"
    # (video_id, id) and (camera_id, id): a video's or a camera's tracklets in id order straight
    # from an index (pages of the browse views, per-video counts) at 10^6 rows; each also serves
    # its foreign key (benchmarks/pg_catalogue.py, migration 0003).
    __table_args__ = (UniqueConstraint("video_id", "track_id"),
                      Index("ix_tracklets_video_id_id", "video_id", "id"),
                      Index("ix_tracklets_camera_id_id", "camera_id", "id"),
                      {"sqlite_autoincrement": True})
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id"))
    track_id: Mapped[int] = mapped_column(Integer)
    first_frame: Mapped[int] = mapped_column(Integer)
    last_frame: Mapped[int] = mapped_column(Integer)
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    boxes: Mapped[bytes] = mapped_column(LargeBinary)
    quality: Mapped[float] = mapped_column(Float, default=0.0)
    crop_paths: Mapped[list[str]] = mapped_column(JSON, default=list)
    thumbnail_path: Mapped[str | None] = mapped_column(Text)
    descriptor: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    video: Mapped[VideoRow] = relationship(back_populates="tracklets")


class FeedbackRow(Base):
    """An operator's verdict on a (query, candidate) pair: the same person or not."""

    __tablename__ = "feedback"
    __table_args__ = (Index("ix_feedback_pair", "query_tracklet_id", "candidate_tracklet_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    query_tracklet_id: Mapped[int] = mapped_column(
        ForeignKey("tracklets.id", ondelete="CASCADE"))
    candidate_tracklet_id: Mapped[int] = mapped_column(
        ForeignKey("tracklets.id", ondelete="CASCADE"))
    same: Mapped[bool] = mapped_column(Boolean)
    actor: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditRow(Base):
    """Who did what and when (searches, exports, deletions, reindexing)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64), index=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
