"""UI callbacks on a fake service: people, search, playback, feedback, export, ingest."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from app.ui import callbacks as cb
from tests.ui.fakes import FakeService


def test_list_people_orders_by_camera_and_reports_ids(service: FakeService) -> None:
    view = cb.list_people(service, cb.ALL_CAMERAS)
    assert view.ids == [1, 2, 3, 4, 5, 6]
    assert [Path(p).name for p, _ in view.items] == [f"t{i}.jpg" for i in view.ids]
    assert view.items[0][1].startswith("#1 · cam-a · 2024-05-01 09:00:00")
    assert "cam-a" in view.timeline and "cam-b" in view.timeline
    assert "6 people tracklets on all cameras" in view.summary
    only_b = cb.list_people(service, "cam-b")
    assert only_b.ids == [4, 5, 6]


def test_list_people_says_when_cut_and_when_empty(service: FakeService, tmp_path: Path) -> None:
    assert "Showing the first 4" in cb.list_people(service, None, limit=4).summary
    empty = cb.list_people(FakeService(tmp_path / "e", per_camera=0), None)
    assert empty.ids == [] and "Ingest tab" in empty.summary


def test_pick_id_maps_gallery_index_and_refuses_stale_index() -> None:
    assert cb.pick_id([7, 8, 9], 1) == 8
    assert cb.pick_id([7, 8, 9], [2]) == 9
    with pytest.raises(cb.UiError, match="no longer in the list"):
        cb.pick_id([7], 3)


def test_search_by_person_puts_same_identity_first(service: FakeService) -> None:
    req = cb.build_request(cb.SearchForm(top_k=10, exclude_same_camera=True), tracklet_id=1.0)
    response = cb.run_search(service, req, actor="web:alice")
    assert [m.tracklet.id for m in response.matches][:1] == [4]  # same identity on cam-b
    assert {m.tracklet.camera for m in response.matches} == {"cam-b"}
    view = cb.results_view(response)
    assert view.rows[0][:3] == [1, 4, "cam-b"] and view.rows[0][5] == 0.9
    assert view.items[0][1].startswith("1. score 0.900 · cam-b")
    assert "reid-tl-hit" in view.timeline  # the query is highlighted on the timeline
    assert service.calls[-1][2] == "web:alice"


def test_search_form_filters_reach_the_request(service: FakeService) -> None:
    form = cb.SearchForm(threshold=0.5, top_k=7, cameras=["cam-b"], time_from="2024-05-01 09:00",
                         time_to="2024-05-01T12:00:00+02:00", rerank=True)
    req = cb.build_request(form, tracklet_id=2)
    assert (req.tracklet_id, req.top_k, req.cameras, req.score_threshold) == (2, 7, ["cam-b"], 0.5)
    assert req.rerank and req.query_expansion
    assert req.time_from == dt.datetime(2024, 5, 1, 9, tzinfo=dt.timezone.utc)
    assert req.time_to == dt.datetime(2024, 5, 1, 10, tzinfo=dt.timezone.utc)
    response = cb.run_search(service, req, "web")
    assert all(m.score >= 0.5 for m in response.matches) and len(response.matches) == 1


@pytest.mark.parametrize(("form", "query", "message"), [
    (cb.SearchForm(), None, "Pick a person first"),
    (cb.SearchForm(), 2.5, "not a person number"),
    (cb.SearchForm(), "abc", "not a person number"),
    (cb.SearchForm(time_from="yesterday"), 1, "is not a date and time"),
    (cb.SearchForm(time_from="2024-05-02", time_to="2024-05-01"), 1, "ends before it starts"),
    (cb.SearchForm(top_k=0), 1, "between 1 and 1000"),
])
def test_bad_search_input_is_a_user_error(form: cb.SearchForm, query, message: str) -> None:
    with pytest.raises(ValueError if "date" in message else cb.UiError, match=message):
        cb.build_request(form, tracklet_id=query)


def test_search_for_unknown_person_is_a_user_error(service: FakeService) -> None:
    with pytest.raises(cb.UiError, match="No person #99"):
        cb.run_search(service, cb.build_request(cb.SearchForm(), tracklet_id=99), "web")


def test_search_by_photo_sends_rgb_uint8(service: FakeService) -> None:
    rgba = np.zeros((40, 20, 4), np.uint8)
    req = cb.build_request(cb.SearchForm(top_k=3), image=rgba)
    assert req.tracklet_id is None and req.images[0].shape == (40, 20, 3)
    response = cb.run_search(service, req, "web")
    assert response.query is None and len(response.matches) == 3
    assert "Query:" not in cb.results_view(response).summary
    with pytest.raises(cb.UiError, match="colour image"):
        cb.build_request(cb.SearchForm(), image=np.zeros((4, 4), np.uint8))


def test_play_feedback_and_export(service: FakeService) -> None:
    response = cb.run_search(service, cb.build_request(cb.SearchForm(), tracklet_id=1), "web")
    clip, frames, caption, cid = cb.play_match(service, response, 0)
    assert cid == response.matches[0].tracklet.id and clip.endswith(f"tracklet_{cid}.mp4")
    assert len(frames) == 6 and caption.startswith("Playing 1. score")
    message = cb.give_feedback(service, response, cid, False, "web:bob")
    assert service.feedback == [(1, cid, False, "web:bob")] and "not the same person" in message
    for fmt in cb.EXPORT_FORMATS:
        path = Path(cb.export_results(service, response, fmt, "web"))
        assert path.parent == (service.data_dir / "exports").resolve() and path.suffix == f".{fmt}"
    with pytest.raises(cb.UiError, match="Unknown export format"):
        cb.export_results(service, response, "xml", "web")


def test_play_feedback_export_need_a_search_first(service: FakeService) -> None:
    with pytest.raises(cb.UiError, match="Run a search first"):
        cb.play_match(service, None, 0)
    with pytest.raises(cb.UiError, match="Run a search first"):
        cb.export_results(service, None, "csv", "web")
    photo = cb.run_search(service, cb.build_request(cb.SearchForm(), image=np.zeros((9, 9, 3))), "web")
    with pytest.raises(cb.UiError, match="not by photo"):
        cb.give_feedback(service, photo, 2, True, "web")
    response = cb.run_search(service, cb.build_request(cb.SearchForm(), tracklet_id=1), "web")
    with pytest.raises(cb.UiError, match="Click a result first"):
        cb.give_feedback(service, response, 0, True, "web")


def test_export_outside_data_dir_is_refused(service: FakeService, tmp_path: Path) -> None:
    response = cb.run_search(service, cb.build_request(cb.SearchForm(), tracklet_id=1), "web")
    service.export = lambda *a, **k: tmp_path / "elsewhere.csv"  # a service bug must not leak files
    with pytest.raises(ValueError, match="outside the data directory"):
        cb.export_results(service, response, "csv", "web")


def test_rows_for_files_propose_camera_and_start_time() -> None:
    rows = cb.rows_for_files(["/x/y/lobby_20240501_093000.mp4", "/x/door cam.avi"])
    assert rows == [["lobby_20240501_093000.mp4", "lobby", "2024-05-01 09:30:00"],
                    ["door cam.avi", "door_cam", ""]]


def test_index_uploads_progress_per_file_and_errors_do_not_stop_others(
        service: FakeService, videos: dict[str, Path]) -> None:
    service.index_delay_s = 0.05  # each file takes >= 0.25 s, so the first render sees work left
    files = [str(videos[k]) for k in ("good", "fake", "bad", "boom", "avi")]
    table = cb.rows_for_files(files)
    table[4][1] = "Door 2"
    table[2][2] = "not a time"
    html = list(cb.index_uploads(service, files, table, actor="web:al", max_bytes=10**6, poll_s=0.01))
    final = html[-1]
    assert len(html) >= 2 and ("waiting" in html[0] or "indexing" in html[0])
    assert final.count("reid-job-indexed") == 2 and final.count("reid-job-failed") == 3
    assert "not a known video container" in final  # the renamed text file, refused before indexing
    assert "is not a date and time" in final
    assert "detector crashed" in final  # an exception inside the service, shown for that file only
    indexed = [c for c in service.calls if c[0] == "index_video"]
    assert [(Path(c[1]).name, c[2]) for c in indexed] == [
        ("lobby_20240501_093000.mp4", "lobby"), ("boom.mp4", "boom"), ("door_cam.avi", "Door_2")]
    assert indexed[0][3] == dt.datetime(2024, 5, 1, 9, 30, tzinfo=dt.timezone.utc)
    assert all(c[4] == "web:al" for c in indexed)
    # uploads are kept in the data dir (content-addressed), not in Gradio's cache
    assert all(Path(c[1]).is_relative_to(service.data_dir / "uploads") for c in indexed)
    assert "lobby" in service.list_cameras()


def test_index_uploads_refuses_oversized_files_and_empty_selection(
        service: FakeService, videos: dict[str, Path]) -> None:
    final = list(cb.index_uploads(service, [str(videos["good"])], None, actor="web",
                                  max_bytes=100, poll_s=0.01))[-1]
    assert "over the upload limit" in final and not service.calls
    with pytest.raises(cb.UiError, match="Choose one or more"):
        list(cb.index_uploads(service, [], None, actor="web", max_bytes=100))


def test_index_server_folder_only_inside_allowed_roots(service: FakeService, tmp_path: Path,
                                                       videos: dict[str, Path]) -> None:
    archive = tmp_path / "archive" / "cam-x"
    archive.mkdir(parents=True)
    videos["good"].rename(archive / "a.mp4")
    final = list(cb.index_server_folder(service, str(tmp_path / "archive"), [tmp_path],
                                        actor="web", poll_s=0.01))[-1]
    assert "cam-x" in final and "reid-job-indexed" in final
    with pytest.raises(cb.UiError, match="outside the folders"):
        list(cb.index_server_folder(service, str(tmp_path / "archive" / ".." / ".."), [tmp_path],
                                    actor="web"))
    with pytest.raises(cb.UiError, match="no such folder"):
        list(cb.index_server_folder(service, str(tmp_path / "nope"), [tmp_path], actor="web"))


def test_status_view_shows_fallback_banner(service: FakeService, tmp_path: Path) -> None:
    banner, text = cb.status_view(service)
    assert "Offline fallback" in banner and "hog" in banner and "mobilenetv2" in banner
    assert "| cam-a | 3 |" in text and str(service.data_dir) in text
    banner, _ = cb.status_view(FakeService(tmp_path / "ok", fallback=False))
    assert banner == ""
