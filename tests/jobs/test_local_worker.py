"""``reid serve``'s supervised worker process with a fake service (no models, starts in about a
second): a crashed child is replaced and its job retried, a hung one is killed after ``stall_s``,
and closing gives the running job back to the queue."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from reid.jobs.local import LocalWorkerProcess
from reid.jobs.queued import QueuedIndexing
from reid.service.types import IndexReport
from reid.store import Store


class FakeService:
    """Indexes nothing; ``crash*`` files kill the process, ``hang*`` files never end."""

    def __init__(self, data_dir: str) -> None:
        self.store = Store.open(data_dir)
        self.data_dir = self.store.data_dir

    def index_video(self, path, camera=None, start_time=None, progress=None, actor="cli"):
        name = Path(path).name
        if progress is not None:
            progress(0.1, f"{name}: frame 1/10")
        if name.startswith("crash"):
            os._exit(3)
        if name.startswith("hang"):
            time.sleep(3600)
        return IndexReport(str(path), camera or "cam", "indexed", video_id=1, tracklets=2,
                           video_seconds=1.0, elapsed_s=0.1)

    def close(self) -> None:
        self.store.close()


@dataclass(frozen=True)
class FakeFactory:
    """Picklable: what the spawned child calls to build its service."""

    data_dir: str

    def __call__(self) -> FakeService:
        return FakeService(self.data_dir)


def wait(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def files(folder: Path, *names: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        (folder / n).write_bytes(n.encode())
    return [folder / n for n in names]


def test_crashed_and_hung_children_are_replaced(tmp_path: Path) -> None:
    crash, hang, good = files(tmp_path / "in", "crash.avi", "hang.avi", "good.avi")
    data = tmp_path / "gallery"
    crashes: list[tuple[str, str]] = []
    with Store.open(data) as store:
        queue = store.jobs
        worker = LocalWorkerProcess(FakeFactory(str(data)), queue, niceness=0, stall_s=2.0,
                                    heartbeat_s=0.2, lease_s=30, poll_s=0.1,
                                    on_crash=lambda path, message: crashes.append((path, message)))
        jc = queue.enqueue(crash, max_attempts=2)
        jh = queue.enqueue(hang, max_attempts=1)
        jg = queue.enqueue(good)
        worker.start()
        try:
            wait(lambda: all(queue.get(j.id).final for j in (jc, jh, jg)))
            c, h, g = (queue.get(j.id) for j in (jc, jh, jg))
            assert (c.state, c.attempts) == ("failed", 2)
            assert c.error == "the indexing worker crashed (exit code 3) while indexing this video"
            assert (h.state, h.attempts) == ("failed", 1)
            assert "stopped answering for 2 s" in (h.error or "")
            assert (g.state, g.result and g.result["tracklets"]) == ("done", 2)
            assert worker.restarts == 3 and worker.pid is not None
            assert [Path(p).name for p, _ in crashes] == ["crash.avi", "crash.avi", "hang.avi"]
        finally:
            worker.close()
        assert worker.pid is None


def test_closing_gives_the_running_job_back(tmp_path: Path) -> None:
    (hang,) = files(tmp_path / "in", "hang.avi")
    data = tmp_path / "gallery"
    with Store.open(data) as store:
        service = FakeService(str(data))
        service.worker_factory = FakeFactory(str(data))  # type: ignore[attr-defined]
        queued = QueuedIndexing(service, poll_s=0.05)
        assert queued.use_worker_process(niceness=0)
        job = store.jobs.enqueue(hang)
        wait(lambda: store.jobs.get(job.id).message == "hang.avi: frame 1/10")
        assert store.jobs.get(job.id).state == "claimed"
        queued.close()  # SIGTERM: the child gives the job back
        back = store.jobs.get(job.id)
        assert (back.state, back.attempts, back.worker_id) == ("pending", 0, None)
        report = QueuedIndexing(service, start_worker=False)
        assert report.index_video(tmp_path / "missing.avi").status == "failed"


def test_a_served_folder_is_enqueued_and_reported_per_file(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    files(root / "north", "a.avi")
    files(root / "south", "b.avi", "crash.avi")
    data = tmp_path / "gallery"
    service = FakeService(str(data))
    service.worker_factory = FakeFactory(str(data))  # type: ignore[attr-defined]
    queued = QueuedIndexing(service, max_attempts=1, poll_s=0.05)
    seen: list[float] = []
    try:
        reports = queued.index_folder(root, progress=lambda f, m: seen.append(f), actor="ui")
        jobs = service.store.jobs.list()
    finally:
        queued.close()
    got = [(Path(r.path).name, r.camera, r.status) for r in reports]
    assert got == [("a.avi", "north", "indexed"), ("b.avi", "south", "indexed"),
                   ("crash.avi", "south", "failed")]
    assert "crashed (exit code 3)" in (reports[2].error or "")
    assert [j.actor for j in jobs] == ["ui"] * 3 and reports[0].tracklets == 2
    assert seen and max(seen) <= 1.0 and seen == sorted(seen)  # one bar over the whole folder
