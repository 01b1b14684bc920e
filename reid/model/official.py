"""Read a state dict saved by the official TF-CLIP code into our inference checkpoint.

The official model (``build_transformer`` in the official ``model/make_model_clipreid.py``) names its
parts ``image_encoder`` (the CLIP ``VisionTransformer`` of its ``model/clip/model.py``), ``cv_embed``,
``TMD.resblocks.0`` (one ``CrossFramelAttentionBlock``), ``SSP`` (``ImageSpecificPrompt``), four
BN necks and four bias-free classifiers. Ours (``reid.model.tfclip.TFCLIP``, inference only) holds
``backbone.visual``, ``cv_embed`` and ``tmd``. The map below was written from both sources:

- ``image_encoder.<p>`` -> ``backbone.visual.<p>``: the official ViT and open_clip's use the same
  sub-names (``conv1``, ``class_embedding``, ``positional_embedding``, ``ln_pre``,
  ``transformer.resblocks.<i>.{ln_1,attn,ln_2,mlp.c_fc,mlp.c_proj}``, ``ln_post``, ``proj``);
- ``cv_embed`` -> ``cv_embed``; its first dimension is the camera count;
- ``TMD.resblocks.0.<p>`` -> ``tmd.<p>``, where ``nn.MultiheadAttention``'s
  ``in_proj_weight`` / ``in_proj_bias`` become our packed ``in_proj.weight`` / ``in_proj.bias``.
  ``SAT.`` is accepted as the pre-release name of ``TMD.`` (spec notes: the MARS release keys).

Dropped, by explicit name pattern only (see ``DROPPED``): the identity classifiers (their first
dimension is the number of training identities: 625 MARS, 842 LS-VID, ...), the BN necks (the test
descriptor is taken before them), and SSP (``SSP.`` or pre-release ``prompts_generator.``), which
only conditions the CLIP-Memory during training. Anything else is an error: the conversion is strict.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from reid.model.checkpoint import CheckpointError, load_strict, read_state_dict, save_checkpoint
from reid.model.registry import get_model_config
from reid.model.tfclip import TFCLIP

logger = logging.getLogger(__name__)

DEFAULT_ARCH = "tfclip-vit-b16"

_VISUAL_TOP = (
    "conv1.weight", "class_embedding", "positional_embedding", "proj",
    "ln_pre.weight", "ln_pre.bias", "ln_post.weight", "ln_post.bias",
)
_BLOCK_PARTS = (
    "ln_1.weight", "ln_1.bias", "ln_2.weight", "ln_2.bias",
    "attn.in_proj_weight", "attn.in_proj_bias", "attn.out_proj.weight", "attn.out_proj.bias",
    "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias",
)
# (ours under ``tmd.``, official under ``TMD.resblocks.0.``)
_TMD_PARTS = (
    ("message_fc.weight", "message_fc.weight"), ("message_fc.bias", "message_fc.bias"),
    ("message_ln.weight", "message_ln.weight"), ("message_ln.bias", "message_ln.bias"),
    ("message_attn.in_proj.weight", "message_attn.in_proj_weight"),
    ("message_attn.in_proj.bias", "message_attn.in_proj_bias"),
    ("message_attn.out_proj.weight", "message_attn.out_proj.weight"),
    ("message_attn.out_proj.bias", "message_attn.out_proj.bias"),
    ("ln_1.weight", "ln_1.weight"), ("ln_1.bias", "ln_1.bias"),
    ("attn.in_proj.weight", "attn.in_proj_weight"), ("attn.in_proj.bias", "attn.in_proj_bias"),
    ("attn.out_proj.weight", "attn.out_proj.weight"), ("attn.out_proj.bias", "attn.out_proj.bias"),
    ("ln_2.weight", "ln_2.weight"), ("ln_2.bias", "ln_2.bias"),
    ("mlp.c_fc.weight", "mlp.c_fc.weight"), ("mlp.c_fc.bias", "mlp.c_fc.bias"),
    ("mlp.c_proj.weight", "mlp.c_proj.weight"), ("mlp.c_proj.bias", "mlp.c_proj.bias"),
)

# (ours, official) name templates; ``{i}`` is a transformer block index.
NAME_PAIRS: tuple[tuple[str, str], ...] = (
    ("cv_embed", "cv_embed"),
    *((f"backbone.visual.{p}", f"image_encoder.{p}") for p in _VISUAL_TOP),
    *(
        (f"backbone.visual.transformer.resblocks.{{i}}.{p}", f"image_encoder.transformer.resblocks.{{i}}.{p}")
        for p in _BLOCK_PARTS
    ),
    *((f"tmd.{ours}", f"TMD.resblocks.0.{off}") for ours, off in _TMD_PARTS),
)

# Official prefixes of the pre-release code, renamed before the map is applied.
PRE_RELEASE_PREFIXES = {"SAT.": "TMD."}

# (pattern over the official name after ``module.`` is removed, why inference does not need it)
DROPPED: tuple[tuple[str, str], ...] = (
    (r"classifier(2|_proj|_proj_temp|_proj_temp2)\.weight", "identity classifier (training only)"),
    (
        r"bottleneck(_proj|_proj_temp|_proj_temp2)?\.(weight|bias|running_mean|running_var|num_batches_tracked)",
        "BN neck (the test descriptor is taken before it)",
    ),
    (r"(SSP|prompts_generator)\..+", "sequence-specific prompt of the CLIP-Memory (training only)"),
)

_MAX_LISTED = 12


def _compile(template: str) -> re.Pattern[str]:
    return re.compile(re.escape(template).replace(r"\{i\}", r"(?P<i>\d+)") + r"\Z")


_TO_OURS = tuple((_compile(off), ours) for ours, off in NAME_PAIRS)
_TO_OFFICIAL = tuple((_compile(ours), off) for ours, off in NAME_PAIRS)
_DROPPED = tuple((re.compile(pattern + r"\Z"), why) for pattern, why in DROPPED)


def _translate(name: str, rules: tuple[tuple[re.Pattern[str], str], ...]) -> str | None:
    for pattern, template in rules:
        match = pattern.match(name)
        if match:
            return template.format(**match.groupdict())
    return None


def our_name(official: str) -> str | None:
    """Our parameter name for an official one (``module.`` and pre-release prefixes handled);
    ``None`` when the name is not mapped (it may still be a ``dropped_reason``)."""
    return _translate(_normalise(official), _TO_OURS)


def official_name(ours: str) -> str:
    """The official name of one of our inference parameters (the inverse map, for tests/export).

    Raises:
        KeyError: the name has no official counterpart.
    """
    name = _translate(ours, _TO_OFFICIAL)
    if name is None:
        raise KeyError(f"{ours!r} has no official TF-CLIP name")
    return name


def dropped_reason(official: str) -> str | None:
    """Why an official tensor is not needed for inference, or ``None`` if it is not on the drop list."""
    name = _normalise(official)
    for pattern, why in _DROPPED:
        if pattern.match(name):
            return why
    return None


def to_official_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename one of our inference state dicts to the official names (no prefix, nothing added)."""
    return {official_name(k): v for k, v in state.items()}


def _normalise(name: str) -> str:
    name = name.removeprefix("module.")
    for old, new in PRE_RELEASE_PREFIXES.items():
        if name.startswith(old):
            return new + name[len(old) :]
    return name


@dataclass
class ConversionReport:
    """What a conversion did: the camera count and which official tensors were dropped and why."""

    num_cameras: int
    mapped: int
    dropped: dict[str, str] = field(default_factory=dict)  # official name -> reason


def check_official_state_dict(raw: Any, source: str = "state dict") -> int:
    """Fast checks that ``raw`` is an official TF-CLIP state dict; returns the camera count.

    Raises:
        CheckpointError: not a dict of tensors, no ``image_encoder.*`` tensors or no 2-D ``cv_embed``.
    """
    if not isinstance(raw, dict) or not raw:
        raise CheckpointError(f"{source} is not a TF-CLIP state dict (found {type(raw).__name__})")
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in raw.items()):
        raise CheckpointError(f"{source} is not a state dict: it holds non-tensor values or non-string keys")
    names = {_normalise(k) for k in raw}
    cams = [k for k in raw if _normalise(k) == "cv_embed"]
    if not any(n.startswith("image_encoder.") for n in names) or len(cams) != 1:
        sample = ", ".join(sorted(names)[:5])
        hint = " (this looks like one of our inference checkpoints already)" if any(
            n.startswith("backbone.visual.") for n in names) else ""
        raise CheckpointError(
            f"{source} is not an official TF-CLIP state dict: it needs 'image_encoder.*' tensors and "
            f"one 'cv_embed'; found {len(names)} tensors such as {sample}{hint}"
        )
    table = raw[cams[0]]
    if table.dim() != 2 or table.shape[0] < 1:
        raise CheckpointError(f"{source}: cv_embed must be (num_cameras, width), got {tuple(table.shape)}")
    return int(table.shape[0])


def map_official_state_dict(
    raw: dict[str, torch.Tensor], expected: dict[str, torch.Size], source: str = "state dict"
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Rename an official state dict to our names, strictly.

    Args:
        raw: official tensors, optionally under ``module.``.
        expected: our inference model's parameter names and shapes.

    Returns:
        (our state dict, {official name: reason} of the dropped tensors).

    Raises:
        CheckpointError: listing every unmapped tensor, every missing one and every shape mismatch.
    """
    mapped: dict[str, torch.Tensor] = {}
    sources: dict[str, str] = {}
    dropped: dict[str, str] = {}
    unmapped: list[str] = []
    duplicates: list[str] = []
    for key, value in raw.items():
        ours = our_name(key)
        if ours is None:
            why = dropped_reason(key)
            if why is None:
                unmapped.append(f"{key} {tuple(value.shape)}")
            else:
                dropped[key] = why
            continue
        if ours in mapped:
            duplicates.append(f"{sources[ours]} and {key}")
            continue
        mapped[ours], sources[ours] = value, key
    unexpected = sorted(k for k in mapped if k not in expected)  # e.g. a block index beyond the depth
    missing = sorted(official_name(k) for k in expected if k not in mapped)
    shapes = [
        f"{sources[k]}: file {tuple(mapped[k].shape)} vs model {tuple(expected[k])}"
        for k in sorted(set(mapped) & set(expected))
        if tuple(mapped[k].shape) != tuple(expected[k])
    ]
    problems = []
    for label, items in (
        ("not mapped and not on the drop list", sorted(unmapped)),
        ("mapped to no tensor of this architecture", [sources[k] for k in unexpected]),
        ("mapped twice", duplicates),
        ("missing", missing),
        ("wrong shape", shapes),
    ):
        if items:
            more = f" (+{len(items) - _MAX_LISTED} more)" if len(items) > _MAX_LISTED else ""
            problems.append(f"{label} ({len(items)}): {', '.join(items[:_MAX_LISTED])}{more}")
    if problems:
        raise CheckpointError(f"{source} does not convert to our TF-CLIP: " + "; ".join(problems))
    return mapped, dropped


def convert_official_state_dict(
    raw: dict[str, torch.Tensor], arch: str = DEFAULT_ARCH, source: str = "state dict"
) -> tuple[TFCLIP, ConversionReport]:
    """Build our inference-only TF-CLIP (eval mode, CPU) holding an official state dict's weights.

    The camera count is the first dimension of ``cv_embed``; the model is built with it, and every
    tensor is checked against it (see ``map_official_state_dict``).
    """
    num_cameras = check_official_state_dict(raw, source)
    with torch.device("meta"):  # shapes only: no time spent on a random init that is overwritten
        skeleton = TFCLIP(get_model_config(arch), num_classes=0, num_cameras=num_cameras)
        shapes = {k: v.shape for k, v in skeleton.state_dict().items()}
    state, dropped = map_official_state_dict(raw, shapes, source)
    model = TFCLIP(get_model_config(arch), num_classes=0, num_cameras=num_cameras)
    load_strict(model, {k: v.float() for k, v in state.items()}, source)
    report = ConversionReport(num_cameras=num_cameras, mapped=len(state), dropped=dropped)
    logger.info("converted %s: %d tensors mapped, %d dropped, %d cameras",
                source, len(state), len(dropped), num_cameras)
    return model.eval(), report


def import_official_checkpoint(
    path: str | os.PathLike[str], out: str | os.PathLike[str], *, arch: str = DEFAULT_ARCH,
    name: str | None = None,
) -> tuple[Path, ConversionReport]:
    """Convert an official TF-CLIP release file into our inference checkpoint at ``out``.

    The checkpoint's metadata records the source file, the ``name`` (default: the file's stem) and
    the dropped tensors' names. Raises ``CheckpointError`` for a file that is not an official state
    dict or does not convert strictly.
    """
    path = Path(path)
    raw = read_state_dict(path)
    model, report = convert_official_state_dict(raw, arch, str(path))
    written = save_checkpoint(
        model, out,
        name=name or path.stem,
        imported_from="official TF-CLIP (AsuradaYuci/TF-CLIP)",
        source_file=path.name,
        dropped=sorted(report.dropped),
    )
    return written, report
