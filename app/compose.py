"""The composition root: settings in, a ready ``ReidService`` out. Nothing else builds services."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from app.settings import Settings
from reid.embed import Embedder, create_embedder
from reid.service import ReidService
from reid.store import IndexConfig, Store, configured_index_kind
from tracking import create_detector, load_tracking_config

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceFactory:
    """A picklable "build the service from these settings": what the indexing worker process
    (``reid.service.worker``) calls to get its own service."""

    settings: Settings

    def __call__(self) -> ReidService:
        return build_service(self.settings)


def site_embedder(settings: Settings) -> Embedder:
    """The embedder of these settings with the gallery's active adapted model (``reid adapt``):
    a site-tuned TF-CLIP checkpoint stands in for ``--checkpoint`` when none is given; a site head
    wraps the embedder it was fitted on (and is left out, with a warning, over any other)."""
    from reid.adapt import SiteHeadEmbedder, SiteModels

    models = SiteModels(settings.data_dir)
    active = models.active()
    checkpoint = settings.checkpoint
    if (active is not None and active.kind == "checkpoint" and not checkpoint
            and settings.embedder in ("auto", "tfclip")):
        checkpoint = str(models.path(active))
        logger.info("embedding with the site-tuned TF-CLIP %s", active.file)
    embedder = create_embedder(settings.embedder, checkpoint=checkpoint,
                               clip_weights=settings.clip_weights, device=settings.device)
    if active is not None and active.kind == "head":
        try:
            embedder = SiteHeadEmbedder.from_file(embedder, models.path(active))
        except ValueError as exc:
            logger.warning("%s; embedding with %s as it is", exc, embedder.name)
    return embedder


def build_service(settings: Settings) -> ReidService:
    """Open the gallery and build the detector, embedder and tracker configuration.

    Offline fallbacks (SSDLite or HOG detector, MobileNetV2 embedder) are logged here and flagged in the
    service status, never silent. The service can move its indexing into a worker process
    (``service.use_worker_process()``), which builds its own service from the same settings.
    """
    kind = settings.index or configured_index_kind(settings.data_dir) or "flat"
    store = Store.open(settings.data_dir, db_url=settings.db_url, index_config=IndexConfig.for_kind(kind),
                       index_source=settings.resolved_index_source)
    if store.repair_report.changed:
        logger.warning("vector index repaired on open: %s", "; ".join(store.repair_report.actions))
    embedder = site_embedder(settings)
    if settings.detector == "yolo":
        detector = create_detector("yolo", weights=settings.yolo_weights, device=settings.device)
    else:
        detector = create_detector(settings.detector)
    fallback = detector.name != settings.detector  # YOLO -> SSDLite -> HOG, each step logged
    logger.info("detector: %s%s; embedder: %s (%d-d)%s", detector.name, " (fallback)" if fallback else "",
                embedder.name, embedder.dim, " (fallback)" if embedder.is_fallback else "")
    return ReidService(
        store, detector, embedder, load_tracking_config(settings.tracker), stride=settings.stride,
        detector_fallback=fallback, worker_factory=ServiceFactory(settings),
    )
