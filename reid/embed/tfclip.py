"""Sequence descriptors from TF-CLIP (trained checkpoint, 2048-d) or zero-shot CLIP (1280-d)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from reid.embed.base import make_fingerprint
from reid.embed.preprocess import crops_to_tensor, l2_normalize

if TYPE_CHECKING:  # the model modules import open_clip: only the branch that builds a model pays for it
    from reid.model.tfclip import TFCLIP
    from reid.model.zero_shot import ZeroShotCLIP

logger = logging.getLogger(__name__)


class SequenceEmbedder:
    """Embeds tracklets with any model exposing ``encode_tracklets`` and ``preprocess``.

    Each tracklet's crops go through dense 8-frame chunks (spec 9.2); chunks of many tracklets share
    forward passes. The app's cameras are not the training cameras, so every tracklet uses camera
    embedding ``camera_index`` (0 by default) unless the caller passes training-camera ids.

    Args:
        model: a ``TFCLIP`` (inference) or ``ZeroShotCLIP`` in eval mode.
        name: model name for the fingerprint.
        weights_id: content hash of the weights file (or ``"random-init:<seed>"`` for tests).
        kind: ``"tfclip"`` or ``"clip-zero-shot"``.
        batch_size: 8-frame clips per forward pass.
    """

    is_fallback = False

    def __init__(
        self,
        model: TFCLIP | ZeroShotCLIP,
        *,
        name: str,
        weights_id: str,
        kind: str,
        batch_size: int = 8,
        camera_index: int = 0,
    ) -> None:
        self.model = model.eval()
        self.name = name
        self.kind = kind
        self.dim = int(model.descriptor_dim)
        self.preprocess: dict[str, Any] = dict(model.preprocess)
        self.batch_size = batch_size
        self.camera_index = camera_index
        self.fingerprint = make_fingerprint(name, weights_id, self.dim, self.preprocess)

    @torch.inference_mode()
    def embed_tracklets(
        self, crops: Sequence[Sequence[np.ndarray]], cameras: Sequence[int] | None = None
    ) -> np.ndarray:
        """Per tracklet its RGB uint8 crops -> (n, dim) float32 unit rows."""
        if len(crops) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        frames = [crops_to_tensor(c, self.preprocess) for c in crops]
        cams = list(cameras) if cameras is not None else [self.camera_index] * len(frames)
        desc = self.model.encode_tracklets(frames, cams, batch_size=self.batch_size)
        return l2_normalize(desc.numpy())

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Each image as a one-frame tracklet (repeated to a full clip) -> (n, dim)."""
        return self.embed_tracklets([[image] for image in images])
