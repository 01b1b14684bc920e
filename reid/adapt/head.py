"""A site head: a linear projection of the gallery's descriptors, learned from its own tracklets.

Fitted in two steps, without labels (``reid.adapt.dataset`` says what the tracklets can and cannot
tell):

1. **Within-tracklet whitening** (closed form): the covariance ``S_w`` of crop descriptors around
   their own tracklet's mean is what changes while a person stays the same (pose, background, light,
   partial occlusion at this site). ``W = (S_w + lambda I)^(-1/2)`` with ``lambda`` = ``shrinkage`` x the
   mean eigenvalue turns those directions down. It uses positives only, so tracklets of one person
   that the tracker split cannot mislead it.
2. **Contrastive refinement** (optional, ``refine_steps``): descriptors of two disjoint crop subsets
   of a tracklet must find each other among the tracklets it certainly is not (seen at the same time
   on the same camera), an InfoNCE loss with a pull back to the step-1 projection.

The head is stored with the fingerprint of the embedder it was fitted on and is applied only on top
of that embedder (:class:`SiteHeadEmbedder`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from reid.adapt.describe import HEAD_FORMAT, HEAD_VERSION, site_head_fingerprint
from reid.embed.base import Embedder
from reid.embed.preprocess import l2_normalize

logger = logging.getLogger(__name__)

__all__ = ["HEAD_FORMAT", "HEAD_VERSION", "SiteHeadEmbedder", "load_head", "refine_projection",
           "save_head", "whitening_projection"]


def whitening_projection(crop_descriptors: Sequence[np.ndarray], shrinkage: float = 1.0) -> np.ndarray:
    """``(S_w + lambda I)^(-1/2)``, scaled to spectral norm 1.

    Args:
        crop_descriptors: per tracklet ``(n_i, D)`` descriptors of its single crops (n_i >= 2).
        shrinkage: ``lambda`` as a multiple of the mean eigenvalue of ``S_w`` (larger: closer to
            the identity, i.e. to the unadapted descriptor).

    Returns:
        ``(D, D)`` float32 symmetric projection (descriptors are row vectors: ``y = x @ W``).
    """
    if shrinkage <= 0:
        raise ValueError(f"shrinkage must be > 0, got {shrinkage}")
    blocks = [np.asarray(c, np.float64) for c in crop_descriptors if len(c) >= 2]
    if len(blocks) < 2:
        raise ValueError("whitening needs at least two tracklets with two or more crops")
    centred = np.concatenate([c - c.mean(axis=0) for c in blocks])
    scatter = centred.T @ centred / len(centred)
    eigenvalues, vectors = np.linalg.eigh(scatter)
    eigenvalues = np.clip(eigenvalues, 0.0, None)
    lam = shrinkage * max(float(eigenvalues.mean()), 1e-12)
    scale = (eigenvalues + lam) ** -0.5
    projection: npt.NDArray[np.float64] = (vectors * (scale / scale.max())) @ vectors.T
    return projection.astype(np.float32)


def refine_projection(projection: np.ndarray, crop_descriptors: Sequence[np.ndarray],
                      hard_negatives: np.ndarray, *, steps: int, temperature: float = 0.1,
                      anchor: float = 1.0, lr: float = 1e-3, seed: int = 0) -> np.ndarray:
    """Contrastive refinement of ``projection`` (step 2 of the module docstring).

    Args:
        projection: ``(D, D)`` start (and anchor) projection.
        crop_descriptors: per tracklet ``(n_i, D)`` single-crop descriptors.
        hard_negatives: ``(M, 2)`` index pairs into ``crop_descriptors`` of certain negatives.
        steps: Adam steps, one subset pair per tracklet each.
        temperature: InfoNCE temperature on cosine similarities.
        anchor: weight of the squared distance to the start projection.

    Returns:
        ``(D, D)`` float32.
    """
    n = len(crop_descriptors)
    allowed = torch.eye(n, dtype=torch.bool)
    if len(hard_negatives):
        pairs = torch.as_tensor(np.asarray(hard_negatives, np.int64))
        allowed[pairs[:, 0], pairs[:, 1]] = True
        allowed[pairs[:, 1], pairs[:, 0]] = True
    rows = allowed.sum(dim=1) > 1  # tracklets with at least one certain negative
    if steps <= 0 or not bool(rows.any()):
        return projection
    rng = np.random.default_rng(seed)
    start = torch.as_tensor(projection, dtype=torch.float32)
    weight = torch.nn.Parameter(start.clone())
    optimiser = torch.optim.Adam([weight], lr=lr)
    crops = [np.asarray(c, np.float32) for c in crop_descriptors]
    for _ in range(steps):
        a, b = [], []
        for c in crops:
            order = rng.permutation(len(c))
            half = max(1, len(c) // 2)
            a.append(c[order[:half]].mean(axis=0))
            b.append(c[order[half:]].mean(axis=0) if len(c) > 1 else c[0])
        za = torch.nn.functional.normalize(torch.as_tensor(np.stack(a)) @ weight, dim=1)
        zb = torch.nn.functional.normalize(torch.as_tensor(np.stack(b)) @ weight, dim=1)
        logits = (za @ zb.T / temperature).masked_fill(~allowed, float("-inf"))
        loss = torch.nn.functional.cross_entropy(logits[rows], torch.arange(n)[rows])
        loss = loss + anchor * ((weight - start) ** 2).sum()
        optimiser.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]  # Tensor.backward has no annotations
        optimiser.step()
    return weight.detach().numpy().astype(np.float32)


def save_head(path: str | Path, projection: np.ndarray, base_fingerprint: dict[str, Any],
              fit: dict[str, Any]) -> Path:
    """Write a head file: the projection, the base embedder's fingerprint and how it was fitted."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": HEAD_FORMAT, "version": HEAD_VERSION,
                "projection": torch.as_tensor(np.asarray(projection, np.float32)),
                "base_fingerprint": base_fingerprint,
                "fit": {**fit, "created": dt.datetime.now(dt.timezone.utc).isoformat()}}, path)
    return path


def load_head(path: str | Path) -> dict[str, Any]:
    """Read a head file written by :func:`save_head`.

    Raises:
        ValueError: not a site head, or a projection that is not square.
    """
    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("format") != HEAD_FORMAT:
        raise ValueError(f"{path} is not a site head file (written by `reid adapt`)")
    projection = state["projection"]
    if projection.ndim != 2 or projection.shape[0] != projection.shape[1]:
        raise ValueError(f"{path}: projection must be square, got {tuple(projection.shape)}")
    return state


class SiteHeadEmbedder:
    """An embedder's descriptors through a site head: ``normalize(base(x) @ W)``.

    Its fingerprint names the base model and the head file's hash, so a gallery embedded with a head
    is never compared with descriptors of another head or of the bare model.
    """

    def __init__(self, base: Embedder, projection: np.ndarray, head_id: str):
        projection = np.asarray(projection, np.float32)
        if projection.shape != (base.dim, base.dim):
            raise ValueError(f"site head is {projection.shape}, the embedder gives {base.dim}-d")
        self.base = base
        self.projection = projection
        self.name = f"{base.name}+site"
        self.kind = base.kind
        self.dim = base.dim
        self.is_fallback = base.is_fallback
        self.fingerprint = site_head_fingerprint(base.fingerprint, head_id, self.name, self.dim)

    @classmethod
    def from_file(cls, base: Embedder, path: str | Path) -> SiteHeadEmbedder:
        """Apply the head in ``path`` to ``base``.

        Raises:
            ValueError: the head was fitted on another embedder (another fingerprint).
        """
        from reid.files import sha256_file

        state = load_head(path)
        if state["base_fingerprint"] != base.fingerprint:
            raise ValueError(
                f"the site head {Path(path).name} was fitted on {state['base_fingerprint'].get('model')} "
                f"descriptors, not on this {base.name}; run `reid adapt` again or `reid adapt --rollback`")
        return cls(base, state["projection"].numpy(), sha256_file(path)[:16])

    def embed_tracklets(self, crops: Sequence[Sequence[np.ndarray]],
                        cameras: Sequence[int] | None = None) -> np.ndarray:
        """Per tracklet a list of RGB uint8 crops -> ``(n, D)`` float32 unit rows."""
        return l2_normalize(self.base.embed_tracklets(crops, cameras) @ self.projection)

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Each RGB uint8 image -> ``(n, D)`` float32 unit rows."""
        return l2_normalize(self.base.embed_images(images) @ self.projection)
