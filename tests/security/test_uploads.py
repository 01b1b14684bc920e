"""Uploads (issue 9, items 5 and 9): per-user and total quotas, cleanup of abandoned uploads,
``reid delete`` removing the uploaded original and every copy, and one bad start time in a batch
rejecting that row only."""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import pytest

from app.ui import callbacks as cb
from tests.ui.conftest import write_video
from tests.ui.fakes import FakeService

BAD_START_TIMES = [float("nan"), float("inf"), -float("inf"), 1e300, -1e18, "99999-01-01 00:00:00",
                   "tomorrow", "2024-13-45", "2024-02-30 10:00", "9999-12-31T23:59:59-05:00",
                   "0001-01-01T00:00:00+05:00", "1800-01-01", "2999-01-01", "NaN", "x" * 10_000,
                   "2024-05-01\x00"]


def test_one_bad_start_time_rejects_that_row_not_the_batch(tmp_path: Path) -> None:
    service = FakeService(tmp_path / "data")
    up = tmp_path / "up"
    up.mkdir()
    good = [write_video(up / f"good{k}.mp4", frames=2 + k) for k in range(2)]
    bad = [write_video(up / f"row{k}.mp4", frames=3) for k in range(len(BAD_START_TIMES))]
    files = [str(good[0]), *map(str, bad), str(good[1])]
    table = [[Path(good[0]).name, "cam-1", "2024-05-01 10:00:00"],
             *[[p.name, "cam-x", t] for p, t in zip(bad, BAD_START_TIMES, strict=True)],
             [Path(good[1]).name, "cam-2", 1714557600.0]]
    html = list(cb.index_uploads(service, files, table, actor="web", max_bytes=10**7, poll_s=0.01))
    final = html[-1]
    assert final.count("reid-job-indexed") == 2, final
    assert final.count("reid-job-failed") == len(BAD_START_TIMES)
    assert final.count("start time") >= len(BAD_START_TIMES)
    assert "x" * 200 not in final  # the message does not echo unbounded input
    indexed = [c for c in service.calls if c[0] == "index_video"]
    assert [c[2] for c in indexed] == ["cam-1", "cam-2"]
    assert indexed[1][3].timestamp() == 1714557600.0


@pytest.mark.parametrize("value", BAD_START_TIMES)
def test_bad_start_times_are_user_errors(value) -> None:
    from app.ui._uploads import UploadRejectedError, parse_time

    with pytest.raises(UploadRejectedError, match="start time"):
        parse_time(value, "video.mp4 start time")


def _space(tmp_path: Path, service: FakeService, **limits):
    from app.ui._uploads import UploadLimits, UploadSpace

    cache = tmp_path / "cache"
    cache.mkdir(exist_ok=True)
    return UploadSpace(service.data_dir / "uploads", cache,
                       lambda: [v.path for v in service.list_videos()], UploadLimits(**limits))


def _upload(space, name: str, frames: int = 4) -> str:
    """A file as Gradio's cache holds it: ``<cache>/<hash>/<name>``."""
    folder = space.cache_dir / f"h{abs(hash((name, frames)))}"
    folder.mkdir(parents=True, exist_ok=True)
    return str(write_video(folder / name, frames=frames))


def test_per_user_quota_refuses_with_a_message_and_other_users_go_on(tmp_path: Path) -> None:
    service = FakeService(tmp_path / "data")
    space = _space(tmp_path, service)
    size = Path(_upload(space, "probe.mp4")).stat().st_size
    space = _space(tmp_path, service, per_user_bytes=int(2.5 * size))
    first = [_upload(space, f"a{k}.mp4") for k in range(2)]
    final = list(cb.index_uploads(service, first, None, actor="web:alice", max_bytes=10**7,
                                  space=space, user="user:alice", poll_s=0.01))[-1]
    assert final.count("reid-job-indexed") == 2
    more = [_upload(space, "a2.mp4", frames=6)]
    final = list(cb.index_uploads(service, more, None, actor="web:alice", max_bytes=10**7,
                                  space=space, user="user:alice", poll_s=0.01))[-1]
    assert "reid-job-failed" in final and "upload quota" in final
    bob = list(cb.index_uploads(service, [_upload(space, "b.mp4")], None, actor="web:bob",
                                max_bytes=10**7, space=space, user="user:bob", poll_s=0.01))[-1]
    assert "reid-job-indexed" in bob
    # the upload event refuses at once, tells why, and frees the cache
    late = _upload(space, "a3.mp4", frames=7)
    messages = cb.check_uploads(space, "user:alice", [late])
    assert len(messages) == 1 and "upload quota" in messages[0] and not Path(late).exists()
    assert cb.check_uploads(space, "user:carol", [_upload(space, "c.mp4")]) == []


def test_total_quota_refuses_when_the_upload_space_is_full(tmp_path: Path) -> None:
    service = FakeService(tmp_path / "data")
    space = _space(tmp_path, service, total_bytes=10)
    path = _upload(space, "x.mp4")
    final = list(cb.index_uploads(service, [path], None, actor="web", max_bytes=10**7, space=space,
                                  user="session:1", poll_s=0.01))[-1]
    assert "reid-job-failed" in final and "upload space is full" in final
    assert not [c for c in service.calls if c[0] == "index_video"]


def test_abandoned_uploads_are_swept_and_indexed_ones_kept(tmp_path: Path) -> None:
    service = FakeService(tmp_path / "data")
    space = _space(tmp_path, service)
    kept = [_upload(space, "kept.mp4")]
    list(cb.index_uploads(service, kept, None, actor="web", max_bytes=10**7, space=space,
                          user="u", poll_s=0.01))
    original = Path(next(c[1] for c in service.calls if c[0] == "index_video"))
    assert original.is_relative_to(service.data_dir / "uploads") and original.is_file()
    orphan_upload = service.data_dir / "uploads" / "0123456789abcdef" / "left.mp4"
    orphan_upload.parent.mkdir(parents=True)
    orphan_upload.write_bytes(b"x" * 100)
    partial = service.data_dir / "uploads" / "fedcba9876543210" / "cut.mp4.part"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"x" * 10)
    orphan_cache = Path(_upload(space, "never_indexed.mp4"))
    assert space.sweep(force=True) == 0  # all fresh
    assert space.sweep(force=True, now=time.time() + 7 * 3600) >= 3
    assert original.is_file()  # the source of an indexed video stays
    assert not orphan_upload.exists() and not partial.exists() and not orphan_cache.exists()
    assert not orphan_upload.parent.exists()


def test_indexing_and_server_start_sweep_abandoned_uploads(tmp_path: Path) -> None:
    from app.ui._uploads import UploadLimits
    from app.ui.layout import UiConfig, build_app

    service = FakeService(tmp_path / "data")
    space = _space(tmp_path, service, abandoned_after_s=0.0)
    stale = Path(_upload(space, "stale.mp4"))
    deadline = time.time() + 30
    while time.time() <= max(stale.stat().st_mtime, stale.stat().st_ctime) and time.time() < deadline:
        time.sleep(0.01)  # the file must be older than "now" by at least a clock tick
    list(cb.index_uploads(service, [_upload(space, "fresh.mp4")], None, actor="web",
                          max_bytes=10**7, space=space, user="u", poll_s=0.01))
    assert not stale.exists()  # swept after the job
    assert all(Path(v.path).is_file() for v in service.list_videos()
               if "uploads" in Path(v.path).parts)
    stale2 = Path(_upload(space, "stale2.mp4"))
    while time.time() <= max(stale2.stat().st_mtime, stale2.stat().st_ctime) and time.time() < deadline:
        time.sleep(0.01)
    build_app(service, UiConfig(cache_dir=space.cache_dir,
                                upload_limits=UploadLimits(abandoned_after_s=0.0)))
    assert not stale2.exists()  # swept at server start


def test_reid_delete_removes_the_uploaded_original_and_every_copy(tmp_path: Path, monkeypatch,
                                                                  capsys) -> None:
    from app.commands import delete
    from app.ui._uploads import persist_upload
    from app.ui.serving import gradio_cache_dir
    from reid.service import ReidService, SearchRequest
    from reid.store import Store
    from tests.service.conftest import OracleEmbedder
    from tests.support.synthetic import GroundTruthDetector, make_multicamera_scenes
    from tracking import load_tracking_config

    scenes = make_multicamera_scenes(num_cameras=2, num_identities=3, per_camera=2, seed=3,
                                     num_frames=40, size_wh=(320, 180))
    data = tmp_path / "data"
    service = ReidService(Store.open(data), GroundTruthDetector(scenes[0]), OracleEmbedder(scenes),
                          load_tracking_config("bytetrack"))
    cache = gradio_cache_dir(data)
    # camera 0: uploaded through the web UI (a copy in Gradio's cache, the original kept in uploads/)
    upload = scenes[0].write_video(cache / "a1b2" / "lobby.avi")
    original = persist_upload(upload, data / "uploads")
    report = service.index_video(original, camera="lobby")
    # camera 1: indexed from a server folder: that file is the owner's and must stay
    service.detector = GroundTruthDetector(scenes[1])
    archive = Path(scenes[1].write_video(tmp_path / "archive" / "door" / "door.avi"))
    other = service.index_video(archive, camera="door")
    assert report.status == other.status == "indexed" and report.tracklets > 0

    tracklets = service.list_tracklets(video_id=report.video_id, limit=None)
    clip = service.render_clip(tracklets[0].id)
    served = cache / "c3d4"  # Gradio's copies of what it served: a thumbnail and the clip
    served.mkdir()
    thumb_copy = Path(shutil.copy(tracklets[0].thumbnail_path, served / "image.jpg"))
    clip_copy = Path(shutil.copy(clip, served / "clip.webm"))
    unrelated = served / "unrelated.txt"
    unrelated.write_text("someone else's upload")
    door = service.list_tracklets(video_id=other.video_id, limit=None)
    mine = service.search(SearchRequest(tracklet_id=door[0].id, cameras=["lobby"], top_k=5))
    assert {m.tracklet.video_id for m in mine.matches} == {report.video_id}
    exports = [service.export(mine, fmt) for fmt in ("csv", "json", "zip")]  # list its matches
    by_query = service.export(service.search(SearchRequest(tracklet_id=tracklets[0].id,
                                                           cameras=["door"], top_k=5)), "csv")
    kept_export = service.export(service.search(SearchRequest(tracklet_id=door[0].id,
                                                              cameras=["door"], top_k=5)), "csv")
    exports.append(by_query)  # its query person was in the deleted video

    monkeypatch.setattr(delete, "build_service_from_args", lambda args: service)
    assert delete.run(argparse.Namespace(video_ids=[report.video_id])) == 0
    assert f"deleted video {report.video_id}" in capsys.readouterr().out
    for gone in (original, upload, clip, thumb_copy, clip_copy, *exports):
        assert not Path(gone).exists(), gone
    assert not original.parent.exists()  # its content-addressed folder too
    assert unrelated.exists() and kept_export.exists() and archive.exists()
    assert all(not Path(c).exists() for t in tracklets for c in t.crop_paths)

    assert delete.run(argparse.Namespace(video_ids=[other.video_id])) == 0
    assert archive.exists()  # never the owner's footage
    assert not kept_export.exists()
