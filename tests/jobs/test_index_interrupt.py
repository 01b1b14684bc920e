"""An interrupted ``reid index`` stops its indexing: its jobs not yet done are cancelled, not left
pending for any other worker; what was done stays done."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from app.commands.index import _index_all
from reid.store import Store
from tests.jobs.test_queue import videos


class _Gallery:
    """What ``_index_all`` needs of a service: the data dir, the store, a status."""

    def __init__(self, store: Store) -> None:
        self.store, self.data_dir = store, store.data_dir

    def status(self):
        return argparse.Namespace(notes=[], videos=0, tracklets=0, data_dir=self.data_dir)


def test_ctrl_c_cancels_the_files_not_yet_indexed(tmp_path: Path, capsys) -> None:
    files = videos(tmp_path / "footage", 3)
    store = Store.open(tmp_path / "data")
    args = argparse.Namespace(paths=[str(tmp_path / "footage")], camera=None, max_attempts=2)

    def run_one_then_interrupt(queue, job_ids, on_final, **_callbacks):
        job = queue.claim("w1", job_ids=job_ids[:1])
        queue.finish(job.id, "w1", result={"status": "indexed", "tracklets": 1})
        raise KeyboardInterrupt

    try:
        with pytest.raises(KeyboardInterrupt):
            _index_all(_Gallery(store), args, None, run_jobs=run_one_then_interrupt)
        jobs = store.jobs.list()
        assert [j.state for j in jobs] == ["done", "failed", "failed"]
        assert all("interrupted" in (j.error or "") for j in jobs[1:])
        assert store.jobs.claim("w2") is None  # nothing left for another worker
        assert "2 file(s) not indexed" in capsys.readouterr().out
        # the next run enqueues the cancelled files again
        assert store.jobs.enqueue(files[1]).state == "pending"
    finally:
        store.close()
