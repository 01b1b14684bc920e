"""Choose the embedder: trained TF-CLIP, else zero-shot CLIP, else the offline MobileNetV2 fallback."""

from __future__ import annotations

import logging
from pathlib import Path

from reid.embed.base import Embedder
from reid.embed.mobilenet import MobileNetEmbedder
from reid.embed.names import EMBEDDER_CHOICES
from reid.embed.tfclip import SequenceEmbedder
from reid.files import sha256_file

logger = logging.getLogger(__name__)


def create_embedder(
    kind: str = "auto",
    *,
    checkpoint: str | Path | None = None,
    clip_weights: str = "openai",
    arch: str = "tfclip-vit-b16",
    device: str = "cpu",
    batch_size: int = 8,
) -> Embedder:
    """Build an embedder.

    Args:
        kind: ``"tfclip"`` (needs ``checkpoint``, from ``reid export``), ``"clip"`` (zero-shot CLIP
            with ``clip_weights``: a pretrained tag or a local file), ``"mobilenet"`` (offline
            fallback), or ``"auto"``: tfclip if a checkpoint is given, else zero-shot CLIP, else the
            fallback with a warning.
        checkpoint: a TF-CLIP inference checkpoint.
        clip_weights: CLIP weights for the zero-shot descriptor.
        arch: the architecture of the zero-shot model.
        device: torch device.
        batch_size: clips per forward pass.

    Raises:
        ValueError: unknown kind, or ``"tfclip"`` without a checkpoint.
        reid.model.WeightsUnavailableError: ``"clip"`` whose weights cannot be found or fetched.
    """
    # the model builders (open_clip, timm) are imported in the branch that uses them: the offline
    # fallback, and `reid status` on it, never pays for them
    from reid.model.pretrained import WeightsUnavailableError, resolve_pretrained
    from reid.model.registry import get_model_config

    if kind not in EMBEDDER_CHOICES:
        raise ValueError(f"unknown embedder {kind!r}; choose one of {EMBEDDER_CHOICES}")
    if kind == "tfclip" or (kind == "auto" and checkpoint):
        if not checkpoint:
            raise ValueError("the tfclip embedder needs a checkpoint (write one with `reid export`)")
        from reid.model.checkpoint import load_checkpoint

        model = load_checkpoint(checkpoint, device=device)
        name = model.config.get("name", "tfclip")
        return SequenceEmbedder(
            model, name=name, weights_id=sha256_file(checkpoint)[:16], kind="tfclip", batch_size=batch_size
        )
    if kind in ("clip", "auto"):
        try:
            path, _ = resolve_pretrained(get_model_config(arch), clip_weights)
        except WeightsUnavailableError as exc:
            if kind == "clip":
                raise
            logger.warning("%s Falling back to the offline ImageNet MobileNetV2 embedder.", exc)
            return MobileNetEmbedder(device=device)
        from reid.model.factory import create_zero_shot_model

        clip_model = create_zero_shot_model(arch, pretrained=str(path), device=device)
        return SequenceEmbedder(
            clip_model,
            name=f"{arch}-zero-shot",
            weights_id=sha256_file(path)[:16],
            kind="clip-zero-shot",
            batch_size=batch_size,
        )
    return MobileNetEmbedder(device=device)
