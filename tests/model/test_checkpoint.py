"""Checkpoint surgery (positional resize, CLIP key mapping) and the inference format."""

from __future__ import annotations

import pytest
import torch

from reid.model import (
    CheckpointError,
    WeightsUnavailableError,
    create_model,
    create_zero_shot_model,
    load_checkpoint,
    resize_pos_embed,
    save_checkpoint,
)
from reid.model.backbone import build_clip_visual
from reid.model.registry import get_model_config
from reid.model.tfclip import TFCLIP


def test_resize_identity_when_grids_match():
    pos = torch.randn(1 + 16 * 8, 12)
    assert resize_pos_embed(pos, (16, 8), (16, 8)) is pos


def test_resize_square_to_rectangle_keeps_cls_and_interpolates_grid():
    # a grid that is linear in the row index stays linear after bilinear resizing
    rows = torch.arange(14, dtype=torch.float32).view(14, 1, 1).expand(14, 14, 3)
    cls = torch.full((1, 3), 7.0)
    pos = torch.cat([cls, rows.reshape(196, 3)])
    out = resize_pos_embed(pos, (14, 14), (16, 8))
    assert out.shape == (129, 3)
    torch.testing.assert_close(out[0], cls[0])
    grid = out[1:].view(16, 8, 3)
    assert torch.allclose(grid[:, 0], grid[:, 5])  # constant along columns
    assert (grid[1:, 0, 0] > grid[:-1, 0, 0]).all()  # increasing along rows
    assert grid.min() >= 0.0 and grid.max() <= 13.0


def test_resize_rejects_a_wrong_source_grid():
    with pytest.raises(CheckpointError, match="12x12"):
        resize_pos_embed(torch.randn(197, 4), (12, 12), (16, 8))


def fake_clip_file(tmp_path, image_size=(64, 64)):
    """A CLIP-style file: 'visual.*' tensors at a square training size, plus text-tower keys."""
    cfg = dict(get_model_config("tfclip-tiny")["backbone"], image_size=list(image_size))
    torch.manual_seed(3)
    visual = build_clip_visual(cfg)
    state = {f"visual.{k}": v for k, v in visual.state_dict().items()}
    state["token_embedding.weight"] = torch.randn(10, 4)
    path = tmp_path / "clip.pt"
    torch.save(state, path)
    return path, visual


def test_pretrained_local_file_loads_strictly_with_resized_positions(tmp_path, monkeypatch):
    path, visual = fake_clip_file(tmp_path)
    # tfclip-tiny has no pretrained tag; declare the source size the way the ViT-B/16 config does
    from reid.model import registry

    config = get_model_config("tfclip-tiny")
    config["pretrained"] = {"test": {"image_size": [64, 64]}}
    monkeypatch.setattr(registry, "get_model_config", lambda name: config)
    monkeypatch.setattr("reid.model.factory.get_model_config", lambda name: config)
    model = create_model("tfclip-tiny", num_classes=2, num_cameras=1, pretrained=str(path))
    loaded = model.backbone.visual.state_dict()
    torch.testing.assert_close(loaded["conv1.weight"], visual.state_dict()["conv1.weight"])
    expected_pos = resize_pos_embed(visual.positional_embedding.detach(), (8, 8), (8, 4))
    torch.testing.assert_close(loaded["positional_embedding"], expected_pos)


def test_wrong_weights_fail_loudly(tmp_path):
    path, _ = fake_clip_file(tmp_path)  # 64x64 source, but tiny's default source size is 64x32
    with pytest.raises(CheckpointError, match="positional table"):
        create_model("tfclip-tiny", num_classes=2, num_cameras=1, pretrained=str(path))
    with pytest.raises(ValueError, match="neither a file nor a pretrained tag"):
        create_model("tfclip-tiny", num_classes=2, num_cameras=1, pretrained="openai")


def test_openai_tag_offline_fails_fast_with_a_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("REID_WEIGHTS_DIR", str(tmp_path))  # not a file `reid weights fetch` left here
    import open_clip

    def offline(*args, **kwargs):
        raise FileNotFoundError("offline")

    monkeypatch.setattr(open_clip, "download_pretrained", offline)
    with pytest.raises(WeightsUnavailableError, match="reid weights fetch"):
        create_zero_shot_model("tfclip-vit-b16", pretrained="openai")


def test_inference_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = create_model("tfclip-tiny", num_classes=4, num_cameras=3).eval()
    path = save_checkpoint(model, tmp_path / "model.pt", epoch=3)
    loaded = load_checkpoint(path)
    assert loaded.num_classes == 0 and not hasattr(loaded, "classifier2") and not hasattr(loaded, "ssp")
    assert loaded.preprocess == model.preprocess and loaded.descriptor_dim == model.descriptor_dim
    clips, cams = torch.randn(2, 8, 3, 64, 32), torch.tensor([0, 2])
    torch.testing.assert_close(loaded.encode(clips, cams), model.encode(clips, cams))
    payload = torch.load(path, weights_only=True)
    assert payload["arch"] == "tfclip-tiny" and payload["metadata"] == {"epoch": 3}


def test_checkpoint_carries_sie_coe_and_old_files_load_with_one(tmp_path):
    torch.manual_seed(0)
    config = get_model_config("tfclip-tiny")
    config["sie_coe"] = 3.0
    model = TFCLIP(config, num_classes=0, num_cameras=3).eval()
    path = save_checkpoint(model, tmp_path / "coe3.pt")
    loaded = load_checkpoint(path)
    assert loaded.sie_coe == 3.0
    clips, cams = torch.randn(2, 8, 3, 64, 32), torch.tensor([0, 2])
    torch.testing.assert_close(loaded.encode(clips, cams), model.encode(clips, cams))
    payload = torch.load(path, weights_only=True)
    del payload["config"]["sie_coe"]  # as written before sie_coe existed
    torch.save(payload, tmp_path / "old.pt")
    old = load_checkpoint(tmp_path / "old.pt")
    assert old.sie_coe == 1.0
    assert not torch.allclose(old.encode(clips, cams), model.encode(clips, cams))
    model.sie_coe = 1.0
    torch.testing.assert_close(old.encode(clips, cams), model.encode(clips, cams))


def test_load_checkpoint_errors_say_what_is_wrong(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a TF-CLIP inference checkpoint"):
        load_checkpoint(junk)
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="reid export"):
        load_checkpoint(tmp_path / "other.pt")
    model = create_model("tfclip-tiny", num_classes=0, num_cameras=2)
    path = save_checkpoint(model, tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    del payload["state_dict"]["cv_embed"]
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="missing: cv_embed"):
        load_checkpoint(path)


def test_zero_shot_descriptor_is_cls_plus_projection_averaged_over_frames():
    torch.manual_seed(0)
    model = create_zero_shot_model("tfclip-tiny", pretrained=None)
    clips = torch.randn(2, 8, 3, 64, 32)
    desc = model.encode(clips)
    cls = model.backbone(clips.flatten(0, 1))[:, 0].view(2, 8, -1)
    assert desc.shape == (2, model.width + model.proj_dim)
    torch.testing.assert_close(desc[:, : model.width], cls.mean(1))
    assert model.preprocess["mean"][0] == pytest.approx(0.48145466)
    assert model.encode_tracklet(torch.randn(11, 3, 64, 32)).shape == (model.descriptor_dim,)
