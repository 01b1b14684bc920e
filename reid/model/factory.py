"""``create_model``: resolve config -> build -> load weights -> verify."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from reid.model.backbone import CLIPVisualBackbone
from reid.model.checkpoint import clip_visual_state_dict, load_strict, read_state_dict
from reid.model.pretrained import resolve_pretrained
from reid.model.registry import get_model_config
from reid.model.ssp import SSP_VARIANTS
from reid.model.tfclip import TFCLIP
from reid.model.zero_shot import ZeroShotCLIP

logger = logging.getLogger(__name__)


def create_model(
    name: str,
    *,
    num_classes: int,
    num_cameras: int,
    ssp: str = "enhanced",
    pretrained: str | None = None,
    device: str | torch.device = "cpu",
    use_memory: bool = True,
    use_ssp: bool = True,
    use_tmd: bool = True,
) -> TFCLIP:
    """Build a TF-CLIP model from the registry.

    Args:
        name: a registered architecture (``reid.model.list_models()``).
        num_classes: training identities (0 for an inference-only model).
        num_cameras: cameras of the camera embedding table.
        ssp: SSP variant, ``"enhanced"`` or ``"paper"``.
        pretrained: ``None`` for random init, a pretrained tag of the config (``"openai"``), or a
            local CLIP weights file. Loaded strictly into the backbone; the heads stay fresh.
        device: where the model goes.
        use_memory, use_ssp, use_tmd: ablation switches.
    """
    if ssp not in SSP_VARIANTS:
        raise ValueError(f"unknown SSP variant {ssp!r}; choose one of {SSP_VARIANTS}")
    config = get_model_config(name)
    weights = resolve_pretrained(config, pretrained) if pretrained is not None else None
    model = TFCLIP(
        config,
        num_classes=num_classes,
        num_cameras=num_cameras,
        ssp=ssp,
        use_memory=use_memory,
        use_ssp=use_ssp,
        use_tmd=use_tmd,
    )
    if weights is not None:
        load_clip_weights(model.backbone, config, *weights)
    return model.to(device)


def create_zero_shot_model(
    name: str, *, pretrained: str | None, device: str | torch.device = "cpu"
) -> ZeroShotCLIP:
    """The zero-shot CLIP descriptor model (``width + proj_dim`` dims) of architecture ``name``.

    ``pretrained=None`` gives random weights, which is only useful for tests and benchmarks.
    """
    config = get_model_config(name)
    weights = resolve_pretrained(config, pretrained) if pretrained is not None else None
    model = ZeroShotCLIP(config)
    if weights is not None:
        load_clip_weights(model.backbone, config, *weights)
    return model.to(device).eval()


def load_clip_weights(
    backbone: CLIPVisualBackbone, config: dict[str, Any], path: Path, src_size: tuple[int, int]
) -> None:
    """Load CLIP visual weights trained at ``src_size`` (H, W) into a ``CLIPVisualBackbone``,
    resizing the positional table to the backbone's grid."""
    patch = config["backbone"]["patch_size"]
    src_grid = (src_size[0] // patch, src_size[1] // patch)
    state = clip_visual_state_dict(read_state_dict(path), src_grid, backbone.grid_size)
    load_strict(backbone.visual, state, str(path))
    logger.info("loaded CLIP visual weights from %s (grid %s -> %s)", path, src_grid, backbone.grid_size)
