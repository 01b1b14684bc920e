"""Embedders with random weights for tests and benchmarks: the real model and its cost, no download."""

from __future__ import annotations

import torch

from reid.embed import Embedder, SequenceEmbedder
from reid.model import TFCLIP, ZeroShotCLIP, create_model, create_zero_shot_model


def random_init_embedder(arch: str = "tfclip-tiny", seed: int = 0, zero_shot: bool = False) -> Embedder:
    """A random-init TF-CLIP (or, with ``zero_shot``, zero-shot CLIP) embedder of ``arch``, seeded."""
    torch.manual_seed(seed)
    model: TFCLIP | ZeroShotCLIP
    if zero_shot:
        model = create_zero_shot_model(arch, pretrained=None)
        kind = "clip-zero-shot"
    else:
        model = create_model(arch, num_classes=0, num_cameras=1).eval()
        kind = "tfclip"
    return SequenceEmbedder(model, name=arch, weights_id=f"random-init:{seed}", kind=kind)
