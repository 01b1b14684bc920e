"""Zero-shot CLIP sequence descriptor, for when CLIP weights exist but no trained TF-CLIP does."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from reid.model.backbone import CLIPVisualBackbone
from reid.model.dense import encode_dense


class ZeroShotCLIP(nn.Module):
    """CLIP's visual tower alone: concat[[CLS] after ln_post, projected [CLS]] averaged over frames.

    The descriptor has ``width + proj_dim`` dimensions (1280 for ViT-B/16). No camera embedding
    (it would be untrained), and CLIP's own normalisation statistics in ``preprocess``.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.config = config
        self.backbone = CLIPVisualBackbone(config["backbone"])
        self.width, self.proj_dim = self.backbone.width, self.backbone.output_dim
        self.preprocess: dict[str, Any] = dict(config["zero_shot_preprocess"])

    @property
    def descriptor_dim(self) -> int:
        return self.width + self.proj_dim

    def encode(self, clips: torch.Tensor, cams: torch.Tensor | None = None) -> torch.Tensor:
        """clips (B, T, 3, H, W), cams ignored -> (B, width + proj_dim), not normalised."""
        if clips.dim() != 5:
            raise ValueError(f"clips must be (B, T, 3, H, W), got shape {tuple(clips.shape)}")
        b, t = clips.shape[:2]
        cls = self.backbone(clips.flatten(0, 1))[:, 0].view(b, t, -1)
        return torch.cat([cls.mean(dim=1), self.backbone.project(cls).mean(dim=1)], dim=1)

    @torch.no_grad()
    def encode_tracklets(
        self, tracklets: Sequence[torch.Tensor], cams: Sequence[int], batch_size: int = 16
    ) -> torch.Tensor:
        """Per tracklet (N_i, 3, H, W) the mean over dense chunks -> (n, descriptor_dim)."""
        device = next(self.parameters()).device
        return encode_dense(
            lambda clips, c: self.encode(clips.to(device)),
            tracklets, cams, self.preprocess["seq_len"], batch_size,
        )

    def encode_tracklet(self, frames: torch.Tensor, cam: int = 0) -> torch.Tensor:
        """frames (N, 3, H, W) -> (descriptor_dim,)."""
        return self.encode_tracklets([frames], [cam])[0]
