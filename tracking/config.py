"""Tracking configuration: our commented YAML files in ``tracking/configs/``, loaded into dataclasses.

A config has three sections: ``tracker`` (the ultralytics tracker's keys, with
``lost_track_seconds`` instead of a frame count, plus ``stride_buffer_per_second`` that the pipeline
reads), ``tracklets`` (filtering, crops, splitting at identity switches and gap filling) and
``stitching``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tracking.names import TRACKER_NAMES

CONFIG_DIR = Path(__file__).parent / "configs"


@dataclass
class TrackletConfig:
    """Tracklet filtering, crop sampling and splitting (see ``configs/bytetrack.yaml`` for each
    key)."""

    min_boxes: int = 5
    min_duration_seconds: float = 0.3
    min_box_height: float = 32.0
    max_outside_fraction: float = 0.5
    max_crops: int = 16
    crop_max_height: int = 256
    crop_padding: float = 0.0
    fill_gaps_seconds: float = 1.0
    split_min_similarity: float = 0.8
    split_min_signatures: int = 5
    split_min_seconds: float = 1.0


@dataclass
class StitchConfig:
    """Re-linking of broken tracklets (see ``configs/bytetrack.yaml`` for each key)."""

    enabled: bool = False
    max_gap_seconds: float = 2.0
    max_speed_px_s: float = 400.0
    max_motion_error: float = 0.8
    min_appearance_similarity: float = 0.75


@dataclass
class TrackingConfig:
    """A full tracking configuration.

    Attributes:
        tracker: ultralytics tracker keys (``tracker_type``, thresholds, ``lost_track_seconds``...).
        tracklets: filtering and crop settings.
        stitching: stitching settings.
    """

    tracker: dict[str, Any]
    tracklets: TrackletConfig = field(default_factory=TrackletConfig)
    stitching: StitchConfig = field(default_factory=StitchConfig)

    @property
    def tracker_type(self) -> str:
        """``"bytetrack"`` or ``"botsort"``."""
        return str(self.tracker["tracker_type"])


def _update_dataclass(obj: Any, values: dict[str, Any], where: str) -> None:
    names = {f.name: f for f in dataclasses.fields(obj)}
    for key, value in values.items():
        if key not in names:
            raise ValueError(f"unknown key {key!r} in {where}; valid keys: {', '.join(names)}")
        setattr(obj, key, type(getattr(obj, key))(value))


def load_tracking_config(
    name_or_path: str | os.PathLike[str] = "bytetrack",
    overrides: dict[str, dict[str, Any]] | None = None,
) -> TrackingConfig:
    """Load a tracking config by name (``bytetrack``, ``botsort``) or YAML path.

    Args:
        name_or_path: a name from :data:`TRACKER_NAMES` or a path to a YAML file with the same
            sections.
        overrides: ``{"tracker": {...}, "tracklets": {...}, "stitching": {...}}`` values that
            replace the file's.

    Raises:
        FileNotFoundError: neither a known name nor an existing file.
        ValueError: unknown section or key, or a bad tracker type.
    """
    path = Path(name_or_path)
    if str(name_or_path) in TRACKER_NAMES:
        path = CONFIG_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise FileNotFoundError(
            f"tracking config {name_or_path!r} not found; use one of {', '.join(TRACKER_NAMES)} "
            f"or a path to a YAML file like {CONFIG_DIR / 'bytetrack.yaml'}"
        )
    raw = yaml.safe_load(path.read_text()) or {}
    for section, values in (overrides or {}).items():
        raw.setdefault(section, {}).update(values)
    unknown = set(raw) - {"tracker", "tracklets", "stitching"}
    if unknown:
        raise ValueError(f"unknown section(s) {sorted(unknown)} in {path}")
    tracker = dict(raw.get("tracker") or {})
    if tracker.get("tracker_type") not in TRACKER_NAMES:
        raise ValueError(
            f"{path}: tracker.tracker_type must be one of {TRACKER_NAMES}, "
            f"got {tracker.get('tracker_type')!r}"
        )
    cfg = TrackingConfig(tracker=tracker)
    _update_dataclass(cfg.tracklets, raw.get("tracklets") or {}, f"{path} [tracklets]")
    _update_dataclass(cfg.stitching, raw.get("stitching") or {}, f"{path} [stitching]")
    return cfg
