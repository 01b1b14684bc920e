"""``Store``: one gallery in one data dir, a facade over its three parts.

- ``catalogue`` (``Catalogue``): cameras, videos, tracklets, their boxes and crop files;
- ``annotations`` (``Annotations``): feedback verdicts and the audit log;
- ``vectors`` (``Vectors``): descriptors, the embedder fingerprint and the vector index.

The facade keeps every method name callers use, and owns the operations that span parts in one
transaction (adding tracklets with their descriptors, deleting a video, re-indexing). Write order
is crash-safe: a database transaction commits first (the source of truth), then the in-memory
index is updated and saved atomically. A process killed in between leaves database rows the index
lacks (or index ids the database lost); the next opening repairs that.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import inspect

from reid.store._annotations import Annotations
from reid.store._catalogue import Catalogue, DuplicateVideoError
from reid.store._db import Database
from reid.store._jobs import JobQueue  # also registers the index_jobs table before create_all
from reid.store._models import VideoStatus
from reid.store._opening import gallery_identity, open_database, reserve_ids
from reid.store._records import AuditEntry, RepairReport, TrackletInfo, TrackletRecord, VideoInfo
from reid.store._shared import GalleryContext
from reid.store._vectors import FingerprintMismatchError, Vectors, fingerprint_text, normalise
from reid.store._version import ensure_version_row
from reid.store.index import IndexConfig, VectorIndex
from reid.store.layout import GalleryLayout

logger = logging.getLogger(__name__)

__all__ = ["DuplicateVideoError", "FingerprintMismatchError", "Store"]


class Store:
    """A gallery in one data dir, whose files ``layout`` (a ``GalleryLayout``) names.

    Open one with ``Store.open(data_dir)``: that opens the database, checks the gallery's
    identity, loads the vector index and repairs it against the database (``repair_report`` says
    what was done). The constructor only assembles the parts over an already opened gallery
    (``GalleryContext``) and touches no file; until ``check_index`` loads the index, writes and
    searches refuse.

    A data dir whose database is missing or empty while another gallery's files remain is
    refused, and so are crops of another gallery than the database's. When the data dir or
    database cannot be written, the gallery opens read-only (``read_only``): reading and searching
    work, writes raise ``GalleryError``.

    Args:
        context: the opened gallery (layout, database, read-only flag, gallery id).
        index_config: vector index kind and parameters.
        db_url: the database URL, for display.
        index_source: ``"files"`` (the data dir's index files) or ``"database"`` (an in-memory
            index built from the database's descriptors and following it: servers and workers
            sharing one catalogue from several machines); see ``reid.store._vectors``.
    """

    def __init__(self, context: GalleryContext, index_config: IndexConfig | None = None, *,
                 db_url: str | None = None, index_source: str = "files") -> None:
        if not isinstance(context, GalleryContext):
            raise TypeError(f"Store() takes an opened GalleryContext, not {type(context).__name__}: "
                            "open a data dir with Store.open(data_dir)")
        self._ctx = context
        self.db_url = db_url or context.layout.db_url
        self.catalogue = Catalogue(context)
        self.annotations = Annotations(context)
        self.vectors = Vectors(context, index_config or IndexConfig(), index_source)
        self.repair_report = RepairReport()  # what the last Store.open repaired
        self._jobs: JobQueue | None = None

    @classmethod
    def open(cls, data_dir: str | Path, *, db_url: str | None = None,
             index_config: IndexConfig | None = None, index_source: str = "files") -> Store:
        """Open the gallery in ``data_dir`` (created if missing) and repair its vector index.

        Checks the vector index against the database (ids, count, fingerprint, checksum, gallery
        id), repairs or rebuilds it from the database descriptors (``repair_report``), and
        reserves the ids that files in the data dir still use.

        Args:
            data_dir: the gallery folder.
            db_url: SQLAlchemy URL; default ``sqlite:///<data_dir>/reid.db``.
            index_config: vector index kind and parameters.
            index_source: ``"files"`` or ``"database"`` (see the class); with ``"database"`` no
                index file is read, repaired or written.

        Raises:
            GalleryError: the database is lost, replaced, damaged, locked or unreadable (the
                message names the file and the recovery step).
        """
        layout = GalleryLayout.of(data_dir)
        url = db_url or layout.db_url
        db, read_only, created = open_database(layout, url)
        try:
            gallery_id = gallery_identity(db, layout.crops, created=created, read_only=read_only)
            store = cls(GalleryContext(layout, db, read_only, gallery_id), index_config, db_url=url,
                        index_source=index_source)
            store.repair_report = store.check_index()
            if not read_only:
                reserve_ids(db, layout, store.repair_report.max_index_id)
                ensure_version_row(db)
        except BaseException:
            db.dispose()
            raise
        return store

    # ------------------------------------------------------------------ lifecycle
    @property
    def layout(self) -> GalleryLayout:
        """The paths of the data dir."""
        return self._ctx.layout

    @property
    def read_only(self) -> bool:
        """True when the gallery was opened read-only (writes raise ``GalleryError``)."""
        return self._ctx.read_only

    @property
    def gallery_id(self) -> str | None:
        """The gallery's id, shared by the database, ``vectors.json`` and ``crops/``."""
        return self._ctx.gallery_id

    @property
    def index_source(self) -> str:
        """``"files"`` or ``"database"``: where this process's vector index comes from."""
        return self.vectors.source

    @property
    def index_config(self) -> IndexConfig:
        """The vector index kind and parameters."""
        return self.vectors.config

    @property
    def data_dir(self) -> Path:
        """The gallery folder (absolute); ``layout`` names every path in it."""
        return self._ctx.layout.data_dir

    @property
    def crops_dir(self) -> Path:
        """``crops/`` (see ``GalleryLayout.crops``)."""
        return self._ctx.layout.crops

    @property
    def uploads_dir(self) -> Path:
        """``uploads/`` (see ``GalleryLayout.uploads``)."""
        return self._ctx.layout.uploads

    @property
    def index_path(self) -> Path:
        """``vectors.faiss`` (see ``GalleryLayout.index``)."""
        return self._ctx.layout.index

    @property
    def meta_path(self) -> Path:
        """``vectors.json`` (see ``GalleryLayout.index_meta``)."""
        return self._ctx.layout.index_meta

    @property
    def database(self) -> Database:
        """The gallery's database (sessions over its engine)."""
        return self._ctx.db

    @property
    def jobs(self) -> JobQueue:
        """The gallery's indexing job queue (``reid.store._jobs``), in the same database."""
        if self._jobs is None:
            self._jobs = JobQueue(self._ctx.db, ensure_table=not self.read_only)
        return self._jobs

    def close(self) -> None:
        """Release the database connections."""
        self._ctx.db.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def require_writable(self) -> None:
        """Raise ``GalleryError`` when the gallery was opened read-only."""
        self._ctx.require_writable()

    def check_index(self) -> RepairReport:
        """Load the vector index, check it against the database and repair it; see
        ``RepairReport``."""
        return self.vectors.check()

    # ---------------------------------------------------------------- fingerprint
    @property
    def fingerprint(self) -> dict[str, Any] | None:
        """The embedder fingerprint of the gallery's descriptors (None before the first)."""
        return self.vectors.fingerprint

    @property
    def index(self) -> VectorIndex | None:
        """The vector index (None until the first descriptors are stored)."""
        return self.vectors.index

    def check_fingerprint(self, fingerprint: dict[str, Any]) -> dict[str, Any] | None:
        """See ``Vectors.check_fingerprint``."""
        return self.vectors.check_fingerprint(fingerprint)

    def reset_index(self, new_fingerprint: dict[str, Any], *, actor: str = "system") -> int:
        """Start re-indexing: clear all descriptors and the index, record ``new_fingerprint``.

        Afterwards ``tracklets_without_descriptor()`` lists what to re-embed and
        ``set_descriptors`` stores the new vectors. Returns the number of tracklets to re-embed.
        """
        if "dim" not in new_fingerprint:
            raise ValueError("an embedder fingerprint needs at least a 'dim' entry")
        self.require_writable()
        with self._ctx.lock, self._ctx.db.begin() as s:
            n = self.vectors.clear_descriptors(s, new_fingerprint)
            self.annotations.record(s, actor, "reindex",
                                    {"fingerprint": dict(new_fingerprint), "tracklets": n})
        with self._ctx.lock:
            self.vectors.start_empty(new_fingerprint)
        logger.info("index reset for embedder %s: %d tracklets to re-embed",
                    fingerprint_text(new_fingerprint), n)
        return n

    def set_descriptors(self, ids: Sequence[int], descriptors: np.ndarray,
                        fingerprint: dict[str, Any]) -> None:
        """See ``Vectors.set_descriptors``."""
        self.vectors.set_descriptors(ids, descriptors, fingerprint)

    def tracklets_without_descriptor(self) -> list[int]:
        """See ``Vectors.tracklets_without_descriptor``."""
        return self.vectors.tracklets_without_descriptor()

    def get_descriptors(self, ids: Sequence[int]) -> np.ndarray:
        """See ``Vectors.get_descriptors``."""
        return self.vectors.get_descriptors(ids)

    def search_vectors(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """See ``Vectors.search_vectors``."""
        return self.vectors.search_vectors(queries, k)

    # ------------------------------------------------------------------ catalogue
    def relpath(self, path: str | Path) -> str:
        """See ``Catalogue.relpath``."""
        return self.catalogue.relpath(path)

    def crop_dir(self, video_id: int, track_id: int) -> Path:
        """See ``Catalogue.crop_dir``."""
        return self.catalogue.crop_dir(video_id, track_id)

    def get_or_create_camera(self, name: str) -> int:
        """See ``Catalogue.get_or_create_camera``."""
        return self.catalogue.get_or_create_camera(name)

    def list_cameras(self) -> list[tuple[int, str]]:
        """See ``Catalogue.list_cameras``."""
        return self.catalogue.list_cameras()

    def add_video(self, path: str | Path, content_hash: str, camera: str, *,
                  fps: float | None = None, duration_s: float | None = None,
                  frame_count: int | None = None, start_time: dt.datetime | None = None) -> int:
        """See ``Catalogue.add_video``."""
        return self.catalogue.add_video(path, content_hash, camera, fps=fps,
                                        duration_s=duration_s, frame_count=frame_count,
                                        start_time=start_time)

    def find_video(self, content_hash: str) -> VideoInfo | None:
        """See ``Catalogue.find_video``."""
        return self.catalogue.find_video(content_hash)

    def get_video(self, video_id: int) -> VideoInfo:
        """See ``Catalogue.get_video``."""
        return self.catalogue.get_video(video_id)

    def list_videos(self, status: str | None = None) -> list[VideoInfo]:
        """See ``Catalogue.list_videos``."""
        return self.catalogue.list_videos(status)

    def update_video(self, video_id: int, *, status: str | None = None,
                     error: str | None = None, **fields: object) -> None:
        """See ``Catalogue.update_video``."""
        self.catalogue.update_video(video_id, status=status, error=error, **fields)

    def get_tracklets(self, ids: Sequence[int]) -> dict[int, TrackletInfo]:
        """See ``Catalogue.get_tracklets``."""
        return self.catalogue.get_tracklets(ids)

    def list_tracklets(self, *, video_id: int | None = None, camera: str | None = None,
                       limit: int | None = None, offset: int = 0) -> list[TrackletInfo]:
        """See ``Catalogue.list_tracklets``."""
        return self.catalogue.list_tracklets(video_id=video_id, camera=camera, limit=limit,
                                             offset=offset)

    def get_boxes(self, tracklet_id: int) -> tuple[np.ndarray, np.ndarray]:
        """See ``Catalogue.get_boxes``."""
        return self.catalogue.get_boxes(tracklet_id)

    # ---------------------------------------------------- operations across parts
    def add_tracklets(self, video_id: int, tracklets: Sequence[TrackletRecord],
                      descriptors: np.ndarray, fingerprint: dict[str, Any], *,
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
        x = normalise(descriptors, int(fingerprint["dim"]))
        if len(x) != len(tracklets):
            raise ValueError(f"{len(tracklets)} tracklets but {len(x)} descriptors")
        with self._ctx.lock:
            with self._ctx.db.begin() as s:
                v = self.catalogue.video_for_update(s, video_id)
                self.vectors.lock_for_append(s)  # ids commit in order (followers' watermark)
                self.vectors.record_fingerprint(s, fingerprint)
                rows = [self.catalogue.tracklet_row(v, t, vec)
                        for t, vec in zip(tracklets, x, strict=True)]
                s.add_all(rows)
                if mark_done:
                    v.status, v.error = VideoStatus.DONE, None
                s.flush()
                ids = [r.id for r in rows]
            self.vectors.add(np.array(ids, np.int64), x, fingerprint)
        return ids

    def delete_video(self, video_id: int, *, actor: str = "system") -> int:
        """Delete a video, its tracklets, their vectors, feedback and crop files.

        A camera left without videos is deleted too, so it leaves the camera lists.
        Returns the number of tracklets removed.
        """
        self.require_writable()
        with self._ctx.lock:
            with self._ctx.db.begin() as s:
                v = self.catalogue.video_for_update(s, video_id)
                rows = self.catalogue.video_tracklet_rows(s, video_id)
                ids = [r.id for r in rows]
                self.vectors.record_change(s)
                self.annotations.forget(s, ids)
                self.annotations.record(s, actor, "delete_video",
                                        {"video_id": video_id, "path": v.path, "tracklets": len(ids)})
                self.catalogue.delete_video_rows(s, v, ids)
            self.vectors.remove(ids)
        self.catalogue.delete_files(video_id, rows)
        logger.info("deleted video %d with %d tracklets", video_id, len(ids))
        return len(ids)

    def stats(self) -> dict[str, Any]:
        """Counts and index state: cameras, videos per status, tracklets (in all, per camera name,
        per video id), vectors, index kind, fingerprint, data dir and indexing jobs per state."""
        out = self.catalogue.counts()
        out.update(self.vectors.describe(), fingerprint=self.fingerprint,
                   data_dir=str(self.data_dir), jobs=self._job_counts())
        return out

    def _job_counts(self) -> dict[str, int]:
        """Indexing jobs per state; empty for a gallery opened read-only from before the job
        queue (revision 0001 has no ``index_jobs`` table, and a reader creates none)."""
        if self.read_only and not inspect(self._ctx.db.engine).has_table("index_jobs"):
            return {}
        return self.jobs.counts()

    # --------------------------------------------------------------- annotations
    def add_feedback(self, query_id: int, candidate_id: int, same: bool, *,
                     actor: str | None = None) -> int:
        """See ``Annotations.add_feedback``."""
        return self.annotations.add_feedback(query_id, candidate_id, same, actor=actor)

    def get_feedback(self, tracklet_id: int) -> tuple[list[int], list[int]]:
        """See ``Annotations.get_feedback``."""
        return self.annotations.get_feedback(tracklet_id)

    def log_action(self, actor: str, action: str, details: dict[str, Any] | None = None) -> None:
        """See ``Annotations.log_action``."""
        self.annotations.log_action(actor, action, details)

    def log_actions(self, entries: Sequence[tuple[str, str, dict[str, Any] | None]]) -> None:
        """See ``Annotations.log_actions``."""
        self.annotations.log_actions(entries)

    def audit_entries(self, *, action: str | None = None, limit: int = 100) -> list[AuditEntry]:
        """See ``Annotations.audit_entries``."""
        return self.annotations.audit_entries(action=action, limit=limit)
