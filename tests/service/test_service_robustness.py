"""Defects found in review: id reuse, clip cache after delete, two processes on one gallery,
indexing the gallery's own files, empty exports, missing source videos and crops."""

from __future__ import annotations

import csv
import shutil
import zipfile

from reid.service import ReidService, SearchRequest, iter_videos
from reid.store import Store
from tests.service.conftest import OracleEmbedder
from tests.support.synthetic import GroundTruthDetector
from tracking import load_tracking_config


def new_service(data_dir, scenes) -> ReidService:
    return ReidService(Store.open(data_dir), GroundTruthDetector(scenes[0]), OracleEmbedder(scenes),
                       load_tracking_config("bytetrack"))


def index_scene(service, scene, folder):
    service.detector = GroundTruthDetector(scene)
    folder.mkdir(parents=True, exist_ok=True)
    path = scene.write_video(folder / f"{scene.camera_id}.avi")
    report = service.index_video(path, camera=scene.camera_id)
    assert report.status == "indexed"
    return report


def test_deleted_ids_are_not_reused_and_their_clips_are_removed(tmp_path, scenes):
    service = new_service(tmp_path / "data", scenes)
    first = index_scene(service, scenes[0], tmp_path / "v1")
    old_ids = {t.id for t in service.list_tracklets(video_id=first.video_id)}
    clip = service.render_clip(min(old_ids))
    service.delete_video(first.video_id)
    assert not clip.exists()
    second = index_scene(service, scenes[1], tmp_path / "v2")
    assert second.video_id != first.video_id
    assert old_ids.isdisjoint({t.id for t in service.list_tracklets(video_id=second.video_id)})


def test_a_second_process_sees_videos_indexed_by_the_first(tmp_path, scenes):
    server = new_service(tmp_path / "data", scenes)  # e.g. `reid serve`
    indexer = new_service(tmp_path / "data", scenes)  # e.g. `reid index` in another shell
    index_scene(indexer, scenes[0], tmp_path / "v1")
    query = indexer.list_tracklets()[0]
    found = server.search(SearchRequest(tracklet_id=query.id, top_k=50))
    assert server.store.index.ntotal == indexer.store.index.ntotal > 0
    assert {m.tracklet.id for m in found.matches} <= {t.id for t in indexer.list_tracklets()}
    # a delete by the server keeps the indexer's vectors of other videos
    index_scene(indexer, scenes[1], tmp_path / "v2")
    server.delete_video(server.list_videos()[0].id)
    assert server.store.index.ntotal == len(server.list_tracklets(limit=None)) > 0


def test_folder_indexing_skips_the_data_dir_and_hidden_folders(tmp_path, scenes):
    root = tmp_path / "archive"
    (root / "cam1").mkdir(parents=True)
    scenes[0].write_video(root / "cam1" / "a.avi")
    (root / "reid-data" / "clips").mkdir(parents=True)
    (root / "reid-data" / "clips" / "tracklet_1.webm").write_bytes(b"x")
    (root / ".cache").mkdir()
    (root / ".cache" / "b.mp4").write_bytes(b"x")
    found = list(iter_videos(root, exclude=root / "reid-data"))
    assert [(p.name, cam) for p, cam in found] == [("a.avi", "cam1")]


def test_exports_with_no_matches_and_with_a_moved_video(tmp_path, scenes):
    service = new_service(tmp_path / "data", scenes)
    index_scene(service, scenes[0], tmp_path / "v1")
    query = service.list_tracklets()[0]
    empty = service.search(SearchRequest(tracklet_id=query.id, score_threshold=1.01))
    assert empty.matches == []
    header = next(csv.reader(service.export(empty, "csv").open()))
    assert header[:3] == ["rank", "score", "tracklet_id"]
    response = service.search(SearchRequest(images=[service.render_frames(query.id, n=1)[0]], top_k=2))
    shutil.move(tmp_path / "v1", tmp_path / "moved")  # the source video is gone
    with zipfile.ZipFile(service.export(response, "zip")) as z:
        names = z.namelist()
    assert "matches.csv" in names and "missing_clips.txt" in names
    assert any("/crops/" in n for n in names)


def test_reindex_skips_tracklets_whose_crops_are_gone(tmp_path, scenes):
    service = new_service(tmp_path / "data", scenes)
    index_scene(service, scenes[0], tmp_path / "v1")
    tracklets = service.list_tracklets()
    for crop in tracklets[0].crop_paths:
        crop.unlink()
    service.embedder.fingerprint = dict(service.embedder.fingerprint, weights="v2")
    assert service.reindex() == len(tracklets) - 1
    assert service.store.tracklets_without_descriptor() == [tracklets[0].id]
