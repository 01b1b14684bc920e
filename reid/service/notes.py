"""The notes a status carries about the models in use: fallbacks and a gallery built by another
embedder. Standard library only: ``reid status`` writes them without building the models
(``app/commands/status.py``); ``ReidService.status`` says the same.
"""

from __future__ import annotations

from typing import Any

__all__ = ["model_notes"]


def model_notes(
    *,
    gallery_fingerprint: dict[str, Any] | None,
    embedder_fingerprint: dict[str, Any],
    embedder_name: str,
    embedder_kind: str,
    embedder_fallback: bool,
    detector_name: str,
    detector_fallback: bool,
) -> list[str]:
    """One line per thing the user should know: the gallery's descriptors come from another
    embedder than the current one (indexing refuses), an offline fallback detector or embedder, or
    the zero-shot CLIP descriptor."""
    notes = []
    if gallery_fingerprint is not None and gallery_fingerprint != embedder_fingerprint:
        notes.append(f"The gallery was built with embedder {gallery_fingerprint.get('model')!r}, not the "
                     f"current {embedder_name!r}: indexing and photo search are refused "
                     "until `reid reindex` re-embeds it (or use the gallery's embedder).")
    if detector_fallback and detector_name == "ssd":
        notes.append("Offline fallback detector in use: SSDLite-MobileNetV2 person detector (cv2.dnn); "
                     "YOLO weights unavailable.")
    elif detector_fallback:
        notes.append("Last-resort detector in use: OpenCV HOG (misses people under ~110 px, loose "
                     "boxes); the requested detector is unavailable (`reid weights fetch "
                     "ssdlite-person`).")
    if embedder_fallback:
        notes.append("Offline fallback embedder in use: ImageNet MobileNetV2, not a ReID model "
                     "(no CLIP weights available). Rankings are rough.")
    elif embedder_kind == "clip-zero-shot":
        notes.append("Zero-shot CLIP descriptor in use (no trained TF-CLIP checkpoint configured).")
    return notes
