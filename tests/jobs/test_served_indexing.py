"""`reid serve`'s indexing: the UI's calls enqueue jobs, a supervised local worker process runs
them; progress comes from the job row; a worker killed mid-video is replaced and the job redone
once (40 frames of data/vtest.avi, HOG, offline embedder)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.jobs.test_worker_process import VTEST
from tests.support.clips import cut_clip

pytestmark = [
    pytest.mark.real_video,
    pytest.mark.slow,
    pytest.mark.skipif(not VTEST.is_file(), reason="data/vtest.avi missing: run `make sample-data`"),
]


def test_a_killed_worker_process_is_replaced_and_the_video_indexed_once(tmp_path: Path) -> None:
    from app.compose import build_service
    from app.settings import Settings
    from reid.jobs.queued import QueuedIndexing
    from reid.store import Store

    clip = cut_clip(VTEST, tmp_path / "south.avi", 300, 40)
    data = tmp_path / "gallery"
    service = build_service(Settings(data_dir=data, detector="hog", stride=2))
    queued = QueuedIndexing(service)
    seen: list[tuple[float, str]] = []
    killed: list[int] = []

    def progress(fraction: float, message: str) -> None:
        seen.append((fraction, message))
        worker = queued.worker
        if not killed and worker is not None and worker.pid and "frame" in message:
            killed.append(worker.pid)
            os.kill(worker.pid, signal.SIGKILL)

    try:
        assert queued.use_worker_process(niceness=0)
        assert queued.worker is not None and queued.worker.pid not in (None, os.getpid())
        report = queued.index_video(clip, "south", progress=progress, actor="ui")
        assert report.status == "indexed" and report.tracklets > 0, report
        assert killed and queued.worker.restarts == 1 and queued.worker.pid != killed[0]
        (job,) = service.store.jobs.list()
        assert job.state == "done" and job.attempts == 2 and job.actor == "ui"
        assert any(0 < f < 1 and "frame" in m for f, m in seen), seen  # from the job row
        assert seen[-1][0] == 1.0
        assert [v.status for v in service.list_videos()] == ["done"]
        assert len(service.list_tracklets(limit=None)) == report.tracklets
        again = queued.index_video(clip, "south")
        assert again.status == "duplicate" and again.video_id == report.video_id
    finally:
        queued.close()
    assert queued.worker.pid is None  # stopped with the server
    with Store.open(data) as store:
        assert store.index is not None and store.index.ntotal == report.tracklets
        assert not store.repair_report.changed
    assert {p.name for p in (data / "crops").iterdir() if p.is_dir()} == {str(report.video_id)}
