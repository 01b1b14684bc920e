"""The gallery knows itself (issue 9, item 8) and deleted cameras leave the camera lists (item 9).

One test per class of damage, each with the real ``Store`` in a temporary data dir:

- a lost database (deleted, emptied, replaced by an empty SQLite file, or by another gallery's)
  next to the old gallery's crops and vectors is refused, not silently restarted; one deleted or
  replaced while open is noticed; one restored from an older backup never reuses ids;
- a damaged ``vectors.faiss`` (a few flipped bytes) is noticed by its checksum and rebuilt;
- a damaged, locked or read-only database, a database that is a directory and a full disk give one
  clear message naming the file and the recovery, never a raw SQL trace (also through the CLI); a
  gallery on a read-only mount is still searchable;
- deleting the last video of a camera removes the camera from the lists.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from reid.store import Store
from tests.store.helpers import FP, person_gallery, record, unit

ROOT = Path(__file__).resolve().parents[2]


def gallery_with_crops(store: Store, people: int = 4, cameras: int = 2, seed: int = 0) -> dict:
    """Like ``person_gallery``, with a crop file per tracklet under ``crops/<video>/<track>/``.

    Returns ``{tracklet_id: descriptor (D,)}``.
    """
    rng = np.random.default_rng(seed)
    out = {}
    for c in range(cameras):
        vid = store.add_video(f"/videos/cam{c}-{seed}.mp4", f"hash{c}-{seed}", f"cam{c}", fps=10.0)
        recs = []
        for p in range(people):
            crop = store.crop_dir(vid, p) / "0.jpg"
            crop.write_bytes(b"jpeg %d %d %d" % (seed, c, p))
            recs.append(record(p, 1.0 + p, 5.0 + p, crops=(crop,), thumb=crop))
        desc = unit(rng.standard_normal((people, FP["dim"])))
        ids = store.add_tracklets(vid, recs, desc, FP)
        out.update(zip(ids, desc, strict=True))
    return out


def top1(store: Store, descriptors: dict) -> dict:
    """``{tracklet_id: id of the best match}`` searching each tracklet's own descriptor."""
    ids = list(descriptors)
    _, found = store.search_vectors(np.stack([descriptors[i] for i in ids]), 1)
    return dict(zip(ids, found[:, 0].tolist(), strict=True))


def reid_cli(*args: str, data_dir: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, YOLO_OFFLINE="1", HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False",
               YOLO_AUTOINSTALL="False", HF_HUB_DISABLE_TELEMETRY="1")
    return subprocess.run([sys.executable, "-m", "app", *args, "--data-dir", str(data_dir)],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)


def assert_clear(message: str, *must: str) -> None:
    """One operator-facing message: names what it must, no SQL, no driver trace."""
    low = message.lower()
    for word in must:
        assert word.lower() in low, (word, message)
    for raw in ("traceback", "[sql:", "sqlalche.me", "sqlite3.", "(background on this error"):
        assert raw not in low, (raw, message)


def drop_wal(data_dir: Path) -> None:
    for suffix in ("-wal", "-shm"):
        (data_dir / f"reid.db{suffix}").unlink(missing_ok=True)


# --------------------------------------------------------------- a lost or replaced database
@pytest.mark.parametrize("loss", ["deleted", "emptied", "empty_sqlite", "other_gallery"])
def test_lost_or_replaced_database_is_refused_not_restarted(tmp_path, loss):
    data = tmp_path / "gallery"
    with Store.open(data) as store:
        gallery_with_crops(store, seed=1)
    crops_before = sorted(p.relative_to(data) for p in (data / "crops").rglob("*") if p.is_file())
    db = data / "reid.db"
    drop_wal(data)
    if loss == "deleted":
        db.unlink()
    elif loss == "emptied":
        db.write_bytes(b"")
    elif loss == "empty_sqlite":  # a valid SQLite file without our tables
        db.unlink()
        with sqlite3.connect(db) as con:
            con.execute("PRAGMA user_version = 7")
    else:  # another gallery's database put in its place
        with Store.open(tmp_path / "other") as other:
            gallery_with_crops(other, seed=2)
        shutil.copyfile(tmp_path / "other" / "reid.db", db)
    db_bytes = db.read_bytes() if db.exists() else None

    with pytest.raises(Exception) as err:  # noqa: PT011 - the type is checked by its message
        Store.open(data)
    message = str(err.value)
    assert_clear(message, str(data), "backup")
    assert "another gallery" in message or "mv " in message, message
    # nothing was started or overwritten: the old crops and database file are as they were
    assert sorted(p.relative_to(data) for p in (data / "crops").rglob("*") if p.is_file()) \
        == crops_before
    assert (db.read_bytes() if db.exists() else None) == db_bytes

    result = reid_cli("status", data_dir=data)
    assert result.returncode != 0
    assert_clear(result.stderr, str(data / "reid.db"))

    # a brand-new folder, and one with only harmless leftovers, still make a working gallery
    fresh = tmp_path / "fresh"
    (fresh / "crops").mkdir(parents=True)
    (fresh / "uploads" / "abc").mkdir(parents=True)
    (fresh / "uploads" / "abc" / "clip.mp4").write_bytes(b"upload kept by content hash")
    for folder in (tmp_path / "new", fresh):
        with Store.open(folder) as store:
            descriptors = gallery_with_crops(store, seed=3)
            assert top1(store, descriptors) == {i: i for i in descriptors}
        with Store.open(folder) as store:  # and reopen cleanly
            assert not store.repair_report.changed


def test_database_restored_from_an_older_backup_never_reuses_ids(tmp_path):
    """The recovery the messages advise: ids of videos and tracklets lost with the newer
    database still name crops, clips and vectors, so they are not given again."""
    with Store.open(tmp_path) as store:
        gallery_with_crops(store, cameras=1, seed=1)
    drop_wal(tmp_path)
    shutil.copyfile(tmp_path / "reid.db", tmp_path / "backup.db")
    with Store.open(tmp_path) as store:
        lost = gallery_with_crops(store, cameras=2, seed=2)  # indexed after the backup
        lost_videos = {v.id for v in store.list_videos()} - {store.list_videos()[0].id}
        (tmp_path / "clips").mkdir()
        (tmp_path / "clips" / f"tracklet_{max(lost)}.webm").write_bytes(b"clip of a lost one")
    drop_wal(tmp_path)
    lost_crops = {p: p.read_bytes() for v in lost_videos
                  for p in (tmp_path / "crops" / str(v)).rglob("*") if p.is_file()}
    shutil.copyfile(tmp_path / "backup.db", tmp_path / "reid.db")  # the restore
    with Store.open(tmp_path) as store:
        fresh = gallery_with_crops(store, cameras=2, seed=3)
        new_videos = {v.id for v in store.list_videos()} - {store.list_videos()[0].id}
        assert not new_videos & lost_videos, (new_videos, lost_videos)
        assert min(fresh) > max(lost)
    assert {p: p.read_bytes() for p in lost_crops} == lost_crops  # nothing mixed in


def test_database_deleted_or_replaced_while_open_is_noticed(tmp_path):
    """SQLite would go on writing into the unlinked file (lost when the process ends)."""
    with Store.open(tmp_path / "other") as other:
        person_gallery(other, people=2, cameras=1)
    for change in ("deleted", "replaced"):
        data = tmp_path / change
        with Store.open(data) as store:
            person_gallery(store, people=2, cameras=1)
            if change == "deleted":
                (data / "reid.db").unlink()
            else:
                shutil.copyfile(tmp_path / "other" / "reid.db", data / "new.db")
                (data / "new.db").replace(data / "reid.db")
            with pytest.raises(Exception) as err:  # noqa: PT011 - checked by its message
                store.add_video("/late.mp4", "late", "cam0")
            assert_clear(str(err.value), str(data / "reid.db"), "deleted or replaced", "backup")


def test_vectors_of_another_gallery_are_rebuilt_from_the_database(tmp_path):
    """No crops, but vectors.faiss/json from another gallery with the same embedder and ids:
    the database is the truth, so the index is rebuilt from its descriptors."""
    a, b = tmp_path / "a", tmp_path / "b"
    with Store.open(a) as store:
        person_gallery(store, people=4, cameras=2, seed=1)
    with Store.open(b) as store:
        truth_b = person_gallery(store, people=4, cameras=2, seed=2)
        desc_b = dict(zip(truth_b, store.get_descriptors(list(truth_b)), strict=True))
    drop_wal(a)
    shutil.copyfile(b / "reid.db", a / "reid.db")  # a's index files, b's database
    with Store.open(a) as store:
        assert store.repair_report.rebuilt
        assert top1(store, desc_b) == {i: i for i in desc_b}


# ----------------------------------------------------------- a damaged vector index file
def test_flipped_bytes_in_vector_index_are_noticed_and_rebuilt(tmp_path, caplog):
    with Store.open(tmp_path) as store:
        descriptors = gallery_with_crops(store, people=6, cameras=3)
        assert top1(store, descriptors) == {i: i for i in descriptors}
    index = tmp_path / "vectors.faiss"
    good = index.read_bytes()
    damaged = bytearray(good)
    middle = len(damaged) // 2
    damaged[middle:middle + 4] = bytes(x ^ 0xFF for x in damaged[middle:middle + 4])
    index.write_bytes(bytes(damaged))

    with caplog.at_level(logging.WARNING, logger="reid.store"), Store.open(tmp_path) as store:
        found = top1(store, descriptors)
        assert found == {i: i for i in descriptors}  # every tracklet still finds itself
        scores, _ = store.search_vectors(np.stack(list(descriptors.values())), 1)
        np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-4)
        assert store.repair_report.rebuilt, store.repair_report.actions
    assert any("vectors.faiss" in r.getMessage() for r in caplog.records
               if r.levelno >= logging.WARNING), [r.getMessage() for r in caplog.records]
    assert index.read_bytes() != bytes(damaged)  # the rebuilt index was saved
    with Store.open(tmp_path) as store:
        assert not store.repair_report.changed


# ---------------------------------- a damaged, locked, read-only or full gallery: a clear error
def _overwrite_page(db: Path, page: int, seed: int = 0) -> None:
    size = int.from_bytes(db.read_bytes()[16:18], "big") or 65536
    data = bytearray(db.read_bytes())
    start = page * size + (100 if page == 0 else 0)
    data[start:(page + 1) * size] = np.random.default_rng(seed).bytes((page + 1) * size - start)
    db.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["garbage", "truncated", "schema_page", "middle_page",
                                    "directory"])
def test_damaged_database_gives_a_clear_error_and_the_recovery(tmp_path, damage):
    data = tmp_path / "gallery"
    with Store.open(data) as store:
        gallery_with_crops(store, people=30, cameras=3)
    drop_wal(data)
    db = data / "reid.db"
    if damage == "garbage":
        db.write_bytes(np.random.default_rng(1).bytes(db.stat().st_size))
    elif damage == "truncated":
        with open(db, "r+b") as f:
            f.truncate(db.stat().st_size // 2 + 123)
    elif damage == "schema_page":  # the first page's table list overwritten
        _overwrite_page(db, 0)
    elif damage == "middle_page":  # a page of tracklet rows overwritten
        _overwrite_page(db, db.stat().st_size // 4096 // 2)
    else:
        db.unlink()
        db.mkdir()
    with pytest.raises(Exception) as err:  # noqa: PT011 - the type is checked by its message
        Store.open(data).close()
    assert_clear(str(err.value), str(db), "mv ")
    result = reid_cli("status", data_dir=data)
    assert result.returncode != 0, result.stdout
    assert_clear(result.stderr, str(db), "mv ")
    assert "run with -v" not in result.stderr  # nothing more to see: the message is complete


def test_locked_read_only_and_full_gallery_give_a_clear_error(tmp_path, monkeypatch):
    with Store.open(tmp_path) as store:
        descriptors = gallery_with_crops(store)
        vid = store.list_videos()[0].id

    # locked by another process: waits (busy timeout), then says so, without SQL
    holder = sqlite3.connect(tmp_path / "reid.db", isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with Store.open(tmp_path) as store:
            assert top1(store, descriptors) == {i: i for i in descriptors}  # readers go on
            with pytest.raises(Exception) as err:  # noqa: PT011 - checked by its message
                store.update_video(vid, status="failed", error="x")
            assert_clear(str(err.value), str(tmp_path / "reid.db"), "locked", "another process")
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    # the disk fills up while the vector index is written: the database stays the truth
    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    with Store.open(tmp_path) as store:
        new_vid = store.add_video("/late.mp4", "late", "cam0")
        # appends go to the delta file, merges rewrite vectors.faiss: both find the disk full
        monkeypatch.setattr("reid.store.index.file.atomic_write", full)
        monkeypatch.setattr("reid.store._sync.append_delta", full)
        monkeypatch.setattr("reid.store._sync.start_delta", full)
        with pytest.raises(Exception) as err:  # noqa: PT011 - checked by its message
            store.add_tracklets(new_vid, [record(9, 0, 1)], unit(np.ones((1, 16))), FP)
        assert not isinstance(err.value, OSError)
        assert_clear(str(err.value), "vectors.faiss", "no space left", "free disk space")
        monkeypatch.undo()
    with Store.open(tmp_path) as store:  # reopened: repaired from the database
        (late,) = [t.id for t in store.list_tracklets(video_id=new_vid)]
        assert store.search_vectors(unit(np.ones((1, 16))), 1)[1][0, 0] == late
        store.delete_video(new_vid)

    # read-only for this process (as for another user, or a read-only mount): reading and
    # searching work, writes are refused with a message, and no file changes
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()
              and p.name not in ("reid.db-shm", "reid.db-wal", ".write.lock")}
    real_access = os.access

    def access(path, mode, *args, **kwargs):
        if mode & os.W_OK and Path(path).resolve().is_relative_to(tmp_path.resolve()):
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    with Store.open(tmp_path) as store:
        assert top1(store, descriptors) == {i: i for i in descriptors}
        assert len(store.list_tracklets()) == len(descriptors)
        store.log_action("op", "search", {"tracklet": 1})  # audit goes to the log instead
        for write in (lambda: store.add_video("/new.mp4", "new", "cam5"),
                      lambda: store.delete_video(vid),
                      lambda: store.add_feedback(*list(descriptors)[:2], same=True)):
            with pytest.raises(Exception) as err:  # noqa: PT011 - checked by its message
                write()
            assert_clear(str(err.value), "read-only", "write access")
    after = {p: p.read_bytes() for p in before}
    assert after == before


def _read_only_mount_works(tmp_path: Path) -> bool:
    probe = tmp_path / "probe"
    probe.mkdir()
    cmd = f"mount --bind {probe} {probe} && mount -o remount,ro,bind {probe} && ! touch {probe}/x"
    try:
        return subprocess.run(["unshare", "-m", "sh", "-c", cmd], capture_output=True,
                              timeout=60).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def test_gallery_on_a_read_only_mount_is_searchable_and_refuses_writes(tmp_path):
    """A real read-only file system (a private bind mount), through the CLI."""
    if shutil.which("unshare") is None or not _read_only_mount_works(tmp_path):
        pytest.skip("needs `unshare -m` and mount rights to make a read-only bind mount")
    data = tmp_path / "gallery"
    with Store.open(data) as store:
        gallery_with_crops(store)
    drop_wal(data)
    before = {p: p.read_bytes() for p in data.rglob("*") if p.is_file()}
    env = " ".join(f"{k}={v}" for k, v in (("YOLO_OFFLINE", "1"), ("HF_HUB_OFFLINE", "1"),
                                           ("YOLO_AUTOINSTALL", "False")))
    script = (f"mount --bind {data} {data} && mount -o remount,ro,bind {data} && cd {ROOT} && "
              f"{env} {sys.executable} -m app status --data-dir {data} > {tmp_path}/status.out "
              f"2> {tmp_path}/status.err; echo $? > {tmp_path}/status.rc; "
              f"{env} {sys.executable} -m app delete 1 --data-dir {data} > {tmp_path}/delete.out "
              f"2> {tmp_path}/delete.err; echo $? > {tmp_path}/delete.rc")
    subprocess.run(["unshare", "-m", "sh", "-c", script], timeout=900, check=True)
    status_err = (tmp_path / "status.err").read_text()
    assert (tmp_path / "status.rc").read_text().strip() == "0", status_err
    assert "8 tracklets" in (tmp_path / "status.out").read_text()
    assert (tmp_path / "delete.rc").read_text().strip() != "0"
    assert_clear((tmp_path / "delete.err").read_text(), "read-only", "write access")
    assert {p: p.read_bytes() for p in before} == before


# ------------------------------------------------------ deleted cameras leave the camera lists
def test_deleting_the_last_video_of_a_camera_removes_the_camera(tmp_path):
    with Store.open(tmp_path) as store:
        person_gallery(store, people=3, cameras=3)
        extra = store.add_video("/videos/cam1-b.mp4", "hash-extra", "cam1")
        videos = {v.camera: v.id for v in store.list_videos() if v.id != extra}
        store.delete_video(videos["cam0"])
        store.delete_video(videos["cam1"])  # cam1 keeps its other video
        names = [name for _, name in store.list_cameras()]
        assert names == ["cam1", "cam2"]
        stats = store.stats()
        assert stats["cameras"] == 2 and set(stats["tracklets_per_camera"]) == {"cam1", "cam2"}
        store.delete_video(extra)
        assert [name for _, name in store.list_cameras()] == ["cam2"]
        # the name can be used again for a new video
        store.add_video("/videos/cam0-new.mp4", "hash-new", "cam0")
        assert [name for _, name in store.list_cameras()] == ["cam0", "cam2"]
    with Store.open(tmp_path) as store:
        assert [name for _, name in store.list_cameras()] == ["cam0", "cam2"]

