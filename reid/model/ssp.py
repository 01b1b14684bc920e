"""Sequence-Specific Prompt (SSP): the CLIP-Memory attends to one clip's tokens (spec section 5).

Two variants, chosen by name:

- ``"enhanced"``: the official GitHub code and the MARS checkpoint. ``memory_proj`` on the keys,
  ``text_proj`` on the queries, two decoder layers (self-attention among memory slots, cross-attention
  to the clip, MLP) and ``out_proj``; the prompt is ``P = out_proj(X)`` and ``M' = M + P``.
- ``"paper"``: the pre-release code (LS-VID / iLIDS checkpoints), which the paper's parameter counts
  describe. One LayerNorm on the keys, two layers of cross-attention + MLP, and the module returns
  ``X`` itself, so ``M' = M + X``, about ``2M + delta`` (a hidden factor of ~2 on the memory).

The unused ``alpha`` and ``norm`` of the official code are not created.
"""

from __future__ import annotations

import torch
from torch import nn

from reid.model.layers import MLP, MultiheadAttention, trunc_normal_init

SSP_VARIANTS = ("enhanced", "paper")


class _DecoderLayer(nn.Module):
    """Pre-norm layer: [self-attention among slots,] cross-attention to the clip, MLP."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float, self_attn: bool):
        super().__init__()
        if self_attn:
            self.ln_1 = nn.LayerNorm(dim)
            self.self_attn = MultiheadAttention(dim, heads, packed=False, dropout=dropout)
        self.has_self_attn = self_attn
        self.ln_2 = nn.LayerNorm(dim)
        self.cross_attn = MultiheadAttention(dim, heads, packed=False, dropout=dropout)
        self.ln_3 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, int(dim * mlp_ratio), dropout=dropout)
        self.mlp_dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, kv: torch.Tensor) -> torch.Tensor:
        """x (B, Y, d) memory slots, kv (B, L, d) clip tokens -> (B, Y, d)."""
        if self.has_self_attn:
            x = x + self.self_attn(self.ln_1(x))
        x = x + self.cross_attn(self.ln_2(x), kv, kv)
        out: torch.Tensor = x + self.mlp_dropout(self.mlp(self.ln_3(x)))
        return out


class SequenceSpecificPrompt(nn.Module):
    """SSP: per-sample prompt for the CLIP-Memory from the clip's time-averaged projected tokens."""

    def __init__(
        self,
        dim: int,
        heads: int,
        layers: int = 2,
        mlp_ratio: float = 4.0,
        dropout: float = 0.1,
        variant: str = "enhanced",
    ) -> None:
        super().__init__()
        if variant not in SSP_VARIANTS:
            raise ValueError(f"unknown SSP variant {variant!r}; choose one of {SSP_VARIANTS}")
        self.variant = variant
        enhanced = variant == "enhanced"
        if enhanced:
            self.memory_proj: nn.Module = nn.Sequential(
                nn.LayerNorm(dim), nn.Linear(dim, dim), nn.LayerNorm(dim))
            self.text_proj = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim))
            self.out_proj = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim))
        else:
            self.memory_proj = nn.LayerNorm(dim)
        self.decoder = nn.ModuleList(
            _DecoderLayer(dim, heads, mlp_ratio, dropout, self_attn=enhanced) for _ in range(layers)
        )
        trunc_normal_init(self)

    def forward(self, memory: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """memory (B, Y, d), tokens (B, L, d) -> the prompt to add to the memory, (B, Y, d).

        ``M' = memory + forward(memory, tokens)`` for both variants (see the module docstring for
        why the paper variant's output still contains the memory).
        """
        kv = self.memory_proj(tokens)
        x = self.text_proj(memory) if self.variant == "enhanced" else memory
        for layer in self.decoder:
            x = layer(x, kv)
        return self.out_proj(x) if self.variant == "enhanced" else x
