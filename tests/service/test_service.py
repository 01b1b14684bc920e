"""The service end to end on synthetic multi-camera footage (ground-truth detector, oracle embedder)."""

from __future__ import annotations

import csv
import json
import zipfile

import cv2
import numpy as np
import pytest

from reid.service import SearchRequest


def test_indexing_reports_tracklets_per_camera(indexed, scenes):
    service, reports = indexed
    assert [r.status for r in reports] == ["indexed", "indexed"]
    for report, scene in zip(reports, scenes, strict=True):
        assert report.tracklets >= len(scene.paths) - 1  # a person at the very edge may be filtered
        assert report.video_seconds == pytest.approx(scene.num_frames / scene.fps, abs=0.2)
    status = service.status()
    assert set(status.tracklets_per_camera) == {"cam0", "cam1"}
    assert status.tracklets == sum(r.tracklets for r in reports)


def test_search_ranks_the_same_person_on_the_other_camera_first(indexed, scenes):
    service, _ = indexed
    oracle = service.embedder
    shared = {p.identity for p in scenes[0].paths} & {p.identity for p in scenes[1].paths}
    assert shared, "the fixture must have people seen by both cameras"
    checked = 0
    for t in service.list_tracklets():
        ident = oracle._identity(cv2.cvtColor(cv2.imread(str(t.thumbnail_path)), cv2.COLOR_BGR2RGB))
        if ident not in shared:
            continue
        response = service.search(SearchRequest(tracklet_id=t.id, top_k=5, exclude_same_camera=True))
        assert response.matches, f"no match for tracklet {t.id}"
        best = response.matches[0]
        assert best.tracklet.camera != t.camera
        best_ident = oracle._identity(
            cv2.cvtColor(cv2.imread(str(best.tracklet.thumbnail_path)), cv2.COLOR_BGR2RGB))
        assert best_ident == ident and best.score == pytest.approx(1.0)
        checked += 1
    assert checked >= 2


def test_duplicate_content_is_skipped(indexed, tmp_path):
    service, reports = indexed
    before = service.status().tracklets
    again = service.index_video(reports[0].path, camera="cam0")
    assert again.status == "duplicate" and again.video_id == reports[0].video_id
    assert service.status().tracklets == before


@pytest.mark.parametrize("content", [b"", b"this is not a video\n" * 20])
def test_bad_files_fail_cleanly_and_leave_the_gallery_intact(indexed, tmp_path, content):
    service, _ = indexed
    before = service.status().tracklets
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    report = service.index_video(bad, camera="cam9")
    assert report.status == "failed" and report.error
    assert service.status().tracklets == before
    failed = [v for v in service.list_videos() if v.status == "failed"]
    assert any(v.path == str(bad) for v in failed)
    assert service.index_video(tmp_path / "missing.mp4").status == "failed"


def test_search_by_image_and_feedback(indexed):
    service, _ = indexed
    query = service.list_tracklets()[0]
    image = cv2.cvtColor(cv2.imread(str(query.thumbnail_path)), cv2.COLOR_BGR2RGB)
    by_image = service.search(SearchRequest(images=[image], top_k=3))
    assert by_image.matches[0].score == pytest.approx(1.0)
    response = service.search(SearchRequest(tracklet_id=query.id, top_k=10))
    if not response.matches:
        pytest.skip("query person seen once only")
    candidate = response.matches[0].tracklet.id
    service.add_feedback(query.id, candidate, same=False)
    after = service.search(SearchRequest(tracklet_id=query.id, top_k=10))
    assert candidate not in [m.tracklet.id for m in after.matches]
    assert any(e.action == "search" for e in service.store.audit_entries())


def test_render_and_export(indexed):
    service, _ = indexed
    t = service.list_tracklets()[0]
    clip = service.render_clip(t.id)
    cap = cv2.VideoCapture(str(clip))
    assert cap.isOpened() and cap.read()[0]
    cap.release()
    frames = service.render_frames(t.id, n=4)
    assert 1 <= len(frames) <= 4 and frames[0].ndim == 3
    response = service.search(SearchRequest(tracklet_id=t.id, top_k=5))
    rows = list(csv.DictReader(service.export(response, "csv").open()))
    assert [int(r["tracklet_id"]) for r in rows] == [m.tracklet.id for m in response.matches]
    payload = json.loads(service.export(response, "json").read_text())
    assert payload["query"]["tracklet_id"] == t.id
    with zipfile.ZipFile(service.export(response, "zip")) as z:
        names = z.namelist()
    assert "matches.csv" in names and "matches.json" in names
    assert any("/clip." in n for n in names) or not response.matches
    assert [e.action for e in service.store.audit_entries(action="export")].count("export") == 3


def test_paths_outside_the_data_dir_are_refused(indexed):
    service, _ = indexed
    with pytest.raises(ValueError, match="outside"):
        service.resolve_data_path("../../etc/passwd")
    assert service.resolve_data_path("crops") == service.data_dir / "crops"


def test_delete_video_removes_its_tracklets(indexed):
    service, reports = indexed
    vid = reports[1].video_id
    n = len(service.list_tracklets(video_id=vid))
    assert service.delete_video(vid) == n
    assert service.list_tracklets(video_id=vid) == []
    assert np.all(service.store.index.ids() != -1)


def test_photo_search_and_indexing_refuse_another_embedder(indexed, tmp_path):
    from reid.embed import make_fingerprint
    from reid.store import FingerprintMismatchError

    service, reports = indexed
    own = service.embedder.fingerprint
    service.embedder.fingerprint = make_fingerprint("other", "x", own["dim"], {"input_size": [1, 1]})
    try:
        image = np.zeros((64, 32, 3), np.uint8)
        with pytest.raises(FingerprintMismatchError, match="reid reindex"):
            service.search(SearchRequest(images=[image]))
        with pytest.raises(FingerprintMismatchError):
            service.index_video(reports[0].path)
        assert any("reid reindex" in note for note in service.status().notes)
    finally:
        service.embedder.fingerprint = own
