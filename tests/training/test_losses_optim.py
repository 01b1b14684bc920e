"""Losses against literal formulas, the learning-rate rule, the schedule and the CLIP-Memory."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from training.datasets import DatasetTracklet
from training.losses import compute_loss, cross_entropy_label_smooth, tfclip_loss_terms, triplet_hard
from training.memory import build_clip_memory
from training.optim import build_optimizer, build_scheduler, lr_factor, lr_multiplier


def test_label_smoothed_ce_matches_formula():
    torch.manual_seed(0)
    logits, y = torch.randn(5, 7), torch.tensor([0, 3, 6, 2, 2])
    q = torch.full((5, 7), 0.1 / 7)
    q[torch.arange(5), y] += 0.9
    expected = -(q * torch.log_softmax(logits, 1)).sum(1).mean()
    assert torch.allclose(cross_entropy_label_smooth(logits, y, 0.1), expected, atol=1e-6)


def test_triplet_hard_matches_loop():
    torch.manual_seed(1)
    x, y = torch.randn(8, 5) * 3, torch.tensor([0, 0, 1, 1, 2, 2, 2, 3])
    losses = []
    for i in range(8):
        d = [float(torch.dist(x[i], x[j])) for j in range(8)]
        pos = [d[j] for j in range(8) if y[j] == y[i] and j != i]
        neg = [d[j] for j in range(8) if y[j] != y[i]]
        if pos:
            losses.append(max(0.0, max(pos) - min(neg) + 0.3))
    assert float(triplet_hard(x, y, 0.3)) == pytest.approx(np.mean(losses), rel=1e-5)


def test_weighted_list_and_skipped_terms():
    torch.manual_seed(2)
    b, t, y_cls = 4, 8, 6
    labels = torch.tensor([0, 0, 1, 1])
    out = SimpleNamespace(
        cls_feat=torch.randn(b, 5), proj_feat=torch.randn(b, 3), tmd_feat=None,
        cls_logits=torch.randn(b, y_cls), proj_logits=torch.randn(b, y_cls), tmd_logits=None,
        frame_logits=torch.randn(b * t, y_cls), memory_logits=torch.randn(b, y_cls),
    )
    total, parts = compute_loss(tfclip_loss_terms(seq_len=t), out, labels)
    assert set(parts) == {"id_cls", "id_proj", "tri_cls", "tri_proj", "v2m", "id_frame", "total"}
    expected = (0.25 * (parts["id_cls"] + parts["id_proj"]) + parts["tri_cls"] + parts["tri_proj"]
                + parts["v2m"] + parts["id_frame"] / t)
    assert float(total) == pytest.approx(expected, rel=1e-6)
    frame = cross_entropy_label_smooth(out.frame_logits, labels.repeat_interleave(t))
    assert parts["id_frame"] == pytest.approx(float(frame))


def test_lr_rule():
    assert lr_multiplier("classifier_proj_temp.weight") == 10
    assert lr_multiplier("classifier_proj.weight") == 1
    assert lr_multiplier("backbone.transformer.resblocks.0.attn.in_proj_bias") == 2
    assert lr_multiplier("ssp.layers.0.mlp.0.weight") == 10
    assert lr_multiplier("tmd.message_fc.weight") == 10
    # official make_optimizer_2stage: the x10 multiplies the bias x2
    assert lr_multiplier("tmd.message_fc.bias") == 20
    assert lr_multiplier("ssp.layers.0.attn.in_proj_bias") == 20
    assert lr_multiplier("classifier_proj_temp.bias") == 20
    assert lr_multiplier("tmd.message_fc.bias", bias_lr_factor=3.0) == 30
    assert lr_multiplier("cv_embed") == 1
    assert lr_multiplier("tmd.message_fc.bias", large_module_lr=False) == 2
    assert lr_multiplier("ssp.layers.0.mlp.0.weight", large_module_lr=False) == 1
    assert lr_multiplier("classifier_proj_temp.weight", large_fc_lr=False) == 1


def test_optimizer_groups_on_real_model():
    from reid.model import create_model

    model = create_model("tfclip-tiny", num_classes=5, num_cameras=2)
    opt = build_optimizer(model, base_lr=5e-6, large_module_lr=False)
    lr_of = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    named = dict(model.named_parameters())
    assert lr_of[id(named["classifier_proj_temp.weight"])] == pytest.approx(5e-5)
    assert lr_of[id(named["classifier2.weight"])] == pytest.approx(5e-6)
    assert lr_of[id(named["bottleneck.weight"])] == pytest.approx(5e-6)
    assert id(named["bottleneck.bias"]) not in lr_of  # frozen BN bias
    bias = next(n for n in named if n.startswith("backbone.") and n.endswith("bias"))
    assert lr_of[id(named[bias])] == pytest.approx(1e-5)
    ssp_w = next(n for n in named if n.startswith("ssp.") and n.endswith("weight"))
    assert lr_of[id(named[ssp_w])] == pytest.approx(5e-6)
    opt10 = build_optimizer(model, base_lr=5e-6)
    lr10 = {id(p): g["lr"] for g in opt10.param_groups for p in g["params"]}
    assert lr10[id(named[ssp_w])] == pytest.approx(5e-5)
    ssp_b = next(n for n in named if n.startswith("ssp.") and n.endswith("bias"))
    tmd_w = next(n for n in named if n.startswith("tmd.") and n.endswith("weight"))
    tmd_b = next(n for n in named if n.startswith("tmd.") and n.endswith("bias"))
    assert lr10[id(named[ssp_b])] == pytest.approx(1e-4)
    assert lr10[id(named[tmd_b])] == pytest.approx(1e-4)
    assert lr10[id(named[tmd_w])] == pytest.approx(5e-5)
    assert lr10[id(named[bias])] == pytest.approx(1e-5)
    assert lr10[id(named["cv_embed"])] == pytest.approx(5e-6)
    assert lr_of[id(named[ssp_b])] == pytest.approx(1e-5)
    assert all(g["weight_decay"] == 1e-4 for g in opt.param_groups)


def test_warmup_multistep_schedule():
    assert lr_factor(0) == pytest.approx(0.1)
    assert lr_factor(9) == pytest.approx(0.91)
    assert [lr_factor(e) for e in (10, 29, 30, 49, 50, 70, 79)] == pytest.approx(
        [1, 1, 0.1, 0.1, 0.01, 0.001, 0.001])
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=5e-6)
    sched = build_scheduler(opt)
    seen = []
    for _ in range(32):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen[0] == pytest.approx(5e-7) and seen[5] == pytest.approx(5e-6 * (0.1 * 0.5 + 0.5))
    assert seen[10] == pytest.approx(5e-6) and seen[30] == pytest.approx(5e-7)
    assert math.isclose(seen[31], 5e-7)


def test_clip_memory_matches_manual_dense_mean(tmp_path):
    from reid.model import create_model, dense_chunk_indices
    from training.data import load_frames, to_tensor

    torch.manual_seed(0)
    model = create_model("tfclip-tiny", num_classes=2, num_cameras=2)
    pre = model.preprocess
    rng = np.random.default_rng(0)
    records = []
    for k, (pid, n) in enumerate([(0, 10), (1, 3), (0, 17)]):
        paths = []
        for f in range(n):
            p = tmp_path / f"{k}_{f}.png"
            Image.fromarray(rng.integers(0, 256, (40, 20, 3), dtype=np.uint8)).save(p)
            paths.append(str(p))
        records.append(DatasetTracklet(tuple(paths), pid, k % 2))
    memory = build_clip_memory(model, records, 2, tracklets_per_batch=2, clips_per_forward=3)
    assert memory.shape == (2, model.proj_dim)
    u = []
    for r in records:
        frames = to_tensor(load_frames(r.frame_paths, pre["input_size"]), pre["mean"], pre["std"])
        chunks = frames[dense_chunk_indices(len(r), pre["seq_len"])]
        u.append(model.memory_features(chunks).mean(0))
    assert torch.allclose(memory[0], (u[0] + u[2]) / 2, atol=1e-5)
    assert torch.allclose(memory[1], u[1], atol=1e-5)
    with pytest.raises(ValueError, match="missing"):
        build_clip_memory(model, records[:1], 2)
