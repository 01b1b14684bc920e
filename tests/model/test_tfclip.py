"""TF-CLIP model: parameter arithmetic, gradients, determinism, dense encoding."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from reid.model import create_model, dense_chunk_indices, list_models
from reid.model.registry import get_model_config
from reid.model.tfclip import TFCLIP

B, T, H, W = 4, 8, 64, 32
NUM_CLASSES, NUM_CAMERAS = 5, 3


def count_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    model = create_model("tfclip-tiny", num_classes=NUM_CLASSES, num_cameras=NUM_CAMERAS)
    model.set_memory(torch.randn(NUM_CLASSES, model.proj_dim))
    return model


def batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    clips = torch.randn(B, T, 3, H, W, generator=g)
    cams = torch.tensor([0, 1, 2, 1])
    labels = torch.tensor([0, 0, 3, 4])
    return clips, cams, labels


def total_loss(out, labels):
    """Every loss term of spec section 7 in kind (CE on each logit head, a feature term each)."""
    frame_labels = labels.repeat_interleave(T)
    loss = sum(F.cross_entropy(z, labels) for z in (out.cls_logits, out.proj_logits, out.tmd_logits))
    loss = loss + F.cross_entropy(out.memory_logits, labels) + F.cross_entropy(out.frame_logits, frame_labels)
    return loss + sum(f.pow(2).mean() for f in (out.cls_feat, out.proj_feat, out.tmd_feat))


def test_registry_lists_both_configs():
    assert {"tfclip-vit-b16", "tfclip-tiny"} <= set(list_models())
    with pytest.raises(ValueError, match="tfclip-tiny"):
        create_model("no-such-model", num_classes=2, num_cameras=1)


@pytest.mark.parametrize(("ssp", "expected"), [("enhanced", 106_667_008), ("paper", 103_775_744)])
def test_vit_b16_parameter_count_matches_spec_arithmetic(ssp, expected):
    model = create_model("tfclip-vit-b16", num_classes=625, num_cameras=6, ssp=ssp)
    assert count_parameters(model) == expected
    assert count_parameters(model.backbone) == 86_140_416
    assert count_parameters(model.tmd) == 10_042_368
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    assert frozen == 768 + 512 + 768 + 768  # the four BN-neck biases
    assert model.backbone.num_tokens == 129
    assert model.descriptor_dim == 2048


def test_ablations_create_no_unused_parameters():
    full = create_model("tfclip-tiny", num_classes=NUM_CLASSES, num_cameras=NUM_CAMERAS)
    no_tmd = create_model("tfclip-tiny", num_classes=NUM_CLASSES, num_cameras=NUM_CAMERAS, use_tmd=False)
    no_mem = create_model("tfclip-tiny", num_classes=NUM_CLASSES, num_cameras=NUM_CAMERAS, use_memory=False)
    assert not hasattr(no_tmd, "tmd") and not hasattr(no_tmd, "classifier_proj_temp")
    assert not hasattr(no_mem, "ssp") and no_mem.use_ssp is False
    assert count_parameters(no_tmd) < count_parameters(full)
    assert no_tmd.descriptor_dim == full.width + full.proj_dim
    out = no_mem(*batch()[:2])
    assert out.memory_logits is None and out.tmd_logits is not None


@pytest.mark.parametrize("ssp", ["enhanced", "paper"])
def test_forward_shapes_finite_and_every_parameter_gets_a_gradient(ssp):
    torch.manual_seed(0)
    model = create_model("tfclip-tiny", num_classes=NUM_CLASSES, num_cameras=NUM_CAMERAS, ssp=ssp)
    model.set_memory(torch.randn(NUM_CLASSES, model.proj_dim))
    clips, cams, labels = batch()
    out = model(clips, cams)
    assert out.cls_feat.shape == (B, model.width) and out.proj_feat.shape == (B, model.proj_dim)
    assert out.tmd_feat.shape == (B, model.width)
    for logits in (out.cls_logits, out.proj_logits, out.tmd_logits, out.memory_logits):
        assert logits.shape == (B, NUM_CLASSES) and torch.isfinite(logits).all()
    assert out.frame_logits.shape == (B * T, NUM_CLASSES)
    total_loss(out, labels).backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert missing == []
    zero = [n for n, p in model.named_parameters() if p.requires_grad and not p.grad.abs().sum() > 0]
    assert zero == []


def test_tmd_losses_do_not_reach_the_backbone(tiny):
    clips, cams, labels = batch()
    out = tiny(clips, cams)
    tmd_loss = F.cross_entropy(out.tmd_logits, labels) + out.tmd_feat.pow(2).mean()
    tmd_loss = tmd_loss + F.cross_entropy(out.frame_logits, labels.repeat_interleave(T))
    tmd_loss.backward()
    for name, p in tiny.named_parameters():
        if name.startswith(("backbone.", "cv_embed")):
            assert p.grad is None, name
    assert all(p.grad is not None for p in tiny.tmd.parameters())


def test_v2m_logits_are_raw_dot_products_with_the_prompted_memory(tiny):
    tiny.eval()  # no dropout in SSP, BN uses running stats
    clips, cams, _ = batch()
    out = tiny(clips, cams)
    tokens = tiny._tokens(clips, cams)
    projected = tiny.backbone.project(tokens)
    memory = tiny.clip_memory.expand(B, -1, -1)
    prompted = memory + tiny.ssp(memory, projected.mean(1))
    expected = torch.einsum("bp,byp->by", projected[:, :, 0].mean(1), prompted)
    torch.testing.assert_close(out.memory_logits, expected)


def test_memory_must_be_set_and_shaped():
    model = create_model("tfclip-tiny", num_classes=NUM_CLASSES, num_cameras=NUM_CAMERAS)
    with pytest.raises(RuntimeError, match="set_memory"):
        model(*batch()[:2])
    with pytest.raises(ValueError, match="shape"):
        model.set_memory(torch.zeros(NUM_CLASSES + 1, model.proj_dim))
    assert "clip_memory" not in model.state_dict()


def test_camera_embedding_goes_to_cls_only_and_changes_the_descriptor(tiny):
    tiny.eval()
    clips, _, _ = batch()
    a = tiny.encode(clips, torch.zeros(B, dtype=torch.long))
    b = tiny.encode(clips, torch.ones(B, dtype=torch.long))
    assert not torch.allclose(a, b)
    with pytest.raises(ValueError, match="camera ids"):
        tiny.encode(clips, torch.full((B,), NUM_CAMERAS))


def _tiny_with_sie_coe(sie_coe: float | None):
    config = get_model_config("tfclip-tiny")
    if sie_coe is None:
        del config["sie_coe"]
    else:
        config["sie_coe"] = sie_coe
    torch.manual_seed(0)
    return TFCLIP(config, num_classes=0, num_cameras=NUM_CAMERAS).eval()


def test_sie_coe_scales_the_camera_term():
    clips, _, _ = batch()
    cam0, cam1 = torch.zeros(B, dtype=torch.long), torch.ones(B, dtype=torch.long)
    one = _tiny_with_sie_coe(1.0)
    assert get_model_config("tfclip-vit-b16")["sie_coe"] == 1.0 and one.sie_coe == 1.0
    assert _tiny_with_sie_coe(None).sie_coe == 1.0  # configs without it: today's behaviour
    zero = _tiny_with_sie_coe(0.0)
    torch.testing.assert_close(zero.encode(clips, cam0), zero.encode(clips, cam1), rtol=0, atol=0)
    two = _tiny_with_sie_coe(2.0)
    assert not torch.allclose(two.encode(clips, cam1), one.encode(clips, cam1))
    # 2 * table with sie_coe 1 is the same forward as the table with sie_coe 2
    with torch.no_grad():
        one.cv_embed.mul_(2.0)
    torch.testing.assert_close(one.encode(clips, cam1), two.encode(clips, cam1))
    with torch.no_grad():
        two.cv_embed.zero_()
        zero_table = two.encode(clips, cam1)
        two.cv_embed.copy_(torch.randn_like(two.cv_embed))
    torch.testing.assert_close(zero.encode(clips, cam0), zero_table)
    torch.testing.assert_close(two.memory_features(clips), zero.memory_features(clips))


def test_eval_is_deterministic_and_state_dict_round_trips_strictly(tiny):
    tiny.eval()
    clips, cams, _ = batch()
    first, second = tiny.encode(clips, cams), tiny.encode(clips, cams)
    assert torch.equal(first, second)
    clone = create_model("tfclip-tiny", num_classes=NUM_CLASSES, num_cameras=NUM_CAMERAS)
    clone.load_state_dict(tiny.state_dict(), strict=True)
    clone.eval()
    torch.testing.assert_close(clone.encode(clips, cams), first)


def test_dense_chunk_indices_pad_by_cycling_the_last_chunk():
    idx = dense_chunk_indices(26, 8)
    assert idx.shape == (4, 8)
    assert idx[3].tolist() == [24, 25, 24, 25, 24, 25, 24, 25]
    assert dense_chunk_indices(16, 8).tolist() == [list(range(8)), list(range(8, 16))]
    assert dense_chunk_indices(3, 8).tolist() == [[0, 1, 2, 0, 1, 2, 0, 1]]
    with pytest.raises(ValueError):
        dense_chunk_indices(0)


def test_27_frame_tracklet_is_the_mean_of_its_chunk_descriptors(tiny):
    tiny.eval()
    frames = torch.randn(27, 3, H, W, generator=torch.Generator().manual_seed(1))
    desc = tiny.encode_tracklet(frames, cam=2)
    idx = dense_chunk_indices(27, 8)
    chunks = tiny.encode(frames[idx], torch.full((idx.shape[0],), 2))
    assert desc.shape == (tiny.descriptor_dim,)
    torch.testing.assert_close(desc, chunks.mean(0))
    # batching chunks of several tracklets together gives the same per-tracklet descriptors
    many = tiny.encode_tracklets([frames, frames[:5]], [2, 0], batch_size=3)
    torch.testing.assert_close(many[0], desc)
    torch.testing.assert_close(many[1], tiny.encode_tracklet(frames[:5], 0))


def test_memory_features_ignore_the_camera(tiny):
    clips, _, _ = batch()
    feats = tiny.memory_features(clips)
    assert feats.shape == (B, tiny.proj_dim) and not feats.requires_grad
