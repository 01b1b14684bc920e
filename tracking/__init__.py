"""Tracking: from a video file to person tracklets with crops (detect, track, filter, sample).

The only package that imports ultralytics; everything it returns is our own records
(:class:`Detection`, :class:`Tracklet`).
"""

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
from tracking.video import VideoError, VideoInfo, VideoReader

__all__ = [
    "Detection",
    "Detector",
    "DetectorUnavailableError",
    "TrackingConfig",
    "TrackingStats",
    "Tracklet",
    "VideoError",
    "VideoInfo",
    "VideoReader",
    "VideoTracker",
    "create_detector",
    "fetch_yolo_weights",
    "find_yolo_weights",
    "load_tracking_config",
    "track_video",
]
