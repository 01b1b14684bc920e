"""`reid index / search / status / delete` on real footage, faulty files and a kill -9 mid-run."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.support.clips import cut_clip
from tests.support.waiting import lock_free, wait_for

VTEST = Path(__file__).resolve().parents[2] / "data" / "vtest.avi"
pytestmark = [
    pytest.mark.real_video,
    pytest.mark.slow,
    pytest.mark.skipif(not VTEST.is_file(), reason="data/vtest.avi missing: run `make sample-data`"),
]


def reid(*args: str, data_dir: Path, check: bool = True,
         timeout: float = 1800) -> subprocess.CompletedProcess:
    env = dict(os.environ, YOLO_OFFLINE="1", HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
    cmd = [sys.executable, "-m", "app", *args, "--data-dir", str(data_dir)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check:
        assert result.returncode == 0, result.stderr[-2000:]
    return result


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("footage")
    (root / "north").mkdir()
    (root / "south").mkdir()
    return {
        "north": cut_clip(VTEST, root / "north" / "a.avi", 0, 60),
        "south": cut_clip(VTEST, root / "south" / "b.avi", 300, 60),
        "root": root,
    }


def db_rows(data_dir: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(data_dir / "reid.db") as db:
        return db.execute(sql).fetchall()


def test_index_folder_search_status_delete(clips, tmp_path):
    data = tmp_path / "gallery"
    out = reid("index", str(clips["root"]), "--detector", "hog", "--stride", "2", data_dir=data).stdout
    assert "camera 'north'" in out and "camera 'south'" in out
    status = reid("status", data_dir=data).stdout
    assert "offline fallback" in status and "north" in status and "south" in status
    ids = [r[0] for r in db_rows(data, "SELECT id FROM tracklets ORDER BY id")]
    assert ids, "HOG found nobody in 60 frames of vtest.avi"
    found = reid("search", "--tracklet", str(ids[0]), "--top-k", "3", "--export", "csv", data_dir=data).stdout
    assert "matches in" in found and "exported:" in found
    import json

    payload = json.loads(reid("search", "--tracklet", str(ids[0]), "--top-k", "3", "--json",
                              data_dir=data).stdout)  # the API's and the exports' shape
    assert payload["query"]["tracklet_id"] == ids[0] and payload["count"] == len(payload["matches"]) <= 3
    assert all(m["tracklet_id"] != ids[0] and -1 <= m["score"] <= 1 for m in payload["matches"])
    again = reid("index", str(clips["north"]), "--detector", "hog", "--stride", "2", data_dir=data).stdout
    assert "already indexed" in again
    videos = db_rows(data, "SELECT id FROM videos ORDER BY id")
    reid("delete", str(videos[0][0]), data_dir=data)
    assert len(db_rows(data, "SELECT id FROM videos")) == 1


def test_bad_files_are_reported_and_the_rest_is_indexed(clips, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.mp4").write_bytes(b"")
    (bad / "notes.mp4").write_text("not a video\n" * 50)
    raw = clips["north"].read_bytes()
    (bad / "truncated.avi").write_bytes(raw[: len(raw) // 3])
    nobody = cv2.VideoWriter(str(bad / "nobody.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    for i in range(20):
        nobody.write(np.full((240, 320, 3), 90 + i, np.uint8))
    nobody.release()
    data = tmp_path / "gallery"
    result = reid("index", str(bad), "--detector", "hog", "--stride", "2", data_dir=data, check=False)
    assert result.returncode == 1  # some files failed
    assert result.stdout.count("FAILED") == 2, result.stdout
    assert "empty.mp4" in result.stdout and "notes.mp4" in result.stdout
    statuses = dict(db_rows(data, "SELECT path, status FROM videos"))
    assert statuses[str(bad / "nobody.avi")] == "done"
    assert statuses[str(bad / "truncated.avi")] == "done"  # the frames before the cut are kept
    assert statuses[str(bad / "empty.mp4")] == "failed"


def _video_statuses(data_dir: Path) -> list[tuple]:
    """The videos' statuses, or [] while the database or its tables do not exist yet."""
    try:
        return db_rows(data_dir, "SELECT status FROM videos")
    except sqlite3.Error:
        return []


def test_kill_9_mid_run_then_resume_loses_and_duplicates_nothing(clips, tmp_path):
    reference = tmp_path / "reference"
    reid("index", str(clips["south"]), "--detector", "hog", "--stride", "2", data_dir=reference)
    expected = db_rows(reference, "SELECT track_id, first_frame, last_frame FROM tracklets ORDER BY track_id")

    data = tmp_path / "gallery"
    env = dict(os.environ, YOLO_OFFLINE="1", HF_HUB_OFFLINE="1")
    cmd = [sys.executable, "-m", "app", "index", str(clips["south"]), "--detector", "hog", "--stride", "2",
           "--data-dir", str(data)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Wait on a condition, not on time: the video row says "indexing" as its job starts, and
        # its tracklets are stored only at the end, in one transaction, seconds of tracking later.
        wait_for(lambda: proc.poll() is not None or _video_statuses(data) == [("indexing",)],
                 "the video to be marked indexing", timeout=600)
        assert proc.poll() is None, "indexing finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    # Nothing of the killed run goes on in the background (e.g. an orphaned worker process).
    wait_for(lambda: lock_free(data), "the killed run's processes to release the gallery",
             timeout=600)
    assert db_rows(data, "SELECT status FROM videos") == [("indexing",)]
    assert db_rows(data, "SELECT count(*) FROM tracklets") == [(0,)]

    out = reid("index", str(clips["south"]), "--detector", "hog", "--stride", "2", data_dir=data).stdout
    assert "indexed" in out
    assert db_rows(data, "SELECT count(*), max(status) FROM videos") == [(1, "done")]
    got = db_rows(data, "SELECT track_id, first_frame, last_frame FROM tracklets ORDER BY track_id")
    assert got == expected
    status = reid("status", data_dir=data).stdout
    assert f"{len(expected)} tracklets" in status
