"""TF-CLIP: CLIP ViT + camera SIE + CLIP-Memory/SSP + TMD + BNNeck heads (spec sections 2-7, 9)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from reid.model.backbone import CLIPVisualBackbone
from reid.model.dense import encode_dense
from reid.model.ssp import SequenceSpecificPrompt
from reid.model.tmd import TemporalMemoryDiffusion

logger = logging.getLogger(__name__)


@dataclass
class TFCLIPOutput:
    """What the training losses of spec section 7 need; ``None`` where a module is switched off.

    Features are taken before the BN necks (triplet losses); logits come after them.
    """

    cls_feat: torch.Tensor  # (B, width)  c_bar: [CLS] after ln_post, averaged over T
    proj_feat: torch.Tensor  # (B, proj_dim)  p_bar: projected [CLS], averaged over T
    cls_logits: torch.Tensor | None  # (B, Y)  classifier2(BN(c_bar))
    proj_logits: torch.Tensor | None  # (B, Y)  classifier_proj(BN(p_bar))
    tmd_feat: torch.Tensor | None = None  # (B, width)  v_hat: TMD sequence feature
    tmd_logits: torch.Tensor | None = None  # (B, Y)  classifier_proj_temp(BN(v_hat))
    frame_logits: torch.Tensor | None = None  # (B*T, Y)  same classifier on BN(frame features), b-major
    memory_logits: torch.Tensor | None = None  # (B, Y)  V2M logits <p_bar, M'_b>


def _bnneck(dim: int) -> nn.BatchNorm1d:
    bn = nn.BatchNorm1d(dim)
    nn.init.ones_(bn.weight)
    nn.init.zeros_(bn.bias)
    bn.bias.requires_grad_(False)
    return bn


def _classifier(dim: int, num_classes: int) -> nn.Linear:
    fc = nn.Linear(dim, num_classes, bias=False)
    nn.init.normal_(fc.weight, std=0.001)
    return fc


class TFCLIP(nn.Module):
    """The TF-CLIP video ReID model.

    Args:
        config: an architecture config from the registry (``backbone``, ``ssp``, ``tmd``, ``preprocess``;
            optional ``sie_coe``, the camera-embedding coefficient: the official ``SIE_COE``, default
            3.0 there, 1.0 in its MARS and LS-VID configs; 1.0 here when absent, as in checkpoints
            written before it existed).
        num_classes: training identities Y. ``0`` builds an inference-only model (no necks,
            classifiers, memory or SSP: nothing the test descriptor does not use).
        num_cameras: rows of the camera SIE table.
        ssp: ``"enhanced"`` (official code) or ``"paper"`` (cross-attention only), see ``reid.model.ssp``.
        use_memory, use_ssp, use_tmd: ablation switches (paper Table 2). SSP needs the memory.
    """

    def __init__(
        self,
        config: dict[str, Any],
        *,
        num_classes: int,
        num_cameras: int,
        ssp: str = "enhanced",
        use_memory: bool = True,
        use_ssp: bool = True,
        use_tmd: bool = True,
    ) -> None:
        super().__init__()
        if num_cameras < 1:
            raise ValueError(f"num_cameras must be >= 1, got {num_cameras}")
        if num_classes < 0:
            raise ValueError(f"num_classes must be >= 0, got {num_classes}")
        self.config = config
        self.num_classes = num_classes
        self.num_cameras = num_cameras
        training_heads = num_classes > 0
        self.use_memory = use_memory and training_heads
        self.use_ssp = use_ssp and self.use_memory
        self.use_tmd = use_tmd
        self.ssp_variant = ssp
        self.preprocess: dict[str, Any] = dict(config["preprocess"])
        self.sie_coe = float(config.get("sie_coe", 1.0))

        self.backbone = CLIPVisualBackbone(config["backbone"])
        width, proj = self.backbone.width, self.backbone.output_dim
        self.width, self.proj_dim = width, proj
        self.cv_embed = nn.Parameter(torch.empty(num_cameras, width))
        nn.init.trunc_normal_(self.cv_embed, std=0.02)

        if use_tmd:
            tmd_cfg = config["tmd"]
            self.tmd = TemporalMemoryDiffusion(width, tmd_cfg["heads"], tmd_cfg["mlp_ratio"])
        if training_heads:
            self.bottleneck = _bnneck(width)
            self.bottleneck_proj = _bnneck(proj)
            self.classifier2 = _classifier(width, num_classes)
            self.classifier_proj = _classifier(proj, num_classes)
            if use_tmd:
                self.bottleneck_proj_temp = _bnneck(width)  # frame features
                self.bottleneck_proj_temp2 = _bnneck(width)  # sequence feature
                self.classifier_proj_temp = _classifier(width, num_classes)  # shared by both
        if self.use_ssp:
            s = config["ssp"]
            self.ssp = SequenceSpecificPrompt(
                proj, s["heads"], s["layers"], s["mlp_ratio"], s["dropout"], variant=ssp
            )
        # The CLIP-Memory (Y, proj): a constant set by the trainer, never a parameter, never saved.
        self.register_buffer("clip_memory", None, persistent=False)

    @property
    def descriptor_dim(self) -> int:
        """Length of the test descriptor: c_bar + p_bar (+ v_hat with TMD)."""
        return self.width + self.proj_dim + (self.width if self.use_tmd else 0)

    def set_memory(self, memory: torch.Tensor) -> None:
        """Install the CLIP-Memory, (num_classes, proj_dim), as a detached constant."""
        expected = (self.num_classes, self.proj_dim)
        if tuple(memory.shape) != expected:
            raise ValueError(f"CLIP-Memory must have shape {expected}, got {tuple(memory.shape)}")
        self.clip_memory = memory.detach().to(self.cv_embed.device, torch.float32)

    def _tokens(self, clips: torch.Tensor, cams: torch.Tensor | None) -> torch.Tensor:
        """clips (B, T, 3, H, W), cams (B,) or None -> tokens (B, T, L, width) after ln_post."""
        if clips.dim() != 5:
            raise ValueError(f"clips must be (B, T, 3, H, W), got shape {tuple(clips.shape)}")
        b, t = clips.shape[:2]
        cls_bias = None
        if cams is not None:
            cams = torch.as_tensor(cams, device=self.cv_embed.device).long().view(-1)
            if cams.numel() != b:
                raise ValueError(f"{b} clips but {cams.numel()} camera ids")
            if int(cams.min()) < 0 or int(cams.max()) >= self.num_cameras:
                raise ValueError(f"camera ids must be in [0, {self.num_cameras}), got {cams.tolist()}")
            # official: self.sie_coe * self.cv_embed[cam_label]; the same camera for every frame
            cls_bias = (self.sie_coe * self.cv_embed[cams]).repeat_interleave(t, dim=0)
        tokens: torch.Tensor = self.backbone(clips.flatten(0, 1), cls_bias)
        return tokens.view(b, t, *tokens.shape[1:])

    def forward(self, clips: torch.Tensor, cams: torch.Tensor) -> TFCLIPOutput:
        """Training forward. clips (B, T, 3, H, W) normalised, cams (B,) -> ``TFCLIPOutput``."""
        if self.num_classes == 0:
            raise RuntimeError("this is an inference-only model (num_classes=0); use encode()")
        tokens = self._tokens(clips, cams)  # (B, T, L, width)
        b, t = tokens.shape[:2]
        cls_feat = tokens[:, :, 0].mean(dim=1)
        projected = self.backbone.project(tokens)  # (B, T, L, proj)
        proj_feat = projected[:, :, 0].mean(dim=1)
        out = TFCLIPOutput(
            cls_feat=cls_feat,
            proj_feat=proj_feat,
            cls_logits=self.classifier2(self.bottleneck(cls_feat)),
            proj_logits=self.classifier_proj(self.bottleneck_proj(proj_feat)),
        )
        if self.use_tmd:
            frame_feat = self.tmd(tokens.detach())  # (B, T, width); stop-gradient input
            out.tmd_feat = frame_feat.mean(dim=1)
            out.tmd_logits = self.classifier_proj_temp(self.bottleneck_proj_temp2(out.tmd_feat))
            out.frame_logits = self.classifier_proj_temp(
                self.bottleneck_proj_temp(frame_feat.reshape(b * t, -1))
            )
        if self.use_memory:
            out.memory_logits = self._memory_logits(proj_feat, projected.mean(dim=1))
        return out

    def _memory_logits(self, proj_feat: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """V2M logits: raw dot products of p_bar (B, P) with M'_b = M + SSP(M, tokens) -> (B, Y)."""
        if self.clip_memory is None:
            raise RuntimeError("CLIP-Memory is not set: call model.set_memory(memory) before training")
        memory = self.clip_memory.to(proj_feat.dtype)
        if not self.use_ssp:
            return proj_feat @ memory.t()
        batch_memory = memory.unsqueeze(0).expand(proj_feat.shape[0], -1, -1)
        memory_b = batch_memory + self.ssp(batch_memory, tokens)
        return torch.einsum("bp,byp->by", proj_feat, memory_b)

    def encode(self, clips: torch.Tensor, cams: torch.Tensor) -> torch.Tensor:
        """Test descriptor of each clip: concat[c_bar, p_bar, v_hat] before BN, not normalised.

        clips (B, T, 3, H, W), cams (B,) -> (B, descriptor_dim).
        """
        tokens = self._tokens(clips, cams)
        parts = [tokens[:, :, 0].mean(dim=1), self.backbone.project(tokens[:, :, 0]).mean(dim=1)]
        if self.use_tmd:
            parts.append(self.tmd(tokens).mean(dim=1))
        return torch.cat(parts, dim=1)

    @torch.no_grad()
    def memory_features(self, clips: torch.Tensor) -> torch.Tensor:
        """p_bar without the camera SIE, for building the CLIP-Memory: (B, T, 3, H, W) -> (B, proj)."""
        tokens = self._tokens(clips, None)
        return self.backbone.project(tokens[:, :, 0]).mean(dim=1)

    @torch.no_grad()
    def encode_tracklets(
        self, tracklets: Sequence[torch.Tensor], cams: Sequence[int], batch_size: int = 16
    ) -> torch.Tensor:
        """Dense test: per tracklet (N_i, 3, H, W) the mean chunk descriptor -> (n, descriptor_dim)."""
        device = self.cv_embed.device
        return encode_dense(
            lambda clips, c: self.encode(clips.to(device), c.to(device)),
            tracklets, cams, self.preprocess["seq_len"], batch_size,
        )

    def encode_tracklet(self, frames: torch.Tensor, cam: int) -> torch.Tensor:
        """Dense test of one tracklet: frames (N, 3, H, W) -> (descriptor_dim,), not normalised."""
        return self.encode_tracklets([frames], [cam])[0]
