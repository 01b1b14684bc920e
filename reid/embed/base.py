"""The embedder protocol and the fingerprint that says which descriptors are comparable."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Embedder(Protocol):
    """Crops of many tracklets in, one L2-normalised float32 descriptor per tracklet out.

    Attributes:
        name: a short human-readable name, e.g. ``"tfclip-vit-b16"``.
        kind: ``"tfclip"``, ``"clip-zero-shot"`` or ``"mobilenetv2-imagenet"``.
        dim: descriptor length D.
        is_fallback: true for the offline fallback (shown in the UI and in ``reid status``).
        fingerprint: model name, weights hash, dimension and preprocessing; descriptors are
            comparable only between equal fingerprints.
    """

    name: str
    kind: str
    dim: int
    is_fallback: bool
    fingerprint: dict[str, Any]

    def embed_tracklets(
        self, crops: Sequence[Sequence[np.ndarray]], cameras: Sequence[int] | None = None
    ) -> np.ndarray:
        """Per tracklet a list of RGB uint8 crops (h, w, 3) -> (n_tracklets, D) float32, unit rows."""
        ...

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Each RGB uint8 image as a one-frame tracklet -> (n_images, D) float32, unit rows."""
        ...


def make_fingerprint(name: str, weights_id: str, dim: int, preprocess: dict[str, Any]) -> dict[str, Any]:
    """The fingerprint dict; ``weights_id`` is a content hash (or ``"random-init:<seed>"``)."""
    return {"model": name, "weights": weights_id, "dim": int(dim), "preprocess": preprocess}
