"""Which detector :func:`tracking.detect.create_detector` would build, without building it.

Standard library only (no OpenCV, no ultralytics, no torch), so that ``reid status`` answers at
once: it decides from the files that are on this machine, as the factory does (YOLO weights, else
the SSDLite graph, else OpenCV's HOG), and says "undecided" (None) where only building could tell
(weights that ultralytics would try to download).

What it cannot see: a weights file that is present but damaged (the factory would fall back, this
says the detector is available).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from tracking.names import DETECTOR_NAMES
from tracking.ssd_files import find_ssd_graph, ssd_weights_dir

__all__ = ["DetectorChoice", "describe_detector", "find_yolo_weights_light", "ultralytics_weights_dir"]


@dataclass(frozen=True)
class DetectorChoice:
    """The detector the settings would get.

    Attributes:
        name: ``"yolo"``, ``"ssd"`` or ``"hog"`` (the built detector's ``name``).
        fallback: the requested detector is unavailable and this one stands in.
    """

    name: str
    fallback: bool


def _offline() -> bool:
    return os.environ.get("YOLO_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _ultralytics_config_dir() -> Path:
    """ultralytics' settings folder (``ultralytics.utils.get_user_config_dir`` on Linux/macOS)."""
    env_dir = os.getenv("YOLO_CONFIG_DIR")
    if env_dir:
        return Path(env_dir).expanduser() / "Ultralytics"
    return Path(os.getenv("XDG_CONFIG_HOME") or Path.home() / ".config") / "Ultralytics"


def ultralytics_weights_dir() -> Path:
    """ultralytics' ``SETTINGS["weights_dir"]`` read from its ``settings.json``; without that file,
    its default (``weights/`` in the git checkout holding the ultralytics package, else in the
    current folder)."""
    try:
        value = json.loads((_ultralytics_config_dir() / "settings.json").read_text()).get("weights_dir")
        if isinstance(value, str) and value:
            return Path(value)
    except (OSError, ValueError, AttributeError):
        pass
    spec = find_spec("ultralytics")
    start = Path(spec.origin).resolve().parent if spec is not None and spec.origin else Path.cwd()
    root = next((d for d in [start, *start.parents] if (d / ".git").exists()), Path())
    return root / "weights"


def _yolo_cache_path(weights: str) -> Path:
    """``tracking.detect.yolo_cache_path``: ``<weights root>/<stem>/<name>`` (a test holds them equal)."""
    name = Path(weights).name
    return ssd_weights_dir().parent / Path(name).stem / name


def find_yolo_weights_light(weights: str = "yolo11n.pt") -> str | None:
    """``tracking.detect.find_yolo_weights`` without importing ultralytics: a path, the file in
    ultralytics' weights dir, or our download cache for a bare name; None when none is here."""
    if Path(weights).is_file():
        return weights
    candidate = ultralytics_weights_dir() / Path(weights).name
    if candidate.is_file():
        return str(candidate)
    if Path(weights).parent == Path("."):
        cached = _yolo_cache_path(weights)
        if cached.is_file():
            return str(cached)
    return None


def _ssd_or_hog() -> DetectorChoice:
    return DetectorChoice("ssd" if find_ssd_graph() is not None else "hog", True)


def describe_detector(name: str, yolo_weights: str = "yolo11n.pt") -> DetectorChoice | None:
    """The detector ``create_detector(name, weights=yolo_weights)`` would return, and whether it is a
    fallback; None when only building it could tell (YOLO weights not here but downloadable).

    Raises:
        ValueError: unknown name.
    """
    key = name.strip().lower()
    if key not in DETECTOR_NAMES:
        raise ValueError(f"unknown detector {name!r}; choose one of {', '.join(DETECTOR_NAMES)}")
    if key == "hog":
        return DetectorChoice("hog", False)
    if key == "ssd":
        return DetectorChoice("ssd", False) if find_ssd_graph() is not None else DetectorChoice("hog", True)
    if yolo_weights.endswith((".yaml", ".yml")) or find_yolo_weights_light(yolo_weights) is not None:
        return DetectorChoice("yolo", False)
    if _offline() or os.sep in yolo_weights or Path(yolo_weights).parent != Path("."):
        return _ssd_or_hog()
    return None  # ultralytics would try to download it: only building can tell
