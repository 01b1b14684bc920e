"""The CLIP visual tower (built with open_clip) and the token maps TF-CLIP reads from it."""

from __future__ import annotations

from typing import Any

import torch
from open_clip.transformer import QuickGELU, VisionTransformer
from torch import nn


def build_clip_visual(cfg: dict[str, Any]) -> VisionTransformer:
    """Build open_clip's ``VisionTransformer`` from a backbone config (random init).

    QuickGELU is used because the OpenAI CLIP weights were trained with it; with plain GELU they
    would load but compute something else. No dropout, no patch dropout, no drop-path.
    """
    return VisionTransformer(
        image_size=tuple(cfg["image_size"]),
        patch_size=cfg["patch_size"],
        width=cfg["width"],
        layers=cfg["layers"],
        heads=cfg["heads"],
        mlp_ratio=cfg["mlp_ratio"],
        output_dim=cfg["output_dim"],
        act_layer=QuickGELU,
    )


class CLIPVisualBackbone(nn.Module):
    """CLIP ViT whose forward returns every token after ``ln_post``, with an optional [CLS] bias.

    The camera side-information embedding is added to the [CLS] token only, after [CLS] and the
    patches are concatenated and before the positional embedding and ``ln_pre`` (spec 2.3).
    """

    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__()
        self.visual = build_clip_visual(cfg)
        self.width: int = cfg["width"]
        self.output_dim: int = cfg["output_dim"]
        self.grid_size: tuple[int, int] = tuple(self.visual.grid_size)
        self.num_tokens = 1 + self.grid_size[0] * self.grid_size[1]

    def forward(self, frames: torch.Tensor, cls_bias: torch.Tensor | None = None) -> torch.Tensor:
        """frames (N, 3, H, W), cls_bias (N, width) or None -> tokens (N, 1 + h*w, width) after ln_post."""
        v = self.visual
        x = v.conv1(frames).flatten(2).transpose(1, 2)  # (N, h*w, width)
        cls = v.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        if cls_bias is not None:
            cls = cls + cls_bias.to(x.dtype).unsqueeze(1)
        x = torch.cat([cls, x], dim=1) + v.positional_embedding.to(x.dtype)
        x = v.transformer(v.ln_pre(x))
        tokens: torch.Tensor = v.ln_post(x)
        return tokens

    def project(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (..., width) -> (..., output_dim) through CLIP's bias-free projection."""
        return torch.matmul(tokens, self.visual.proj)
