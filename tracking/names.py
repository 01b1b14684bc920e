"""The names the command line offers for tracking: detectors and tracker configs.

Standard library only, so that ``reid --help`` and the argument parsers can list them without
loading OpenCV or ultralytics; :mod:`tracking.detect` and :mod:`tracking.config` validate against
these same tuples.
"""

from __future__ import annotations

__all__ = ["DETECTOR_NAMES", "TRACKER_NAMES"]

# create_detector's names, in fallback order: YOLO, then the SSDLite graph, then OpenCV's HOG
DETECTOR_NAMES: tuple[str, ...] = ("yolo", "ssd", "hog")
# the tracker YAMLs shipped in tracking/configs/ (each also a ``tracker_type`` of ultralytics)
TRACKER_NAMES: tuple[str, ...] = ("bytetrack", "botsort")
