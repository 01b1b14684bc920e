"""The composition root keeps a gallery's configured index kind unless --index says otherwise."""

from __future__ import annotations

import numpy as np

from app.compose import build_service
from app.settings import Settings
from reid.store import IndexConfig, Store, TrackletRecord, configured_index_kind


def test_index_kind_is_kept_across_commands(tmp_path, monkeypatch):
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    data = tmp_path / "gallery"
    with Store.open(data, index_config=IndexConfig(kind="hnsw")) as store:
        video = store.add_video("/v.avi", "a" * 64, "cam")
        record = TrackletRecord(1, np.array([0, 1]), np.zeros((2, 4)), 0.0, 0.1)
        store.add_tracklets(video, [record], np.ones((1, 8), np.float32), {"model": "m", "dim": 8})
    assert configured_index_kind(data) == "hnsw"
    service = build_service(Settings(data_dir=data, detector="hog", embedder="mobilenet"))
    assert service.store.index_config.kind == "hnsw"
    assert service.store.repair_report.actions == []
    explicit = build_service(Settings(data_dir=data, detector="hog", embedder="mobilenet", index="flat"))
    assert explicit.store.index_config.kind == "flat"
    assert configured_index_kind(tmp_path / "new") is None
