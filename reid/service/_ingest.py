"""The indexing side of ``ReidService``: ingest videos and folders, re-embed, delete a video.

Indexing jobs run one at a time (``_index_lock``) and hold the gallery's cross-process write
lock; after ``use_worker_process`` they run in a child process (``reid.service.worker``).
:func:`iter_videos` finds the footage under a folder.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from reid.embed.crops import read_rgb_crop
from reid.files import sha256_file
from reid.service._core import ServiceCore
from reid.service.indexer import IndexJob, run_index_job
from reid.service.types import IndexReport, ProgressFn
from reid.service.worker import IndexJobSpec, WorkerCrashedError, WorkerError

__all__ = ["VIDEO_SUFFIXES", "IngestMixin", "iter_videos"]

logger = logging.getLogger(__name__)

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".wmv"})


class IngestMixin(ServiceCore):
    """``ReidService``'s indexing methods (``index_video``, ``index_folder``, ``reindex``,
    ``delete_video``)."""

    def index_video(
        self,
        path: str | Path,
        camera: str | None = None,
        start_time: dt.datetime | None = None,
        progress: ProgressFn | None = None,
        actor: str = "cli",
    ) -> IndexReport:
        """Index one video file; never raises for a bad file (the report says what went wrong).

        A file whose content is already indexed is skipped (``"duplicate"``); one whose earlier run
        was interrupted or failed is cleaned up and indexed again.
        """
        path = Path(path).expanduser().resolve()
        camera = (camera or path.stem).strip()
        t0 = time.perf_counter()
        if not path.is_file():
            return IndexReport(str(path), camera, "failed", error=f"no such file: {path}")
        if self._worker is not None:
            return self._index_in_worker(path, camera, start_time, progress, actor)
        self.store.check_fingerprint(self.embedder.fingerprint)

        def waiting() -> None:
            if progress is not None:
                progress(0.0, f"{path.name}: waiting for another process writing to the gallery")

        content_hash = sha256_file(path)  # reading the file needs no lock
        with self._index_lock, self._writing(), contextlib.ExitStack() as claimed:
            # The gallery's writer lock is held to claim the video and, at the end, to store it;
            # tracking and embedding run without it, so workers index side by side.
            while True:
                with self._gallery_write_lock(on_wait=waiting):
                    existing = self.store.find_video(content_hash)
                    if existing is not None and existing.status == "done":
                        logger.info("%s is already indexed as video %d; skipped", path, existing.id)
                        return IndexReport(str(path), existing.camera, "duplicate",
                                           video_id=existing.id, elapsed_s=time.perf_counter() - t0)
                    busy = existing is not None and self._video_in_progress(existing.id)
                    if not busy:
                        if existing is not None:
                            logger.info("video %d (%s) was left %s; indexing it again",
                                        existing.id, path, existing.status)
                            self.store.delete_video(existing.id, actor=actor)
                        video_id = self.store.add_video(path, content_hash, camera,
                                                        start_time=start_time)
                        self.store.update_video(video_id, status="indexing")
                        self.store.log_action(actor, "index_video",
                                              {"video_id": video_id, "path": str(path)})
                        claimed.enter_context(self._indexing_video(video_id))  # before others look
                        break
                # Another live process indexes the same content (e.g. a worker that lost its
                # job's lease, or an orphaned child): wait for it to end, then look again: done
                # is a duplicate, an interrupted run is redone.
                assert existing is not None
                logger.info("%s: the same content is being indexed by another process as video "
                            "%d; waiting for it", path, existing.id)
                self._wait_for_video(existing.id, on_wait=waiting)
            job = IndexJob(self.store, self.detector, self.embedder, self.tracking_config, video_id,
                           path, camera, start_time, self.stride, progress,
                           write_lock=self._gallery_write_lock)
            try:
                report = run_index_job(job)
            except Exception as exc:  # one bad file must not stop a batch
                message = f"{type(exc).__name__}: {exc}"
                logger.warning("indexing %s failed: %s", path, message,
                               exc_info=logger.isEnabledFor(logging.DEBUG))
                self.store.update_video(video_id, status="failed", error=message)
                return IndexReport(str(path), camera, "failed", video_id=video_id, error=message,
                                   elapsed_s=time.perf_counter() - t0)
        if progress is not None:
            progress(1.0, f"{path.name}: {report.tracklets} people tracked")
        return report

    def _index_in_worker(self, path: Path, camera: str, start_time: dt.datetime | None,
                         progress: ProgressFn | None, actor: str) -> IndexReport:
        """``index_video`` through the worker process; a crash there fails only this video."""
        assert self._worker is not None
        t0 = time.perf_counter()
        with self._index_lock, self._writing():
            try:
                return self._worker.submit(IndexJobSpec(str(path), camera, start_time, actor), progress)
            except WorkerCrashedError as exc:
                message = str(exc)
                video_id = self._fail_interrupted(path, message)
            except WorkerError as exc:
                message, video_id = str(exc), None
        logger.error("indexing %s failed: %s", path, message)
        return IndexReport(str(path), camera, "failed", video_id=video_id, error=message,
                           elapsed_s=time.perf_counter() - t0)

    @property
    def worker_factory(self) -> Callable[[], Any] | None:
        """The picklable factory of an equivalent service for another process (None: none)."""
        return self._worker_factory

    def fail_interrupted(self, path: str | Path, message: str) -> int | None:
        """After a process indexing ``path`` died (e.g. a queue worker): mark the rows it left
        failed with ``message`` and repair the index; returns the video id, if any."""
        with self._writing():
            return self._fail_interrupted(Path(path).expanduser().resolve(), message)

    def forget_cached_rows(self) -> None:
        """Forget the cached gallery rows: another process (a queue worker) changed them."""
        self._rows.invalidate()

    def _fail_interrupted(self, path: Path, message: str) -> int | None:
        """After a worker crash: mark the rows it left for ``path`` failed; repair the index.

        A row of ``path`` still ``pending`` or ``indexing`` whose video no live process is
        indexing (see ``_indexing_video``) was left by the dead worker. Returns its video id.
        """
        video_id = None
        try:
            with self._gallery_write_lock():
                self.store.check_index()  # the worker may have died between the DB and the index
                for video in self.store.list_videos():
                    if (video.status in ("pending", "indexing") and Path(video.path) == path
                            and not self._video_in_progress(video.id)):
                        self.store.update_video(video.id, status="failed", error=message)
                        video_id = video.id
        except Exception:  # e.g. a read-only gallery: the row stays, the next run redoes it
            logger.exception("could not record the failure of %s", path)
        return video_id

    def index_folder(self, root: str | Path, progress: ProgressFn | None = None, actor: str = "cli",
                     start_time: dt.datetime | None = None) -> list[IndexReport]:
        """Index every video under ``root``; the camera is the first sub-folder name (files directly
        in ``root`` use their file stem). Symbolic links that lead outside ``root`` are not
        followed: each gives a ``"skipped"`` report."""
        reports: list[IndexReport] = []

        def skipped(path: Path, reason: str) -> None:
            reports.append(IndexReport(str(path), "", "skipped", error=reason))

        files = list(iter_videos(root, exclude=self.data_dir, on_skip=skipped))
        for i, (path, camera) in enumerate(files):
            def sub(fraction: float, message: str, i: int = i) -> None:
                if progress is not None:
                    progress((i + fraction) / len(files), message)

            reports.append(self.index_video(path, camera, start_time, sub, actor))
        return reports

    def reindex(self, progress: ProgressFn | None = None, actor: str = "cli", batch: int = 32) -> int:
        """Re-embed every stored tracklet from its saved crops with the current embedder.

        Resumable: the new fingerprint is recorded first, then descriptors are stored batch by
        batch, so an interrupted run continues where it stopped. Returns the tracklets re-embedded.
        """
        with self._index_lock, self._writing(), self._gallery_write_lock():
            if self.store.fingerprint != self.embedder.fingerprint:
                self.store.reset_index(self.embedder.fingerprint, actor=actor)
            todo = self.store.tracklets_without_descriptor()
            skipped: list[int] = []
            for start in range(0, len(todo), batch):
                ids = todo[start : start + batch]
                infos = self.store.get_tracklets(ids)
                readable = {i: [c for c in map(read_rgb_crop, infos[i].crop_paths) if c is not None]
                            for i in ids}
                skipped.extend(i for i in ids if not readable[i])
                ok = [i for i in ids if readable[i]]
                if ok:
                    vectors = self.embedder.embed_tracklets([readable[i] for i in ok])
                    self.store.set_descriptors(ok, vectors, self.embedder.fingerprint)
                if progress is not None:
                    progress((start + len(ids)) / len(todo), f"re-embedded {start + len(ids)}/{len(todo)}")
        if skipped:
            logger.warning("%d tracklets have no readable crop files and stay unsearchable until their "
                           "videos are indexed again: %s", len(skipped), skipped[:20])
        return len(todo) - len(skipped)

    def delete_video(self, video_id: int, actor: str = "cli",
                     cache_dirs: Sequence[str | Path] = ()) -> int:
        """Delete a video and everything kept of it; returns the tracklets removed.

        Removed: its tracklets, vectors and crops; its playback clips; the exports listing it;
        its uploaded original when it was an upload (``uploads/``; a video indexed from a server
        folder is the owner's and stays); and every copy of those files, found by content, in
        ``cache_dirs`` (e.g. the web UI's upload cache).
        """
        from reid.service import _cleanup

        with self._index_lock, self._writing(), self._gallery_write_lock():
            video = self.store.get_video(video_id)
            tracklets = self.store.list_tracklets(video_id=video_id, limit=None)
            ids = [t.id for t in tracklets]
            with self._render_lock:
                clips = [c for tid in ids for c in self._cached_clips(tid)]
            original = _cleanup.uploaded_original(video.path, self.store.layout.uploads)
            own = [*clips, *(p for t in tracklets for p in (*t.crop_paths, t.thumbnail_path) if p)]
            if original is not None:
                own.append(original)
            copies = _cleanup.copies_by_content(own, [Path(d) for d in cache_dirs])
            exports = _cleanup.exports_naming_video(self.store.layout.exports, video_id, ids)
            removed = self.store.delete_video(video_id, actor=actor)
        others = {str(Path(v.path).resolve()) for v in self.store.list_videos()}
        with self._render_lock:
            for path in [*clips, *copies, *exports]:
                path.unlink(missing_ok=True)
            if original is not None and str(original) not in others:
                original.unlink(missing_ok=True)
                with contextlib.suppress(OSError):  # its content-addressed folder, when empty
                    original.parent.rmdir()
        logger.info("video %d: removed %d clips, %d exports, %d cached copies%s", video_id,
                    len(clips), len(exports), len(copies),
                    " and its uploaded original" if original is not None else "")
        return removed


def iter_videos(root: str | Path, exclude: Path | None = None,
                on_skip: Callable[[Path, str], None] | None = None) -> Iterator[tuple[Path, str]]:
    """``(path, camera)`` of every video file under ``root``, sorted; camera = first sub-folder.

    Hidden files and folders are skipped, and so is everything under ``exclude`` (the gallery's
    own data dir: its playback clips and uploads are not footage to index). Symbolic links are
    not followed into folders; a link (to a file or a folder) that resolves outside ``root`` or
    into ``exclude`` is skipped with a warning and ``on_skip(path, reason)``.
    """
    root = Path(root).expanduser().resolve()
    if root.is_file():
        yield root, root.stem
        return
    if not root.is_dir():
        raise FileNotFoundError(f"no such file or folder: {root}")
    skip = exclude.resolve() if exclude is not None else None

    def escapes(link: Path) -> bool:
        target = link.resolve()
        if target.is_relative_to(root) and not (skip and target.is_relative_to(skip)):
            return False
        logger.warning("%s is a symbolic link to %s, outside %s; skipped", link, target, root)
        if on_skip is not None:
            on_skip(link, "skipped: a symbolic link that leads outside the folder being indexed")
        return True

    found: list[tuple[Path, str]] = []
    for folder, dirs, names in os.walk(root):  # does not descend into linked folders
        here = Path(folder)
        dirs[:] = [d for d in dirs if not d.startswith(".")
                   and not (skip and (here / d).is_relative_to(skip))]
        for d in dirs:
            if (here / d).is_symlink():
                escapes(here / d)
        for name in names:
            path = here / name
            if name.startswith(".") or path.suffix.lower() not in VIDEO_SUFFIXES:
                continue
            if path.is_symlink() and escapes(path):
                continue
            if path.is_file():
                rel = path.relative_to(root)
                found.append((path, rel.parts[0] if len(rel.parts) > 1 else path.stem))
    yield from sorted(found)
