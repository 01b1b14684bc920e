"""The automatic stride: about 5 detections a second whatever the camera's frame rate."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tracking.detect import HOGDetector
from tracking.pipeline import AUTO_STRIDE, VideoTracker, detection_stride


@pytest.mark.parametrize(("fps", "stride"), [(10, 2), (25, 5), (30, 6), (60, 12), (5, 1), (2, 1), (0, 1)])
def test_detection_stride_follows_the_frame_rate(fps, stride):
    assert detection_stride(fps) == stride


def _video(path, fps: float, frames: int = 12):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (160, 120))
    for i in range(frames):
        writer.write(np.full((120, 160, 3), 10 * i, np.uint8))
    writer.release()
    return path


@pytest.mark.parametrize(("fps", "stride"), [(10.0, 2), (30.0, 6)])
def test_video_tracker_resolves_the_automatic_stride(tmp_path, fps, stride):
    tracker = VideoTracker(_video(tmp_path / "v.avi", fps), HOGDetector(), stride=AUTO_STRIDE,
                           with_crops=False)
    assert tracker.stride == stride and tracker.reader.stride == stride
    list(tracker.run())
    assert tracker.stats.frames_processed == -(-12 // stride)


def test_explicit_strides_are_kept_and_negative_ones_refused(tmp_path):
    video = _video(tmp_path / "v.avi", 10.0)
    assert VideoTracker(video, HOGDetector(), stride=1, with_crops=False).stride == 1
    with pytest.raises(ValueError, match="stride"):
        VideoTracker(video, HOGDetector(), stride=-1)


def test_settings_take_auto_and_refuse_negative_strides(monkeypatch):
    from app.settings import Settings

    assert Settings().stride == AUTO_STRIDE
    monkeypatch.setenv("REID_STRIDE", "auto")
    assert Settings.from_sources(None).stride == AUTO_STRIDE
    monkeypatch.setenv("REID_STRIDE", "3")
    assert Settings.from_sources(None).stride == 3
    monkeypatch.setenv("REID_STRIDE", "-2")
    with pytest.raises(ValueError, match="stride"):
        Settings.from_sources(None)
