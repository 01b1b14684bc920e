"""``reid status``: what the gallery holds and which models are in use.

It answers without building the models: which detector and embedder the settings would get (and
whether each is an offline fallback) is decided from the files on this machine
(:mod:`tracking.describe`, :mod:`reid.embed.describe`, the gallery's active adapted model), the
embedder's fingerprint is computed from its weights file and recipe, and the gallery facts come
from the store. So no torch, open_clip, ultralytics or OpenCV is loaded. Where only building can
tell (weights that would be downloaded, an official TF-CLIP release file, an unreadable adapted
model), it builds the service as before.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.commands._common import build_service_from_args, open_store, printable, say
from app.settings import Settings, add_settings_arguments

if TYPE_CHECKING:
    from reid.embed.describe import EmbedderChoice
    from reid.service.types import ServiceStatus
    from reid.store import VideoInfo
    from tracking.describe import DetectorChoice

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("status", help="gallery size per camera, models in use, index type")
    add_settings_arguments(p, indexing=True)
    p.set_defaults(func=run)


@dataclass(frozen=True)
class ModelChoice:
    """The detector and embedder the settings would build (see :func:`describe_models`)."""

    detector: DetectorChoice
    embedder: EmbedderChoice


def describe_models(settings: Settings) -> ModelChoice | None:
    """What ``app.compose.build_service(settings)`` would build, decided like it (the gallery's
    active adapted model included) but without building; None when only building can tell or
    building would fail (it then raises the error that explains it)."""
    from reid.adapt.models import SiteModels
    from reid.embed.describe import describe_embedder
    from tracking.describe import describe_detector

    models = SiteModels(settings.data_dir)
    try:
        active = models.active()
        checkpoint = settings.checkpoint
        if (active is not None and active.kind == "checkpoint" and not checkpoint
                and settings.embedder in ("auto", "tfclip")):
            checkpoint = str(models.path(active))
        embedder = describe_embedder(settings.embedder, checkpoint=checkpoint,
                                     clip_weights=settings.clip_weights)
        if embedder is not None and active is not None and active.kind == "head":
            from reid.adapt.describe import site_head_choice

            with_head = site_head_choice(embedder, models.path(active))
            if with_head is None:
                return None
            embedder, warning = with_head
            if warning:
                logger.warning("%s", warning)
    except (ValueError, FileNotFoundError):
        return None  # building raises the same error, with its message
    detector = describe_detector(settings.detector, settings.yolo_weights if settings.detector == "yolo"
                                 else "yolo11n.pt")
    if embedder is None or detector is None:
        return None
    return ModelChoice(detector, embedder)


def light_status(settings: Settings) -> tuple[ServiceStatus, dict[str, Any] | None,
                                               list[VideoInfo]] | None:
    """``(status, gallery fingerprint, videos)`` as ``ReidService.status()`` would give them, from
    the store and :func:`describe_models`; None when the models must be built to tell."""
    choice = describe_models(settings)
    if choice is None:
        return None
    from reid.service.notes import model_notes
    from reid.service.types import ServiceStatus

    with open_store(settings) as store:
        stats = store.stats()
        fingerprint = store.fingerprint
        videos = store.list_videos()
        data_dir = store.data_dir
    detector, embedder = choice.detector, choice.embedder
    logger.info("detector: %s%s; embedder: %s (%d-d)%s (not built: status only)", detector.name,
                " (fallback)" if detector.fallback else "", embedder.name, embedder.dim,
                " (fallback)" if embedder.is_fallback else "")
    notes = model_notes(gallery_fingerprint=fingerprint, embedder_fingerprint=embedder.fingerprint,
                        embedder_name=embedder.name, embedder_kind=embedder.kind,
                        embedder_fallback=embedder.is_fallback, detector_name=detector.name,
                        detector_fallback=detector.fallback)
    status = ServiceStatus(
        data_dir=data_dir, detector=detector.name, detector_fallback=detector.fallback,
        embedder=embedder.name, embedder_kind=embedder.kind, embedder_fallback=embedder.is_fallback,
        descriptor_dim=embedder.dim, index_type=str(stats["index_label"]),
        videos=sum(stats["videos"].values()), tracklets=int(stats["tracklets"] or 0),
        tracklets_per_camera=stats["tracklets_per_camera"], notes=notes, gallery_fingerprint=fingerprint,
        jobs=dict(stats.get("jobs") or {}),
    )
    return status, fingerprint, videos


def run(args: argparse.Namespace) -> int:
    found = light_status(Settings.from_sources(args))
    if found is None:  # the models must be built to tell which they are
        service = build_service_from_args(args)
        found = service.status(), service.store.fingerprint, service.list_videos()
    s, fp, videos = found
    say(f"data dir:  {s.data_dir}")
    say(f"detector:  {s.detector}{'  (offline fallback)' if s.detector_fallback else ''}")
    say(f"embedder:  {s.embedder} [{s.embedder_kind}, {s.descriptor_dim}-d]"
          f"{'  (offline fallback)' if s.embedder_fallback else ''}")
    say(f"index:     {s.index_type}")
    if fp is not None:  # which model and weights made the stored descriptors
        say(f"built by:  {printable(str(fp.get('model')), max_chars=64)} "
            f"weights {printable(str(fp.get('weights')), max_chars=64)} ({fp.get('dim')}-d)")
    say(f"gallery:   {s.videos} videos, {s.tracklets} tracklets")
    for camera, n in sorted(s.tracklets_per_camera.items()):
        say(f"  {printable(camera, max_chars=64):<20} {n:>7} tracklets")
    for v in (v for v in videos if v.status == "failed"):
        say(f"  failed video {v.id}: {printable(v.path)}: {printable(v.error)}")
    if any(s.jobs.values()):  # the indexing queue (reid index, reid worker, the server's uploads)
        say("queue:     " + ", ".join(f"{n} {state}" for state, n in s.jobs.items()))
    for note in s.notes:
        say(f"note: {printable(note)}")
    return 0
