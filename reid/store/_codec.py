"""Compact binary encodings: box tracks and descriptors."""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["decode_boxes", "decode_descriptor", "encode_boxes", "encode_descriptor"]

_BOX_VERSION = 1


def encode_boxes(frames: np.ndarray, boxes_xyxy: np.ndarray) -> bytes:
    """Pack a box track: ``frames`` ``(N,)`` int and ``boxes_xyxy`` ``(N, 4)`` pixels.

    Layout: version byte, then zlib of ``N`` (uint32), frame deltas (int32, little-endian) and
    boxes (float32). Consecutive frames make the deltas compress to almost nothing.
    """
    f = np.asarray(frames, dtype=np.int64).reshape(-1)
    b = np.asarray(boxes_xyxy, dtype=np.float32)
    if b.shape != (len(f), 4):
        raise ValueError(f"boxes_xyxy must be (N, 4) for N={len(f)} frames, got {b.shape}")
    deltas = np.diff(f, prepend=0).astype("<i4")
    payload = np.uint32(len(f)).tobytes() + deltas.tobytes() + b.astype("<f4").tobytes()
    return bytes([_BOX_VERSION]) + zlib.compress(payload, 6)


def decode_boxes(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of ``encode_boxes``: ``(frames (N,) int64, boxes_xyxy (N, 4) float32)``."""
    if not blob or blob[0] != _BOX_VERSION:
        raise ValueError("unknown box-track encoding")
    raw = zlib.decompress(blob[1:])
    n = int(np.frombuffer(raw[:4], "<u4")[0])
    deltas = np.frombuffer(raw[4:4 + 4 * n], "<i4")
    boxes = np.frombuffer(raw[4 + 4 * n:], "<f4").reshape(n, 4)
    return np.cumsum(deltas, dtype=np.int64), boxes.astype(np.float32)


def encode_descriptor(vector: np.ndarray) -> bytes:
    """A ``(D,)`` descriptor as little-endian float32 bytes."""
    return np.asarray(vector, dtype="<f4").reshape(-1).tobytes()


def decode_descriptor(blob: bytes) -> np.ndarray:
    """Inverse of ``encode_descriptor``: ``(D,)`` float32."""
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)
