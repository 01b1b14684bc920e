"""Attention and MLP building blocks used by SSP and TMD (our own modules, SDPA-based)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class QuickGELU(nn.Module):
    """x * sigmoid(1.702 x), the activation of the OpenAI CLIP weights."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class MultiheadAttention(nn.Module):
    """Multi-head attention over batch-first tensors with ``scaled_dot_product_attention``.

    Two parameter layouts, matching the spec's parameter arithmetic:

    - ``packed=True``: one fused in-projection with bias (``in_proj``, 3d x d + 3d) and an output
      Linear with bias; initialised like ``nn.MultiheadAttention`` (xavier-uniform in-projection,
      zero biases). Used by TMD.
    - ``packed=False``: separate bias-free q/k/v Linears and an output Linear with bias. Used by SSP.

    ``dropout`` is applied to the output projection only (no attention-probability dropout).
    """

    def __init__(self, dim: int, heads: int, *, packed: bool, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"attention width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.packed = packed
        if packed:
            self.in_proj = nn.Linear(dim, 3 * dim)
            nn.init.xavier_uniform_(self.in_proj.weight)
            nn.init.zeros_(self.in_proj.bias)
        else:
            self.q_proj = nn.Linear(dim, dim, bias=False)
            self.k_proj = nn.Linear(dim, dim, bias=False)
            self.v_proj = nn.Linear(dim, dim, bias=False)
        self.out_proj = nn.Linear(dim, dim)
        if packed:
            nn.init.zeros_(self.out_proj.bias)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, query: torch.Tensor, key: torch.Tensor | None = None, value: torch.Tensor | None = None
    ) -> torch.Tensor:
        """query (N, Lq, d), key/value (N, Lk, d), default self-attention -> (N, Lq, d)."""
        key = query if key is None else key
        value = key if value is None else value
        if self.packed:
            w_q, w_k, w_v = self.in_proj.weight.chunk(3)
            b_q, b_k, b_v = self.in_proj.bias.chunk(3)
            q, k, v = F.linear(query, w_q, b_q), F.linear(key, w_k, b_k), F.linear(value, w_v, b_v)
        else:
            q, k, v = self.q_proj(query), self.k_proj(key), self.v_proj(value)
        q, k, v = (self._split(t) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v)
        out = out.transpose(1, 2).reshape(query.shape[0], query.shape[1], -1)
        projected: torch.Tensor = self.dropout(self.out_proj(out))
        return projected

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        n, length, dim = x.shape
        return x.view(n, length, self.heads, dim // self.heads).transpose(1, 2)


class MLP(nn.Module):
    """Linear d -> hidden, QuickGELU, optional dropout, Linear hidden -> d."""

    def __init__(self, dim: int, hidden: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.c_fc = nn.Linear(dim, hidden)
        self.act = QuickGELU()
        self.dropout = nn.Dropout(dropout)
        self.c_proj = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.c_proj(self.dropout(self.act(self.c_fc(x))))
        return out


def trunc_normal_init(module: nn.Module, std: float = 0.02) -> None:
    """Trunc-normal(std) weights and zero biases for every Linear; LayerNorms 1/0."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
