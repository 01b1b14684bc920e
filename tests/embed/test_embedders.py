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
)
from reid.embed.mobilenet import map_mobilenet_keys
from reid.model import WeightsUnavailableError, create_model, save_checkpoint
from tests.support.embedders import random_init_embedder


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
    assert emb.is_fallback and emb.dim == 1792
    red, red2, blue = person_crops(4, 0), person_crops(4, 5), person_crops(4, 0, colour=(30, 30, 200))
    desc = emb.embed_tracklets([red, red2, blue])
    np.testing.assert_allclose(np.linalg.norm(desc, axis=1), 1.0, rtol=1e-5)
    # ImageNet features see the torso colour: same-colour tracklets are closer than different ones
    assert desc[0] @ desc[1] > desc[0] @ desc[2]


def test_mobilenet_descriptor_is_its_documented_parts_and_channels_last_changes_nothing():
    """The embedder runs its network channels-last for speed; its descriptor is exactly
    ``[sqrt(w) * cnn, sqrt(1 - w) * colour]`` computed here independently with the plain (NCHW)
    network: 4 stripe averages of features[:18] (each unit-norm), and 2 stripe square-rooted HSV
    histograms, each part averaged over the crops and unit-normalised."""
    import cv2

    from reid.embed.mobilenet import CNN_WEIGHT

    emb = MobileNetEmbedder()
    tracklets = [person_crops(3, 0), person_crops(5, 2, colour=(30, 30, 200))]
    fast = emb.embed_tracklets(tracklets)
    plain = MobileNetEmbedder().features.to(memory_format=torch.contiguous_format)

    def unit(v):
        return v / np.linalg.norm(v)

    for row, crops in zip(fast, tracklets, strict=True):
        with torch.inference_mode():
            fmap = plain(crops_to_tensor(crops, emb.preprocess).contiguous()).numpy()  # (n, 320, 8, 4)
        cnn = np.mean([np.concatenate([unit(m[:, 2 * s:2 * s + 2].mean(axis=(1, 2))) for s in range(4)])
                       for m in fmap], axis=0)
        colour = []
        for crop in crops:
            hsv = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV)
            half = [hsv[:48], hsv[48:]]  # 96-row crops: upper and lower body
            hists = [cv2.calcHist([h], [0, 1, 2], None, [16, 4, 4], [0, 180, 0, 256, 0, 256]).ravel()
                     for h in half]
            colour.append(np.concatenate([np.sqrt(h / h.sum()) for h in hists]))
        want = np.concatenate([np.sqrt(CNN_WEIGHT) * unit(cnn),
                               np.sqrt(1 - CNN_WEIGHT) * unit(np.mean(colour, axis=0))])
        np.testing.assert_allclose(row, want, atol=1e-5)


def test_mobilenet_descriptor_tells_which_half_wears_which_colour():
    """Stripes keep where a colour is: red over blue is not blue over red (one global average or
    histogram would call them the same)."""
    def outfit(top, bottom, first_seed=0):
        crops = []
        for seed in range(first_seed, first_seed + 3):
            crop = np.random.default_rng(seed).integers(0, 40, (128, 48, 3), dtype=np.uint8)
            crop[8:64, 8:40], crop[64:120, 8:40] = top, bottom
            crops.append(crop)
        return crops

    red, blue = (200, 30, 30), (30, 30, 200)
    desc = MobileNetEmbedder().embed_tracklets([outfit(red, blue), outfit(red, blue, 10),
                                                outfit(blue, red)])
    assert desc[0] @ desc[1] > desc[0] @ desc[2] + 0.1


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
