"""Store: round trips, fingerprints, index repair after crashes and damage, deletion."""

import hashlib
import json

import numpy as np
import pytest

from reid.store import (
    DuplicateVideoError,
    FingerprintMismatchError,
    GalleryLayout,
    SchemaMismatchError,
    Store,
    sha256_file,
)
from tests.store.helpers import FP, T0, execute_sql, person_gallery, record, unit


def test_roundtrip_and_reopen(tmp_path, db_url):
    crop = tmp_path / "crops" / "c.jpg"
    crop.parent.mkdir(parents=True)
    crop.write_bytes(b"jpeg")
    with Store.open(tmp_path, db_url=db_url) as store:
        vid = store.add_video("/v.mp4", "h", "door", fps=10.0, duration_s=30.0, start_time=T0)
        rec = record(7, 2.0, 4.5, crops=(crop,), thumb="crops/c.jpg")
        desc = np.arange(16, dtype=np.float32)[None] + 1
        (tid,) = store.add_tracklets(vid, [rec], desc, FP)
    assert (tmp_path / "reid.db").exists() == (db_url is None)  # PostgreSQL: no file here
    assert (tmp_path / "vectors.faiss").exists()
    meta = json.loads((tmp_path / "vectors.json").read_text())
    assert meta["fingerprint"] == FP and meta["count"] == 1 and meta["dim"] == 16
    with Store.open(tmp_path, db_url=db_url) as store:
        assert not store.repair_report.changed
        info = store.get_tracklets([tid])[tid]
        assert (info.track_id, info.camera, info.first_frame, info.last_frame) == (7, "door", 20, 45)
        assert info.crop_paths == (crop,) and info.thumbnail_path == crop
        assert info.start_time == T0.replace(second=2) and info.duration_s == pytest.approx(2.5)
        frames, boxes = store.get_boxes(tid)
        np.testing.assert_array_equal(frames, rec.frames)
        np.testing.assert_allclose(boxes, rec.boxes_xyxy)
        np.testing.assert_allclose(store.get_descriptors([tid])[0], unit(desc[0]), rtol=1e-6)
        assert store.get_video(vid).status == "done"
        _, ids = store.search_vectors(unit(desc), 1)
        assert ids[0, 0] == tid
        assert store.stats()["tracklets"] == 1


def test_duplicate_hash_and_sha256(tmp_path, db_url):
    f = tmp_path / "a.bin"
    f.write_bytes(b"x" * 3_000_000)
    h = sha256_file(f, chunk_bytes=1 << 16)
    assert h == hashlib.sha256(f.read_bytes()).hexdigest()
    with Store.open(tmp_path / "g", db_url=db_url) as store:
        vid = store.add_video(f, h, "c")
        with pytest.raises(DuplicateVideoError) as err:
            store.add_video("/other/path.mp4", h, "c")
        assert err.value.video_id == vid and store.find_video(h).id == vid


def test_fingerprint_mismatch_is_refused_with_reindex_hint(tmp_path, db_url):
    with Store.open(tmp_path, db_url=db_url) as store:
        person_gallery(store, people=2, cameras=1)
        vid = store.add_video("/b.mp4", "hb", "cam9")
        other = dict(FP, weights_sha256="ffff")
        with pytest.raises(FingerprintMismatchError, match="reid reindex"):
            store.add_tracklets(vid, [record(1, 0, 1)], np.ones((1, 16)), other)
        assert store.list_tracklets(video_id=vid) == []


def test_reset_index_then_reembed(tmp_path, db_url):
    with Store.open(tmp_path, db_url=db_url) as store:
        truth = person_gallery(store, people=3, cameras=2)
        new_fp = {"model": "other", "dim": 8}
        assert store.reset_index(new_fp) == len(truth)
        assert store.index.ntotal == 0 and store.fingerprint == new_fp
        todo = store.tracklets_without_descriptor()
        store.set_descriptors(todo, np.random.default_rng(0).standard_normal((len(todo), 8)),
                              new_fp)
        assert store.index.ntotal == len(truth) and store.tracklets_without_descriptor() == []
        assert store.audit_entries(action="reindex")[0].details["tracklets"] == len(truth)
    with Store.open(tmp_path, db_url=db_url) as store:
        assert not store.repair_report.changed and store.index.dim == 8


@pytest.mark.parametrize("damage", ["missing", "corrupt", "stale", "json_missing", "json_other_fp"])
def test_repair_on_open(tmp_path, damage, db_url):
    with Store.open(tmp_path, db_url=db_url) as store:
        truth = person_gallery(store, people=4, cameras=2)
    index, meta = tmp_path / "vectors.faiss", tmp_path / "vectors.json"
    if damage == "missing":
        index.unlink()
    elif damage == "corrupt":
        index.write_bytes(index.read_bytes()[:100])
    elif damage == "stale":  # an older index: fewer vectors, plus an id the DB never had
        with Store.open(tmp_path, db_url=db_url) as store:
            store.index.remove(list(truth)[:3])
            store.index.add([9999], unit(np.ones((1, 16))))
            store.index.save(index)
    elif damage == "json_missing":
        meta.unlink()
    else:
        meta.write_text(json.dumps({"fingerprint": {"dim": 16, "model": "x"}, "count": 8}))
    with Store.open(tmp_path, db_url=db_url) as store:
        assert store.repair_report.changed, damage
        assert sorted(store.index.ids().tolist()) == sorted(truth)
        tid = next(iter(truth))
        assert store.search_vectors(store.get_descriptors([tid]), 1)[1][0, 0] == tid
    with Store.open(tmp_path, db_url=db_url) as store:
        assert not store.repair_report.changed


def test_kill_between_commit_and_index_save(tmp_path, monkeypatch, db_url):
    with Store.open(tmp_path, db_url=db_url) as store:
        person_gallery(store, people=2, cameras=1)
        vid = store.add_video("/late.mp4", "late", "cam7")

        def killed(*args, **kwargs):
            raise KeyboardInterrupt("simulated kill -9 after the DB commit")

        monkeypatch.setattr("reid.store._vectors.write_index_files", killed)
        with pytest.raises(KeyboardInterrupt):
            store.add_tracklets(vid, [record(1, 0, 2), record(2, 0, 3)], np.eye(2, 16), FP)
    monkeypatch.undo()
    with Store.open(tmp_path, db_url=db_url) as store:
        report = store.repair_report
        assert report.added == 2 and not report.rebuilt
        assert store.index.ntotal == 4 == store.stats()["tracklets"]
        assert store.get_video(vid).status == "done"


def test_delete_video_removes_rows_vectors_feedback_and_crops(tmp_path, db_url):
    with Store.open(tmp_path, db_url=db_url) as store:
        truth = person_gallery(store, people=3, cameras=2)
        vid = store.add_video("/x.mp4", "hx", "cam0")
        crop_dir = store.crop_dir(vid, 1)
        (crop_dir / "0.jpg").write_bytes(b"j")
        (tid,) = store.add_tracklets(vid, [record(1, 0, 2, crops=(crop_dir / "0.jpg",),
                                                 thumb=crop_dir / "0.jpg")], np.ones((1, 16)), FP)
        store.add_feedback(next(iter(truth)), tid, same=False)
        assert store.delete_video(vid) == 1
        assert not crop_dir.exists() and store.get_tracklets([tid]) == {}
        assert tid not in store.index.ids() and store.get_feedback(next(iter(truth))) == ([], [])
        with pytest.raises(KeyError):
            store.get_video(vid)
        assert store.index.ntotal == len(truth)
    with Store.open(tmp_path, db_url=db_url) as store:
        assert not store.repair_report.changed


def test_schema_version_mismatch_is_a_clear_error(tmp_path, db_url):
    Store.open(tmp_path, db_url=db_url).close()
    execute_sql(db_url or GalleryLayout.of(tmp_path).db_url, "UPDATE schema_version SET version = 99")
    with pytest.raises(SchemaMismatchError, match="schema version"):
        Store.open(tmp_path, db_url=db_url)


def test_feedback_latest_verdict_and_audit(tmp_path, db_url):
    with Store.open(tmp_path, db_url=db_url) as store:
        a, b, c = list(person_gallery(store, people=3, cameras=1))
        store.add_feedback(a, b, same=True)
        store.add_feedback(c, a, same=True)
        store.add_feedback(a, c, same=False, actor="op")
        assert store.get_feedback(a) == ([b], [c])
        store.log_action("op", "search", {"tracklet": a})
        (entry,) = store.audit_entries(action="search")
        assert entry.details == {"tracklet": a} and entry.created_at.tzinfo is not None


def test_ids_are_never_reused_after_deletion(tmp_path, db_url):
    with Store.open(tmp_path, db_url=db_url) as store:
        truth = person_gallery(store, people=2, cameras=2)
        last_video = max(v.id for v in store.list_videos())
        store.delete_video(last_video)
        vid = store.add_video("/new.mp4", "hnew", "cam1")
        (tid,) = store.add_tracklets(vid, [record(1, 0, 2)], np.ones((1, 16)), FP)
        assert vid > last_video and tid > max(truth)
    with Store.open(tmp_path, db_url=db_url) as store:  # and not after reopening either
        store.delete_video(vid)
    with Store.open(tmp_path, db_url=db_url) as store:
        assert store.add_video("/newer.mp4", "hnewer", "cam1") > vid


def test_ids_used_by_files_are_reserved_after_a_restored_backup(tmp_path, db_url):
    with Store.open(tmp_path, db_url=db_url) as store:
        vid = store.add_video("/a.mp4", "ha", "cam0")
        store.add_tracklets(vid, [record(1, 0, 2)], np.ones((1, 16)), FP)
    # files of videos and tracklets the restored database no longer knows
    (tmp_path / "crops" / "41" / "1").mkdir(parents=True)
    (tmp_path / "crops" / "41" / "1" / "0.jpg").write_bytes(b"j")
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "tracklet_77.mp4").write_bytes(b"m")
    with Store.open(tmp_path, db_url=db_url) as store:
        new = store.add_video("/b.mp4", "hb", "cam0")
        (tid,) = store.add_tracklets(new, [record(1, 0, 2)], np.ones((1, 16)), FP)
        assert (new, tid) == (42, 78)
    with Store.open(tmp_path, db_url=db_url) as store:  # reserving again never moves ids back
        assert store.add_video("/c.mp4", "hc", "cam0") == 43


def test_listing_pages_and_counts(tmp_path, db_url):
    with Store.open(tmp_path, db_url=db_url) as store:
        truth = person_gallery(store, people=4, cameras=3)
        cam1 = sorted(t for t, (_, c) in truth.items() if c == 1)
        assert [t.id for t in store.list_tracklets(camera="cam1")] == cam1
        assert [t.id for t in store.list_tracklets(camera="cam1", limit=2, offset=1)] == cam1[1:3]
        assert [t.id for t in store.list_tracklets(limit=3, offset=10)] == sorted(truth)[10:]
        vid = store.list_tracklets(camera="cam2")[0].video_id
        assert store.list_tracklets(camera="cam2", video_id=vid, limit=1)[0].camera == "cam2"
        assert store.list_tracklets(camera="cam1", video_id=vid) == []
        assert store.list_tracklets(camera="nowhere") == []
        empty = store.add_video("/e.mp4", "he", "empty-cam")  # a camera without tracklets yet
        counts = store.stats()
        assert counts["tracklets"] == 12 and counts["cameras"] == 4
        assert counts["tracklets_per_camera"] == {"cam0": 4, "cam1": 4, "cam2": 4, "empty-cam": 0}
        assert sorted(counts["tracklets_per_video"].values()) == [4, 4, 4]
        assert counts["videos"]["done"] == 3 and counts["videos"]["pending"] == 1
        store.delete_video(vid)
        store.delete_video(empty)
        counts = store.stats()
        assert counts["tracklets_per_camera"] == {"cam0": 4, "cam1": 4} and counts["cameras"] == 2


@pytest.mark.postgres
def test_two_servers_adding_the_same_video_at_once(tmp_path, postgres_url):
    """Servers sharing one catalogue race on new cameras and on the same content: one video is
    stored, the other server gets DuplicateVideoError naming it (never a raw IntegrityError)."""
    import threading

    stores = [Store.open(tmp_path / f"s{i}", db_url=postgres_url) for i in range(2)]
    try:
        for attempt in range(6):
            barrier, got = threading.Barrier(2), []

            def add(store, h=f"h{attempt}", cam=f"cam{attempt}", barrier=barrier, got=got):
                barrier.wait()
                try:
                    got.append(store.add_video("/v.mp4", h, cam))
                except DuplicateVideoError as exc:
                    got.append(("duplicate", exc.video_id))
                except Exception as exc:  # reported by the assertion below
                    got.append(exc)

            threads = [threading.Thread(target=add, args=(s,)) for s in stores]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            ids = [g for g in got if isinstance(g, int)]
            assert len(ids) == 1 and got.count(("duplicate", ids[0])) + len(ids) == 2, got
        assert len(stores[0].list_videos()) == 6 and len(stores[1].list_cameras()) == 6
    finally:
        for s in stores:
            s.close()


def test_listing_videos_is_one_query(tmp_path, db_url):
    import sqlalchemy as sa

    with Store.open(tmp_path, db_url=db_url) as store:
        person_gallery(store, people=1, cameras=4)
        statements = []
        engine = store.catalogue._ctx.db.engine
        listen = lambda *args: statements.append(args[2])  # noqa: E731
        sa.event.listen(engine, "before_cursor_execute", listen)
        try:
            videos = store.list_videos()
        finally:
            sa.event.remove(engine, "before_cursor_execute", listen)
        assert [v.camera for v in videos] == ["cam0", "cam1", "cam2", "cam3"]
        assert len(statements) == 1, statements
