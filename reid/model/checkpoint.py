"""Checkpoint surgery and the inference checkpoint format, in one tested place.

- ``resize_pos_embed``: CLIP's square positional table to our rectangular grid (14x14 -> 16x8).
- ``clip_visual_state_dict``: the one key mapping from an OpenAI / open_clip CLIP file to our
  backbone (``visual.*`` keys, optional ``module.`` / ``state_dict`` wrappers).
- ``save_checkpoint`` / ``load_checkpoint``: the inference format that carries everything the
  embedder needs (architecture, config, options, preprocessing, descriptor dimension). Loading is
  strict and ``weights_only``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from reid.model.tfclip import TFCLIP

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "tfclip-reid/inference"
CHECKPOINT_VERSION = 1


class CheckpointError(ValueError):
    """A weights file that cannot be used, with the reason in the message."""


def resize_pos_embed(
    pos_embed: torch.Tensor, src_grid: tuple[int, int], dst_grid: tuple[int, int], num_prefix: int = 1
) -> torch.Tensor:
    """Resize a ViT positional table from one patch grid to another.

    The prefix ([CLS]) rows are kept; the grid rows, as a (C, h, w) image, are interpolated
    bilinearly with ``align_corners=False``. The source grid is passed in, never guessed from a
    square root, so rectangular sources work too.

    Args:
        pos_embed: (num_prefix + src_h * src_w, C).
        src_grid, dst_grid: (rows, cols) of patches.

    Returns:
        (num_prefix + dst_h * dst_w, C); the input itself when the grids are equal.
    """
    src_h, src_w = src_grid
    if pos_embed.shape[0] != num_prefix + src_h * src_w:
        raise CheckpointError(
            f"positional table has {pos_embed.shape[0]} rows, but a {src_h}x{src_w} grid with "
            f"{num_prefix} prefix token(s) needs {num_prefix + src_h * src_w}"
        )
    if tuple(src_grid) == tuple(dst_grid):
        return pos_embed
    prefix, grid = pos_embed[:num_prefix], pos_embed[num_prefix:]
    grid = grid.reshape(1, src_h, src_w, -1).permute(0, 3, 1, 2).float()
    grid = F.interpolate(grid, size=tuple(dst_grid), mode="bilinear", align_corners=False)
    grid = grid.permute(0, 2, 3, 1).reshape(dst_grid[0] * dst_grid[1], -1).to(pos_embed.dtype)
    return torch.cat([prefix, grid], dim=0)


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Tensors of a weights file: safetensors, a ``torch.save`` state dict, or an OpenAI JIT archive."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # the OpenAI CLIP release is a TorchScript archive
        try:
            # torch.jit.load has no annotations
            archive = torch.jit.load(str(path), map_location="cpu")  # type: ignore[no-untyped-call]
            state: dict[str, torch.Tensor] = archive.state_dict()
            return state
        except Exception:
            raise CheckpointError(f"{path} is not a readable weights file: {exc}") from exc
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path} does not hold a state dict (found {type(obj).__name__})")
    return obj


def clip_visual_state_dict(
    raw: dict[str, torch.Tensor], src_grid: tuple[int, int], dst_grid: tuple[int, int]
) -> dict[str, torch.Tensor]:
    """Map a full CLIP state dict to the keys of open_clip's ``VisionTransformer``.

    Keeps ``visual.*`` (after stripping a ``module.`` prefix), drops the text tower and resizes the
    positional table from ``src_grid`` to ``dst_grid``.
    """
    out = {}
    for key, value in raw.items():
        key = key.removeprefix("module.")
        if key.startswith("visual."):
            out[key[len("visual.") :]] = value
    if not out:
        raise CheckpointError("no 'visual.*' tensors found: this is not a CLIP checkpoint")
    if "positional_embedding" in out:
        out["positional_embedding"] = resize_pos_embed(out["positional_embedding"], src_grid, dst_grid)
    return out


def load_strict(module: nn.Module, state_dict: dict[str, torch.Tensor], source: str) -> None:
    """``load_state_dict(strict=True)`` with an error that lists what is missing, extra or misshaped."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    shapes = [
        f"{k}: file {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
        for k in sorted(set(own) & set(state_dict))
        if tuple(own[k].shape) != tuple(state_dict[k].shape)
    ]
    if missing or unexpected or shapes:
        problems = []
        for label, items in (("missing", missing), ("unexpected", unexpected), ("shape", shapes)):
            if items:
                more = f" (+{len(items) - 5} more)" if len(items) > 5 else ""
                problems.append(f"{label}: {', '.join(items[:5])}{more}")
        raise CheckpointError(f"{source} does not match the model; " + "; ".join(problems))
    module.load_state_dict(state_dict, strict=True)


def save_checkpoint(model: nn.Module, path: str | os.PathLike[str], **metadata: Any) -> Path:
    """Write the inference checkpoint of a TF-CLIP model (training heads, memory and SSP dropped).

    The file holds the architecture name and config, the options needed to rebuild the model, the
    preprocessing and the descriptor dimension; extra ``metadata`` (e.g. dataset, epoch, metrics)
    must be plain Python values. Written to a temporary file and renamed.
    """
    from reid.model.tfclip import TFCLIP

    if not isinstance(model, TFCLIP):
        raise TypeError(f"save_checkpoint expects a TFCLIP model, got {type(model).__name__}")
    keep = ("backbone.", "cv_embed", "tmd.")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items() if k.startswith(keep)}
    payload = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "arch": model.config.get("name"),
        "config": model.config,
        "options": {"num_cameras": model.num_cameras, "use_tmd": model.use_tmd},
        "preprocess": model.preprocess,
        "descriptor_dim": model.descriptor_dim,
        "metadata": metadata,
        "state_dict": state,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    logger.info("saved inference checkpoint %s (%d tensors)", path, len(state))
    return path


def _official_release(path: Path, payload: Any) -> TFCLIP | None:
    """The model of an official TF-CLIP release state dict (converted in memory, strictly), or None
    when ``payload`` does not look like one."""
    from reid.model.official import check_official_state_dict, convert_official_state_dict
    from reid.model.registry import list_models

    if isinstance(payload, dict) and isinstance(payload.get("state_dict"), dict):
        payload = payload["state_dict"]
    try:
        check_official_state_dict(payload, str(path))
    except CheckpointError:
        return None
    errors = []
    for arch in list_models():  # the architecture is the one whose every tensor fits
        try:
            model, _ = convert_official_state_dict(payload, arch, source=str(path))
            break
        except CheckpointError as exc:
            errors.append(f"{arch}: {exc}")
    else:
        raise CheckpointError(f"{path} is an official TF-CLIP state dict that fits none of our "
                              f"architectures; {errors[0]}")
    logger.info("%s is an official TF-CLIP release file, converted on load; `reid weights import-tfclip` "
                "saves the conversion once", path)
    return model


def load_checkpoint(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> TFCLIP:
    """Rebuild an inference-only TF-CLIP from ``save_checkpoint``'s file, strictly; eval mode.

    An official TF-CLIP release state dict (``AsuradaYuci/TF-CLIP``, ViT-B/16) is recognised and
    converted as ``reid weights import-tfclip`` would (``reid.model.official``), so ``--checkpoint``
    takes either file.
    """
    from reid.model.tfclip import TFCLIP

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path} is not a TF-CLIP inference checkpoint: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        official = _official_release(path, payload)
        if official is not None:
            return official.to(device)
        raise CheckpointError(
            f"{path} is not a TF-CLIP inference checkpoint (no format tag {CHECKPOINT_FORMAT!r}); "
            "write one with `reid export`, or convert an official TF-CLIP release file with "
            "`reid weights import-tfclip`"
        )
    if payload.get("format_version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {payload.get('format_version')}, "
            f"this code reads version {CHECKPOINT_VERSION}"
        )
    options = payload["options"]
    model = TFCLIP(
        payload["config"], num_classes=0, num_cameras=options["num_cameras"], use_tmd=options["use_tmd"]
    )
    load_strict(model, payload["state_dict"], str(path))
    if model.descriptor_dim != payload["descriptor_dim"]:
        raise CheckpointError(
            f"{path} declares a {payload['descriptor_dim']}-d descriptor but its model gives "
            f"{model.descriptor_dim}-d"
        )
    return model.to(device).eval()
