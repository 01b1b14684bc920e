"""Resumable training checkpoints and export to the inference format of ``reid.model``."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from reid.model import TFCLIP

logger = logging.getLogger(__name__)

TRAIN_FORMAT = "tfclip-reid-train"


def save_training_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (model/optimizer/scheduler/scaler state dicts, epoch, memory, config, ...)
    atomically (temporary file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format": TRAIN_FORMAT, **state}, tmp)
    os.replace(tmp, path)
    return path


def load_training_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a file written by :func:`save_training_checkpoint` (CPU tensors)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training checkpoint not found: {path}")
    state = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(state, dict) or state.get("format") != TRAIN_FORMAT:
        raise ValueError(f"{path} is not a training checkpoint (written by `reid train`); "
                         "inference checkpoints go to `reid eval --checkpoint` directly")
    return state


def is_training_checkpoint(path: str | Path) -> bool:
    """True when ``path`` holds a training checkpoint (not an inference one)."""
    try:
        load_training_checkpoint(path)
    except (ValueError, RuntimeError, OSError, EOFError):
        return False
    return True


def model_from_training_checkpoint(state: dict[str, Any], device: str | torch.device = "cpu"
) -> TFCLIP:
    """Rebuild the TF-CLIP training model of a checkpoint and load its weights strictly."""
    from reid.model import create_model

    cfg = state["config"]
    model = create_model(
        cfg["model"], num_classes=state["num_classes"], num_cameras=state["num_cams"],
        ssp=cfg["ssp"], pretrained=None, use_memory=cfg["use_memory"], use_ssp=cfg["use_ssp"],
        use_tmd=cfg["use_tmd"],
    )
    model.load_state_dict(state["model"], strict=True)
    if state.get("memory") is not None:
        model.set_memory(state["memory"])
    return model.to(device)


def export_inference(train_checkpoint: str | Path, out: str | Path) -> Path:
    """Write the inference checkpoint (``reid.model.save_checkpoint``) of a training checkpoint."""
    from reid.model import save_checkpoint

    state = load_training_checkpoint(train_checkpoint)
    model = model_from_training_checkpoint(state)
    meta = {"dataset": state["config"]["dataset"], "epoch": int(state["epoch"]),
            "source": str(train_checkpoint)}
    if state.get("last_eval"):
        meta["metrics"] = {k: v for k, v in state["last_eval"].items() if not isinstance(v, list)}
    return save_checkpoint(model, out, **meta)


def load_eval_model(path: str | Path, device: str | torch.device = "cpu") -> TFCLIP:
    """A model to evaluate from either checkpoint kind (training or inference); eval mode."""
    from reid.model import load_checkpoint

    try:
        state = load_training_checkpoint(path)
    except ValueError:
        return load_checkpoint(path, device=device)
    return model_from_training_checkpoint(state, device).eval()
