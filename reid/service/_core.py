"""The state and plumbing every part of ``ReidService`` shares: locks, isolation, audit, refresh.

:class:`ServiceCore` holds what the indexing side (``reid.service._ingest``) and the query side
(``reid.service._queries``) both need: the gallery's cross-process write lock, the reload of a
vector index another process rewrote, the audit log, the worker and playback child processes.
``reid.service.service.ReidService`` puts the parts together; callers use only that.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from reid.embed import Embedder
from reid.service._audit import AuditWriter
from reid.service._isolated import IsolatedCalls
from reid.service._rows import CachedGallery
from reid.service.worker import IndexWorker
from reid.store import Store
from tracking import Detector, TrackingConfig

if TYPE_CHECKING:
    from reid.service.service import ReidService

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


class ServiceCore:
    """The shared state of ``ReidService`` (see its docstring for the arguments)."""

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
        self._rows = CachedGallery(store, store.vectors.stamp)  # what searches read
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

    def _native(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)``, in the playback child when playback is isolated."""
        if self._playback is None:
            return fn(*args, **kwargs)
        return self._playback.call(fn, *args, **kwargs)

    # ------------------------------------------------------------------ audit
    def defer_audit(self) -> None:
        """Write audit entries in a background thread from now on (``reid.service._audit``): a
        search then returns without waiting for a database commit. ``close()`` writes what is
        still queued; ``flush_audit()`` waits for it."""
        if self._audit is None:
            self._audit = AuditWriter(self.store)

    def warm_search_cache(self) -> int:
        """Read the gallery's rows into the search row cache now (when they all fit), after
        building a vector index that comes from the database: a server calls it in the
        background at start, so that its first search does not wait for either. Returns the
        rows cached."""
        if self.store.index_source == "database":
            report = self.store.vectors.follow(force=True)
            logger.info("vector index built from the database: %d vectors", report.added)
        count = self._rows.warm()
        logger.info("search cache: %d tracklet rows read ahead", count)
        return count

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

    # ------------------------------------------------------------------ one writer, fresh index
    @contextmanager
    def _gallery_write_lock(self, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
        """One writer per gallery across processes (``flock`` on the layout's ``.write.lock``).

        A second ``reid index`` or a server's indexing job waits here instead of interleaving
        with the first; the vector index is reloaded first if another process changed it.
        While waiting, ``on_wait()`` is called about every half second (a worker process's
        progress, so that its parent knows it is waiting, not hung).
        """
        import fcntl

        self.store.require_writable()  # a read-only gallery: GalleryError naming the fix
        with self.store.layout.write_lock.open("a") as handle:
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
                # writes update the index files: start from their latest (an index from the
                # database is not touched by writes: a worker that only writes never builds it)
                self.store.vectors.catch_up(build=False)
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextmanager
    def _indexing_video(self, video_id: int) -> Iterator[None]:
        """Mark ``video_id`` as being indexed by this process while the block runs: an exclusive
        ``flock`` on its crops folder, released by the kernel if the process dies. Another
        process finding the video ``pending``/``indexing`` tells a live run from an interrupted
        one with :meth:`_video_in_progress`."""
        import fcntl

        folder = self.store.layout.video_crops(video_id)
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new id: nobody else holds it
            yield
        finally:
            os.close(fd)  # releases the lock

    def _video_in_progress(self, video_id: int) -> bool:
        """True while another live process indexes ``video_id`` (see :meth:`_indexing_video`)."""
        import fcntl

        try:
            fd = os.open(self.store.layout.video_crops(video_id), os.O_RDONLY)
        except OSError:
            return False  # no crops folder: nobody is indexing it
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)

    def _wait_for_video(self, video_id: int, on_wait: Callable[[], None] | None = None,
                        poll_s: float = 0.5) -> None:
        """Return once no live process indexes ``video_id``; ``on_wait()`` about every
        ``poll_s`` meanwhile (a worker's progress, so that it is not taken for hung)."""
        while self._video_in_progress(video_id):
            if on_wait is not None:
                on_wait()
            time.sleep(poll_s)

    # ------------------------------------------------------------------ paths
    def _cached_clips(self, tracklet_id: int) -> list[Path]:
        """The rendered clips of a tracklet that exist (``clips/tracklet_<id>.webm`` or ``.mp4``)."""
        stem = self.store.layout.clip_stem(tracklet_id)
        return [p for p in (stem.with_suffix(".webm"), stem.with_suffix(".mp4")) if p.is_file()]

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
