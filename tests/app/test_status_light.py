"""``reid status`` without building the models says what the built service says: the same
status (models, fallbacks, fingerprint mismatch note, counts) and the same lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from app.commands import status as status_command
from app.settings import Settings


def make_gallery(data_dir: Path, fingerprint: dict | None) -> None:
    """Two videos (one failed) and two tracklets of camera "north", embedded with ``fingerprint``."""
    from reid.store import Store, TrackletRecord

    with Store.open(data_dir) as store:
        if fingerprint is not None:
            video = store.add_video("/videos/north.avi", "hash-north", "north", fps=10.0, duration_s=3.0)
            boxes = np.array([[0, 0, 10, 20], [1, 1, 11, 21]], np.float32)
            records = [TrackletRecord(k, np.arange(2), boxes, 0.0, 0.1) for k in (1, 2)]
            vectors = np.random.default_rng(0).normal(size=(2, fingerprint["dim"])).astype(np.float32)
            store.add_tracklets(video, records, vectors, fingerprint)
        failed = store.add_video("/videos/bad.avi", "hash-bad", "south")
        store.update_video(failed, status="failed", error="cannot decode\x1b[31m")


@pytest.fixture()
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _mobilenet_fingerprint() -> dict:
    from reid.embed.describe import mobilenet_choice

    choice = mobilenet_choice()
    assert choice is not None
    return choice.fingerprint


@pytest.mark.parametrize("built_by", ["nothing", "current", "another"])
def test_light_status_equals_the_services(tmp_path: Path, offline: None, built_by: str) -> None:
    from app.compose import build_service

    fp = {"nothing": None, "current": _mobilenet_fingerprint(),
          "another": {"model": "old-model", "weights": "0123", "dim": 8, "preprocess": {}}}[built_by]
    make_gallery(tmp_path, fp)
    settings = Settings(data_dir=tmp_path)
    found = status_command.light_status(settings)
    assert found is not None
    service = build_service(settings)
    try:
        assert found == (service.status(), service.store.fingerprint, service.list_videos())
    finally:
        service.store.close()
    notes = found[0].notes
    assert any("built with embedder 'old-model'" in n for n in notes) == (built_by == "another")


def test_light_status_with_an_adapted_head(tmp_path: Path, offline: None) -> None:
    from app.compose import build_service
    from reid.adapt import SiteModels
    from reid.adapt.head import save_head

    fp = _mobilenet_fingerprint()
    make_gallery(tmp_path, fp)
    head = save_head(tmp_path / "head.pt", np.eye(fp["dim"], dtype=np.float32), fp, {})
    SiteModels(tmp_path).add(head, "head", {})
    settings = Settings(data_dir=tmp_path)
    found = status_command.light_status(settings)
    assert found is not None and found[0].embedder.endswith("+site")
    service = build_service(settings)
    try:
        assert found[0] == service.status()
    finally:
        service.store.close()


def test_status_lines_equal_the_built_services(tmp_path: Path, offline: None,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    make_gallery(tmp_path, {"model": "old-model", "weights": "0123", "dim": 8, "preprocess": {}})
    capsys.readouterr()
    assert main(["status", "--data-dir", str(tmp_path)]) == 0
    light = capsys.readouterr().out
    monkeypatch.setattr(status_command, "light_status", lambda settings: None)
    assert main(["status", "--data-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out == light
    assert "built by:  old-model weights 0123 (8-d)" in light
    assert "failed video 2: /videos/bad.avi: cannot decode\n" in light  # the escape removed
    assert "gallery:   2 videos, 2 tracklets" in light


def test_videos_lists_the_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_gallery(tmp_path, _mobilenet_fingerprint())
    capsys.readouterr()
    assert main(["videos", "--data-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["1", "north", "done", "0:03.00", "2", "/videos/north.avi"]
    assert lines[2].split()[:3] == ["2", "south", "failed"] and "error: cannot decode" in lines[3]
    assert main(["videos", "--data-dir", str(tmp_path / "new")]) == 0
    assert capsys.readouterr().out.startswith("no videos in ")


def test_status_counts_the_indexing_queue(tmp_path: Path, offline: None, capsys) -> None:
    from reid.store import Store

    make_gallery(tmp_path / "data", None)
    clips = [tmp_path / f"c{i}.avi" for i in range(3)]
    for clip in clips:
        clip.write_bytes(b"queued, never indexed here")
    with Store.open(tmp_path / "data") as store:
        jobs = [store.jobs.enqueue(c, "cam") for c in clips]
        store.jobs.cancel(jobs[0].id, "cancelled by the test")
        store.jobs.claim("w1", job_ids=[jobs[1].id])
    capsys.readouterr()
    assert main(["status", "--data-dir", str(tmp_path / "data")]) == 0
    out = capsys.readouterr().out
    assert "queue:     1 pending, 1 claimed, 0 done, 1 failed" in out, out
    found = status_command.light_status(Settings(data_dir=tmp_path / "data"))
    assert found is not None and found[0].jobs == {"pending": 1, "claimed": 1, "done": 0, "failed": 1}
