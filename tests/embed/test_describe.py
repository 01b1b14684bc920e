"""The light model descriptions (``reid.embed.describe``, ``reid.adapt.describe``,
``tracking.describe``) say what the factories build, with the same fingerprints."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from reid.embed.describe import (
    EmbedderChoice,
    checkpoint_choice,
    describe_embedder,
    mobilenet_choice,
    read_torch_payload,
    zero_shot_choice,
)


def _same(choice: EmbedderChoice | None, built: object) -> None:
    assert choice is not None
    assert (choice.name, choice.kind, choice.dim, choice.is_fallback) == (
        built.name, built.kind, built.dim, built.is_fallback)  # type: ignore[attr-defined]
    assert choice.fingerprint == built.fingerprint  # type: ignore[attr-defined]


def test_mobilenet_fingerprint_equals_the_built_embedder() -> None:
    from reid.embed import MobileNetEmbedder

    _same(mobilenet_choice(), MobileNetEmbedder())
    _same(describe_embedder("mobilenet"), MobileNetEmbedder())


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from reid.model import create_model
    from reid.model.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = create_model("tfclip-tiny", num_classes=0, num_cameras=1).eval()
    return save_checkpoint(model, tmp_path_factory.mktemp("ckpt") / "tiny.pt", epoch=3)


def test_tfclip_fingerprint_equals_the_built_embedder(tiny_checkpoint: Path) -> None:
    from reid.embed import create_embedder

    built = create_embedder("tfclip", checkpoint=tiny_checkpoint)
    _same(describe_embedder("tfclip", checkpoint=tiny_checkpoint), built)
    _same(describe_embedder("auto", checkpoint=str(tiny_checkpoint)), built)


def test_checkpoint_header_is_read_without_its_tensors(tiny_checkpoint: Path) -> None:
    from reid.embed import describe
    from reid.model import checkpoint

    payload = read_torch_payload(tiny_checkpoint)
    assert payload["format"] == describe._CHECKPOINT_FORMAT == checkpoint.CHECKPOINT_FORMAT
    assert describe._CHECKPOINT_VERSION == checkpoint.CHECKPOINT_VERSION
    assert payload["metadata"] == {"epoch": 3}
    shapes = {k: v.shape for k, v in payload["state_dict"].items()}
    assert all(isinstance(s, tuple) and s for s in shapes.values())


def test_other_files_are_left_to_the_factory(tmp_path: Path) -> None:
    import torch

    assert checkpoint_choice(tmp_path / "missing.pt") is None
    torch.save({"state_dict": {"w": torch.zeros(2)}}, tmp_path / "release.pt")  # no format tag
    assert checkpoint_choice(tmp_path / "release.pt") is None
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    assert checkpoint_choice(tmp_path / "junk.pt") is None
    with pytest.raises(ValueError, match="needs a checkpoint"):
        describe_embedder("tfclip")
    with pytest.raises(ValueError, match="unknown embedder"):
        describe_embedder("nope")


def test_a_pickled_global_is_refused(tmp_path: Path) -> None:
    """As ``torch.load(weights_only=True)``: reading a header never runs code from the file."""
    path = tmp_path / "evil.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("evil/data.pkl", pickle.dumps({"format": Path("x")}))
    with pytest.raises(ValueError, match="not read without torch"):
        read_torch_payload(path)


def test_zero_shot_description_matches_the_model(tmp_path: Path) -> None:
    from reid.embed.tfclip import SequenceEmbedder
    from reid.files import sha256_file
    from reid.model import create_zero_shot_model

    weights = tmp_path / "clip.bin"
    weights.write_bytes(b"any bytes: only the hash is read")
    built = SequenceEmbedder(create_zero_shot_model("tfclip-tiny", pretrained=None),
                             name="tfclip-tiny-zero-shot", weights_id=sha256_file(weights)[:16],
                             kind="clip-zero-shot")
    _same(zero_shot_choice("tfclip-tiny", weights), built)


def test_offline_without_clip_weights_auto_is_the_fallback(monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    import dataclasses

    from reid.weights.sources import WEIGHT_SOURCES

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("REID_WEIGHTS_DIR", str(tmp_path / "weights"))
    clip = WEIGHT_SOURCES["clip-vit-b16"]  # nor in the Hugging Face cache of this machine
    monkeypatch.setitem(WEIGHT_SOURCES, clip.name, dataclasses.replace(clip, find=lambda: None))
    assert describe_embedder("auto") == mobilenet_choice()
    assert describe_embedder("clip") is None  # the factory raises the explaining error
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert describe_embedder("auto") is None  # open_clip would try to download them


def test_site_head_fingerprint_equals_the_built_one(tmp_path: Path) -> None:
    from reid.adapt.describe import site_head_choice
    from reid.adapt.head import SiteHeadEmbedder, save_head
    from reid.embed import MobileNetEmbedder

    base = MobileNetEmbedder()
    choice = mobilenet_choice()
    assert choice is not None
    head = save_head(tmp_path / "head.pt", np.eye(base.dim, dtype=np.float32), base.fingerprint, {})
    found = site_head_choice(choice, head)
    assert found is not None and found[1] is None
    _same(found[0], SiteHeadEmbedder.from_file(base, head))

    other = save_head(tmp_path / "other.pt", np.eye(base.dim, dtype=np.float32),
                      {**base.fingerprint, "weights": "another"}, {})
    with pytest.raises(ValueError, match="fitted on"):
        SiteHeadEmbedder.from_file(base, other)
    found = site_head_choice(choice, other)
    assert found is not None and found[0] == choice and "fitted on" in str(found[1])


def test_detector_description_matches_the_factory(monkeypatch: pytest.MonkeyPatch) -> None:
    from tracking.describe import _yolo_cache_path, describe_detector, find_yolo_weights_light
    from tracking.detect import create_detector, find_yolo_weights, yolo_cache_path

    monkeypatch.setenv("YOLO_OFFLINE", "1")
    assert _yolo_cache_path("yolo11n.pt") == yolo_cache_path("yolo11n.pt")
    for weights in ("yolo11n.pt", "missing/yolo.pt"):
        assert find_yolo_weights_light(weights) == find_yolo_weights(weights)
    for name in ("hog", "ssd", "yolo"):
        choice = describe_detector(name)
        built = create_detector(name)
        assert choice is not None and (choice.name, choice.fallback) == (built.name, built.name != name)


def test_ultralytics_weights_dir_is_the_settings_one() -> None:
    from ultralytics.utils import SETTINGS

    from tracking.describe import ultralytics_weights_dir

    assert ultralytics_weights_dir() == Path(SETTINGS["weights_dir"])


def test_an_online_missing_yolo_is_undecided(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from tracking.describe import describe_detector

    monkeypatch.delenv("YOLO_OFFLINE", raising=False)
    monkeypatch.setenv("REID_WEIGHTS_DIR", str(tmp_path))
    assert describe_detector("yolo", "no-such-yolo.pt") is None  # ultralytics would download it
    assert describe_detector("yolo", str(tmp_path / "no-such.pt")).fallback  # a path: never downloaded


def test_clip_weights_in_the_hugging_face_cache_mean_zero_shot(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    """The cache pre-check (no repository folder: nothing cached) must not hide a cached file."""
    from huggingface_hub import constants

    from reid.weights.sources import WEIGHT_SOURCES

    monkeypatch.setenv("REID_WEIGHTS_DIR", str(tmp_path / "ours"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    assert WEIGHT_SOURCES["clip-vit-b16"].find() is None
    repo = tmp_path / "hub" / "models--timm--vit_base_patch16_clip_224.openai"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    weights = repo / "snapshots" / "abc123" / "open_clip_model.safetensors"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"stand-in weights")
    assert WEIGHT_SOURCES["clip-vit-b16"].find() == weights
    assert describe_embedder("auto") == zero_shot_choice("tfclip-vit-b16", weights)
    assert describe_embedder("auto").kind == "clip-zero-shot"
