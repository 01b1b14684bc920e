"""The gallery store: one data dir holding the database, the vector index, crops and uploads.

Write order is crash-safe: a database transaction commits first (the source of truth), then the
in-memory index is updated and saved atomically. A process killed in between leaves database rows
the index lacks (or index ids the database lost); the next ``Store`` opening repairs that.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import threading
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from sqlalchemy import delete, func, or_, select, text, update

from reid.store._codec import decode_boxes, decode_descriptor, encode_boxes, encode_descriptor
from reid.store._errors import GalleryError, file_error
from reid.store._models import (
    AuditLog,
    Camera,
    Feedback,
    StoreMeta,
    Tracklet,
    Video,
    VideoStatus,
)
from reid.store._opening import gallery_identity, open_database
from reid.store._records import AuditEntry, RepairReport, TrackletInfo, TrackletRecord, VideoInfo
from reid.store._sync import sync_index, write_index_files
from reid.store.index import IndexConfig, VectorIndex
from reid.store.layout import GalleryLayout

logger = logging.getLogger(__name__)

__all__ = ["DuplicateVideoError", "FingerprintMismatchError", "Store"]

_FP_KEY = "embedder_fingerprint"
_CHUNK = 500  # ids per SQL IN (...) list; SQLite allows 999 bound variables on old builds
_FETCH_CHUNK = 20_000


class FingerprintMismatchError(ValueError):
    """Descriptors from another embedder than the gallery's; re-embedding is explicit."""


class DuplicateVideoError(ValueError):
    """A video with the same content hash is already in the gallery (``video_id`` says which)."""

    def __init__(self, video_id: int, content_hash: str) -> None:
        super().__init__(f"video content {content_hash[:12]}... is already stored as video "
                         f"{video_id}")
        self.video_id = video_id


def _fp_text(fp: dict) -> str:
    return json.dumps(fp, sort_keys=True)


def _normalise(vectors: np.ndarray, dim: int) -> np.ndarray:
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"descriptors must be (N, {dim}), got {x.shape}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if not np.isfinite(x).all() or (norms == 0).any():
        raise ValueError("descriptors contain NaN/inf or zero vectors")
    return np.ascontiguousarray(x / norms)


def _max_number(folder: Path, prefix: str) -> int:
    """The largest ``N`` among entries of ``folder`` named ``<prefix>N`` or ``<prefix>N.ext``."""
    best = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        stem = entry.name.split(".", 1)[0]
        if stem.startswith(prefix) and stem[len(prefix):].isdigit():
            best = max(best, int(stem[len(prefix):]))
    return best


def _checked_descriptor(blob: bytes | None, dim: int) -> np.ndarray | None:
    """The decoded ``(dim,)`` descriptor, or None when damaged (wrong length, not finite, not
    unit length: stored descriptors are L2-normalised)."""
    if blob is None or len(blob) != 4 * dim or dim <= 0:
        return None
    vec = decode_descriptor(blob)
    if not np.isfinite(vec).all() or abs(float(np.linalg.norm(vec)) - 1.0) > 1e-3:
        return None
    return vec


def _has_videos():
    """SQL condition: the camera has at least one video (cameras left empty by deletions made
    before empty cameras were removed do not count)."""
    return select(Video.id).where(Video.camera_id == Camera.id).exists()


def _chunks(values: Sequence[int], size: int = _CHUNK) -> Iterator[list[int]]:
    values = [int(v) for v in values]
    for i in range(0, len(values), size):
        yield values[i:i + size]


class Store:
    """A gallery in ``data_dir``, whose files ``layout`` (a ``GalleryLayout``) names.

    Opening checks the vector index against the database (ids, count, fingerprint, checksum,
    gallery id) and repairs or rebuilds it from the database descriptors; ``repair_report`` says
    what was done. A data dir whose database is missing or empty while another gallery's files
    remain is refused, and so are crops of another gallery than the database's. When the data dir
    or database cannot be written, the gallery opens read-only (``read_only``): reading and
    searching work, writes raise ``GalleryError``.

    Args:
        data_dir: the gallery folder (created if missing).
        db_url: SQLAlchemy URL; default ``sqlite:///<data_dir>/reid.db``.
        index_config: vector index kind and parameters.

    Raises:
        GalleryError: the database is lost, replaced, damaged, locked or unreadable (the message
            names the file and the recovery step).
    """

    def __init__(self, data_dir: str | Path, *, db_url: str | None = None,
                 index_config: IndexConfig | None = None) -> None:
        self.layout = GalleryLayout.of(data_dir)
        self.db_url = db_url or self.layout.db_url
        self.index_config = index_config or IndexConfig()
        self._lock = threading.RLock()
        self._session, self.read_only, created = open_database(self.layout, self.db_url)
        try:
            self.gallery_id = gallery_identity(self._session, self.layout.crops, created=created,
                                               read_only=self.read_only)
            self._index: VectorIndex | None = None
            self.repair_report: RepairReport = self.check_index()
            if not self.read_only:
                self._reserve_ids()
        except BaseException:
            self._session.dispose()
            raise

    @property
    def data_dir(self) -> Path:
        """The gallery folder (absolute); ``layout`` names every path in it."""
        return self.layout.data_dir

    @property
    def crops_dir(self) -> Path:
        """``crops/`` (see ``GalleryLayout.crops``)."""
        return self.layout.crops

    @property
    def uploads_dir(self) -> Path:
        """``uploads/`` (see ``GalleryLayout.uploads``)."""
        return self.layout.uploads

    @property
    def index_path(self) -> Path:
        """``vectors.faiss`` (see ``GalleryLayout.index``)."""
        return self.layout.index

    @property
    def meta_path(self) -> Path:
        """``vectors.json`` (see ``GalleryLayout.index_meta``)."""
        return self.layout.index_meta

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Release the database connections."""
        self._session.dispose()

    def _reserve_ids(self) -> None:
        """Never give again an id that files in the data dir still use (``crops/<video id>/``,
        ``clips/tracklet_<id>.*``, the vector index): after a database restored from an older
        backup, new videos would otherwise reuse the ids of the lost ones and mix their crops."""
        if self._session.engine.dialect.name != "sqlite":
            return
        used = {"videos": _max_number(self.layout.crops, ""),
                "tracklets": max(_max_number(self.layout.clips, "tracklet_"),
                                 self.repair_report.max_index_id)}
        with self._session() as s:
            seq = dict(s.execute(text("SELECT name, seq FROM sqlite_sequence")).all())
        todo = {table: n for table, n in used.items() if n > int(seq.get(table) or 0)}
        if not todo:
            return
        with self._session.begin() as s:
            for table, n in todo.items():
                s.execute(text("DELETE FROM sqlite_sequence WHERE name = :t"), {"t": table})
                s.execute(text("INSERT INTO sqlite_sequence (name, seq) VALUES (:t, :n)"),
                          {"t": table, "n": n})
        logger.warning("files in %s use %s ids beyond the database's (restored from an older "
                       "backup?); new ids start after them", self.data_dir,
                       ", ".join(f"{t} up to {n}" for t, n in todo.items()))

    def require_writable(self) -> None:
        """Raise ``GalleryError`` when the gallery was opened read-only."""
        if self.read_only:
            raise GalleryError(
                f"the gallery in {self.data_dir} is read-only for this user: searching works, but "
                "indexing, deleting, re-indexing and feedback need write access to the data dir "
                "and its files (fix the owner or permissions, e.g. `chown -R $USER DIR`)")

    def _save_index(self, fingerprint: dict | None) -> None:
        """Save the in-memory index; a failing disk becomes ``GalleryError`` (the database,
        already committed, stays the truth and the next opening repairs the file)."""
        try:
            write_index_files(self._index, fingerprint, self.index_path, self.meta_path,
                              self.gallery_id)
        except OSError as exc:
            raise file_error(exc, self.index_path, "writing the vector index") from exc

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check_index(self) -> RepairReport:
        """Check the vector index against the database and repair it; see ``RepairReport``."""
        with self._lock:
            fp = self.fingerprint
            with self._session() as s:
                db_ids = np.array(s.scalars(select(Tracklet.id).where(
                    Tracklet.descriptor.is_not(None)).order_by(Tracklet.id)).all(), np.int64)
            self._index, report = sync_index(self.index_path, self.meta_path, fp,
                                             self.index_config, db_ids, self._fetch_descriptors,
                                             gallery_id=self.gallery_id,
                                             writable=not self.read_only)
            return report

    def _fetch_descriptors(self, ids: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Chunks of ``(ids, vectors)`` for building the index; damaged descriptors are left out
        (logged, with the fix) so that one bad row does not keep the gallery from opening."""
        ids = np.asarray(ids, np.int64)
        for start in range(0, len(ids), _FETCH_CHUNK):
            part = ids[start:start + _FETCH_CHUNK]
            found = self._descriptor_blobs(part)
            dim = int((self.fingerprint or {}).get("dim", 0))
            good, vectors, bad = [], [], []
            for key in part.tolist():
                vec = _checked_descriptor(found.get(key), dim)
                if vec is None:
                    bad.append(key)
                else:
                    good.append(key)
                    vectors.append(vec)
            if bad:
                self._clear_damaged(bad)
            if good:
                yield np.array(good, np.int64), np.stack(vectors)

    def _clear_damaged(self, ids: list[int]) -> None:
        """Clear damaged descriptors, so that ``reid reindex`` re-embeds those tracklets."""
        if not self.read_only:
            with self._session.begin() as s:
                for part in _chunks(ids):
                    s.execute(update(Tracklet).where(Tracklet.id.in_(part)).values(descriptor=None))
        logger.warning("tracklets %s have damaged descriptors in %s: they are left out of searches"
                       "%s; run `reid reindex` to re-embed them from their crops", ids[:20],
                       self._session.label, "" if self.read_only else " and were cleared")

    def _descriptor_blobs(self, keys: Sequence[int]) -> dict[int, bytes]:
        found: dict[int, bytes] = {}
        with self._session() as s:
            for part in _chunks(keys):
                found.update(s.execute(select(Tracklet.id, Tracklet.descriptor).where(
                    Tracklet.id.in_(part), Tracklet.descriptor.is_not(None))).all())
        return found

    # ---------------------------------------------------------------- fingerprint
    @property
    def fingerprint(self) -> dict | None:
        """The embedder fingerprint of the gallery's descriptors (None before the first)."""
        with self._session() as s:
            row = s.get(StoreMeta, _FP_KEY)
            return None if row is None else dict(row.value)

    @property
    def index(self) -> VectorIndex | None:
        """The vector index (None until the first descriptors are stored)."""
        return self._index

    def check_fingerprint(self, fingerprint: dict) -> dict | None:
        """Return the gallery's fingerprint (None when empty) if ``fingerprint`` may be added.

        Raises:
            FingerprintMismatchError: the gallery holds another embedder's descriptors.
        """
        if "dim" not in fingerprint:
            raise ValueError("an embedder fingerprint needs at least a 'dim' entry")
        current = self.fingerprint
        if current is not None and _fp_text(current) != _fp_text(fingerprint):
            raise FingerprintMismatchError(
                f"this gallery holds descriptors from embedder {_fp_text(current)}, "
                f"not {_fp_text(fingerprint)}; descriptors from different embedders cannot be "
                "compared. Run `reid reindex` to re-embed the gallery with the new embedder, or "
                "use the embedder the gallery was built with.")
        return current

    def reset_index(self, new_fingerprint: dict, *, actor: str = "system") -> int:
        """Start re-indexing: clear all descriptors and the index, record ``new_fingerprint``.

        Afterwards ``tracklets_without_descriptor()`` lists what to re-embed and
        ``set_descriptors`` stores the new vectors. Returns the number of tracklets to re-embed.
        """
        if "dim" not in new_fingerprint:
            raise ValueError("an embedder fingerprint needs at least a 'dim' entry")
        self.require_writable()
        with self._lock, self._session.begin() as s:
            s.execute(update(Tracklet).values(descriptor=None))
            s.merge(StoreMeta(key=_FP_KEY, value=dict(new_fingerprint)))
            n = s.scalar(select(func.count(Tracklet.id)))
            s.add(AuditLog(actor=actor, action="reindex",
                           details={"fingerprint": dict(new_fingerprint), "tracklets": n}))
        with self._lock:
            self._index = VectorIndex(int(new_fingerprint["dim"]), self.index_config)
            self._save_index(dict(new_fingerprint))
        logger.info("index reset for embedder %s: %d tracklets to re-embed",
                    _fp_text(new_fingerprint), n)
        return int(n or 0)

    # ---------------------------------------------------------------------- paths
    def relpath(self, path: str | Path) -> str:
        """``path`` relative to the data dir (posix); raises ValueError if outside it."""
        p = Path(path)
        p = p if p.is_absolute() else self.data_dir / p
        return p.resolve().relative_to(self.data_dir).as_posix()

    def crop_dir(self, video_id: int, track_id: int) -> Path:
        """The folder for one tracklet's crops, ``crops/<video_id>/<track_id>/`` (created)."""
        d = self.layout.tracklet_crops(video_id, track_id)
        d.mkdir(parents=True, exist_ok=True)
        return d

    # -------------------------------------------------------------------- cameras
    def get_or_create_camera(self, name: str) -> int:
        """The id of camera ``name``, created if new."""
        self.require_writable()
        with self._session.begin() as s:
            return self._camera_id(s, name)

    @staticmethod
    def _camera_id(s, name: str) -> int:
        if not name:
            raise ValueError("camera name must not be empty")
        cam = s.scalar(select(Camera).where(Camera.name == name))
        if cam is None:
            cam = Camera(name=name)
            s.add(cam)
            s.flush()
        return cam.id

    def list_cameras(self) -> list[tuple[int, str]]:
        """Cameras that have at least one video, as ``(id, name)``, by name."""
        with self._session() as s:
            return [(c.id, c.name) for c in s.scalars(
                select(Camera).where(_has_videos()).order_by(Camera.name))]

    # --------------------------------------------------------------------- videos
    @staticmethod
    def _video_info(v: Video) -> VideoInfo:
        return VideoInfo(v.id, v.camera_id, v.camera.name, v.path, v.content_hash, v.fps,
                         v.duration_s, v.frame_count, v.start_time, v.status.value, v.error)

    def add_video(self, path: str | Path, content_hash: str, camera: str, *,
                  fps: float | None = None, duration_s: float | None = None,
                  frame_count: int | None = None, start_time: dt.datetime | None = None) -> int:
        """Register a video (status ``pending``) and return its id.

        Raises:
            DuplicateVideoError: a video with this content hash exists (its id is attached).
        """
        self.require_writable()
        if not camera:
            raise ValueError("camera name must not be empty")
        existing = self.find_video(content_hash)
        if existing is not None:
            raise DuplicateVideoError(existing.id, content_hash)
        with self._session.begin() as s:  # camera and video together: a camera never stays empty
            v = Video(camera_id=self._camera_id(s, camera), path=str(path),
                      content_hash=content_hash, fps=fps, duration_s=duration_s,
                      frame_count=frame_count, start_time=start_time, status=VideoStatus.PENDING)
            s.add(v)
            s.flush()
            return v.id

    def find_video(self, content_hash: str) -> VideoInfo | None:
        """The video with this content hash, or None (see ``sha256_file``)."""
        with self._session() as s:
            v = s.scalar(select(Video).where(Video.content_hash == content_hash))
            return None if v is None else self._video_info(v)

    def get_video(self, video_id: int) -> VideoInfo:
        """One video; raises KeyError if absent."""
        with self._session() as s:
            v = s.get(Video, video_id)
            if v is None:
                raise KeyError(f"no video with id {video_id}")
            return self._video_info(v)

    def list_videos(self, status: str | None = None) -> list[VideoInfo]:
        """All videos (optionally one status), by id."""
        with self._session() as s:
            q = select(Video).order_by(Video.id)
            if status is not None:
                q = q.where(Video.status == VideoStatus(status))
            return [self._video_info(v) for v in s.scalars(q)]

    def update_video(self, video_id: int, *, status: str | None = None,
                     error: str | None = None, **fields: object) -> None:
        """Set a video's status (``pending|indexing|done|failed``), error text, or metadata
        (``fps``, ``duration_s``, ``frame_count``, ``start_time``, ``path``)."""
        allowed = {"fps", "duration_s", "frame_count", "start_time", "path"}
        if set(fields) - allowed:
            raise ValueError(f"cannot update {sorted(set(fields) - allowed)}; allowed: {allowed}")
        self.require_writable()
        with self._session.begin() as s:
            v = s.get(Video, video_id)
            if v is None:
                raise KeyError(f"no video with id {video_id}")
            if status is not None:
                v.status = VideoStatus(status)
            if error is not None or status is not None:
                v.error = error
            for key, value in fields.items():
                setattr(v, key, value)

    def delete_video(self, video_id: int, *, actor: str = "system") -> int:
        """Delete a video, its tracklets, their vectors, feedback and crop files.

        A camera left without videos is deleted too, so it leaves the camera lists.
        Returns the number of tracklets removed.
        """
        self.require_writable()
        with self._lock:
            with self._session.begin() as s:
                v = s.get(Video, video_id)
                if v is None:
                    raise KeyError(f"no video with id {video_id}")
                rows = s.execute(select(Tracklet.id, Tracklet.crop_paths, Tracklet.thumbnail_path)
                                 .where(Tracklet.video_id == video_id)).all()
                ids = [r.id for r in rows]
                for part in _chunks(ids):
                    s.execute(delete(Feedback).where(or_(Feedback.query_tracklet_id.in_(part),
                                                         Feedback.candidate_tracklet_id.in_(part))))
                    s.execute(delete(Tracklet).where(Tracklet.id.in_(part)))
                s.add(AuditLog(actor=actor, action="delete_video",
                               details={"video_id": video_id, "path": v.path, "tracklets": len(ids)}))
                camera_id = v.camera_id
                s.delete(v)
                s.flush()
                if s.scalar(select(func.count(Video.id)).where(Video.camera_id == camera_id)) == 0:
                    s.execute(delete(Camera).where(Camera.id == camera_id))
            if self._index is not None and ids:
                self._index.remove(np.array(ids, np.int64))
                self._save_index(self.fingerprint)
        self._delete_files(video_id, rows)
        logger.info("deleted video %d with %d tracklets", video_id, len(ids))
        return len(ids)

    def _delete_files(self, video_id: int, rows: Sequence) -> None:
        for r in rows:
            for rel in [*(r.crop_paths or []), r.thumbnail_path]:
                if rel:
                    path = (self.data_dir / rel).resolve()
                    if path.is_relative_to(self.data_dir):
                        path.unlink(missing_ok=True)
        video_dir = self.layout.video_crops(video_id)
        if video_dir.is_dir():
            shutil.rmtree(video_dir)

    # ------------------------------------------------------------------ tracklets
    def add_tracklets(self, video_id: int, tracklets: Sequence[TrackletRecord],
                      descriptors: np.ndarray, fingerprint: dict, *,
                      mark_done: bool = True) -> list[int]:
        """Store a video's tracklets with their descriptors in one transaction, then index them.

        Args:
            video_id: the video they come from.
            tracklets: N records.
            descriptors: ``(N, D)`` float32; L2-normalised here.
            fingerprint: the embedder's fingerprint (dict with at least ``dim``).
            mark_done: also set the video's status to ``done`` in the same transaction.

        Returns:
            The N new tracklet ids (== FAISS ids), in input order.

        Raises:
            FingerprintMismatchError: the gallery holds another embedder's descriptors.
        """
        self.check_fingerprint(fingerprint)
        self.require_writable()
        x = _normalise(descriptors, int(fingerprint["dim"]))
        if len(x) != len(tracklets):
            raise ValueError(f"{len(tracklets)} tracklets but {len(x)} descriptors")
        with self._lock:
            with self._session.begin() as s:
                v = s.get(Video, video_id)
                if v is None:
                    raise KeyError(f"no video with id {video_id}")
                if s.get(StoreMeta, _FP_KEY) is None:
                    s.add(StoreMeta(key=_FP_KEY, value=dict(fingerprint)))
                rows = [self._tracklet_row(v, t, vec) for t, vec in zip(tracklets, x, strict=True)]
                s.add_all(rows)
                if mark_done:
                    v.status, v.error = VideoStatus.DONE, None
                s.flush()
                ids = [r.id for r in rows]
            self._index_vectors(np.array(ids, np.int64), x, fingerprint)
        return ids

    def _tracklet_row(self, video: Video, t: TrackletRecord, vec: np.ndarray) -> Tracklet:
        frames = np.asarray(t.frames, dtype=np.int64).reshape(-1)
        if frames.size == 0:
            raise ValueError(f"tracklet {t.track_id} has no frames")
        return Tracklet(
            video_id=video.id, camera_id=video.camera_id, track_id=int(t.track_id),
            first_frame=int(frames[0]), last_frame=int(frames[-1]), start_s=float(t.start_s),
            end_s=float(t.end_s), boxes=encode_boxes(frames, t.boxes_xyxy),
            quality=float(t.quality), crop_paths=[self.relpath(p) for p in t.crop_paths],
            thumbnail_path=None if t.thumbnail_path is None else self.relpath(t.thumbnail_path),
            descriptor=encode_descriptor(vec))

    def _index_vectors(self, ids: np.ndarray, x: np.ndarray, fingerprint: dict) -> None:
        if self._index is None:
            self._index = VectorIndex(int(fingerprint["dim"]), self.index_config)
        self._index.add(ids, x)
        self._save_index(dict(fingerprint))

    def set_descriptors(self, ids: Sequence[int], descriptors: np.ndarray,
                        fingerprint: dict) -> None:
        """Store (re-)computed descriptors ``(N, D)`` for existing tracklets and index them.

        Used after ``reset_index``; ids that already have a descriptor are refused.
        """
        self.check_fingerprint(fingerprint)
        self.require_writable()
        x = _normalise(descriptors, int(fingerprint["dim"]))
        keys = np.asarray(ids, np.int64).reshape(-1)
        if len(keys) != len(x):
            raise ValueError(f"{len(keys)} ids but {len(x)} descriptors")
        with self._lock:
            with self._session.begin() as s:
                if s.get(StoreMeta, _FP_KEY) is None:
                    s.add(StoreMeta(key=_FP_KEY, value=dict(fingerprint)))
                for key, vec in zip(keys, x, strict=True):
                    t = s.get(Tracklet, int(key))
                    if t is None:
                        raise KeyError(f"no tracklet with id {int(key)}")
                    if t.descriptor is not None:
                        raise ValueError(f"tracklet {int(key)} already has a descriptor")
                    t.descriptor = encode_descriptor(vec)
            self._index_vectors(keys, x, fingerprint)

    def tracklets_without_descriptor(self) -> list[int]:
        """Ids of tracklets that still need a descriptor (after ``reset_index``)."""
        with self._session() as s:
            return list(s.scalars(select(Tracklet.id).where(Tracklet.descriptor.is_(None))
                                  .order_by(Tracklet.id)))

    def get_descriptors(self, ids: Sequence[int]) -> np.ndarray:
        """Database descriptors ``(N, D)`` float32 for ``ids``, in that order; KeyError if absent."""
        keys = [int(i) for i in np.asarray(ids).reshape(-1)]
        found = self._descriptor_blobs(keys)
        missing = [k for k in keys if k not in found]
        if missing:
            raise KeyError(f"no descriptor for tracklets {missing[:10]}")
        dim = int((self.fingerprint or {}).get("dim", 0))
        if not keys:
            return np.zeros((0, dim), np.float32)
        vectors = [_checked_descriptor(found[k], dim) for k in keys]
        bad = [k for k, v in zip(keys, vectors, strict=True) if v is None]
        if bad:
            raise GalleryError(f"the descriptors of tracklets {bad[:10]} in "
                               f"{self._session.label} are damaged: run `reid reindex` to "
                               "re-embed them from their crops, or restore the database from a "
                               "backup")
        return np.stack(vectors)

    def get_tracklets(self, ids: Sequence[int]) -> dict[int, TrackletInfo]:
        """Metadata of the given tracklets, keyed by id (absent ids are left out)."""
        out: dict[int, TrackletInfo] = {}
        with self._session() as s:
            for part in _chunks(list(np.asarray(ids).reshape(-1))):
                out.update((t.id, self._info(t, cam, start)) for t, cam, start in
                           s.execute(self._info_query().where(Tracklet.id.in_(part))).all())
        return out

    def list_tracklets(self, *, video_id: int | None = None, camera: str | None = None,
                       limit: int | None = None, offset: int = 0) -> list[TrackletInfo]:
        """Tracklets by id, optionally of one video or camera, paged with ``limit``/``offset``."""
        q = self._info_query().order_by(Tracklet.id).offset(offset).limit(limit)
        if video_id is not None:
            q = q.where(Tracklet.video_id == video_id)
        if camera is not None:
            q = q.where(Camera.name == camera)
        with self._session() as s:
            return [self._info(t, cam, start) for t, cam, start in s.execute(q).all()]

    @staticmethod
    def _info_query():
        return (select(Tracklet, Camera.name, Video.start_time)
                .join(Video, Tracklet.video_id == Video.id)
                .join(Camera, Tracklet.camera_id == Camera.id))

    def _info(self, t: Tracklet, camera: str, start: dt.datetime | None) -> TrackletInfo:
        return TrackletInfo(
            t.id, t.video_id, t.camera_id, camera, t.track_id, t.first_frame, t.last_frame,
            t.start_s, t.end_s, t.quality, tuple(self.data_dir / p for p in t.crop_paths or []),
            None if t.thumbnail_path is None else self.data_dir / t.thumbnail_path,
            start, t.descriptor is not None)

    def get_boxes(self, tracklet_id: int) -> tuple[np.ndarray, np.ndarray]:
        """``(frames (N,) int64, boxes_xyxy (N, 4) float32 pixels)`` of one tracklet."""
        with self._session() as s:
            blob = s.scalar(select(Tracklet.boxes).where(Tracklet.id == tracklet_id))
        if blob is None:
            raise KeyError(f"no tracklet with id {tracklet_id}")
        try:
            return decode_boxes(blob)
        except (ValueError, zlib.error) as exc:
            raise GalleryError(f"the boxes of tracklet {tracklet_id} in {self._session.label} "
                               f"are damaged ({exc}): restore the database from a backup, or "
                               "delete and index that video again") from exc

    # ------------------------------------------------------------- vector search
    def search_vectors(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` ``(scores (Q, k), ids (Q, k))`` for ``(Q, D)`` queries; see ``VectorIndex``."""
        with self._lock:
            if self._index is None:
                q = np.atleast_2d(queries)
                return (np.full((len(q), k), -np.inf, np.float32),
                        np.full((len(q), k), -1, np.int64))
            return self._index.search(queries, k)

    # ------------------------------------------------------- feedback and audit
    def add_feedback(self, query_id: int, candidate_id: int, same: bool, *,
                     actor: str | None = None) -> int:
        """Record that ``candidate_id`` is (``same=True``) or is not the query's person."""
        if query_id == candidate_id:
            raise ValueError("feedback needs two different tracklets")
        self.require_writable()
        with self._session.begin() as s:
            for tid in (query_id, candidate_id):
                if s.get(Tracklet, tid) is None:
                    raise KeyError(f"no tracklet with id {tid}")
            fb = Feedback(query_tracklet_id=query_id, candidate_tracklet_id=candidate_id,
                          same=bool(same), actor=actor)
            s.add(fb)
            s.flush()
            return fb.id

    def get_feedback(self, tracklet_id: int) -> tuple[list[int], list[int]]:
        """``(confirmed, rejected)`` tracklet ids judged against ``tracklet_id`` (either side of
        the pair; the latest verdict on a pair wins)."""
        with self._session() as s:
            rows = s.execute(select(Feedback).where(or_(
                Feedback.query_tracklet_id == tracklet_id,
                Feedback.candidate_tracklet_id == tracklet_id)).order_by(Feedback.id)).scalars()
            verdict: dict[int, bool] = {}
            for fb in rows:
                other = (fb.candidate_tracklet_id if fb.query_tracklet_id == tracklet_id
                         else fb.query_tracklet_id)
                verdict[other] = fb.same
        return ([k for k, v in verdict.items() if v], [k for k, v in verdict.items() if not v])

    def log_action(self, actor: str, action: str, details: dict | None = None) -> None:
        """Append an audit-log entry (JSON-serialisable ``details``).

        A read-only gallery cannot record it: the entry is logged (WARNING) instead, so that
        searching a read-only gallery still works.
        """
        if self.read_only:
            logger.warning("read-only gallery: audit entry not recorded: %s %s %s", actor, action,
                           json.dumps(details or {}, default=str)[:500])
            return
        with self._session.begin() as s:
            s.add(AuditLog(actor=actor, action=action, details=dict(details or {})))

    def audit_entries(self, *, action: str | None = None, limit: int = 100) -> list[AuditEntry]:
        """The latest audit entries, newest first."""
        q = select(AuditLog).order_by(AuditLog.id.desc()).limit(limit)
        if action is not None:
            q = q.where(AuditLog.action == action)
        with self._session() as s:
            return [AuditEntry(a.id, a.actor, a.action, dict(a.details), a.created_at)
                    for a in s.scalars(q)]

    def stats(self) -> dict:
        """Counts and index state: cameras, videos per status, tracklets (in all, per camera name,
        per video id), vectors, index kind."""
        with self._session() as s:
            by_status = dict(s.execute(select(Video.status, func.count(Video.id))
                                       .group_by(Video.status)).all())
            per_camera = s.execute(select(Camera.name, func.count(Tracklet.id))
                                   .outerjoin(Tracklet, Tracklet.camera_id == Camera.id)
                                   .where(_has_videos()).group_by(Camera.name)).all()
            per_video = s.execute(select(Tracklet.video_id, func.count(Tracklet.id))
                                  .group_by(Tracklet.video_id)).all()
            out = {"cameras": s.scalar(select(func.count(Camera.id)).where(_has_videos())),
                   "videos": {st.value: int(by_status.get(st, 0)) for st in VideoStatus},
                   "tracklets": s.scalar(select(func.count(Tracklet.id))),
                   "tracklets_per_camera": {name: int(n) for name, n in per_camera},
                   "tracklets_per_video": {int(v): int(n) for v, n in per_video}}
        out.update(vectors=0 if self._index is None else self._index.ntotal,
                   index_kind=None if self._index is None else self._index.kind,
                   fingerprint=self.fingerprint, data_dir=str(self.data_dir))
        return out
