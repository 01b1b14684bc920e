"""`reid status` / the Status tab name the detector in use: SSDLite is the offline fallback, HOG the
last resort."""

from __future__ import annotations

import pytest

from app.compose import build_service
from app.settings import Settings
from tracking.detect import find_yolo_weights
from tracking.ssd import find_ssd_graph


@pytest.fixture
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    if find_yolo_weights("yolo11n.pt") is not None:
        pytest.skip("YOLO weights are on this machine: no fallback to show")
    return tmp_path


def test_offline_default_uses_ssdlite_and_says_so(offline):
    if find_ssd_graph() is None:
        pytest.skip("SSDLite graph not fetched: `reid weights fetch ssdlite-person`")
    status = build_service(Settings(data_dir=offline / "g", embedder="mobilenet")).status()
    assert status.detector == "ssd" and status.detector_fallback
    assert any("SSDLite" in n and "YOLO weights unavailable" in n for n in status.notes)
    assert not any("HOG" in n for n in status.notes)
    chosen = build_service(Settings(data_dir=offline / "g2", detector="ssd", embedder="mobilenet")).status()
    assert chosen.detector == "ssd" and not chosen.detector_fallback


@pytest.mark.parametrize("requested", ["yolo", "ssd"])
def test_without_the_graph_hog_is_named_as_the_last_resort(offline, monkeypatch, requested):
    monkeypatch.setenv("REID_WEIGHTS_DIR", str(offline / "no-weights"))
    settings = Settings(data_dir=offline / "g", detector=requested, embedder="mobilenet")
    status = build_service(settings).status()
    assert status.detector == "hog" and status.detector_fallback
    assert any("Last-resort detector" in n and "ssdlite-person" in n for n in status.notes)
    chosen = build_service(Settings(data_dir=offline / "g2", detector="hog", embedder="mobilenet")).status()
    assert not chosen.detector_fallback and not any("detector" in n for n in chosen.notes)
