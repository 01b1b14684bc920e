"""Temporal Memory Diffusion (TMD = TMC + MD), one extra 768-d block after the ViT (spec section 6)."""

from __future__ import annotations

import torch
from torch import nn

from reid.model.layers import MLP, MultiheadAttention


class TemporalMemoryDiffusion(nn.Module):
    """TMC builds one memory token per frame and mixes them over time; MD appends each frame's
    memory token to that frame's tokens and runs attention plus an MLP over the L+1 tokens.

    Fresh PyTorch default initialisation (not CLIP weights). The caller feeds stop-gradient tokens,
    so TMD's losses never reach the backbone.
    """

    def __init__(self, width: int, heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.message_fc = nn.Linear(width, width)
        self.message_ln = nn.LayerNorm(width)
        self.message_attn = MultiheadAttention(width, heads, packed=True)
        self.ln_1 = nn.LayerNorm(width)
        self.attn = MultiheadAttention(width, heads, packed=True)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = MLP(width, int(width * mlp_ratio))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, T, L, width) -> frame features (B, T, width): mean of the L+1 output tokens."""
        b, t, length, width = tokens.shape
        # TMC: a memory token per frame from the mean of all its tokens ([CLS] included).
        memory = self.message_fc(tokens.mean(dim=2))  # (B, T, width)
        normed = self.message_ln(memory)
        memory = memory + self.message_attn(normed, normed, normed)
        # MD: diffuse each frame's memory token into its own tokens; all L+1 tokens are kept.
        u: torch.Tensor = torch.cat([tokens, memory.unsqueeze(2)], dim=2).reshape(b * t, length + 1, width)
        u = u + self.attn(self.ln_1(u))
        u = u + self.mlp(self.ln_2(u))
        return u.mean(dim=1).view(b, t, width)
