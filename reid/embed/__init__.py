"""Descriptor extraction: tracklet crops -> one L2-normalised descriptor per tracklet.

The names below are imported on first use, so ``import reid.embed`` (and its light submodules,
e.g. ``reid.embed.base``) loads no torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reid.embed.base import Embedder, make_fingerprint
    from reid.embed.factory import create_embedder
    from reid.embed.mobilenet import MobileNetEmbedder, MobileNetWeightsError
    from reid.embed.names import EMBEDDER_CHOICES
    from reid.embed.preprocess import crops_to_tensor, l2_normalize
    from reid.embed.tfclip import SequenceEmbedder

_WHERE = {
    "EMBEDDER_CHOICES": "reid.embed.names",
    "Embedder": "reid.embed.base",
    "MobileNetEmbedder": "reid.embed.mobilenet",
    "MobileNetWeightsError": "reid.embed.mobilenet",
    "SequenceEmbedder": "reid.embed.tfclip",
    "create_embedder": "reid.embed.factory",
    "crops_to_tensor": "reid.embed.preprocess",
    "l2_normalize": "reid.embed.preprocess",
    "make_fingerprint": "reid.embed.base",
}

__all__ = [
    "EMBEDDER_CHOICES",
    "Embedder",
    "MobileNetEmbedder",
    "MobileNetWeightsError",
    "SequenceEmbedder",
    "create_embedder",
    "crops_to_tensor",
    "l2_normalize",
    "make_fingerprint",
]


def __getattr__(name: str) -> Any:
    """Import ``name`` from its module on first use (PEP 562) and keep it here."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
