"""Incremental index persistence: appends go to ``vectors.delta``, the main file is rewritten only
when the delta is merged, and a kill at each step leaves an index that matches the database."""

import json
import os

import numpy as np
import pytest

from reid.store import IndexConfig, Store
from reid.store._sync import CompactionPolicy
from reid.store.index.delta import HEADER_BYTES
from tests.store.helpers import FP, person_gallery, record, unit

_VIDEO = 0


def _add_video(store: Store, n: int = 5, seed: int = 0) -> list[int]:
    """One more video of ``n`` tracklets; returns their ids."""
    global _VIDEO
    _VIDEO += 1
    vid = store.add_video(f"/v{_VIDEO}.mp4", f"h{_VIDEO}", "cam9")
    rng = np.random.default_rng(seed + 1000 * _VIDEO)
    return store.add_tracklets(vid, [record(i, 0, 2) for i in range(n)],
                               unit(rng.standard_normal((n, FP["dim"]))), FP)


def _meta(store: Store) -> dict:
    return json.loads(store.meta_path.read_text())


def _delta(store: Store):
    return store.index_path.with_suffix(".delta")


def _stamp(path):
    st = path.stat()
    return st.st_ino, st.st_size, st.st_mtime_ns


def _consistent(store: Store) -> None:
    """The index holds exactly the database's tracklets, and each finds itself."""
    ids = sorted(t.id for t in store.list_tracklets())
    assert sorted(store.index.ids().tolist()) == ids
    _, got = store.search_vectors(store.get_descriptors(ids), 1)
    assert got[:, 0].tolist() == ids


def test_appends_do_not_rewrite_the_main_file_and_reopen_without_repair(tmp_path):
    with Store.open(tmp_path) as store:
        person_gallery(store, people=20, cameras=2)  # 40 vectors: centred, flat
        main = _stamp(store.index_path)
        sizes = [_delta(store).stat().st_size]
        for _ in range(3):
            _add_video(store, n=5)
            sizes.append(_delta(store).stat().st_size)
        assert _stamp(store.index_path) == main  # vectors.faiss untouched
        # each video appended its own ids and descriptors: 12-byte head + 5 x (8 + 4 x 16) bytes
        assert np.diff(sizes).tolist() == [12 + 5 * (8 + 4 * FP["dim"])] * 3
        assert _meta(store)["delta_bytes"] == sizes[-1] and _meta(store)["count"] == 55
        before = store.search_vectors(store.get_descriptors([1, 2, 3]), 5)
    with Store.open(tmp_path) as store:
        assert not store.repair_report.changed, store.repair_report.actions
        assert store.index.ntotal == 55
        after = store.search_vectors(store.get_descriptors([1, 2, 3]), 5)
        np.testing.assert_array_equal(after[1], before[1])
        np.testing.assert_allclose(after[0], before[0], atol=1e-6)
        _consistent(store)
        _add_video(store)  # appends after the records replayed on opening
        assert _stamp(store.index_path) == main
    with Store.open(tmp_path) as store:
        assert not store.repair_report.changed and store.index.ntotal == 60


def test_removals_are_appended_too(tmp_path):
    with Store.open(tmp_path) as store:
        person_gallery(store, people=20, cameras=2)
        main = _stamp(store.index_path)
        ids = _add_video(store)
        vid = store.get_tracklets(ids)[ids[0]].video_id
        assert store.delete_video(vid) == 5
        assert _stamp(store.index_path) == main
        assert not set(ids) & set(store.index.ids().tolist())
    with Store.open(tmp_path) as store:
        assert not store.repair_report.changed, store.repair_report.actions
        assert not set(ids) & set(store.index.ids().tolist())
        _consistent(store)


def test_the_delta_is_merged_when_due_and_on_demand(tmp_path):
    with Store.open(tmp_path) as store:
        person_gallery(store, people=20, cameras=2)
        main = _stamp(store.index_path)
        store.vectors.compaction = CompactionPolicy(fraction=0.0, min_bytes=1000)
        _add_video(store, n=3)  # 3 x 72 + 12 bytes: below 1000, appended
        assert _stamp(store.index_path) == main and store.vectors.delta_size() == 228
        _add_video(store, n=12)  # past 1000 bytes: merged into vectors.faiss
        assert _stamp(store.index_path) != main
        assert _delta(store).stat().st_size == HEADER_BYTES and _meta(store)["delta_bytes"] == 0
        _add_video(store, n=2)
        assert store.vectors.delta_size() > 0
        assert store.vectors.compact() and store.vectors.delta_size() == 0
        assert not store.vectors.compact()  # nothing left to merge
    with Store.open(tmp_path) as store:
        assert not store.repair_report.changed and store.index.ntotal == 57
        _consistent(store)


def test_a_restructured_index_is_written_whole(tmp_path):
    """Doubling a flat gallery recentres it: every stored vector changes, so no delta."""
    with Store.open(tmp_path) as store:
        person_gallery(store, people=20, cameras=2)  # centred on 40
        main = _stamp(store.index_path)
        _add_video(store, n=45)  # 85 >= 2 x 40: recentred, rewritten
        assert store.index.centre_count == 85
        assert _stamp(store.index_path) != main and store.vectors.delta_size() == 0
    with Store.open(tmp_path) as store:
        assert not store.repair_report.changed and store.index.centre_count == 85


def test_galleries_without_a_delta_still_open_and_start_one(tmp_path):
    with Store.open(tmp_path) as store:
        person_gallery(store, people=20, cameras=2)
    meta = json.loads((tmp_path / "vectors.json").read_text())
    del meta["delta_bytes"]  # vectors.json as the previous version wrote it
    (tmp_path / "vectors.json").write_text(json.dumps(meta))
    (tmp_path / "vectors.delta").unlink()
    with Store.open(tmp_path) as store:
        assert not store.repair_report.changed
        main = _stamp(store.index_path)
        _add_video(store)
        assert _stamp(store.index_path) == main and store.vectors.delta_size() > 0
    with Store.open(tmp_path) as store:
        assert not store.repair_report.changed and store.index.ntotal == 45


def test_another_process_sees_appended_videos_on_reload(tmp_path, monkeypatch):
    with Store.open(tmp_path) as writer, Store.open(tmp_path) as reader:
        person_gallery(writer, people=20, cameras=2)
        reader.check_index()
        loaded = reader.index
        ids = _add_video(writer)
        more = _add_video(writer)
        vid = writer.get_tracklets(ids)[ids[0]].video_id
        writer.delete_video(vid)
        from reid.store.index import VectorIndex

        def no_reload(*args, **kwargs):
            raise AssertionError("the main file was read again")

        with monkeypatch.context() as m:
            m.setattr(VectorIndex, "load", no_reload)
            report = reader.check_index()  # what a server does when vectors.json changed
        assert not report.changed and reader.index is loaded  # only the new records were read
        have = set(reader.index.ids().tolist())
        assert set(more) <= have and not set(ids) & have
        assert not reader.check_index().changed  # nothing new: nothing read
        writer.vectors.compact()  # a new main file: loaded anew
        assert not reader.check_index().changed and reader.index is not loaded
        _consistent(reader)


def _killed(*args, **kwargs):
    raise KeyboardInterrupt("simulated kill -9")


def test_kill_in_the_middle_of_an_append(tmp_path, monkeypatch):
    """A record cut short (the process died inside ``write``) is ignored; the database refills it."""
    import reid.store.index.delta as delta

    with Store.open(tmp_path) as store:
        person_gallery(store, people=20, cameras=2)
        _add_video(store)
        real_write = os.write

        def half_then_die(fd, data):
            real_write(fd, bytes(data[: len(data) // 2]))
            raise KeyboardInterrupt("simulated kill -9 inside the append")

        monkeypatch.setattr(delta.os, "write", half_then_die)
        with pytest.raises(KeyboardInterrupt):
            _add_video(store)
        monkeypatch.undo()
    with Store.open(tmp_path) as store:
        report = store.repair_report
        assert report.added == 5 and not report.rebuilt, report.actions
        _consistent(store)
        assert store.index.ntotal == 50 and store.vectors.delta_size() == 0  # merged by the repair
    with Store.open(tmp_path) as store:
        assert not store.repair_report.changed


def test_kill_after_the_append_before_vectors_json(tmp_path, monkeypatch):
    with Store.open(tmp_path) as store:
        person_gallery(store, people=20, cameras=2)
        monkeypatch.setattr("reid.store._sync.atomic_write_bytes", _killed)
        with pytest.raises(KeyboardInterrupt):
            _add_video(store)
        monkeypatch.undo()
    with Store.open(tmp_path) as store:
        assert store.repair_report.added == 5 and not store.repair_report.rebuilt
        _consistent(store)


def test_kill_while_merging_after_the_main_file_before_vectors_json(tmp_path, monkeypatch):
    from reid.store.index import VectorIndex

    with Store.open(tmp_path) as store:
        person_gallery(store, people=20, cameras=2)
        _add_video(store)
        real_save = VectorIndex.save

        def save_then_die(self, path):
            real_save(self, path)
            raise KeyboardInterrupt("simulated kill -9 after renaming the new vectors.faiss")

        monkeypatch.setattr(VectorIndex, "save", save_then_die)
        with pytest.raises(KeyboardInterrupt):
            store.vectors.compact()
        monkeypatch.undo()
    with Store.open(tmp_path) as store:  # vectors.json describes the old file: rebuilt
        assert store.repair_report.rebuilt
        _consistent(store)
    with Store.open(tmp_path) as store:
        assert not store.repair_report.changed


def test_kill_while_merging_after_vectors_json_before_the_new_delta(tmp_path, monkeypatch):
    with Store.open(tmp_path) as store:
        person_gallery(store, people=20, cameras=2)
        _add_video(store)
        monkeypatch.setattr("reid.store._sync.start_delta", _killed)
        with pytest.raises(KeyboardInterrupt):
            store.vectors.compact()
        monkeypatch.undo()
        assert _delta(store).stat().st_size > HEADER_BYTES  # the old delta is still there
    with Store.open(tmp_path) as store:  # it follows the old main file: ignored, nothing lost
        assert not store.repair_report.changed, store.repair_report.actions
        _consistent(store)
        main = _stamp(store.index_path)
        _add_video(store)  # starts a new delta
        assert _stamp(store.index_path) == main
    with Store.open(tmp_path) as store:
        assert not store.repair_report.changed and store.index.ntotal == 50
        _consistent(store)


def test_a_damaged_record_is_refilled_from_the_database(tmp_path):
    with Store.open(tmp_path) as store:
        person_gallery(store, people=20, cameras=2)
        first = _add_video(store)
        _add_video(store)
    data = bytearray((tmp_path / "vectors.delta").read_bytes())
    data[HEADER_BYTES + 12 + 8 * 5 + 3] ^= 0xFF  # a byte of the first record's descriptors
    (tmp_path / "vectors.delta").write_bytes(bytes(data))
    with Store.open(tmp_path) as store:
        report = store.repair_report
        assert report.added == 10 and not report.rebuilt, report.actions
        assert any("checksum" in a for a in report.actions)
        assert set(first) <= set(store.index.ids().tolist())
        _consistent(store)


@pytest.mark.parametrize("kind", ["ivfsq", "hnsw"])
def test_approximate_kinds_append_and_replay(tmp_path, kind):
    cfg = IndexConfig(kind=kind, approx_min_size=60, ivf_nlist=2, pca_dim=8, refine="fp16")
    with Store.open(tmp_path, index_config=cfg) as store:
        person_gallery(store, people=40, cameras=2)  # 80 vectors: the approximate kind
        assert store.index.kind == kind
        main = _stamp(store.index_path)
        ids = _add_video(store)
        assert _stamp(store.index_path) == main
        vid = store.get_tracklets(ids)[ids[0]].video_id
        store.delete_video(vid)
        # HNSW graphs cannot remove in place: rebuilt, so written whole
        assert (_stamp(store.index_path) == main) == (kind == "ivfsq")
        _add_video(store)
        before = store.search_vectors(store.get_descriptors([1, 2, 3]), 5)[1]
    with Store.open(tmp_path, index_config=cfg) as store:
        assert not store.repair_report.changed, store.repair_report.actions
        np.testing.assert_array_equal(store.search_vectors(store.get_descriptors([1, 2, 3]), 5)[1],
                                      before)
        _consistent(store)


def test_the_layout_names_the_delta_and_keeps_it_private(tmp_path):
    from reid.store import GalleryLayout
    from reid.store._sync import delta_path

    layout = GalleryLayout.of(tmp_path)
    assert layout.index_delta == delta_path(layout.index)
    assert layout.index_delta.name in GalleryLayout.private_names()  # descriptors: never served
