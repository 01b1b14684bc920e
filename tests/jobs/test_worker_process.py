"""`reid worker` processes on real footage (40 frames of data/vtest.avi, HOG, offline embedder):
SIGTERM gives the job back, kill -9 mid-video loses and doubles nothing once another worker
re-claims it, and `reid worker --once` runs one job."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.clips import cut_clip
from tests.support.waiting import lock_free, wait_for

VTEST = Path(__file__).resolve().parents[2] / "data" / "vtest.avi"
REPO = VTEST.parents[1]
ARGS = ("--detector", "hog", "--stride", "2")
OFFLINE = {"YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "False", "HF_HUB_OFFLINE": "1",
           "HF_HUB_DISABLE_TELEMETRY": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
pytestmark = [
    pytest.mark.real_video,
    pytest.mark.slow,
    pytest.mark.skipif(not VTEST.is_file(), reason="data/vtest.avi missing: run `make sample-data`"),
]


def worker_cmd(data: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "app", "worker", "--data-dir", str(data), "--heartbeat-s", "0.5",
            "--lease-s", "5", "--poll-s", "0.2", *ARGS, *extra]


def rows(data: Path, sql: str) -> list[tuple]:
    try:
        with sqlite3.connect(data / "reid.db") as db:
            return db.execute(sql).fetchall()
    except sqlite3.Error:  # not created yet
        return []


def start_worker_until_indexing(data: Path) -> tuple[subprocess.Popen, int]:
    """A `reid worker` that has claimed the job and started indexing the video: its new video
    row says ``indexing`` (one left by an earlier interrupted run is replaced first)."""
    before = {v for (v,) in rows(data, "SELECT id FROM videos")}
    proc = subprocess.Popen(worker_cmd(data), env={**os.environ, **OFFLINE}, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def indexing() -> bool:
        videos = rows(data, "SELECT id, status FROM videos")
        return len(videos) == 1 and videos[0][0] not in before and videos[0][1] == "indexing"

    wait_for(lambda: proc.poll() is not None or indexing(), "the worker to start indexing")
    assert proc.poll() is None, proc.communicate()[0][-3000:]
    return proc, rows(data, "SELECT id FROM videos")[0][0]


def test_sigterm_then_kill_9_mid_video_then_another_worker_resumes(tmp_path: Path) -> None:
    from app.compose import build_service
    from app.settings import Settings
    from reid.store import Store

    clip = cut_clip(VTEST, tmp_path / "south.avi", 300, 40)
    service = build_service(Settings(data_dir=tmp_path / "reference", detector="hog", stride=2))
    try:  # a clean run, for comparison
        clean = service.index_video(clip, camera="south")
        assert clean.status == "indexed" and clean.tracklets > 0, clean
    finally:
        service.close()
    expected = rows(tmp_path / "reference",
                    "SELECT track_id, first_frame, last_frame FROM tracklets ORDER BY track_id")
    assert len(expected) == clean.tracklets

    data = tmp_path / "gallery"
    with Store.open(data) as store:
        job = store.jobs.enqueue(clip, "south", max_attempts=3)

    # SIGTERM: the worker stops its indexing child, gives the job back and exits 0.
    proc, first_video = start_worker_until_indexing(data)
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 0, out[-3000:]
    assert "went back to the queue" in out
    wait_for(lambda: lock_free(data), "the stopped worker's child to exit")
    assert rows(data, f"SELECT state, attempts, worker_id FROM index_jobs WHERE id = {job.id}") \
        == [("pending", 0, None)]

    # kill -9: the job stays claimed by a dead worker, the video half done.
    proc, second_video = start_worker_until_indexing(data)
    assert second_video > first_video  # the interrupted run's row was replaced, not reused
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    wait_for(lambda: lock_free(data), "the killed worker's child to exit")
    assert rows(data, "SELECT state, attempts FROM index_jobs") == [("claimed", 1)]
    assert rows(data, "SELECT status FROM videos") == [("indexing",)]
    assert rows(data, "SELECT count(*) FROM tracklets") == [(0,)]

    # Another worker takes the dead worker's job back and indexes the video once.
    result = subprocess.run(worker_cmd(data, "--once", "--worker-id", "resumer"),
                            env={**os.environ, **OFFLINE}, cwd=REPO, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert f"indexed {clip}" in result.stdout and "1 done, 0 failed" in result.stdout
    state, attempts, worker, video_id = rows(
        data, "SELECT state, attempts, worker_id, video_id FROM index_jobs")[0]
    assert (state, attempts) == ("done", 2) and worker.endswith(":resumer")
    assert rows(data, "SELECT id, status FROM videos") == [(video_id, "done")]
    assert video_id > second_video
    got = rows(data, "SELECT track_id, first_frame, last_frame FROM tracklets ORDER BY track_id")
    assert got == expected  # nothing lost, nothing doubled
    with Store.open(data) as store:
        assert store.index is not None and store.index.ntotal == len(expected)
        assert store.repair_report.changed is False
    crops = {p.name for p in (data / "crops").iterdir() if p.is_dir()}
    assert crops == {str(video_id)}  # the interrupted run's crops were removed


def test_worker_once_with_nothing_to_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from app.cli import main

    assert main(worker_cmd(tmp_path / "gallery", "--once")[3:]) == 0
    out = capsys.readouterr().out
    assert "no pending job" in out and "0 done" in out
