"""`reid index --cluster`: Ray actors running the gallery's indexing jobs, on a local Ray instance
(one for the whole module) and two 40-frame clips of data/vtest.avi (HOG, offline embedder).

End to end through the CLI (2 actors, both videos once, searchable); an actor's process killed
mid-video (its job taken back and indexed again by a worker, nothing doubled); the one-line
errors (Ray missing, an unreachable or malformed address, GPUs the cluster lacks). Without Ray
these skip, saying why; under REID_REQUIRE_RAY=1 (CI) they fail instead."""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.jobs.test_worker_process import VTEST
from tests.support.clips import cut_clip
from tests.support.ray_cluster import REQUIRE_ENV, require_ray

pytestmark = [
    pytest.mark.real_video,
    pytest.mark.slow,
    pytest.mark.skipif(not VTEST.is_file(), reason="data/vtest.avi missing: run `make sample-data`"),
]
ARGS = ["--detector", "hog", "--stride", "2"]


@pytest.fixture(scope="module")
def ray_local() -> Iterator[Any]:
    """One local Ray instance for the module, started and stopped by the code under test."""
    require_ray()
    from reid.jobs.ray_cluster import ray_session

    with ray_session("local") as session:
        assert session.started_here and session.cpus >= 1
        yield session
    import ray

    assert not ray.is_initialized()


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("clips")
    cut_clip(VTEST, folder / "north.avi", 300, 40)
    cut_clip(VTEST, folder / "south.avi", 500, 40)
    return folder


@pytest.fixture(scope="module")
def clean(ray_local: Any, clips: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`reid index --cluster local` of both clips with 2 actors: its output and gallery."""
    from app.cli import main

    data = tmp_path_factory.mktemp("clean") / "gallery"
    out_file = data.parent / "out.txt"
    saved = sys.stdout
    with out_file.open("w") as out:
        sys.stdout = out
        try:
            code = main(["index", str(clips), "--cluster", "local", "--cluster-workers", "2",
                         "--data-dir", str(data), *ARGS])
        finally:
            sys.stdout = saved
    return {"code": code, "out": out_file.read_text(), "data": data}


def rows(data: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(data / "reid.db") as db:
        return db.execute(sql).fetchall()


def tracklets_by_camera(data: Path) -> list[tuple[Any, ...]]:
    return rows(data, "SELECT c.name, t.track_id, t.first_frame, t.last_frame FROM tracklets t "
                "JOIN videos v ON v.id = t.video_id JOIN cameras c ON c.id = v.camera_id "
                "ORDER BY c.name, t.track_id")


def test_two_actors_index_two_clips_once_and_they_are_searchable(clean: dict[str, Any]) -> None:
    from app.compose import build_service
    from app.settings import Settings
    from reid.service.types import SearchRequest
    from reid.store import Store

    out, data = clean["out"], clean["data"]
    assert clean["code"] == 0, out[-3000:]
    assert out.count(" ready on ") == 2  # both actors started
    for name in ("north", "south"):
        assert f"{name}.avi as camera '{name}' by worker " in out, out[-3000:]
    assert "gallery: 2 videos" in out
    jobs = rows(data, "SELECT state, attempts, worker_id FROM index_jobs ORDER BY id")
    assert [(s, a) for s, a, _ in jobs] == [("done", 1), ("done", 1)]
    assert all(":ray" in w for _, _, w in jobs)  # run by the actors, not by this process
    assert sorted(s for (s,) in rows(data, "SELECT status FROM videos")) == ["done", "done"]
    found = tracklets_by_camera(data)
    assert {c for c, *_ in found} == {"north", "south"}
    with Store.open(data) as store:
        assert store.index is not None and store.index.ntotal == len(found)
        assert store.repair_report.changed is False
    service = build_service(Settings(data_dir=data, detector="hog", stride=2))
    try:
        first = rows(data, "SELECT id FROM tracklets ORDER BY id LIMIT 1")[0][0]
        response = service.search(SearchRequest(tracklet_id=first, top_k=50))
        assert response.matches and first not in {m.tracklet.id for m in response.matches}
        assert {m.tracklet.camera for m in response.matches} <= {"north", "south"}
    finally:
        service.close()


def test_an_actor_killed_mid_video_is_replaced_and_nothing_is_doubled(
        clean: dict[str, Any], clips: Path, tmp_path: Path) -> None:
    from app.compose import ServiceFactory
    from app.settings import Settings
    from reid.jobs.ray_cluster import ClusterIndexing
    from reid.store import JobInfo, Store
    from reid.store._jobs import parse_worker_id

    data = tmp_path / "gallery"
    with Store.open(data) as store:
        ids = [store.jobs.enqueue(clips / f"{n}.avi", n).id for n in ("north", "south")]
        cluster = ClusterIndexing(
            ServiceFactory(Settings(data_dir=data, detector="hog", stride=2)), workers=2,
            heartbeat_s=0.5, lease_s=5.0, progress_s=0.2, poll_s=0.2, max_restarts=1,
            name="killtest")
        killed: list[tuple[int, int]] = []
        retried: list[tuple[int, str]] = []

        def progress(job: JobInfo, fraction: float, message: str) -> None:
            # the actor indexing a video (past its first frames, holding the gallery's lock)
            if not killed and "frame" in message and fraction > 0.1:
                pid = parse_worker_id(job.worker_id or "")
                assert pid is not None
                os.kill(pid[1], signal.SIGKILL)
                killed.append((job.id, pid[1]))

        t0 = time.monotonic()
        try:
            summary = cluster.run(store.jobs, ids, poll_s=0.1, on_progress=progress,
                                  on_retry=lambda job, report: retried.append((job.id,
                                                                               report.error or "")))
        finally:
            cluster.close()
        assert time.monotonic() - t0 < 300
        assert len(killed) == 1
        job_id = killed[0][0]
        assert sorted(summary.final) == ids and all(j.state == "done" for j in summary.final.values())
        assert [i for i, _ in retried] == [job_id]
        assert "died" in retried[0][1] or "heart-beating" in retried[0][1], retried
        jobs = {j.id: j for j in store.jobs.list(job_ids=ids)}
        assert jobs[job_id].attempts == 2
        assert (parse_worker_id(jobs[job_id].worker_id or "") or ("", 0))[1] != killed[0][1]
        assert all(jobs[i].attempts == 1 for i in ids if i != job_id)
    # Each video once, done; the same tracklets as the clean run; vectors == rows; no stray crops.
    videos = rows(data, "SELECT id, status FROM videos ORDER BY id")
    assert [s for _, s in videos] == ["done", "done"]
    assert tracklets_by_camera(data) == tracklets_by_camera(clean["data"])
    with Store.open(data) as store:
        assert store.index is not None
        assert store.index.ntotal == rows(data, "SELECT count(*) FROM tracklets")[0][0]
        assert store.repair_report.changed is False
    crops = {p.name for p in (data / "crops").iterdir() if p.is_dir()}
    assert crops == {str(v) for v, _ in videos}  # the interrupted run's crops were removed


def test_an_interrupted_run_gives_the_actors_job_back(ray_local: Any, clips: Path,
                                                       tmp_path: Path) -> None:
    from app.compose import ServiceFactory
    from app.settings import Settings
    from reid.jobs.ray_cluster import ClusterIndexing
    from reid.store import JobInfo, Store

    data = tmp_path / "gallery"
    with Store.open(data) as store:
        job_id = store.jobs.enqueue(clips / "north.avi", "north").id
        cluster = ClusterIndexing(ServiceFactory(Settings(data_dir=data, detector="hog", stride=2)),
                                  workers=1, progress_s=0.2, name="interrupted")

        def progress(job: JobInfo, fraction: float, message: str) -> None:
            if "frame" in message:
                raise KeyboardInterrupt  # what Ctrl-C or SIGTERM raises in reid index

        with pytest.raises(KeyboardInterrupt):
            try:
                cluster.run(store.jobs, [job_id], poll_s=0.1, on_progress=progress)
            finally:
                cluster.close(store.jobs, [job_id])  # what reid index --cluster does then
        job = store.jobs.get(job_id)
        assert (job.state, job.attempts, job.worker_id) == ("pending", 0, None)
        assert job.message == "released by a stopping worker"
        assert not cluster.actors


def test_one_line_errors(ray_local: Any, clips: Path, tmp_path: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    from app.cli import main

    def index(*extra: str) -> tuple[int, str]:
        code = main(["index", str(clips / "north.avi"), "--data-dir", str(tmp_path / "g"),
                     *ARGS, *extra])
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    code, text = index("--cluster", f"ray://127.0.0.1:{port}")
    assert code != 0 and f"cannot reach the Ray cluster at ray://127.0.0.1:{port}" in text, text
    assert time.monotonic() - t0 < 15  # no long hang
    code, text = index("--cluster", "ray.example.org")
    assert code != 0 and "--cluster takes local, auto or ray://HOST:PORT" in text, text
    code, text = index("--cluster", "local", "--worker-gpus", "1")
    assert code != 0 and "asks for 1 GPUs but the Ray cluster at local has 0" in text, text
    assert not (tmp_path / "g" / "reid.db").exists() or not rows(
        tmp_path / "g", "SELECT id FROM index_jobs")  # nothing enqueued for a cluster refused


def test_without_ray_one_line_says_how_to_install_it(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from app.cli import main

    clip = cut_clip(VTEST, tmp_path / "clip.avi", 300, 5)
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    code = main(["index", str(clip), "--cluster", "local", "--data-dir", str(tmp_path / "g"), *ARGS])
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert code != 0 and "Ray is not installed" in text and "pip install 'tfclip-reid[cluster]'" in text
    assert len([line for line in text.splitlines() if line.strip()]) == 1, text
    assert not (tmp_path / "g" / "reid.db").exists()  # refused before the gallery is touched


def test_missing_ray_skips_locally_and_fails_under_require(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.ray_cluster import require_ray as require

    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.delenv(REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="Ray tests skipped"):
        require()
    monkeypatch.setenv(REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match=f"{REQUIRE_ENV}=1 but Ray is not installed"):
        require()
