"""``ReidService``: the facade the CLI and the web UI call (ingest, browse, search, export)."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from reid.embed import Embedder
from reid.files import sha256_file
from reid.search import SearchFilters, SearchOptions, search_tracklet, search_vectors
from reid.service import export as exporting
from reid.service._audit import AuditWriter
from reid.service._isolated import IsolatedCalls
from reid.service._rows import CachedGallery
from reid.service.indexer import IndexJob, run_index_job
from reid.service.render import render_clip, render_frames
from reid.service.types import IndexReport, Match, ProgressFn, SearchRequest, SearchResponse, ServiceStatus
from reid.service.worker import IndexJobSpec, IndexWorker, WorkerCrashedError, WorkerError
from reid.store import Store, TrackletInfo, VideoInfo
from tracking import Detector, TrackingConfig

logger = logging.getLogger(__name__)

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".wmv"})


class ReidService:
    """Ingest videos into a gallery and answer "where else does this person appear?".

    Built once by the composition root (``app.compose.build_service``) from plain objects. Indexing
    jobs run one at a time (a lock); searches run concurrently with them and with each other.
    After :meth:`use_worker_process`, indexing jobs run in a separate worker process
    (``reid.service.worker``), so that a crash in native code fails one video, not this process.

    Args:
        store: the gallery.
        detector: person detector used for indexing.
        embedder: descriptor extractor; must match the gallery's fingerprint.
        tracking_config: tracker and tracklet settings.
        stride: detect on every ``stride``-th frame when indexing (0: about 5 frames a second,
            ``tracking.pipeline.detection_stride``).
        detector_fallback: the detector in use is an offline fallback (shown in the status).
        worker_factory: a picklable callable building an equivalent service in another process
            (what :meth:`use_worker_process` needs).
    """

    def __init__(
        self,
        store: Store,
        detector: Detector,
        embedder: Embedder,
        tracking_config: TrackingConfig,
        *,
        stride: int = 1,
        detector_fallback: bool = False,
        worker_factory: Callable[[], ReidService] | None = None,
    ) -> None:
        self.store = store
        self.detector = detector
        self.embedder = embedder
        self.tracking_config = tracking_config
        self.stride = stride
        self.detector_fallback = detector_fallback
        self._index_lock = threading.Lock()
        self._render_lock = threading.Lock()
        self._index_stamp = self._index_file_stamp()
        self._rows = CachedGallery(store, self._index_file_stamp)  # what searches read
        self._audit: AuditWriter | None = None
        self._worker_factory = worker_factory
        self._worker: IndexWorker | None = None
        self._playback: IsolatedCalls | None = None

    @property
    def data_dir(self) -> Path:
        return self.store.data_dir

    # ------------------------------------------------------------------ isolation
    def use_worker_process(self, niceness: int = 0) -> bool:
        """Run ``index_video`` (and so ``index_folder``) in a worker process from now on.

        The worker starts with the first job and indexes at ``niceness`` lower CPU priority. A
        crash of the worker marks that video failed and the next job gets a new worker. Returns
        False (indexing stays in this process) when the service has no ``worker_factory``.
        The worker is started with ``spawn``: a program calling this from a script must guard its
        main code with ``if __name__ == "__main__":`` (``reid`` and ``python -m app`` do).
        """
        if self._worker_factory is None:
            logger.warning("no worker factory: indexing runs inside this process")
            return False
        if self._worker is None:
            self._worker = IndexWorker(self._worker_factory, niceness=niceness)
        self.isolate_playback()
        return True

    def isolate_playback(self) -> None:
        """Render playback clips and frame strips in a child process from now on: they decode the
        source video again (seeking), and a decoder crash must fail one clip, not this process."""
        if self._playback is None:
            self._playback = IsolatedCalls("rendering playback")

    def _native(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)``, in the playback child when playback is isolated."""
        if self._playback is None:
            return fn(*args, **kwargs)
        return self._playback.call(fn, *args, **kwargs)

    def defer_audit(self) -> None:
        """Write audit entries in a background thread from now on (``reid.service._audit``): a
        search then returns without waiting for a database commit. ``close()`` writes what is
        still queued; ``flush_audit()`` waits for it."""
        if self._audit is None:
            self._audit = AuditWriter(self.store)

    def flush_audit(self, timeout: float | None = None) -> bool:
        """Wait until every audit entry queued so far is written; False on timeout."""
        return True if self._audit is None else self._audit.flush(timeout)

    def _log(self, actor: str, action: str, details: dict[str, Any]) -> None:
        """One audit entry: queued when ``defer_audit`` is on, written now otherwise."""
        if self._audit is None:
            self.store.log_action(actor, action, details)
        else:
            self._audit.submit(actor, action, details)

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Around a gallery write of ours: the queued audit entries are written first (the store
        and the worker write their own entries; the log keeps its order), the cached rows are
        forgotten after."""
        self.flush_audit()
        try:
            yield
        finally:
            self._rows.invalidate()

    def close(self) -> None:
        """Write the queued audit entries; stop the indexing worker process, if any (later
        indexing jobs fail with a message).

        A job still running 10 s later is abandoned: its video stays ``indexing`` and the next
        run indexes it again.
        """
        if self._audit is not None:
            self._audit.close()
        if self._worker is not None:
            self._worker.close()
        if self._playback is not None:
            self._playback.close()

    # ------------------------------------------------------------------ ingest
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

        with self._index_lock, self._writing(), self._gallery_write_lock(on_wait=waiting):
            content_hash = sha256_file(path)
            existing = self.store.find_video(content_hash)
            if existing is not None and existing.status == "done":
                logger.info("%s is already indexed as video %d; skipped", path, existing.id)
                return IndexReport(str(path), existing.camera, "duplicate", video_id=existing.id,
                                   elapsed_s=time.perf_counter() - t0)
            if existing is not None:
                logger.info("video %d (%s) was left %s; indexing it again",
                            existing.id, path, existing.status)
                self.store.delete_video(existing.id, actor=actor)
            video_id = self.store.add_video(path, content_hash, camera, start_time=start_time)
            self.store.update_video(video_id, status="indexing")
            self.store.log_action(actor, "index_video", {"video_id": video_id, "path": str(path)})
            job = IndexJob(self.store, self.detector, self.embedder, self.tracking_config, video_id,
                           path, camera, start_time, self.stride, progress)
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

    def _fail_interrupted(self, path: Path, message: str) -> int | None:
        """After a worker crash: mark the rows it left for ``path`` failed; repair the index.

        Holding the gallery's write lock, no other writer is active, so a row of ``path`` still
        ``pending`` or ``indexing`` was left by the dead worker. Returns its video id.
        """
        video_id = None
        try:
            with self._gallery_write_lock():
                self.store.check_index()  # the worker may have died between the DB and the index
                for video in self.store.list_videos():
                    if video.status in ("pending", "indexing") and Path(video.path) == path:
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
                readable = {i: [c for c in map(_read_rgb, infos[i].crop_paths) if c is not None] for i in ids}
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
            original = _cleanup.uploaded_original(video.path, self.data_dir / "uploads")
            own = [*clips, *(p for t in tracklets for p in (*t.crop_paths, t.thumbnail_path) if p)]
            if original is not None:
                own.append(original)
            copies = _cleanup.copies_by_content(own, [Path(d) for d in cache_dirs])
            exports = _cleanup.exports_naming_video(self.data_dir / "exports", video_id, ids)
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

    # ------------------------------------------------------------------ browse
    def list_cameras(self) -> list[str]:
        return [name for _, name in self.store.list_cameras()]

    def list_videos(self) -> list[VideoInfo]:
        return self.store.list_videos()

    def list_tracklets(self, camera: str | None = None, video_id: int | None = None,
                       limit: int | None = 500) -> list[TrackletInfo]:
        return self.store.list_tracklets(camera=camera, video_id=video_id, limit=limit)

    def get_tracklet(self, tracklet_id: int) -> TrackletInfo:
        info = self._rows.get_tracklets([tracklet_id]).get(tracklet_id)
        if info is None:
            raise KeyError(f"no tracklet with id {tracklet_id}")
        return info

    # ------------------------------------------------------------------ search
    def search(self, request: SearchRequest, actor: str = "cli") -> SearchResponse:
        """Run a search (by tracklet or by images) and write it to the audit log."""
        t0 = time.perf_counter()
        self._refresh_index()
        filters = SearchFilters(
            cameras=request.cameras, time_from=request.time_from, time_to=request.time_to,
            min_duration_s=request.min_duration_s, exclude_same_video=request.exclude_same_video,
            exclude_same_camera=request.exclude_same_camera, min_score=request.score_threshold,
        )
        options = SearchOptions(k=request.top_k, rerank=request.rerank,
                                query_expansion=request.query_expansion, use_feedback=request.use_feedback)
        query = None
        if request.tracklet_id is not None:
            query = self.get_tracklet(request.tracklet_id)
            found = search_tracklet(self._rows, request.tracklet_id, filters, options)
        elif request.images:
            # Photos must be embedded by the gallery's own embedder (same dimension is not enough).
            self.store.check_fingerprint(self.embedder.fingerprint)
            vectors = self.embedder.embed_images(request.images)
            found = search_vectors(self._rows, vectors, filters, options)
        else:
            raise ValueError("a search needs a tracklet id or at least one person image")
        infos = self._rows.get_tracklets([r.tracklet_id for r in found.results])
        confirmed = set(found.confirmed)
        matches = [Match(infos[r.tracklet_id], r.score, rank, True if r.tracklet_id in confirmed else None)
                   for rank, r in enumerate((r for r in found.results if r.tracklet_id in infos), start=1)]
        notes = []
        if (request.time_from or request.time_to) and any(v.start_time is None for v in self.list_videos()):
            notes.append("videos indexed without a start time are left out by the time filter "
                         "(index them with --start-time)")
        if found.reranked:
            notes.append("re-ranked (k-reciprocal)")
        if found.expanded:
            notes.append("query expansion")
        if found.confirmed or found.rejected:
            notes.append(f"feedback: {len(found.confirmed)} confirmed, {len(found.rejected)} rejected")
        self._log(actor, "search", {
            "tracklet_id": request.tracklet_id, "images": len(request.images or []),
            "results": len(matches), "cameras": request.cameras,
        })
        return SearchResponse(query, matches, time.perf_counter() - t0, notes)

    def add_feedback(self, query_id: int, candidate_id: int, same: bool, actor: str = "cli") -> None:
        """Save "same person" / "not this person" for a pair; later searches use it."""
        with self._writing():
            self.store.add_feedback(query_id, candidate_id, same, actor=actor)
        self._log(actor, "feedback", {"query": query_id, "candidate": candidate_id, "same": same})

    # ---------------------------------------------------------------- playback
    def render_clip(self, tracklet_id: int) -> Path:
        """A short clip of the tracklet with its box drawn, cached under ``clips/`` in the data dir."""
        info = self.get_tracklet(tracklet_id)
        with self._render_lock:
            cached = self._cached_clips(tracklet_id)
            if cached:
                return cached[0]
            frames, boxes = self.store.get_boxes(tracklet_id)
            video = self.store.get_video(info.video_id)
            out_stem = self.data_dir / "clips" / f"tracklet_{tracklet_id}"
            return self._native(render_clip, video.path, frames, boxes, out_stem,
                                label=f"{info.camera} #{info.track_id}")

    def _cached_clips(self, tracklet_id: int) -> list[Path]:
        stem = self.data_dir / "clips" / f"tracklet_{tracklet_id}"
        return [p for p in (stem.with_suffix(".webm"), stem.with_suffix(".mp4")) if p.is_file()]

    def render_frames(self, tracklet_id: int, n: int = 6) -> list[np.ndarray]:
        """``n`` annotated RGB frames of the tracklet (a strip, when a clip cannot be played)."""
        info = self.get_tracklet(tracklet_id)
        frames, boxes = self.store.get_boxes(tracklet_id)
        video = self.store.get_video(info.video_id)
        return self._native(render_frames, video.path, frames, boxes, n,
                            label=f"{info.camera} #{info.track_id}")

    # ------------------------------------------------------------------ export
    def export(self, response: SearchResponse, fmt: str, actor: str = "cli") -> Path:
        """Write matches as ``csv``, ``json`` or a ``zip`` of crops and clips under ``exports/``."""
        if fmt not in exporting.EXPORT_FORMATS:
            raise ValueError(f"unknown export format {fmt!r}; choose one of {exporting.EXPORT_FORMATS}")
        folder = self.data_dir / "exports"
        folder.mkdir(parents=True, exist_ok=True)
        query = f"t{response.query.id}" if response.query else "images"
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%f")
        path = folder / f"matches_{query}_{stamp}.{fmt}"
        if fmt == "csv":
            exporting.write_csv(response, path)
        elif fmt == "json":
            exporting.write_json(response, path)
        else:
            exporting.write_zip(response, path, self.render_clip)
        self._log(actor, "export", {"format": fmt, "path": self.store.relpath(path),
                                    "matches": len(response.matches)})
        return path

    # ------------------------------------------------------------------ status
    def status(self) -> ServiceStatus:
        stats = self.store.stats()
        per_camera = stats["tracklets_per_camera"]
        notes = []
        gallery_fp = self.store.fingerprint
        if gallery_fp is not None and gallery_fp != self.embedder.fingerprint:
            notes.append(f"The gallery was built with embedder {gallery_fp.get('model')!r}, not the "
                         f"current {self.embedder.name!r}: indexing and photo search are refused "
                         "until `reid reindex` re-embeds it (or use the gallery's embedder).")
        if self.detector_fallback and self.detector.name == "ssd":
            notes.append("Offline fallback detector in use: SSDLite-MobileNetV2 person detector (cv2.dnn); "
                         "YOLO weights unavailable.")
        elif self.detector_fallback:
            notes.append("Last-resort detector in use: OpenCV HOG (misses people under ~110 px, loose "
                         "boxes); the requested detector is unavailable (`reid weights fetch "
                         "ssdlite-person`).")
        if self.embedder.is_fallback:
            notes.append("Offline fallback embedder in use: ImageNet MobileNetV2, not a ReID model "
                         "(no CLIP weights available). Rankings are rough.")
        elif self.embedder.kind == "clip-zero-shot":
            notes.append("Zero-shot CLIP descriptor in use (no trained TF-CLIP checkpoint configured).")
        return ServiceStatus(
            data_dir=self.data_dir, detector=self.detector.name, detector_fallback=self.detector_fallback,
            embedder=self.embedder.name, embedder_kind=self.embedder.kind,
            embedder_fallback=self.embedder.is_fallback, descriptor_dim=self.embedder.dim,
            index_type=str(stats.get("index_kind") or self.store.index_config.kind),
            videos=sum(stats["videos"].values()), tracklets=int(stats["tracklets"] or 0),
            tracklets_per_camera=per_camera, notes=notes,
        )

    @contextmanager
    def _gallery_write_lock(self, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
        """One writer per gallery across processes (``flock`` on ``<data_dir>/.write.lock``).

        A second ``reid index`` or a server's indexing job waits here instead of interleaving
        with the first; the vector index is reloaded first if another process changed it.
        While waiting, ``on_wait()`` is called about every half second (a worker process's
        progress, so that its parent knows it is waiting, not hung).
        """
        import fcntl

        self.store.require_writable()  # a read-only gallery: GalleryError naming the fix
        with (self.data_dir / ".write.lock").open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                logger.warning("another process is writing to %s; waiting for it", self.data_dir)
                if on_wait is None:
                    fcntl.flock(handle, fcntl.LOCK_EX)
                else:
                    while True:
                        on_wait()
                        time.sleep(0.5)
                        try:
                            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                            break
                        except BlockingIOError:
                            continue
            try:
                self._refresh_index()
                yield
            finally:
                self._index_stamp = self._index_file_stamp()  # our own write needs no reload
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _index_file_stamp(self) -> int | None:
        meta = self.store.meta_path
        return meta.stat().st_mtime_ns if meta.exists() else None

    def _refresh_index(self) -> None:
        """Reload the vector index when another process rewrote it (``vectors.json`` changes on
        every save), so a running server sees videos indexed by ``reid index`` elsewhere."""
        stamp = self._index_file_stamp()
        if stamp != self._index_stamp:
            report = self.store.check_index()
            logger.info("vector index changed on disk; reloaded%s",
                        f" ({'; '.join(report.actions)})" if report.changed else "")
            self._index_stamp = stamp

    def resolve_data_path(self, path: str | Path) -> Path:
        """``path`` (absolute, or relative to the data dir) if it lies inside the data dir.

        Raises:
            ValueError: the path escapes the data dir (e.g. ``../`` or a symlink out).
        """
        p = Path(path)
        p = (p if p.is_absolute() else self.data_dir / p).resolve()
        if not p.is_relative_to(self.data_dir):
            raise ValueError(f"access outside the data directory refused: {path}")
        return p


def _read_rgb(path: Path) -> np.ndarray | None:
    """An RGB crop, or None when the file is missing or unreadable."""
    image = cv2.imread(str(path))
    return None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


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
