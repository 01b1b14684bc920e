"""Searches read tracklet rows from a cache (``reid.service._rows``) and write their audit entries
in the background (``reid.service._audit``): every change of the gallery is seen by the next
search, and no audit entry is lost."""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
import pytest

from reid.service import ReidService, SearchRequest
from reid.service._audit import AuditWriter
from reid.service._rows import CachedGallery
from reid.store import Store
from tests.service.conftest import OracleEmbedder
from tests.support.synthetic import GroundTruthDetector
from tracking import load_tracking_config


def _service(data_dir, scenes, db_url=None, index_source="files") -> ReidService:
    store = Store.open(data_dir, db_url=db_url, index_source=index_source)
    if index_source == "database":
        store.vectors._follower.min_interval_s = 0.0  # see another server's writes at once
    return ReidService(store, GroundTruthDetector(scenes[0]), OracleEmbedder(scenes),
                       load_tracking_config("bytetrack"))


@pytest.fixture(params=["sqlite-files", pytest.param("postgresql-database", marks=pytest.mark.postgres)])
def catalogue(request, tmp_path):
    """How the services of a test open the gallery: ``(data_dir, other_data_dir, options)``. SQLite:
    one data dir, the index in its files. PostgreSQL: each server its own data dir, the index
    built from the shared database and following it."""
    if request.param == "sqlite-files":
        return tmp_path / "data", tmp_path / "data", {}
    options = {"db_url": request.getfixturevalue("postgres_url"), "index_source": "database"}
    return tmp_path / "data", tmp_path / "other", options


def _index(service: ReidService, scene, root) -> int:
    service.detector = GroundTruthDetector(scene)
    report = service.index_video(scene.write_video(root / f"{scene.camera_id}.avi"),
                                 camera=scene.camera_id)
    assert report.status == "indexed", report
    assert report.video_id is not None
    return report.video_id


def _cameras(service: ReidService, query: int) -> set[str]:
    response = service.search(SearchRequest(tracklet_id=query, top_k=50))
    return {m.tracklet.camera for m in response.matches}


def test_searches_see_every_change_of_the_gallery(tmp_path, scenes, catalogue):
    data, other_data, options = catalogue
    service = _service(data, scenes, **options)
    try:
        _index(service, scenes[0], tmp_path)
        query = service.list_tracklets()[0].id
        assert "cam1" not in _cameras(service, query)
        assert "cam1" not in _cameras(service, query)
        assert service._rows.hits > 0  # the second search was served from the cache

        # a video indexed here: its people are found at once
        video_1 = _index(service, scenes[1], tmp_path)
        assert "cam1" in _cameras(service, query)
        gone = [t.id for t in service.list_tracklets(video_id=video_1)]
        assert service.get_tracklet(gone[0]).camera == "cam1"  # now cached

        # ... deleted by another process (another service on the same gallery)
        other = _service(other_data, scenes, **options)
        try:
            other.delete_video(video_1)
        finally:
            other.store.close()
        assert "cam1" not in _cameras(service, query)
        with pytest.raises(KeyError):
            service.get_tracklet(gone[0])

        # ... indexed again and deleted here
        video_1 = _index(service, scenes[1], tmp_path)
        assert "cam1" in _cameras(service, query)
        # feedback: a rejected candidate leaves the results of the next search
        first = service.search(SearchRequest(tracklet_id=query, top_k=5)).matches[0].tracklet.id
        service.add_feedback(query, first, same=False)
        after = service.search(SearchRequest(tracklet_id=query, top_k=5))
        assert first not in [m.tracklet.id for m in after.matches]

        again = [t.id for t in service.list_tracklets(video_id=video_1)]
        service.get_tracklet(again[0])
        service.delete_video(video_1)
        assert "cam1" not in _cameras(service, query)
        with pytest.raises(KeyError):
            service.get_tracklet(again[0])
    finally:
        service.close()
        service.store.close()


def test_reindexing_is_seen_by_the_next_search(tmp_path, scenes, catalogue):
    data, _, options = catalogue
    service = _service(data, scenes, **options)
    try:
        _index(service, scenes[0], tmp_path)
        query = service.list_tracklets()[0].id
        assert service.get_tracklet(query).has_descriptor
        service.store.reset_index(dict(service.embedder.fingerprint, weights="other"))
        with pytest.raises(KeyError):  # no descriptor until re-embedded
            service.search(SearchRequest(tracklet_id=query))
        assert not service.get_tracklet(query).has_descriptor
        assert service.reindex() >= 1
        assert service.get_tracklet(query).has_descriptor
        assert "cam1" not in _cameras(service, query)
    finally:
        service.close()
        service.store.close()


def test_deferred_audit_entries_are_all_written_by_close(tmp_path, scenes):
    service = _service(tmp_path / "data", scenes)
    _index(service, scenes[0], tmp_path)
    ids = [t.id for t in service.list_tracklets()]
    service.defer_audit()
    slow = service.store.log_action

    def log_action(*args, **kwargs):  # a slow database: the searches must not wait for it
        time.sleep(0.05)
        slow(*args, **kwargs)

    service.store.log_action = log_action  # type: ignore[method-assign]
    t0 = time.perf_counter()
    queries = [ids[i % len(ids)] for i in range(20)]
    results = [len(service.search(SearchRequest(tracklet_id=q, top_k=3), actor=f"user{i}").matches)
               for i, q in enumerate(queries)]
    assert time.perf_counter() - t0 < 20 * 0.05  # searches did not wait for the commits
    service.add_feedback(ids[0], ids[1], same=True, actor="judge")
    service.close()
    entries = service.store.audit_entries(limit=1000)[::-1]  # oldest first
    searches = [e for e in entries if e.action == "search"]
    assert [(e.actor, e.details["tracklet_id"], e.details["results"]) for e in searches] == \
        [(f"user{i}", q, n) for i, (q, n) in enumerate(zip(queries, results, strict=True))]
    assert searches[0].details == {"tracklet_id": queries[0], "images": 0, "results": results[0],
                                   "cameras": None}
    assert entries[-1].action == "feedback" and entries[-1].actor == "judge"  # order kept
    service.store.close()


class _SlowStore:
    def __init__(self, fail: int = 0) -> None:
        self.entries: list[tuple] = []
        self.fail = fail
        self.gate = threading.Event()

    def log_action(self, actor, action, details=None):
        self.gate.wait(5)
        if self.fail:
            self.fail -= 1
            raise RuntimeError("database is locked")
        self.entries.append((actor, action, details))


def test_audit_writer_flush_close_and_retries(caplog):
    store = _SlowStore()
    writer = AuditWriter(store, retry_s=0.0)  # type: ignore[arg-type]
    for i in range(5):
        writer.submit("u", "search", {"i": i})  # returns while the store is blocked
    assert writer.pending == 5 and store.entries == []
    assert not writer.flush(timeout=0.05)
    store.gate.set()
    assert writer.flush(timeout=5) and writer.pending == 0
    assert [d["i"] for _, _, d in store.entries] == list(range(5))

    store.fail = 2  # two failures, then it works: retried, not lost
    writer.submit("u", "search", {"i": 5})
    writer.close()
    assert store.entries[-1] == ("u", "search", {"i": 5})
    writer.submit("u", "export", {"i": 6})  # after close: written synchronously
    assert store.entries[-1] == ("u", "export", {"i": 6})

    store.fail = 5  # never works: reported with its content
    with caplog.at_level(logging.ERROR, logger="reid.service._audit"):
        writer.submit("u", "search", {"i": 7})
    assert "NOT recorded" in caplog.text and '"i": 7' in caplog.text


class _BatchStore(_SlowStore):
    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    def log_actions(self, entries):
        self.gate.wait(5)
        self.batches.append(len(entries))
        self.entries.extend(entries)


def test_audit_writer_writes_what_was_queued_meanwhile_in_one_transaction():
    store = _BatchStore()
    writer = AuditWriter(store)  # type: ignore[arg-type]
    writer.submit("u", "search", {"i": 0})  # taken alone; the store holds it at the gate
    deadline = time.monotonic() + 5
    while writer._pending and time.monotonic() < deadline:
        time.sleep(0.01)
    for i in range(1, 6):
        writer.submit("u", "search", {"i": i})
    store.gate.set()
    assert writer.flush(timeout=5)
    assert store.batches == [5]
    assert [d["i"] for _, _, d in store.entries] == list(range(6))
    writer.close()


class _CountingStore:
    def __init__(self, rows: dict) -> None:
        self.rows = rows
        self.calls: list[list[int]] = []
        self.during_fetch = lambda: None

    def get_tracklets(self, ids):
        self.calls.append(list(ids))
        self.during_fetch()
        return {i: self.rows[i] for i in ids if i in self.rows}


def test_row_cache_reads_each_row_once_until_the_gallery_changes():
    store = _CountingStore({1: "a", 2: "b", 3: "c"})
    stamp = [1]
    cache = CachedGallery(store, lambda: stamp[0])  # type: ignore[arg-type]
    assert cache.get_tracklets([1, 2, 9]) == {1: "a", 2: "b"}
    assert cache.get_tracklets([2, 1, 3]) == {1: "a", 2: "b", 3: "c"}
    assert store.calls == [[1, 2, 9], [3]]  # absent ids are asked again, present ones not

    store.rows[1] = "A"
    stamp[0] = 2  # the index file changed (another process wrote)
    assert cache.get_tracklets([1]) == {1: "A"}
    store.rows[1] = "AA"
    cache.invalidate()  # our own write
    assert cache.get_tracklets([1]) == {1: "AA"}

    # rows read while the gallery changed are returned but not kept
    store.during_fetch = cache.invalidate
    assert cache.get_tracklets([2]) == {2: "b"}
    store.during_fetch = lambda: None
    store.rows[2] = "B"
    assert cache.get_tracklets([2]) == {2: "B"}

    small = CachedGallery(store, lambda: 0, max_rows=2)  # type: ignore[arg-type]
    small.get_tracklets([1, 2, 3])
    store.calls.clear()
    small.get_tracklets([3, 2])
    assert store.calls == []
    small.get_tracklets([1])
    assert store.calls == [[1]]  # the least recently used was dropped


class _ListingStore(_CountingStore):
    """Rows are objects with an ``id``, listed as the store lists them."""

    def __init__(self, n: int) -> None:
        from types import SimpleNamespace

        super().__init__({i: SimpleNamespace(id=i, name=f"t{i}") for i in range(1, n + 1)})
        self.listed = 0
        self.during_list = lambda: None

    def list_tracklets(self, limit=None):
        self.listed += 1
        self.during_list()
        return list(self.rows.values())[:limit]


def test_warming_reads_the_whole_gallery_once_when_it_fits():
    store = _ListingStore(5)
    cache = CachedGallery(store, lambda: 0, max_rows=5)  # type: ignore[arg-type]
    assert cache.warm() == 5
    assert cache.get_tracklets([1, 5, 9]) == {1: store.rows[1], 5: store.rows[5]}
    assert store.calls == [[9]]  # only the absent id went to the database

    too_big = CachedGallery(_ListingStore(6), lambda: 0, max_rows=5)  # type: ignore[arg-type]
    assert too_big.warm() == 0 and too_big.get_tracklets([1]) and too_big.misses == 1

    changing = _ListingStore(3)
    cache = CachedGallery(changing, lambda: 0)  # type: ignore[arg-type]
    changing.during_list = cache.invalidate  # the gallery changed while it was read
    assert cache.warm() == 0
    cache.get_tracklets([1])
    assert cache.misses == 1


def test_descriptor_cache_reads_a_query_once_until_the_gallery_changes():
    calls: list[list[int]] = []
    stamp = [1]

    class _Store:
        def get_descriptors(self, ids):
            calls.append(list(ids))
            return np.array([[float(i), 1.0] for i in ids], np.float32)

    cache = CachedGallery(_Store(), lambda: stamp[0])  # type: ignore[arg-type]
    np.testing.assert_array_equal(cache.get_descriptors([3, 5]), [[3, 1], [5, 1]])
    np.testing.assert_array_equal(cache.get_descriptors([5, 3, 7]), [[5, 1], [3, 1], [7, 1]])
    assert calls == [[3, 5], [7]]
    assert cache.get_descriptors([]).shape[0] == 0
    stamp[0] = 2  # the gallery changed (e.g. re-indexed): read again
    cache.get_descriptors([3])
    assert calls[-1] == [3]


def test_a_server_warms_its_index_from_the_database_before_the_first_search(tmp_path, scenes,
                                                                             catalogue):
    data, other_data, options = catalogue
    writer = _service(other_data, scenes, **options)
    try:
        _index(writer, scenes[0], tmp_path)
        n = len(writer.list_tracklets())
    finally:
        writer.close()
        writer.store.close()
    server = _service(data, scenes, **options)
    try:
        assert server.warm_search_cache() == n  # every row read ahead
        if options.get("index_source") == "database":
            assert server.store.vectors._follower.index.ntotal == n  # built before any search
    finally:
        server.close()
        server.store.close()


@pytest.mark.postgres
def test_a_worker_on_a_database_sourced_index_never_builds_it(tmp_path, scenes, postgres_url):
    worker = _service(tmp_path / "worker", scenes, db_url=postgres_url, index_source="database")
    try:
        _index(worker, scenes[0], tmp_path)
        _index(worker, scenes[1], tmp_path)
        assert worker.store.vectors._follower.index is None  # writing needs no index in memory
        assert worker.store.stats()["vectors"] == len(worker.list_tracklets())  # counted in SQL
    finally:
        worker.close()
        worker.store.close()
