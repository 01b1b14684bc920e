"""Crops (RGB uint8 numpy) to normalised model input tensors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import torch


def crops_to_tensor(crops: Sequence[np.ndarray], preprocess: dict[str, Any]) -> torch.Tensor:
    """Resize (bilinear, aspect ratio not kept, as in training) and normalise.

    Args:
        crops: RGB uint8 images, each (h, w, 3), any size.
        preprocess: ``input_size`` [H, W], ``mean`` and ``std`` (3 floats each, for [0, 1] pixels).

    Returns:
        (N, 3, H, W) float32.
    """
    if len(crops) == 0:
        raise ValueError("no crops given")
    height, width = preprocess["input_size"]
    batch = np.empty((len(crops), height, width, 3), dtype=np.float32)
    for i, crop in enumerate(crops):
        crop = np.asarray(crop)
        if crop.ndim != 3 or crop.shape[2] != 3 or crop.shape[0] == 0 or crop.shape[1] == 0:
            raise ValueError(f"crop {i} must be an RGB image (h, w, 3), got shape {crop.shape}")
        batch[i] = cv2.resize(crop, (width, height), interpolation=cv2.INTER_LINEAR)
    mean = np.asarray(preprocess["mean"], dtype=np.float32) * 255.0
    std = np.asarray(preprocess["std"], dtype=np.float32) * 255.0
    batch = (batch - mean) / std
    return torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous()


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation of a (N, D) array, float32."""
    x = np.asarray(x, dtype=np.float32)
    norm: npt.NDArray[np.float32] = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norm, 1e-12)
