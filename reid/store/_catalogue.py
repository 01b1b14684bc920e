"""What the gallery holds: cameras, videos and tracklets (metadata, boxes and crop files)."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Unpack

import numpy as np
from sqlalchemy import Exists, Row, Select, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from reid.store._codec import decode_boxes, encode_boxes, encode_descriptor
from reid.store._errors import GalleryError
from reid.store._models import CameraRow, TrackletRow, VideoRow, VideoStatus
from reid.store._records import TrackletInfo, TrackletRecord, VideoInfo
from reid.store._shared import GalleryContext, chunks

logger = logging.getLogger(__name__)

__all__ = ["Catalogue", "DuplicateVideoError"]


class DuplicateVideoError(ValueError):
    """A video with the same content hash is already in the gallery (``video_id`` says which)."""

    def __init__(self, video_id: int, content_hash: str) -> None:
        super().__init__(f"video content {content_hash[:12]}... is already stored as video "
                         f"{video_id}")
        self.video_id = video_id


def _has_videos() -> Exists:
    """SQL condition: the camera has at least one video (cameras left empty by deletions made
    before empty cameras were removed do not count)."""
    return select(VideoRow.id).where(VideoRow.camera_id == CameraRow.id).exists()


class Catalogue:
    """The cameras, videos and tracklets of a gallery, and the crop files under ``crops/``."""

    def __init__(self, context: GalleryContext) -> None:
        self._ctx = context

    @property
    def _data_dir(self) -> Path:
        return self._ctx.layout.data_dir

    # ---------------------------------------------------------------------- paths
    def relpath(self, path: str | Path) -> str:
        """``path`` relative to the data dir (posix); raises ValueError if outside it."""
        p = Path(path)
        p = p if p.is_absolute() else self._data_dir / p
        return p.resolve().relative_to(self._data_dir).as_posix()

    def crop_dir(self, video_id: int, track_id: int) -> Path:
        """The folder for one tracklet's crops, ``crops/<video_id>/<track_id>/`` (created)."""
        d = self._ctx.layout.tracklet_crops(video_id, track_id)
        d.mkdir(parents=True, exist_ok=True)
        return d

    # -------------------------------------------------------------------- cameras
    def get_or_create_camera(self, name: str) -> int:
        """The id of camera ``name``, created if new."""
        self._ctx.require_writable()
        with self._ctx.db.begin() as s:
            return self._camera_id(s, name)

    @staticmethod
    def _camera_id(s: Session, name: str) -> int:
        if not name:
            raise ValueError("camera name must not be empty")
        cam = s.scalar(select(CameraRow).where(CameraRow.name == name))
        if cam is None:
            try:
                with s.begin_nested():  # another server may create the same camera meanwhile
                    cam = CameraRow(name=name)
                    s.add(cam)
            except IntegrityError:
                cam = s.scalars(select(CameraRow).where(CameraRow.name == name)).one()
        return cam.id

    def list_cameras(self) -> list[tuple[int, str]]:
        """Cameras that have at least one video, as ``(id, name)``, by name."""
        with self._ctx.db() as s:
            return [(c.id, c.name) for c in s.scalars(
                select(CameraRow).where(_has_videos()).order_by(CameraRow.name))]

    # --------------------------------------------------------------------- videos
    @staticmethod
    def _video_info(v: VideoRow) -> VideoInfo:
        return VideoInfo(v.id, v.camera_id, v.camera.name, v.path, v.content_hash, v.fps,
                         v.duration_s, v.frame_count, v.start_time, v.status.value, v.error)

    def add_video(self, path: str | Path, content_hash: str, camera: str, *,
                  fps: float | None = None, duration_s: float | None = None,
                  frame_count: int | None = None, start_time: dt.datetime | None = None) -> int:
        """Register a video (status ``pending``) and return its id.

        Raises:
            DuplicateVideoError: a video with this content hash exists (its id is attached).
        """
        self._ctx.require_writable()
        if not camera:
            raise ValueError("camera name must not be empty")
        existing = self.find_video(content_hash)
        if existing is not None:
            raise DuplicateVideoError(existing.id, content_hash)
        try:
            with self._ctx.db.begin() as s:  # camera and video together: a camera never stays empty
                v = VideoRow(camera_id=self._camera_id(s, camera), path=str(path),
                             content_hash=content_hash, fps=fps, duration_s=duration_s,
                             frame_count=frame_count, start_time=start_time,
                             status=VideoStatus.PENDING)
                s.add(v)
                s.flush()
                return v.id
        except IntegrityError:  # another process stored the same content meanwhile
            existing = self.find_video(content_hash)
            if existing is None:
                raise
            raise DuplicateVideoError(existing.id, content_hash) from None

    def find_video(self, content_hash: str) -> VideoInfo | None:
        """The video with this content hash, or None (see ``reid.files.sha256_file``)."""
        with self._ctx.db() as s:
            v = s.scalar(select(VideoRow).where(VideoRow.content_hash == content_hash))
            return None if v is None else self._video_info(v)

    def get_video(self, video_id: int) -> VideoInfo:
        """One video; raises KeyError if absent."""
        with self._ctx.db() as s:
            v = s.get(VideoRow, video_id)
            if v is None:
                raise KeyError(f"no video with id {video_id}")
            return self._video_info(v)

    def list_videos(self, status: str | None = None) -> list[VideoInfo]:
        """All videos (optionally one status), by id (one query: cameras joined, not loaded one
        by one)."""
        with self._ctx.db() as s:
            q = select(VideoRow).options(joinedload(VideoRow.camera)).order_by(VideoRow.id)
            if status is not None:
                q = q.where(VideoRow.status == VideoStatus(status))
            return [self._video_info(v) for v in s.scalars(q)]

    def update_video(self, video_id: int, *, status: str | None = None,
                     error: str | None = None, **fields: object) -> None:
        """Set a video's status (``pending|indexing|done|failed``), error text, or metadata
        (``fps``, ``duration_s``, ``frame_count``, ``start_time``, ``path``)."""
        allowed = {"fps", "duration_s", "frame_count", "start_time", "path"}
        if set(fields) - allowed:
            raise ValueError(f"cannot update {sorted(set(fields) - allowed)}; allowed: {allowed}")
        self._ctx.require_writable()
        with self._ctx.db.begin() as s:
            v = s.get(VideoRow, video_id)
            if v is None:
                raise KeyError(f"no video with id {video_id}")
            if status is not None:
                v.status = VideoStatus(status)
            if error is not None or status is not None:
                v.error = error
            for key, value in fields.items():
                setattr(v, key, value)

    @staticmethod
    def video_for_update(s: Session, video_id: int) -> VideoRow:
        """The video row in session ``s``; raises KeyError if absent."""
        v = s.get(VideoRow, video_id)
        if v is None:
            raise KeyError(f"no video with id {video_id}")
        return v

    @staticmethod
    def video_tracklet_rows(s: Session, video_id: int) -> list[Row[int, list[str], str | None]]:
        """``(id, crop_paths, thumbnail_path)`` rows of a video's tracklets, in session ``s``."""
        return list(s.execute(select(TrackletRow.id, TrackletRow.crop_paths, TrackletRow.thumbnail_path)
                              .where(TrackletRow.video_id == video_id)).all())

    @staticmethod
    def delete_video_rows(s: Session, video: VideoRow, tracklet_ids: Sequence[int]) -> None:
        """Delete, in session ``s``, the tracklets, the video and its camera if left empty."""
        for part in chunks(tracklet_ids):
            s.execute(delete(TrackletRow).where(TrackletRow.id.in_(part)))
        camera_id = video.camera_id
        s.delete(video)
        s.flush()
        if s.scalar(select(func.count(VideoRow.id)).where(VideoRow.camera_id == camera_id)) == 0:
            s.execute(delete(CameraRow).where(CameraRow.id == camera_id))

    def delete_files(self, video_id: int,
                     rows: Sequence[Row[int, list[str], str | None]]) -> None:
        """Remove the crop and thumbnail files of ``rows`` and the video's crop folder."""
        for r in rows:
            for rel in [*(r.crop_paths or []), r.thumbnail_path]:
                if rel:
                    path = (self._data_dir / rel).resolve()
                    if path.is_relative_to(self._data_dir):
                        path.unlink(missing_ok=True)
        video_dir = self._ctx.layout.video_crops(video_id)
        if video_dir.is_dir():
            shutil.rmtree(video_dir)

    # ------------------------------------------------------------------ tracklets
    def tracklet_row(self, video: VideoRow, t: TrackletRecord, vec: np.ndarray) -> TrackletRow:
        """A new tracklet row of ``video`` for record ``t`` with unit descriptor ``vec``."""
        frames = np.asarray(t.frames, dtype=np.int64).reshape(-1)
        if frames.size == 0:
            raise ValueError(f"tracklet {t.track_id} has no frames")
        return TrackletRow(
            video_id=video.id, camera_id=video.camera_id, track_id=int(t.track_id),
            first_frame=int(frames[0]), last_frame=int(frames[-1]), start_s=float(t.start_s),
            end_s=float(t.end_s), boxes=encode_boxes(frames, t.boxes_xyxy),
            quality=float(t.quality), crop_paths=[self.relpath(p) for p in t.crop_paths],
            thumbnail_path=None if t.thumbnail_path is None else self.relpath(t.thumbnail_path),
            descriptor=encode_descriptor(vec))

    def get_tracklets(self, ids: Sequence[int]) -> dict[int, TrackletInfo]:
        """Metadata of the given tracklets, keyed by id (absent ids are left out)."""
        out: dict[int, TrackletInfo] = {}
        with self._ctx.db() as s:
            for part in chunks(list(np.asarray(ids).reshape(-1))):
                rows = s.execute(self._info_query().where(TrackletRow.id.in_(part))).all()
                out.update((row.id, self._info(row)) for row in rows)
        return out

    def list_tracklets(self, *, video_id: int | None = None, camera: str | None = None,
                       limit: int | None = None, offset: int = 0) -> list[TrackletInfo]:
        """Tracklets by id, optionally of one video or camera, paged with ``limit``/``offset``.

        The page's ids come from the tracklets alone (the ``(camera_id, id)`` or ``(video_id,
        id)`` index, in order), then their rows: paging the join instead walked the whole table
        in id order on PostgreSQL (page 20 of a camera at 10^6 tracklets: 263 -> 12 ms,
        ``benchmarks/pg_catalogue.py``).
        """
        page = select(TrackletRow.id).order_by(TrackletRow.id).offset(offset).limit(limit)
        if video_id is not None:
            page = page.where(TrackletRow.video_id == video_id)
        if camera is not None:
            page = page.where(TrackletRow.camera_id == select(CameraRow.id)
                              .where(CameraRow.name == camera).scalar_subquery())
        q = self._info_query().where(TrackletRow.id.in_(page.scalar_subquery())) \
            .order_by(TrackletRow.id)
        with self._ctx.db() as s:
            return [self._info(row) for row in s.execute(q).all()]

    @staticmethod
    def _info_query() -> Select[Unpack[tuple[Any, ...]]]:
        """The columns of a ``TrackletInfo``: plain rows, not ORM objects, and neither the boxes
        nor the descriptor blob (only whether there is one), which searches never need."""
        t = TrackletRow
        return (select(t.id, t.video_id, t.camera_id, CameraRow.name.label("camera"), t.track_id,
                       t.first_frame, t.last_frame, t.start_s, t.end_s, t.quality, t.crop_paths,
                       t.thumbnail_path, VideoRow.start_time,
                       t.descriptor.is_not(None).label("has_descriptor"))
                .join(VideoRow, t.video_id == VideoRow.id)
                .join(CameraRow, t.camera_id == CameraRow.id))

    def _info(self, row: Row[Any]) -> TrackletInfo:
        root = self._data_dir
        return TrackletInfo(
            row.id, row.video_id, row.camera_id, row.camera, row.track_id, row.first_frame,
            row.last_frame, row.start_s, row.end_s, row.quality,
            tuple(root / p for p in row.crop_paths or []),
            None if row.thumbnail_path is None else root / row.thumbnail_path,
            row.start_time, bool(row.has_descriptor))

    def get_boxes(self, tracklet_id: int) -> tuple[np.ndarray, np.ndarray]:
        """``(frames (N,) int64, boxes_xyxy (N, 4) float32 pixels)`` of one tracklet."""
        with self._ctx.db() as s:
            blob = s.scalar(select(TrackletRow.boxes).where(TrackletRow.id == tracklet_id))
        if blob is None:
            raise KeyError(f"no tracklet with id {tracklet_id}")
        try:
            return decode_boxes(blob)
        except (ValueError, zlib.error) as exc:
            raise GalleryError(f"the boxes of tracklet {tracklet_id} in {self._ctx.db.label} "
                               f"are damaged ({exc}): restore the database from a backup, or "
                               "delete and index that video again") from exc

    def counts(self) -> dict[str, Any]:
        """Cameras, videos per status, tracklets (in all, per camera name, per video id).

        One pass over the tracklets (per video, an index-only scan of ``(video_id, id)``); the
        camera and total counts are summed from it (a tracklet's camera is its video's).
        """
        with self._ctx.db() as s:
            by_status = dict(s.execute(select(VideoRow.status, func.count(VideoRow.id))
                                       .group_by(VideoRow.status)).all())
            per_video = {int(v): int(n) for v, n in s.execute(
                select(TrackletRow.video_id, func.count(TrackletRow.id))
                .group_by(TrackletRow.video_id)).all()}
            videos = s.execute(select(VideoRow.id, CameraRow.name)
                               .join(CameraRow, VideoRow.camera_id == CameraRow.id)).all()
        per_camera: dict[str, int] = {}
        for video_id, camera in videos:
            per_camera[camera] = per_camera.get(camera, 0) + per_video.get(int(video_id), 0)
        return {"cameras": len(per_camera),
                "videos": {st.value: int(by_status.get(st, 0)) for st in VideoStatus},
                "tracklets": sum(per_video.values()),
                "tracklets_per_camera": per_camera,
                "tracklets_per_video": per_video}
