"""Tracking: from a video file to person tracklets with crops (detect, track, filter, sample).

The only package that imports ultralytics; everything it returns is our own records
(:class:`Detection`, :class:`Tracklet`).

The names below are imported on first use, so ``import tracking`` loads neither OpenCV nor
ultralytics (``tracking.names`` holds the detector and tracker names for the command line).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracking.config import TrackingConfig, load_tracking_config
    from tracking.detect import (
        Detector,
        DetectorUnavailableError,
        create_detector,
        fetch_yolo_weights,
        find_yolo_weights,
    )
    from tracking.pipeline import TrackingStats, VideoTracker, track_video
    from tracking.records import Detection, Tracklet
    from tracking.video import VideoError, VideoProperties, VideoReader

_WHERE = {
    "Detection": "tracking.records",
    "Detector": "tracking.detect",
    "DetectorUnavailableError": "tracking.detect",
    "TrackingConfig": "tracking.config",
    "TrackingStats": "tracking.pipeline",
    "Tracklet": "tracking.records",
    "VideoError": "tracking.video",
    "VideoProperties": "tracking.video",
    "VideoReader": "tracking.video",
    "VideoTracker": "tracking.pipeline",
    "create_detector": "tracking.detect",
    "fetch_yolo_weights": "tracking.detect",
    "find_yolo_weights": "tracking.detect",
    "load_tracking_config": "tracking.config",
    "track_video": "tracking.pipeline",
}

__all__ = [
    "Detection",
    "Detector",
    "DetectorUnavailableError",
    "TrackingConfig",
    "TrackingStats",
    "Tracklet",
    "VideoError",
    "VideoProperties",
    "VideoReader",
    "VideoTracker",
    "create_detector",
    "fetch_yolo_weights",
    "find_yolo_weights",
    "load_tracking_config",
    "track_video",
]


def __getattr__(name: str) -> Any:
    """Import ``name`` from its module on first use (PEP 562) and keep it here."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
