"""Losses of spec section 7 as plain functions, combined through a weighted list.

Total loss (official MARS run)::

    0.25 * [CEls(z1) + CEls(z2) + CEls(z3)]  +  1.0 * [Tri(c_bar) + Tri(p_bar) + Tri(v_hat)]
  + 1.0 * CEls(V2M logits)  +  (1/T) * CEls(frame logits, labels repeated T times)

Terms whose model output is ``None`` (module switched off) are skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from reid.model import TFCLIPOutput

logger = logging.getLogger(__name__)


def cross_entropy_label_smooth(
    logits: torch.Tensor, targets: torch.Tensor, epsilon: float = 0.1
) -> torch.Tensor:
    """Label-smoothed CE: q = (1-eps)*onehot + eps/Y; mean over rows of -sum q log p.

    logits (N, Y), targets (N,) long -> scalar. Computed in float32.
    """
    log_probs = F.log_softmax(logits.float(), dim=1)
    nll = -log_probs.gather(1, targets.view(-1, 1)).squeeze(1)
    uniform = -log_probs.mean(dim=1)
    return ((1.0 - epsilon) * nll + epsilon * uniform).mean()


def triplet_hard(features: torch.Tensor, targets: torch.Tensor, margin: float = 0.3) -> torch.Tensor:
    """Batch-hard triplet loss on un-normalised features (Euclidean, sqrt(clamp(d², 1e-12))).

    For each anchor: hardest positive = largest distance to a same-label sample, hardest negative =
    smallest distance to another label; loss = mean(relu(d_ap - d_an + margin)).
    features (N, D), targets (N,) -> scalar. Anchors without a positive or a negative are skipped.
    """
    x = features.float()
    sq = (x * x).sum(dim=1, keepdim=True)
    dist = (sq + sq.t() - 2.0 * x @ x.t()).clamp(min=1e-12).sqrt()
    same = targets.view(-1, 1) == targets.view(1, -1)
    eye = torch.eye(len(targets), dtype=torch.bool, device=targets.device)
    pos_mask, neg_mask = same & ~eye, ~same
    d_ap = torch.where(pos_mask, dist, torch.full_like(dist, -1.0)).max(dim=1).values
    d_an = torch.where(neg_mask, dist, torch.full_like(dist, float("inf"))).min(dim=1).values
    valid = pos_mask.any(dim=1) & neg_mask.any(dim=1)
    if not valid.any():
        return features.sum() * 0.0
    return F.relu(d_ap[valid] - d_an[valid] + margin).mean()


# (model output, labels (B,)) -> unweighted scalar loss, or None when the term does not apply.
LossFn = Callable[["TFCLIPOutput", torch.Tensor], torch.Tensor | None]


@dataclass(frozen=True)
class LossTerm:
    """One weighted term: ``weight * fn(model_output, labels)``; skipped when ``fn`` returns None."""

    name: str
    weight: float
    fn: LossFn


def _id(field: str, eps: float) -> LossFn:
    def fn(out: TFCLIPOutput, labels: torch.Tensor) -> torch.Tensor | None:
        logits = getattr(out, field)
        return None if logits is None else cross_entropy_label_smooth(logits, labels, eps)
    return fn


def _tri(field: str, margin: float) -> LossFn:
    def fn(out: TFCLIPOutput, labels: torch.Tensor) -> torch.Tensor | None:
        feats = getattr(out, field)
        return None if feats is None else triplet_hard(feats, labels, margin)
    return fn


def _frame_id(eps: float) -> LossFn:
    def fn(out: TFCLIPOutput, labels: torch.Tensor) -> torch.Tensor | None:
        logits = out.frame_logits
        if logits is None:
            return None
        t = logits.shape[0] // labels.shape[0]
        return cross_entropy_label_smooth(logits, labels.repeat_interleave(t), eps)
    return fn


def tfclip_loss_terms(
    seq_len: int = 8, id_weight: float = 0.25, triplet_weight: float = 1.0,
    v2m_weight: float = 1.0, epsilon: float = 0.1, margin: float = 0.3,
) -> list[LossTerm]:
    """The weighted list of spec 7 (frame-level ID weight = 1/seq_len)."""
    return [
        LossTerm("id_cls", id_weight, _id("cls_logits", epsilon)),
        LossTerm("id_proj", id_weight, _id("proj_logits", epsilon)),
        LossTerm("id_tmd", id_weight, _id("tmd_logits", epsilon)),
        LossTerm("tri_cls", triplet_weight, _tri("cls_feat", margin)),
        LossTerm("tri_proj", triplet_weight, _tri("proj_feat", margin)),
        LossTerm("tri_tmd", triplet_weight, _tri("tmd_feat", margin)),
        LossTerm("v2m", v2m_weight, _id("memory_logits", epsilon)),
        LossTerm("id_frame", 1.0 / seq_len, _frame_id(epsilon)),
    ]


def compute_loss(
    terms: list[LossTerm], out: TFCLIPOutput, labels: torch.Tensor
) -> tuple[torch.Tensor, dict[str, float]]:
    """Sum of the weighted terms -> (total scalar tensor, {name: unweighted value} for logging)."""
    total: torch.Tensor | None = None
    parts: dict[str, float] = {}
    for term in terms:
        value = term.fn(out, labels)
        if value is None:
            continue
        parts[term.name] = float(value.detach())
        total = term.weight * value if total is None else total + term.weight * value
    if total is None:
        raise ValueError("no loss term applies to this model output")
    parts["total"] = float(total.detach())
    return total, parts
