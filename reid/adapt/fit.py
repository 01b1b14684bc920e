"""Fit a site head on an exported pseudo-identity set (``reid.adapt.dataset``), CPU only."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from reid.adapt.dataset import PseudoIdentities
from reid.adapt.head import refine_projection, whitening_projection
from reid.embed.base import Embedder
from reid.embed.crops import read_rgb_crop

logger = logging.getLogger(__name__)

DEFAULT_SHRINKAGE = 1.0
"""Chosen on half of the labelled vtest people (``benchmarks/adapt_labelled.py``), reported on the
other half."""
DEFAULT_REFINE_STEPS = 0
"""The contrastive refinement did not beat the whitening alone on the held-out people (same
benchmark), so it is off unless asked for."""


def crop_descriptors(embedder: Embedder, data: PseudoIdentities,
                     progress: Callable[[float, str], None] | None = None) -> list[np.ndarray]:
    """Per pseudo-identity the ``(2 n_i, D)`` descriptors of its crops and their mirror images
    (each crop embedded as a one-frame tracklet)."""
    out = []
    for k, paths in enumerate(data.crop_paths):
        crops = [c for c in map(read_rgb_crop, paths) if c is not None]
        crops += [np.ascontiguousarray(c[:, ::-1]) for c in crops]
        out.append(embedder.embed_images(crops) if crops else np.zeros((0, embedder.dim), np.float32))
        if progress is not None:
            progress((k + 1) / len(data), f"embedded crops of {k + 1}/{len(data)} tracklets")
    return out


def fit_site_head(embedder: Embedder, data: PseudoIdentities, *,
                  shrinkage: float = DEFAULT_SHRINKAGE, refine_steps: int = DEFAULT_REFINE_STEPS,
                  progress: Callable[[float, str], None] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Learn a ``(D, D)`` projection for ``embedder``'s descriptors from the pseudo-identities.

    Returns:
        The projection and a summary (counts, options, seconds) to store with it.
    """
    t0 = time.perf_counter()
    descriptors = crop_descriptors(embedder, data, progress)
    t1 = time.perf_counter()
    projection = whitening_projection(descriptors, shrinkage)
    projection = refine_projection(projection, descriptors, data.hard_negatives, steps=refine_steps)
    summary = {"method": "within-tracklet whitening" + (" + contrastive refinement" if refine_steps else ""),
               "pseudo_identities": len(data), "crops": int(sum(len(d) for d in descriptors) // 2),
               "hard_negative_pairs": int(len(data.hard_negatives)), "shrinkage": shrinkage,
               "refine_steps": refine_steps, "embed_seconds": round(t1 - t0, 1),
               "fit_seconds": round(time.perf_counter() - t1, 1)}
    logger.info("site head fitted: %s", summary)
    return projection, summary
