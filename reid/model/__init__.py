"""TF-CLIP video ReID model: registry, factory, modules and checkpoints.

The names below are imported on first use, so ``import reid.model`` loads no torch: the
registry (``list_models``) and the pure re-ranking maths (``reid.model.rerank``) stay light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reid.model.checkpoint import CheckpointError, load_checkpoint, resize_pos_embed, save_checkpoint
    from reid.model.dense import dense_chunk_indices
    from reid.model.factory import create_model, create_zero_shot_model
    from reid.model.pretrained import WeightsUnavailableError
    from reid.model.registry import get_model_config, list_models
    from reid.model.tfclip import TFCLIP, TFCLIPOutput
    from reid.model.zero_shot import ZeroShotCLIP

_WHERE = {
    "CheckpointError": "reid.model.checkpoint",
    "TFCLIP": "reid.model.tfclip",
    "TFCLIPOutput": "reid.model.tfclip",
    "WeightsUnavailableError": "reid.model.pretrained",
    "ZeroShotCLIP": "reid.model.zero_shot",
    "create_model": "reid.model.factory",
    "create_zero_shot_model": "reid.model.factory",
    "dense_chunk_indices": "reid.model.dense",
    "get_model_config": "reid.model.registry",
    "list_models": "reid.model.registry",
    "load_checkpoint": "reid.model.checkpoint",
    "resize_pos_embed": "reid.model.checkpoint",
    "save_checkpoint": "reid.model.checkpoint",
}

__all__ = [
    "CheckpointError",
    "TFCLIP",
    "TFCLIPOutput",
    "WeightsUnavailableError",
    "ZeroShotCLIP",
    "create_model",
    "create_zero_shot_model",
    "dense_chunk_indices",
    "get_model_config",
    "list_models",
    "load_checkpoint",
    "resize_pos_embed",
    "save_checkpoint",
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
