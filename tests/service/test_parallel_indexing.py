"""Two indexers on one gallery work side by side: the gallery's writer lock is held to claim a
video and to store it, not while it is tracked and embedded; a live run of the same content is
told from an interrupted one, and waited for."""

from __future__ import annotations

import shutil
import threading

from tests.service.test_service_robustness import new_service
from tests.support.synthetic import GroundTruthDetector


class GatedDetector(GroundTruthDetector):
    """Ground truth that stops at its first batch until ``release`` is set."""

    def __init__(self, scene, entered: threading.Event, release: threading.Event) -> None:
        super().__init__(scene)
        self.entered, self.release = entered, release

    def detect(self, images, frame_indices):
        self.entered.set()
        assert self.release.wait(timeout=120), "never released"
        return super().detect(images, frame_indices)


def test_two_indexers_run_side_by_side_and_store_each_video_once(tmp_path, scenes):
    data = tmp_path / "data"
    (tmp_path / "v").mkdir()
    slow_path = scenes[0].write_video(tmp_path / "v" / "slow.avi")
    fast_path = scenes[1].write_video(tmp_path / "v" / "fast.avi")
    slow, fast, third = (new_service(data, scenes) for _ in range(3))
    entered, release = threading.Event(), threading.Event()
    slow.detector = GatedDetector(scenes[0], entered, release)
    fast.detector = GroundTruthDetector(scenes[1])
    reports = {}
    worker = threading.Thread(target=lambda: reports.update(slow=slow.index_video(slow_path, "cam0")))
    worker.start()
    try:
        assert entered.wait(timeout=120)
        # the slow video is claimed and in progress: another indexer is not held up by it
        reports["fast"] = fast.index_video(fast_path, "cam1")
        assert reports["fast"].status == "indexed" and reports["fast"].tracklets > 0
        assert worker.is_alive()
        (slow_row,) = [v for v in third.list_videos() if v.status == "indexing"]
        assert third._video_in_progress(slow_row.id)
        # the same content under another name while it is indexed: left alone, not redone; the
        # second run waits for the live one, then finds it done
        copy = tmp_path / "v" / "copy.avi"
        shutil.copy(slow_path, copy)
        third.detector = GroundTruthDetector(scenes[0])
        waiter = threading.Thread(target=lambda: reports.update(dup=third.index_video(copy, "cam0")))
        waiter.start()
        waiter.join(timeout=3.0)
        assert waiter.is_alive() and "dup" not in reports  # waiting, not redoing it
        assert third.store.get_video(slow_row.id).status == "indexing"
    finally:
        release.set()
        worker.join(timeout=300)
    waiter.join(timeout=300)
    assert (reports["dup"].status, reports["dup"].video_id) == ("duplicate", slow_row.id)
    assert reports["slow"].status == "indexed" and reports["slow"].video_id == slow_row.id
    assert not third._video_in_progress(slow_row.id)
    third.store.check_index()
    rows = third.list_tracklets(limit=None)
    assert len(rows) == reports["slow"].tracklets + reports["fast"].tracklets
    assert third.store.index.ntotal == len(rows)
    assert len({(t.video_id, t.track_id) for t in rows}) == len(rows)


def test_an_interrupted_run_is_redone(tmp_path, scenes):
    """A video left ``indexing`` by a process that is gone (no lock on its crops folder) is
    cleaned up and indexed again."""
    data = tmp_path / "data"
    service = new_service(data, scenes)
    service.detector = GroundTruthDetector(scenes[0])
    path = scenes[0].write_video(tmp_path / "cam0.avi")
    from reid.files import sha256_file

    left = service.store.add_video(path, sha256_file(path), "cam0")
    service.store.update_video(left, status="indexing")  # as a killed run leaves it
    assert not service._video_in_progress(left)
    report = service.index_video(path, "cam0")
    assert report.status == "indexed" and report.video_id != left
    assert [v.id for v in service.list_videos()] == [report.video_id]
