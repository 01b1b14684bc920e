"""Reading state dicts saved by the official TF-CLIP code: reid.model.official and
`reid weights import-tfclip`."""

from __future__ import annotations

import pytest
import torch

from reid.model import CheckpointError, create_model, load_checkpoint, save_checkpoint
from reid.model.official import (
    convert_official_state_dict,
    dropped_reason,
    import_official_checkpoint,
    map_official_state_dict,
    official_name,
    our_name,
    to_official_state_dict,
)
from reid.model.registry import get_model_config
from reid.model.tfclip import TFCLIP

TINY = "tfclip-tiny"


def _training_extras(width: int, proj: int, num_ids: int) -> dict[str, torch.Tensor]:
    """The official tensors inference does not need: classifiers for ``num_ids`` identities, the
    four BN necks with running statistics, and SSP (incl. the unused ``alpha`` and ``norm``)."""
    extras = {
        "classifier2.weight": torch.randn(num_ids, width),
        "classifier_proj.weight": torch.randn(num_ids, proj),
        "classifier_proj_temp.weight": torch.randn(num_ids, width),
        "classifier_proj_temp2.weight": torch.randn(num_ids, width),
        "SSP.alpha": torch.full((proj,), 0.1),
        "SSP.norm.weight": torch.ones(proj),
        "SSP.memory_proj.1.weight": torch.randn(proj, proj),
        "SSP.decoder.1.cross_attn.q_proj.weight": torch.randn(proj, proj),
        "SSP.decoder.0.mlp.3.bias": torch.zeros(proj),
    }
    for neck, dim in (("bottleneck", width), ("bottleneck_proj", proj),
                      ("bottleneck_proj_temp", width), ("bottleneck_proj_temp2", width)):
        extras.update({
            f"{neck}.weight": torch.ones(dim), f"{neck}.bias": torch.zeros(dim),
            f"{neck}.running_mean": torch.randn(dim), f"{neck}.running_var": torch.rand(dim) + 0.5,
            f"{neck}.num_batches_tracked": torch.tensor(100),
        })
    return extras


@pytest.fixture(scope="module")
def tiny_official():
    """(our random tiny model with 4 cameras, its weights in official naming under ``module.``
    with 625-identity training heads)."""
    torch.manual_seed(11)
    model = create_model(TINY, num_classes=0, num_cameras=4).eval()
    official = to_official_state_dict(model.state_dict())
    raw = {f"module.{k}": v.clone() for k, v in official.items()}
    raw.update({f"module.{k}": v for k, v in _training_extras(model.width, model.proj_dim, 625).items()})
    return model, raw


def _clips(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(3, 8, 3, 64, 32, generator=g), torch.tensor([0, 3, 1])


def test_round_trip_gives_identical_descriptors(tiny_official):
    model, raw = tiny_official
    converted, report = convert_official_state_dict(raw, TINY)
    assert report.num_cameras == 4 and converted.num_cameras == 4
    assert report.mapped == len(model.state_dict())
    assert len(report.dropped) == len(raw) - report.mapped
    assert all(k.startswith("module.") for k in report.dropped)
    clips, cams = _clips()
    with torch.no_grad():
        assert torch.equal(converted.encode(clips, cams), model.encode(clips, cams))


def test_camera_count_comes_from_the_table(tiny_official):
    model, raw = tiny_official
    six = dict(raw, **{"module.cv_embed": torch.randn(6, model.width)})
    converted, report = convert_official_state_dict(six, TINY)
    assert report.num_cameras == 6 and converted.cv_embed.shape == (6, model.width)


def test_official_names_from_the_source_map_to_ours():
    # Written by hand from AsuradaYuci/TF-CLIP, not generated from our map:
    # model/make_model_clipreid.py, build_transformer.__init__: `self.image_encoder = clip_model.visual`,
    #   `self.cv_embed = nn.Parameter(...)`, `self.TMD = Temporal_Memory_Difusion(...)` whose
    #   `self.resblocks = nn.Sequential(*[CrossFramelAttentionBlock ...])`; CrossFramelAttentionBlock
    #   has `message_fc`, `message_ln`, `message_attn = nn.MultiheadAttention`, `attn`, `ln_1`,
    #   `mlp` (OrderedDict c_fc / gelu / c_proj), `ln_2`.
    # model/clip/model.py, VisionTransformer.__init__: `conv1`, `class_embedding`,
    #   `positional_embedding`, `ln_pre`, `transformer` (Transformer.resblocks of
    #   ResidualAttentionBlock: `attn = nn.MultiheadAttention`, `ln_1`, `mlp`, `ln_2`), `ln_post`, `proj`.
    expected = {
        "image_encoder.conv1.weight": "backbone.visual.conv1.weight",
        "image_encoder.class_embedding": "backbone.visual.class_embedding",
        "image_encoder.positional_embedding": "backbone.visual.positional_embedding",
        "image_encoder.proj": "backbone.visual.proj",
        "image_encoder.ln_post.bias": "backbone.visual.ln_post.bias",
        "image_encoder.transformer.resblocks.11.attn.in_proj_weight":
            "backbone.visual.transformer.resblocks.11.attn.in_proj_weight",
        "image_encoder.transformer.resblocks.3.mlp.c_proj.bias":
            "backbone.visual.transformer.resblocks.3.mlp.c_proj.bias",
        "cv_embed": "cv_embed",
        "TMD.resblocks.0.message_fc.weight": "tmd.message_fc.weight",
        "TMD.resblocks.0.message_attn.in_proj_weight": "tmd.message_attn.in_proj.weight",
        "TMD.resblocks.0.message_attn.in_proj_bias": "tmd.message_attn.in_proj.bias",
        "TMD.resblocks.0.attn.out_proj.weight": "tmd.attn.out_proj.weight",
        "TMD.resblocks.0.mlp.c_fc.weight": "tmd.mlp.c_fc.weight",
        "module.TMD.resblocks.0.ln_2.bias": "tmd.ln_2.bias",
        "SAT.resblocks.0.message_ln.weight": "tmd.message_ln.weight",  # pre-release name of TMD
    }
    for official, ours in expected.items():
        assert our_name(official) == ours, official
        assert dropped_reason(official) is None, official
    # the same file: classifier2/classifier_proj/classifier_proj_temp/classifier_proj_temp2 (bias=False),
    # bottleneck* = nn.BatchNorm1d, `self.SSP = ImageSpecificPrompt()` with `norm`, `alpha`, `decoder`
    # of PromptGeneratorLayer (`self_attn`/`cross_attn` with q_proj/k_proj/v_proj/proj, norm1..3, mlp).
    for dropped in ("classifier2.weight", "module.classifier_proj_temp2.weight", "SSP.alpha",
                    "SSP.norm.bias", "SSP.decoder.1.self_attn.proj.weight", "bottleneck.running_var",
                    "bottleneck_proj_temp2.num_batches_tracked", "prompts_generator.out_proj.1.weight"):
        assert our_name(dropped) is None and dropped_reason(dropped), dropped
    for unknown in ("image_encoder.attnpool.c_proj.weight", "TMD.resblocks.1.ln_1.weight",
                    "classifier3.weight", "SSPX.weight", "visual.proj",
                    "TMD.resblocks.0.message_attn.in_proj.weight"):
        assert our_name(unknown) is None and dropped_reason(unknown) is None, unknown


def test_inverse_map_covers_the_b16_model_and_inverts():
    with torch.device("meta"):
        model = TFCLIP(get_model_config("tfclip-vit-b16"), num_classes=0, num_cameras=6)
    for ours in model.state_dict():
        assert our_name(official_name(ours)) == ours
    with pytest.raises(KeyError, match="no official"):
        official_name("bottleneck.weight")


def test_b16_shapes_check_against_hand_written_official_shapes():
    # Official ViT-B/16 at 256x128, stride 16, MARS (6 cameras): the spec's parameter table (section 11).
    with torch.device("meta"):
        model = TFCLIP(get_model_config("tfclip-vit-b16"), num_classes=0, num_cameras=6)
        expected = {k: v.shape for k, v in model.state_dict().items()}
        raw = {official_name(k): torch.empty(s) for k, s in expected.items()}
        raw.update({
            "module.cv_embed": torch.empty(6, 768),
            "image_encoder.positional_embedding": torch.empty(129, 768),
            "image_encoder.conv1.weight": torch.empty(768, 3, 16, 16),
            "image_encoder.proj": torch.empty(768, 512),
            "TMD.resblocks.0.message_attn.in_proj_weight": torch.empty(3 * 768, 768),
            "classifier2.weight": torch.empty(842, 768),
        })
        del raw["cv_embed"]
        state, dropped = map_official_state_dict(raw, expected)
        assert set(state) == set(expected) and list(dropped) == ["classifier2.weight"]
        raw["image_encoder.positional_embedding"] = torch.empty(197, 768)  # a 224x224 CLIP table
        with pytest.raises(CheckpointError, match=r"wrong shape \(1\).*positional_embedding.*\(197, 768\)"):
            map_official_state_dict(raw, expected)


def test_an_unmapped_extra_tensor_is_named(tiny_official):
    _, raw = tiny_official
    bad = dict(raw, **{"module.image_encoder.extra_token": torch.zeros(3),
                       "module.image_encoder.transformer.resblocks.7.ln_1.weight": torch.ones(64)})
    with pytest.raises(CheckpointError) as err:
        convert_official_state_dict(bad, TINY)
    message = str(err.value)
    assert "not mapped and not on the drop list (1): module.image_encoder.extra_token (3,)" in message
    assert ("mapped to no tensor of this architecture (1): "
            "module.image_encoder.transformer.resblocks.7.ln_1.weight") in message


def test_a_missing_tensor_is_named(tiny_official):
    _, raw = tiny_official
    bad = {k: v for k, v in raw.items() if k != "module.TMD.resblocks.0.message_ln.bias"}
    with pytest.raises(CheckpointError, match=r"missing \(1\): TMD\.resblocks\.0\.message_ln\.bias"):
        convert_official_state_dict(bad, TINY)


def test_a_wrong_shape_is_named(tiny_official):
    _, raw = tiny_official
    bad = dict(raw, **{"module.TMD.resblocks.0.mlp.c_fc.weight": torch.zeros(128, 64)})
    expected = r"wrong shape.*mlp\.c_fc\.weight: file \(128, 64\) vs model \(256, 64\)"
    with pytest.raises(CheckpointError, match=expected):
        convert_official_state_dict(bad, TINY)


@pytest.mark.parametrize("content", ["text", "list", "ours", "nocams"])
def test_files_that_are_not_official_state_dicts_fail_fast(tmp_path, tiny_official, content):
    model, raw = tiny_official
    path = tmp_path / "weights.pth"
    if content == "text":
        path.write_text("not a checkpoint\n")
    elif content == "list":
        torch.save([torch.zeros(2)], path)
    elif content == "ours":
        save_checkpoint(model, path)
    else:
        torch.save({k: v for k, v in raw.items() if not k.endswith("cv_embed")}, path)
    with pytest.raises(CheckpointError) as err:
        import_official_checkpoint(path, tmp_path / "out.pt", arch=TINY)
    assert str(path) in str(err.value)
    if content == "ours":
        assert "already" in str(err.value)
    assert not (tmp_path / "out.pt").exists()


def test_cli_import_writes_a_loadable_inference_checkpoint(tmp_path, tiny_official, capsys):
    from app.cli import main

    model, raw = tiny_official
    src, out = tmp_path / "MARS_best.pth", tmp_path / "tfclip-mars.pt"
    torch.save(raw, src)
    argv = ["weights", "import-tfclip", str(src), "--out", str(out), "--arch", TINY, "--name", "mars"]
    assert main(argv) == 0
    assert "4 cameras" in capsys.readouterr().out
    loaded = load_checkpoint(out)
    payload = torch.load(out, weights_only=True)
    assert payload["metadata"]["name"] == "mars" and payload["metadata"]["source_file"] == "MARS_best.pth"
    assert "module.classifier2.weight" in payload["metadata"]["dropped"]
    clips, cams = _clips(1)
    with torch.no_grad():
        assert torch.equal(loaded.encode(clips, cams), model.encode(clips, cams))

    junk = tmp_path / "junk.pth"
    junk.write_text("hello")
    assert main(["weights", "import-tfclip", str(junk), "--out", str(tmp_path / "x.pt"), "--arch", TINY]) == 1
    assert "junk.pth" in capsys.readouterr().err


def test_checkpoint_option_reads_an_official_release_file(tiny_official, tmp_path):
    """``--checkpoint`` (``load_checkpoint``) recognises an official state dict, finds the
    architecture it fits and converts it in memory: the same descriptors as our own model."""
    model, raw = tiny_official
    path = tmp_path / "MARS_best.pth"
    torch.save({"state_dict": raw}, path)
    loaded = load_checkpoint(path)
    assert loaded.config["name"] == TINY and loaded.num_cameras == 4
    clips, cams = _clips()
    with torch.no_grad():
        assert torch.allclose(loaded.encode(clips, cams), model.encode(clips, cams), atol=1e-5)
    broken = dict(raw)
    broken["module.image_encoder.conv1.weight"] = torch.zeros(3, 3, 3, 3)
    torch.save(broken, tmp_path / "broken.pth")
    with pytest.raises(CheckpointError, match="fits none of our architectures"):
        load_checkpoint(tmp_path / "broken.pth")
    torch.save({"weight": torch.zeros(2)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="import-tfclip"):
        load_checkpoint(tmp_path / "other.pth")
