"""A vector index built from the database and following it by id watermark (``reid.store._follow``):
a search server sharing a catalogue with writers elsewhere sees their appends, deletions and
re-indexing, reads and writes no index file, and never misses an append that commits late."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import numpy as np
import pytest

from reid.store import Store
from reid.store._version import lock_for_append
from tests.store.helpers import FP, person_gallery, record, unit


@contextmanager
def _opened_pair(tmp_path, db_url):
    """A writer (index files in ``w/``) and a follower (database-sourced index, data dir ``r/``)
    on one catalogue, closed after the block."""
    url = db_url or f"sqlite:///{tmp_path / 'w' / 'reid.db'}"
    with Store.open(tmp_path / "w", db_url=url) as writer, \
            Store.open(tmp_path / "r", db_url=url, index_source="database") as follower:
        yield writer, follower


def _add_video(store, name, vectors):
    vid = store.add_video(f"/videos/{name}.mp4", f"hash-{name}", name, fps=10.0, duration_s=60.0)
    return store.add_tracklets(vid, [record(i, 1.0, 5.0) for i in range(len(vectors))],
                               vectors, FP), vid


def test_follower_sees_appends_deletions_and_reindexing(tmp_path, db_url):
    with _opened_pair(tmp_path, db_url) as (writer, follower):
        truth = person_gallery(writer, people=5, cameras=3)
        assert follower.stats()["vectors"] == 15  # counted in the database, index not built yet
        q = writer.get_descriptors(list(truth))
        _, ids = follower.search_vectors(q, 1)
        assert ids[:, 0].tolist() == list(truth)
        assert not (tmp_path / "r" / "vectors.faiss").exists()
        assert follower.stats()["index_source"] == "database"

        rng = np.random.default_rng(1)
        new = unit(rng.standard_normal((4, FP["dim"])))
        new_ids, new_vid = _add_video(writer, "late", new)
        report = follower.vectors.follow(force=True)
        assert (report.added, report.rebuilt) == (4, False)  # only the rows above the watermark
        _, ids = follower.search_vectors(new, 1)
        assert ids[:, 0].tolist() == new_ids

        writer.delete_video(new_vid)
        report = follower.vectors.follow(force=True)
        assert report.removed == 4
        _, ids = follower.search_vectors(new, 20)
        assert not set(ids.ravel().tolist()) & set(new_ids)
        assert follower.index.ntotal == 15

        fp2 = dict(FP, model="other")
        writer.reset_index(fp2)
        todo = writer.tracklets_without_descriptor()
        writer.set_descriptors(todo, unit(rng.standard_normal((len(todo), FP["dim"]))), fp2)
        report = follower.vectors.follow(force=True)
        assert report.rebuilt and follower.index.ntotal == len(todo)
        _, ids = follower.search_vectors(writer.get_descriptors(todo[:3]), 1)
        assert ids[:, 0].tolist() == todo[:3]  # the new embedder's vectors, not the old


def test_follower_refreshes_on_search_after_its_interval(tmp_path, db_url):
    with _opened_pair(tmp_path, db_url) as (writer, follower):
        rng = np.random.default_rng(2)
        first = unit(rng.standard_normal((3, FP["dim"])))
        _add_video(writer, "a", first)
        follower.search_vectors(first, 1)  # builds the index
        second = unit(rng.standard_normal((3, FP["dim"])))
        ids2, _ = _add_video(writer, "b", second)
        follower.vectors._follower.min_interval_s = 60.0
        _, ids = follower.search_vectors(second, 1)
        assert not set(ids[:, 0].tolist()) & set(ids2)  # within the interval: not read yet
        follower.vectors._follower.min_interval_s = 0.0
        _, ids = follower.search_vectors(second, 1)
        assert ids[:, 0].tolist() == ids2


def test_own_writes_are_searchable_at_once_and_write_no_index_file(tmp_path, db_url):
    url = db_url or f"sqlite:///{tmp_path / 'reid.db'}"
    with Store.open(tmp_path, db_url=url, index_source="database") as store:
        store.vectors._follower.min_interval_s = 3600.0
        rng = np.random.default_rng(3)
        for name in ("a", "b"):
            x = unit(rng.standard_normal((3, FP["dim"])))
            ids, _ = _add_video(store, name, x)
            _, found = store.search_vectors(x, 1)
            assert found[:, 0].tolist() == ids
        assert store.vectors.compact() is False
        assert not (tmp_path / "vectors.faiss").exists() and not (tmp_path / "vectors.json").exists()


@pytest.mark.postgres
def test_appends_commit_in_id_order(tmp_path, postgres_url):
    """An append waits for an earlier appending transaction, so a follower that has seen id n
    has seen every id below n: the late commit of a lower id is never skipped by the watermark."""
    with _opened_pair(tmp_path, postgres_url) as (writer, follower):
        rng = np.random.default_rng(4)
        vid = writer.add_video("/videos/x.mp4", "hash-x", "x")
        done = threading.Event()
        held = writer.database._factory()  # an appending transaction that has not committed yet
        lock_for_append(held)

        def append():
            writer.add_tracklets(vid, [record(0, 1.0, 2.0)], unit(rng.standard_normal((1, 16))), FP)
            done.set()

        thread = threading.Thread(target=append)
        thread.start()
        time.sleep(1.0)
        assert not done.is_set()  # waits for the held transaction
        held.commit()
        held.close()
        thread.join(30)
        assert done.is_set()
        assert follower.vectors.follow(force=True).added == 1


def test_searches_do_not_wait_for_a_refresh_reading_the_database(tmp_path, db_url):
    with _opened_pair(tmp_path, db_url) as (writer, follower):
        rng = np.random.default_rng(5)
        x, y = unit(rng.standard_normal((4, FP["dim"]))), unit(rng.standard_normal((4, FP["dim"])))
        ids_x, _ = _add_video(writer, "a", x)
        follower.search_vectors(x, 1)  # the index is built
        ids_y, _ = _add_video(writer, "b", y)
        reader = follower.vectors._descriptors
        real, entered, gate = reader.chunks_above, threading.Event(), threading.Event()

        def slow(watermark):  # a refresh stuck reading the database
            entered.set()
            gate.wait(10)
            yield from real(watermark)

        reader.chunks_above = slow
        refresh = threading.Thread(target=follower.vectors.follow, kwargs={"force": True})
        refresh.start()
        assert entered.wait(5)
        t0 = time.perf_counter()
        _, found = follower.search_vectors(x, 1)
        assert time.perf_counter() - t0 < 1.0  # searched the index as it was, without waiting
        assert found[:, 0].tolist() == ids_x
        gate.set()
        refresh.join(10)
        _, found = follower.search_vectors(y, 1)
        assert found[:, 0].tolist() == ids_y


def test_compare_ids_finds_extra_and_missing_ids_in_any_order():
    from reid.store._descriptors import compare_ids

    rng = np.random.default_rng(0)
    for scale in (1, 10**6):  # dense ids (a lookup table) and sparse ones (sorting)
        want = np.arange(1, 5001, dtype=np.int64) * scale
        have = rng.permutation(np.concatenate([np.delete(want, [3, 70, 4999]), [5001 * scale]]))
        extra, missing = compare_ids(have, want)
        assert extra.tolist() == [5001 * scale]
        assert missing.tolist() == [4 * scale, 71 * scale, 5000 * scale]
    extra, missing = compare_ids(np.zeros(0, np.int64), np.array([2, 1]))
    assert extra.size == 0 and missing.tolist() == [1, 2]
