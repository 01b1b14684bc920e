"""The vector side of a gallery: descriptors in the database, the embedder fingerprint they come
from, and the derived vector index kept in line with them.

Write order is crash-safe: the database transaction commits first (the source of truth), then the
in-memory index is updated and persisted: a change is appended to the index's delta file (its cost
is the change's, not the gallery's) and the main index file is rewritten only when the delta has
grown past a share of it, or when the change restructured the index (a new kind, centre or lists);
see ``_sync``. ``check`` repairs what a crash in between left.

Merging is done by the write that passes the threshold (``CompactionPolicy``: 5 % of the main
file), in the writing process (the indexing worker) and under the gallery's lock, or on demand
(``compact``). A server in another process keeps searching its index in memory meanwhile; appends
reach it as delta records only, and a merged main file is loaded on its next ``check``.

That is the ``"files"`` source of the index, for a gallery in one data dir. With the
``"database"`` source (servers and workers sharing a PostgreSQL catalogue from several machines)
no index file is read or written: the index is built in memory from the database's descriptors
when first searched and follows the database by id watermark (``_follow``). Every writer, in
either mode, keeps the two rules that following relies on: appends lock the gallery's version row
before taking ids, and every other change of descriptors bumps it.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from reid.store._codec import encode_descriptor
from reid.store._descriptors import DescriptorReader
from reid.store._errors import file_error
from reid.store._follow import DatabaseFollower
from reid.store._models import StoreMeta, TrackletRow
from reid.store._records import RepairReport
from reid.store._shared import GalleryContext
from reid.store._sync import CompactionPolicy, sync_index, write_index_files
from reid.store._version import bump_version, lock_for_append, read_version
from reid.store.index import IndexConfig, VectorIndex
from reid.store.index.delta import ADD, HEADER_BYTES, REMOVE, DeltaOp

logger = logging.getLogger(__name__)

__all__ = ["INDEX_SOURCES", "FingerprintMismatchError", "Vectors", "fingerprint_text", "normalise"]

_FP_KEY = "embedder_fingerprint"
INDEX_SOURCES = ("files", "database")
"""Where a process's vector index comes from: the data dir's index files, or the database."""


class FingerprintMismatchError(ValueError):
    """Descriptors from another embedder than the gallery's; re-embedding is explicit."""


def fingerprint_text(fp: dict[str, Any]) -> str:
    """A fingerprint as canonical JSON (for comparing and for messages)."""
    return json.dumps(fp, sort_keys=True)


def normalise(vectors: np.ndarray, dim: int) -> np.ndarray:
    """``(N, dim)`` descriptors L2-normalised as float32; ValueError for a wrong shape, NaN/inf
    or zero vectors."""
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"descriptors must be (N, {dim}), got {x.shape}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if not np.isfinite(x).all() or (norms == 0).any():
        raise ValueError("descriptors contain NaN/inf or zero vectors")
    return np.ascontiguousarray(x / norms)


class Vectors:
    """Descriptors, fingerprint and vector index of a gallery.

    The index is loaded (and repaired) by ``check``; until then writes and searches refuse, so
    that an index never loaded is never saved over the one on disk.

    Args:
        context: the opened gallery.
        config: how the index is built.
        source: ``"files"`` (the data dir's ``vectors.faiss``, kept in line by this process's
            writes) or ``"database"`` (built in memory from the database's descriptors and
            followed by id watermark; see ``_follow``).
    """

    def __init__(self, context: GalleryContext, config: IndexConfig, source: str = "files") -> None:
        if source not in INDEX_SOURCES:
            raise ValueError(f"index source {source!r} is unknown; choose one of {INDEX_SOURCES}")
        self._ctx = context
        self.config = config
        self.source = source
        self._follower = DatabaseFollower(config) if source == "database" else None
        self._follow_lock = threading.Lock()
        self._descriptors = DescriptorReader(
            context, lambda: int((self.fingerprint or {}).get("dim", 0)))
        self._index: VectorIndex | None = None
        self._checked = False
        # length of the delta file with which the files on disk match ``_index`` (None: unknown,
        # the next save rewrites the main file)
        self._delta_bytes: int | None = None
        self._matched_stamp: int | None = None  # stamp() when the files last matched _index
        self.compaction = CompactionPolicy()

    # ---------------------------------------------------------------- fingerprint
    @property
    def fingerprint(self) -> dict[str, Any] | None:
        """The embedder fingerprint of the gallery's descriptors (None before the first)."""
        with self._ctx.db() as s:
            row = s.get(StoreMeta, _FP_KEY)
            return None if row is None else dict(row.value)

    @property
    def index(self) -> VectorIndex | None:
        """The vector index (None until the first descriptors are stored)."""
        if self._follower is not None:
            self.follow()
            return self._follower.index
        return self._index

    def check_fingerprint(self, fingerprint: dict[str, Any]) -> dict[str, Any] | None:
        """Return the gallery's fingerprint (None when empty) if ``fingerprint`` may be added.

        Raises:
            FingerprintMismatchError: the gallery holds another embedder's descriptors.
        """
        if "dim" not in fingerprint:
            raise ValueError("an embedder fingerprint needs at least a 'dim' entry")
        current = self.fingerprint
        if current is not None and fingerprint_text(current) != fingerprint_text(fingerprint):
            raise FingerprintMismatchError(
                f"this gallery holds descriptors from embedder {fingerprint_text(current)}, "
                f"not {fingerprint_text(fingerprint)}; descriptors from different embedders "
                "cannot be compared. Run `reid reindex` to re-embed the gallery with the new "
                "embedder, or use the embedder the gallery was built with.")
        return current

    @staticmethod
    def record_fingerprint(s: Session, fingerprint: dict[str, Any]) -> None:
        """Record ``fingerprint`` in session ``s`` when the gallery has none yet."""
        if s.get(StoreMeta, _FP_KEY) is None:
            s.add(StoreMeta(key=_FP_KEY, value=dict(fingerprint)))

    @staticmethod
    def lock_for_append(s: Session) -> None:
        """In session ``s``, before new tracklets take ids: order appends (see ``_follow``)."""
        lock_for_append(s)

    @staticmethod
    def record_change(s: Session) -> None:
        """In session ``s``: descriptors were removed or replaced (see ``_follow``)."""
        bump_version(s)

    # ------------------------------------------------------------ index lifecycle
    def check(self) -> RepairReport:
        """Load the vector index, check it against the database and repair it (saved unless the
        gallery is read-only); see ``RepairReport``. Called again (a server after another
        process wrote), it reads only the delta records appended since, when it can.

        With the ``"database"`` source nothing is read here: the index is built when first
        searched (a worker that only writes never loads it)."""
        if self._follower is not None:
            with self._ctx.lock:
                self._checked = True
                self._follower.mark_stale()
            return RepairReport()
        with self._ctx.lock:
            stamp = self.stamp()
            fp = self.fingerprint
            db_ids = self._descriptors.ids()
            layout = self._ctx.layout
            current = (self._index, self._delta_bytes)
            self._delta_bytes = None  # unknown until loaded
            self._index, report, self._delta_bytes = sync_index(
                layout.index, layout.index_meta, fp, self.config, db_ids, self._descriptors.chunks,
                gallery_id=self._ctx.gallery_id, writable=not self._ctx.read_only,
                current=current)
            self._checked, self._matched_stamp = True, stamp
            return report

    def follow(self, force: bool = False) -> RepairReport:
        """``"database"`` source: catch the in-memory index up with the database when due (this
        process wrote, or ``DatabaseFollower.min_interval_s`` has passed) or ``force``d."""
        if self._follower is None:
            raise RuntimeError("follow() is for a vector index from the database")
        self._require_checked()
        if not (force or self._follower.due()):
            return RepairReport()
        # One refresh at a time; a search that finds one running searches the index as it is,
        # unless there is none yet (the first build) or the refresh is forced.
        if not self._follow_lock.acquire(blocking=force or self._follower.index is None):
            return RepairReport()
        try:
            if not (force or self._follower.due()):  # another thread just refreshed
                return RepairReport()
            fp = self.fingerprint
            with self._ctx.db() as s:
                version = read_version(s)
            return self._follower.refresh(fp, version, self._descriptors, self._ctx.lock)
        finally:
            self._follow_lock.release()

    def stamp(self) -> int | None:
        """A value that changes whenever the index that searches read may have changed (caches of
        search results key on it): ``vectors.json``'s mtime for index files (every save rewrites
        it), the follower's state for an index from the database."""
        if self._follower is not None:
            return hash(self._follower.state)
        try:
            return self._ctx.layout.index_meta.stat().st_mtime_ns
        except FileNotFoundError:
            return None

    def catch_up(self, build: bool = True) -> RepairReport:
        """Take in what other processes wrote: index files are checked again (``check``: only
        the delta records appended since, when it can) if ``vectors.json`` changed since this
        process last matched them; an index from the database is followed (``follow``), with
        ``build=False`` only once it exists (before a write: a process that only writes never
        needs one)."""
        if self._follower is not None:
            if build or self._follower.index is not None:
                return self.follow()
            return RepairReport()
        stamp = self.stamp()
        if self._checked and stamp == self._matched_stamp:
            return RepairReport()
        report = self.check()  # records the stamp it loaded at: a later write is seen next time
        logger.info("vector index changed on disk; reloaded%s",
                    f" ({'; '.join(report.actions)})" if report.changed else "")
        return report

    def _require_checked(self) -> None:
        if not self._checked:
            raise RuntimeError("the vector index was not loaded: open the gallery with "
                               "Store.open(...) or call check_index() first")

    def save(self, fingerprint: dict[str, Any] | None, change: DeltaOp | None = None) -> None:
        """Persist the in-memory index: append ``change`` (the one change since the files last
        matched it) to the delta, or rewrite the main file (no change given, or the delta is due
        for merging). A failing disk becomes ``GalleryError`` (the database, already committed,
        stays the truth and the next opening repairs the files)."""
        layout = self._ctx.layout
        if self._follower is not None:
            self._follower.mark_stale()  # the database is the index's only source: no file
            return
        if self._index is None:
            raise RuntimeError("no vector index to save")
        known, self._delta_bytes = self._delta_bytes, None  # unknown until written
        try:
            self._delta_bytes = write_index_files(
                self._index, fingerprint, layout.index, layout.index_meta, self._ctx.gallery_id,
                change=change, delta_bytes=known, policy=self.compaction)
            # the caller holds the gallery's write lock: no other process saved meanwhile
            self._matched_stamp = self.stamp()
        except OSError as exc:
            raise file_error(exc, layout.index, "writing the vector index") from exc

    def compact(self) -> bool:
        """Merge the delta file into the main index file now (e.g. when the gallery is idle);
        returns False when there was nothing to merge."""
        self._require_checked()
        with self._ctx.lock:
            if (self._follower is not None or self._index is None
                    or self._delta_bytes in (0, HEADER_BYTES)):  # nothing appended (or no file)
                return False
            self.save(self.fingerprint)
            return True

    def delta_size(self) -> int:
        """Bytes of changes in the delta file not yet merged into the main index file."""
        try:
            return max(0, self._ctx.layout.index_delta.stat().st_size - HEADER_BYTES)
        except OSError:
            return 0

    def add(self, ids: np.ndarray, x: np.ndarray, fingerprint: dict[str, Any]) -> None:
        """Index unit descriptors ``x`` ``(N, D)`` under ``ids`` (already committed) and persist
        them (appended to the delta unless the index was restructured). With the ``"database"``
        source the next search reads them from the database instead."""
        self._require_checked()
        if self._follower is not None:
            self._follower.mark_stale()
            return
        if self._index is None:
            self._index = VectorIndex(int(fingerprint["dim"]), self.config)
            before = None
        else:
            before = self._index.backend
        self._index.add(ids, x)
        same = self._index.backend is before  # not rebuilt (new kind, centre or lists)
        self.save(dict(fingerprint), DeltaOp(ADD, np.asarray(ids, np.int64), x) if same else None)

    def remove(self, ids: Sequence[int]) -> None:
        """Remove ``ids`` (already deleted from the database) from the index and persist that."""
        self._require_checked()
        if self._follower is not None:
            self._follower.mark_stale()
            return
        if self._index is not None and len(ids):
            before = self._index.backend
            keys = np.array(ids, np.int64)
            self._index.remove(keys)
            same = self._index.backend is before  # graph kinds rebuild to remove
            self.save(self.fingerprint, DeltaOp(REMOVE, keys) if same else None)

    # ------------------------------------------------------------ re-embedding
    @staticmethod
    def clear_descriptors(s: Session, new_fingerprint: dict[str, Any]) -> int:
        """In session ``s``: clear every descriptor and record ``new_fingerprint``; returns the
        number of tracklets to re-embed."""
        bump_version(s)
        s.execute(update(TrackletRow).values(descriptor=None))
        s.merge(StoreMeta(key=_FP_KEY, value=dict(new_fingerprint)))
        return int(s.scalar(select(func.count(TrackletRow.id))) or 0)

    def start_empty(self, fingerprint: dict[str, Any]) -> None:
        """Replace the index by an empty one for ``fingerprint`` and save it."""
        if self._follower is not None:
            self._follower.mark_stale()
            return
        self._index = VectorIndex(int(fingerprint["dim"]), self.config)
        self._checked = True
        self.save(dict(fingerprint))

    def set_descriptors(self, ids: Sequence[int], descriptors: np.ndarray,
                        fingerprint: dict[str, Any]) -> None:
        """Store (re-)computed descriptors ``(N, D)`` for existing tracklets and index them.

        Used after ``reset_index``; ids that already have a descriptor are refused.
        """
        self.check_fingerprint(fingerprint)
        self._ctx.require_writable()
        self._require_checked()
        x = normalise(descriptors, int(fingerprint["dim"]))
        keys = np.asarray(ids, np.int64).reshape(-1)
        if len(keys) != len(x):
            raise ValueError(f"{len(keys)} ids but {len(x)} descriptors")
        with self._ctx.lock:
            with self._ctx.db.begin() as s:
                bump_version(s)  # old ids get descriptors: not an append
                self.record_fingerprint(s, fingerprint)
                for key, vec in zip(keys, x, strict=True):
                    t = s.get(TrackletRow, int(key))
                    if t is None:
                        raise KeyError(f"no tracklet with id {int(key)}")
                    if t.descriptor is not None:
                        raise ValueError(f"tracklet {int(key)} already has a descriptor")
                    t.descriptor = encode_descriptor(vec)
            self.add(keys, x, fingerprint)

    def tracklets_without_descriptor(self) -> list[int]:
        """Ids of tracklets that still need a descriptor (after ``reset_index``)."""
        with self._ctx.db() as s:
            return list(s.scalars(select(TrackletRow.id).where(TrackletRow.descriptor.is_(None))
                                  .order_by(TrackletRow.id)))

    def get_descriptors(self, ids: Sequence[int]) -> np.ndarray:
        """Database descriptors ``(N, D)`` float32 for ``ids``, in that order; KeyError if absent,
        ``GalleryError`` if damaged."""
        return self._descriptors.get(ids)

    # ------------------------------------------------------------------ search
    def search_vectors(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` ``(scores (Q, k), ids (Q, k))`` for ``(Q, D)`` queries; see ``VectorIndex``."""
        self._require_checked()
        if self._follower is not None:
            self.follow()  # before the lock: a refresh takes it only to change the index
        with self._ctx.lock:
            index = self._index if self._follower is None else self._follower.index
            if index is None:
                q = np.atleast_2d(queries)
                return (np.full((len(q), k), -np.inf, np.float32),
                        np.full((len(q), k), -1, np.int64))
            return index.search(queries, k)

    def describe(self) -> dict[str, Any]:
        """``vectors`` (count), ``index_kind`` (None before the first descriptors), the index
        ``source`` and ``index_label`` (the kind as status lines show it, e.g. ``ivfsq (built
        from the database)``). A database-sourced index not built yet is described from the
        database (counting is cheap; building it for a status line is not)."""
        index = self._index if self._follower is None else self._follower.index
        kind: str | None
        if index is not None:
            n, kind = index.ntotal, index.kind
        elif self._follower is not None:
            n = self._descriptors.count()
            kind = self.config.target_kind(n) if n else None
        else:
            n, kind = 0, None
        label = kind or self.config.kind
        if self.source == "database":
            label += " (built from the database)"
        return {"vectors": n, "index_kind": kind, "index_source": self.source,
                "index_label": label}
