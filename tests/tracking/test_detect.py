import logging

import cv2
import numpy as np
import pytest

from tracking.detect import (
    DetectorUnavailableError,
    HOGDetector,
    YOLODetector,
    create_detector,
)
from tracking.records import Detection

from .conftest import VTEST


def test_yolo_offline_without_weights_fails_fast_with_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DetectorUnavailableError, match="--detector hog"):
        YOLODetector("yolo11n.pt")
    with pytest.raises(DetectorUnavailableError, match="not on this machine"):
        YOLODetector(str(tmp_path / "missing.pt"))


def test_factory_falls_back_to_hog_with_a_warning(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    monkeypatch.setenv("REID_WEIGHTS_DIR", str(tmp_path))  # no SSDLite graph either
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.WARNING, logger="tracking.detect"):
        det = create_detector("yolo")
    assert isinstance(det, HOGDetector)
    assert "falling back" in caplog.text
    with pytest.raises(DetectorUnavailableError):
        create_detector("yolo", fallback=False)
    with pytest.raises(ValueError, match="yolo, ssd, hog"):
        create_detector("rcnn")


def test_yolo_random_init_returns_person_detections():
    det = YOLODetector("yolo11n.yaml", imgsz=160, conf=0.0, batch_size=2, device="cpu")
    images = [np.full((120, 160, 3), v, np.uint8) for v in (0, 128, 255)]
    out = det.detect(images, [3, 4, 5])
    assert [d.frame_index for d in out] == [3, 4, 5]
    for d in out:
        assert isinstance(d, Detection) and d.boxes_xyxy.shape[1] == 4
        assert np.all(d.boxes_xyxy[:, [0, 2]] <= 160 + 1e-3)


def test_hog_on_blank_frame_finds_nobody():
    out = HOGDetector().detect([np.zeros((256, 256, 3), np.uint8)], [0])
    assert len(out) == 1 and len(out[0]) == 0


@pytest.mark.real_video
def test_hog_finds_pedestrians_in_vtest_and_downscaling_maps_boxes_back():
    if not VTEST.exists():
        pytest.skip(f"{VTEST} missing; run `make sample-data`")
    cap = cv2.VideoCapture(str(VTEST))
    frames = [cap.read()[1] for _ in range(3)]
    cap.release()
    native = HOGDetector().detect(frames, [0, 1, 2])
    assert sum(len(d) for d in native) >= 3
    for d in native:
        assert np.all((d.scores > 0.5) & (d.scores <= 1))
        assert np.all(d.boxes_xyxy[:, 2] <= 768) and np.all(d.boxes_xyxy[:, 3] <= 576)
    up = HOGDetector(upscale=1.25, max_side=1000).detect(frames[:1], [0])[0]
    # Found at another scale, the boxes still land in full-resolution pixels near native ones.
    if len(up) and len(native[0]):
        centres_up = (up.boxes_xyxy[:, :2] + up.boxes_xyxy[:, 2:]) / 2
        centres = (native[0].boxes_xyxy[:, :2] + native[0].boxes_xyxy[:, 2:]) / 2
        dist = np.linalg.norm(centres_up[:, None] - centres[None], axis=2).min(axis=1)
        assert np.median(dist) < 40
