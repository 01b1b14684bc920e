"""watch_jobs (what `reid index --cluster` prints from): another worker runs the jobs, the watcher
reports each claim, progress, retry and end from the rows alone; fake indexer, SQLite and
PostgreSQL (``db_url``)."""

from __future__ import annotations

import threading
from pathlib import Path

from reid.jobs import run_worker
from reid.jobs.watch import watch_jobs
from reid.service.types import IndexReport
from reid.store import Store
from tests.jobs.test_queue import FakeIndexer, videos


def test_watch_reports_claims_progress_retries_and_ends(tmp_path: Path, db_url: str | None) -> None:
    paths = videos(tmp_path / "in", 3)
    first_try: set[str] = set()

    def behave(path: str) -> IndexReport | None:
        name = Path(path).name
        if name == "v01.avi" and name not in first_try:  # a crash: retried
            first_try.add(name)
            return IndexReport(path, "c", "failed", error="the indexing worker crashed (SIGSEGV)")
        if name == "v02.avi":  # a bad file: fails at once
            return IndexReport(path, "c", "failed", error="cannot decode")
        return None

    events: list[tuple[str, int, str]] = []
    with Store.open(tmp_path / "gallery", db_url=db_url) as store:
        ids = [store.jobs.enqueue(p, p.stem).id for p in paths]
        worker = threading.Thread(target=run_worker, args=(store.jobs, FakeIndexer(0.6, behave)),
                                  kwargs={"worker_id": "elsewhere", "job_ids": ids, "poll_s": 0.05,
                                          "progress_s": 0.05, "heartbeat_s": 0.1})
        worker.start()
        try:
            seen = watch_jobs(
                store.jobs, ids, poll_s=0.05,
                on_claim=lambda job: events.append(("claim", job.id, str(job.attempts))),
                on_progress=lambda job, f, m: events.append(("progress", job.id, m)),
                on_final=lambda job, report: events.append(("final", job.id, job.state)),
                on_retry=lambda job, report: events.append(("retry", job.id, report.error or "")))
        finally:
            worker.join(30)
    assert sorted(seen.final) == ids
    states = dict(zip(ids, ["done", "done", "failed"], strict=True))
    assert {i: j.state for i, j in seen.final.items()} == states
    finals = [e for e in events if e[0] == "final"]
    assert sorted(e[1] for e in finals) == ids  # once each
    assert [e for e in events if e[0] == "retry"] == [
        ("retry", ids[1], "the indexing worker crashed (SIGSEGV)")]
    assert ("claim", ids[1], "1") in events and ("claim", ids[1], "2") in events
    assert ("progress", ids[0], "v00.avi: half way") in events
    for job_id in ids:  # per job: claim before progress before the end
        kinds = [e[0] for e in events if e[1] == job_id]
        assert kinds[0] == "claim" and kinds[-1] == "final"


def test_watch_stops_when_no_worker_is_left(tmp_path: Path) -> None:
    (path,) = videos(tmp_path / "in", 1)
    calls: list[int] = []
    with Store.open(tmp_path / "gallery") as store:
        job = store.jobs.enqueue(path, "c")

        def keep_going() -> bool:
            calls.append(1)
            return len(calls) < 3

        seen = watch_jobs(store.jobs, [job.id], poll_s=0.01, keep_going=keep_going)
    assert seen.final == {} and len(calls) == 3
