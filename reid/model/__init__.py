"""TF-CLIP video ReID model: registry, factory, modules and checkpoints."""

from reid.model.checkpoint import CheckpointError, load_checkpoint, resize_pos_embed, save_checkpoint
from reid.model.dense import dense_chunk_indices
from reid.model.factory import create_model, create_zero_shot_model
from reid.model.pretrained import WeightsUnavailableError
from reid.model.registry import get_model_config, list_models
from reid.model.tfclip import TFCLIP, TFCLIPOutput
from reid.model.zero_shot import ZeroShotCLIP

__all__ = [
    "TFCLIP",
    "CheckpointError",
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
