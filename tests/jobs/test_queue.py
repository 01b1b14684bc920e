"""The indexing job queue and the worker loop, with a fake indexer (no video decoding): atomic
claims under concurrency, leases that expire and are re-claimed, retries, orphans, progress;
each test runs on SQLite and on a real PostgreSQL server (``db_url``, tests/conftest.py)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from reid.jobs import run_worker
from reid.service.types import IndexReport
from reid.store import JobQueue, Store
from reid.store._jobs import worker_id_for


@pytest.fixture
def gallery(tmp_path: Path, db_url: str | None):
    """Opens the test's gallery (SQLite, then PostgreSQL: ``db_url`` of tests/conftest.py); each
    call is another connection pool, as another worker process would have."""
    def open_store() -> Store:
        return Store.open(tmp_path / "gallery", db_url=db_url)

    return open_store


def videos(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"v{i:02d}.avi"
        p.write_bytes(b"not decoded by the fake indexer %d" % i)
        paths.append(p)
    return paths


class FakeIndexer:
    """Records every call; ``behave(path)`` says what happens to each (default: indexed)."""

    def __init__(self, seconds: float = 0.0, behave=None) -> None:
        self.calls: list[str] = []
        self.seconds = seconds
        self.behave = behave
        self._lock = threading.Lock()

    def index_video(self, path, camera=None, start_time=None, progress=None, actor="cli"):
        with self._lock:
            self.calls.append(str(path))
        if progress is not None:
            progress(0.5, f"{Path(path).name}: half way")
        time.sleep(self.seconds)
        outcome = self.behave(str(path)) if self.behave else None
        if isinstance(outcome, BaseException):
            raise outcome
        if isinstance(outcome, IndexReport):
            return outcome
        return IndexReport(str(path), camera or "cam", "indexed", video_id=len(self.calls),
                           tracklets=3, video_seconds=2.0, elapsed_s=self.seconds)


def test_enqueue_is_idempotent_while_active(gallery, tmp_path: Path) -> None:
    (video,) = videos(tmp_path / "in", 1)
    with gallery() as store:
        queue = store.jobs
        first = queue.enqueue(video, "north")
        assert queue.enqueue(video, "north").id == first.id  # pending
        claimed = queue.claim("w1")
        assert claimed is not None and claimed.id == first.id and claimed.attempts == 1
        assert queue.enqueue(video).id == first.id  # claimed
        assert queue.finish(first.id, "w1", video_id=7, result={"status": "indexed"})
        again = queue.enqueue(video)  # done jobs do not count: indexing again is allowed
        assert again.id != first.id and again.state == "pending"
        video.write_bytes(b"new content, another size")  # a changed file is another job
        assert queue.enqueue(video).id not in (first.id, again.id)
        assert queue.counts() == {"pending": 2, "claimed": 0, "done": 1, "failed": 0}
        with pytest.raises(FileNotFoundError):
            queue.enqueue(tmp_path / "missing.avi")


def test_two_workers_racing_claim_each_job_exactly_once(gallery, tmp_path: Path) -> None:
    paths = videos(tmp_path / "in", 40)
    with gallery() as store:
        for p in paths:
            store.jobs.enqueue(p)
    claims: dict[str, list[int]] = {"a": [], "b": []}
    start = threading.Barrier(2)

    def claimer(name: str) -> None:
        with gallery() as own:  # each worker its own engine and connections
            queue = own.jobs
            start.wait()
            while (job := queue.claim(name)) is not None:
                claims[name].append(job.id)
                queue.finish(job.id, name)

    threads = [threading.Thread(target=claimer, args=(n,)) for n in claims]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    got = claims["a"] + claims["b"]
    assert sorted(got) == list(range(1, 41)), "a job was claimed twice or never"
    assert claims["a"] and claims["b"], "one worker took everything: no race happened"
    with gallery() as store:
        jobs = store.jobs.list()
        assert all(j.state == "done" and j.attempts == 1 for j in jobs)
        assert {j.worker_id for j in jobs} == {"a", "b"}


def test_two_run_worker_loops_index_each_video_once(gallery, tmp_path: Path) -> None:
    paths = videos(tmp_path / "in", 12)
    with gallery() as store:
        for p in paths:
            store.jobs.enqueue(p)
    indexer = FakeIndexer(seconds=0.02)
    stop = threading.Event()
    summaries = []

    def worker(name: str) -> None:
        with gallery() as own:
            summaries.append(run_worker(own.jobs, indexer, worker_id=name, heartbeat_s=0.2,
                                        lease_s=5, poll_s=0.05, stop=stop))

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    with gallery() as store:
        deadline = time.monotonic() + 60
        while store.jobs.counts()["done"] < 12 and time.monotonic() < deadline:
            time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(30)
    assert sorted(indexer.calls) == sorted(str(p.resolve()) for p in paths)
    assert sum(len(s.done) for s in summaries) == 12
    assert all(s.done for s in summaries), [s.done for s in summaries]


def test_an_expired_lease_is_reclaimed_by_another_worker(gallery, tmp_path: Path) -> None:
    (video,) = videos(tmp_path / "in", 1)
    with gallery() as store:
        queue = store.jobs
        job = queue.enqueue(video)
        assert queue.claim("silent") is not None
        assert queue.requeue_expired(30) == []  # fresh heartbeat: still held
        time.sleep(0.3)
        assert queue.requeue_expired(0.2) == [job.id]
        taken = queue.claim("other")
        assert taken is not None and taken.id == job.id and taken.attempts == 2
        assert "stopped heart-beating" in (taken.error or "")
        # The first worker lost the job: its heartbeat and outcome no longer count.
        assert not queue.heartbeat(job.id, "silent", progress=0.9)
        assert not queue.finish(job.id, "silent", video_id=1)
        assert queue.fail(job.id, "silent", "late") is None
        assert queue.finish(job.id, "other", video_id=2)
        assert queue.get(job.id).state == "done" and queue.get(job.id).video_id == 2


def test_heartbeats_keep_a_long_job_claimed(gallery, tmp_path: Path) -> None:
    (video,) = videos(tmp_path / "in", 1)
    with gallery() as store:
        job = store.jobs.enqueue(video)
    seen: dict[str, object] = {}

    def behave(path: str) -> None:
        with gallery() as other:  # another worker, looking for expired leases
            for _ in range(8):
                time.sleep(0.15)
                assert other.jobs.requeue_expired(0.5) == []
            row = other.jobs.get(job.id)
            seen.update(progress=row.progress, message=row.message, state=row.state)

    with gallery() as store:
        summary = run_worker(store.jobs, FakeIndexer(behave=behave), worker_id="busy",
                             heartbeat_s=0.1, lease_s=0.5, progress_s=0.05, once=True)
        assert summary.done == [job.id]
        assert seen == {"progress": 0.5, "message": "v00.avi: half way", "state": "claimed"}
        done = store.jobs.get(job.id)
        assert done.state == "done" and done.attempts == 1 and done.progress == 1.0
        assert done.result is not None and done.result["tracklets"] == 3


def test_a_crashing_attempt_is_retried_up_to_max_attempts(gallery, tmp_path: Path) -> None:
    crash, bad, flaky = videos(tmp_path / "in", 3)
    tries: dict[str, int] = {}

    def behave(path: str):
        tries[path] = tries.get(path, 0) + 1
        name = Path(path).name
        if name == crash.name:  # what ReidService reports when its indexing child died
            return IndexReport(path, "c", "failed", error="the indexing worker crashed (SIGSEGV) "
                               "while indexing this video")
        if name == bad.name:  # the file itself is bad: no second attempt
            return IndexReport(path, "c", "failed", error="cannot open video")
        if tries[path] == 1:
            return RuntimeError("database went away")
        return None

    finals = []
    with gallery() as store:
        ids = [store.jobs.enqueue(p, max_attempts=3).id for p in (crash, bad, flaky)]
        summary = run_worker(store.jobs, FakeIndexer(behave=behave), worker_id="w", job_ids=ids,
                             heartbeat_s=0.1, lease_s=5, poll_s=0.01,
                             on_final=lambda job, report: finals.append((job.id, job.state)))
        jobs = {j.id: j for j in store.jobs.list()}
    assert jobs[ids[0]].state == "failed" and jobs[ids[0]].attempts == 3
    assert "crashed (SIGSEGV)" in (jobs[ids[0]].error or "")
    assert jobs[ids[1]].state == "failed" and jobs[ids[1]].attempts == 1
    assert jobs[ids[2]].state == "done" and jobs[ids[2]].attempts == 2
    assert sorted(finals) == sorted([(ids[0], "failed"), (ids[1], "failed"), (ids[2], "done")])
    assert sorted(summary.retried) == sorted([ids[0], ids[0], ids[2]])


def test_jobs_of_a_dead_worker_process_are_taken_back_at_once(gallery, tmp_path: Path) -> None:
    a, b = videos(tmp_path / "in", 2)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = worker_id_for().split(":")[0]
    with gallery() as store:
        queue = store.jobs
        ja, jb = queue.enqueue(a, max_attempts=1), queue.enqueue(b)
        assert queue.claim(f"{host}:{dead.pid}:gone", job_ids=[ja.id]) is not None
        assert queue.claim(worker_id_for("alive"), job_ids=[jb.id]) is not None
        assert queue.requeue_orphans() == [ja.id]
        assert queue.get(ja.id).state == "failed"  # its only attempt was used up
        assert "died" in (queue.get(ja.id).error or "")
        assert queue.get(jb.id).state == "claimed"  # this process is alive


def test_an_interrupted_worker_gives_its_job_back(gallery, tmp_path: Path) -> None:
    (video,) = videos(tmp_path / "in", 1)
    with gallery() as store:
        job = store.jobs.enqueue(video)
        with pytest.raises(KeyboardInterrupt):
            run_worker(store.jobs, FakeIndexer(behave=lambda p: KeyboardInterrupt()),
                       worker_id="w", heartbeat_s=0.1, lease_s=5, once=True)
        back = store.jobs.get(job.id)
        assert back.state == "pending" and back.attempts == 0 and back.worker_id is None


def test_cancel_fails_only_pending_jobs(gallery, tmp_path: Path) -> None:
    a, b = videos(tmp_path / "in", 2)
    with gallery() as store:
        queue = store.jobs
        ja, jb = queue.enqueue(a), queue.enqueue(b)
        assert queue.claim("w", job_ids=[jb.id]) is not None
        assert queue.cancel(ja.id, "cancelled: interrupted") and not queue.cancel(jb.id)
        assert (queue.get(ja.id).state, queue.get(ja.id).error) == ("failed", "cancelled: interrupted")
        assert queue.get(jb.id).state == "claimed"
        assert queue.enqueue(a).id != ja.id  # a cancelled job no longer blocks a new one


def test_queue_api_refuses_bad_arguments(gallery, tmp_path: Path) -> None:
    (video,) = videos(tmp_path / "in", 1)
    with gallery() as store:
        with pytest.raises(ValueError, match="max_attempts"):
            store.jobs.enqueue(video, max_attempts=0)
        with pytest.raises(ValueError, match="worker id"):
            store.jobs.claim("")
        with pytest.raises(ValueError, match="heartbeat_s"):
            run_worker(store.jobs, FakeIndexer(), heartbeat_s=5, lease_s=5)
        assert isinstance(store.jobs, JobQueue)


def test_a_waiting_caller_reports_jobs_another_worker_ran(gallery, tmp_path: Path) -> None:
    mine, theirs = videos(tmp_path / "in", 2)
    finals = []
    with gallery() as store:
        queue = store.jobs
        ids = [queue.enqueue(mine).id, queue.enqueue(theirs).id]
        assert queue.claim("other", job_ids=[ids[1]]) is not None  # e.g. a `reid worker`

        def finish_theirs() -> None:
            time.sleep(0.3)
            queue.finish(ids[1], "other", video_id=9, result={"status": "indexed", "tracklets": 5})

        helper = threading.Thread(target=finish_theirs)
        helper.start()
        summary = run_worker(queue, FakeIndexer(), worker_id="me", job_ids=ids, poll_s=0.05,
                             heartbeat_s=0.1, lease_s=5,
                             on_final=lambda job, report: finals.append((job.id, report is None)))
        helper.join()
    assert summary.done == [ids[0]]
    assert finals == [(ids[0], False), (ids[1], True)]  # ours with its report, theirs from the row
