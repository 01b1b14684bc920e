"""Embedders: shapes, normalisation, fingerprints, the offline fallback's strict weight mapping."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reid.embed import (
    MobileNetEmbedder,
    MobileNetWeightsError,
    create_embedder,
    crops_to_tensor,
    random_init_embedder,
)
from reid.embed.mobilenet import map_mobilenet_keys
from reid.model import WeightsUnavailableError, create_model, save_checkpoint


def person_crops(n: int, seed: int, colour=(200, 30, 30)) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    crops = []
    for _ in range(n):
        crop = rng.integers(0, 40, (96, 48, 3), dtype=np.uint8)
        crop[10:60, 8:40] = colour  # a coloured torso
        crops.append(crop)
    return crops


def test_crops_to_tensor_resizes_and_normalises():
    pre = {"input_size": [64, 32], "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}
    white = np.full((100, 40, 3), 255, dtype=np.uint8)
    out = crops_to_tensor([white, white[:10]], pre)
    assert out.shape == (2, 3, 64, 32)
    torch.testing.assert_close(out, torch.ones_like(out))
    with pytest.raises(ValueError, match="RGB"):
        crops_to_tensor([np.zeros((10, 10), dtype=np.uint8)], pre)


def test_tfclip_embedder_is_dense_and_normalised():
    emb = random_init_embedder("tfclip-tiny", seed=1)
    crops = [person_crops(11, 0), person_crops(1, 1)]
    desc = emb.embed_tracklets(crops)
    assert desc.shape == (2, emb.dim) and desc.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(desc, axis=1), 1.0, rtol=1e-5)
    # the same crops give the same descriptor whatever else is in the batch
    alone = emb.embed_tracklets([crops[1]])
    np.testing.assert_allclose(alone[0], desc[1], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(emb.embed_images([crops[1][0]])[0], desc[1], rtol=1e-4, atol=1e-5)
    assert emb.embed_tracklets([]).shape == (0, emb.dim)
    assert emb.fingerprint["weights"] == "random-init:1" and emb.fingerprint["dim"] == emb.dim


def test_checkpoint_embedder_fingerprint_is_the_file_hash(tmp_path):
    torch.manual_seed(0)
    path = save_checkpoint(create_model("tfclip-tiny", num_classes=0, num_cameras=2), tmp_path / "m.pt")
    emb = create_embedder("auto", checkpoint=path)
    assert emb.kind == "tfclip" and not emb.is_fallback and emb.dim == 176
    assert len(emb.fingerprint["weights"]) == 16
    with pytest.raises(ValueError, match="reid export"):
        create_embedder("tfclip")


def test_mobilenet_fallback_loads_the_wheel_weights_strictly():
    emb = MobileNetEmbedder()
    assert emb.is_fallback and emb.dim == 1280
    red, red2, blue = person_crops(4, 0), person_crops(4, 5), person_crops(4, 0, colour=(30, 30, 200))
    desc = emb.embed_tracklets([red, red2, blue])
    np.testing.assert_allclose(np.linalg.norm(desc, axis=1), 1.0, rtol=1e-5)
    # ImageNet features see the torso colour: same-colour tracklets are closer than different ones
    assert desc[0] @ desc[1] > desc[0] @ desc[2]


def test_mobilenet_channels_last_gives_the_plain_layouts_descriptors():
    """The embedder runs its network channels-last for speed; the descriptors are those of the
    plain (NCHW) network on the same preprocessed crops, up to float rounding."""
    emb = MobileNetEmbedder()
    tracklets = [person_crops(3, 0), person_crops(5, 2, colour=(30, 30, 200))]
    fast = emb.embed_tracklets(tracklets)
    plain = MobileNetEmbedder().features.to(memory_format=torch.contiguous_format)
    with torch.inference_mode():
        rows = []
        for crops in tracklets:
            x = crops_to_tensor(crops, emb.preprocess).contiguous()
            rows.append(plain(x).mean(dim=(2, 3)).mean(dim=0))
    want = torch.nn.functional.normalize(torch.stack(rows), dim=1).numpy()
    np.testing.assert_allclose(fast, want, atol=1e-5)


def test_mobilenet_key_mapping_rejects_wrong_shapes():
    from torchvision.models import mobilenet_v2

    target = mobilenet_v2(weights=None).state_dict()
    source = {k: v for k, v in target.items() if k.startswith("features.")}
    first = next(iter(source))
    source[first] = torch.zeros(1)
    with pytest.raises(MobileNetWeightsError, match="does not fit"):
        map_mobilenet_keys(source, target)


def test_auto_falls_back_offline_and_clip_kind_does_not(monkeypatch):
    import open_clip

    def offline(*args, **kwargs):
        raise FileNotFoundError("offline")

    monkeypatch.setattr(open_clip, "download_pretrained", offline)
    assert create_embedder("auto").is_fallback
    with pytest.raises(WeightsUnavailableError):
        create_embedder("clip")
