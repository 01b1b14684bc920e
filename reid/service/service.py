"""``ReidService``: the facade the CLI and the web UI call (ingest, browse, search, export)."""

from __future__ import annotations

from reid.service._ingest import VIDEO_SUFFIXES, IngestMixin, iter_videos
from reid.service._queries import QueryMixin
from reid.service.notes import model_notes
from reid.service.types import ServiceStatus

__all__ = ["VIDEO_SUFFIXES", "ReidService", "iter_videos"]


class ReidService(IngestMixin, QueryMixin):
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

    The methods live in parts by concern: shared state, locks, isolation and audit in
    ``reid.service._core``; indexing in ``reid.service._ingest``; browsing, search, feedback,
    playback and export in ``reid.service._queries``; the status here.
    """

    # ------------------------------------------------------------------ status
    def status(self) -> ServiceStatus:
        """The gallery's counts, the models in use, and notes on fallbacks and mismatches."""
        stats = self.store.stats()
        per_camera = stats["tracklets_per_camera"]
        notes = model_notes(
            gallery_fingerprint=self.store.fingerprint, embedder_fingerprint=self.embedder.fingerprint,
            embedder_name=self.embedder.name, embedder_kind=self.embedder.kind,
            embedder_fallback=self.embedder.is_fallback, detector_name=self.detector.name,
            detector_fallback=self.detector_fallback,
        )
        return ServiceStatus(
            data_dir=self.data_dir, detector=self.detector.name, detector_fallback=self.detector_fallback,
            embedder=self.embedder.name, embedder_kind=self.embedder.kind,
            embedder_fallback=self.embedder.is_fallback, descriptor_dim=self.embedder.dim,
            index_type=str(stats["index_label"]),
            videos=sum(stats["videos"].values()), tracklets=int(stats["tracklets"] or 0),
            tracklets_per_camera=per_camera, notes=notes, gallery_fingerprint=self.store.fingerprint,
            jobs=dict(stats.get("jobs") or {}),
        )
