"""Tiny dataset trees in the real distribution formats (shared by the dataset and trainer tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from scipy.io import savemat


def _img(path: Path, colour: tuple[int, int, int], size=(16, 8)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.zeros((size[0], size[1], 3), np.uint8) + np.array(colour, np.uint8)
    Image.fromarray(arr).save(path)


def _colour(pid: int) -> tuple[int, int, int]:
    rng = np.random.default_rng(abs(pid) + 7)
    return tuple(int(v) for v in rng.integers(0, 256, 3))


def make_mars(root: Path, frames: int = 10) -> Path:
    """MARS tree. train: pid 1 (cams 1, 2), pid 3 (cams 1, 4), pid 5 (cams 2, 3);
    test: pids 2 and 4 (cams 1, 2, 2), distractor 0 (cam 3), junk -1 (cam 1).
    Query rows (1-based) 1 and 4: pid 2 cam 1 and pid 4 cam 1; the junk row is also a query row."""
    info = root / "info"
    info.mkdir(parents=True)
    tables, name_lists = {}, {}
    specs = {
        "train": [(1, 1), (1, 2), (3, 1), (3, 4), (5, 2), (5, 3)],
        "test": [(2, 1), (2, 2), (2, 2), (4, 1), (4, 2), (4, 2), (0, 3), (-1, 1)],
    }
    for split, tracks in specs.items():
        names, rows = [], []
        for t, (pid, cam) in enumerate(tracks, start=1):
            pid4 = "00-1" if pid == -1 else f"{pid:04d}"
            start = len(names) + 1
            for f in range(1, frames + 1):
                name = f"{pid4}C{cam}T{t:04d}F{f:03d}.jpg"
                names.append(name)
                _img(root / f"bbox_{split}" / pid4 / name, _colour(pid * 10 + cam))
            rows.append([start, len(names), pid, cam])
        tables[split], name_lists[split] = np.array(rows, dtype=np.float64), names
        (info / f"{split}_name.txt").write_text("\n".join(names) + "\n")
    savemat(info / "tracks_train_info.mat", {"track_train_info": tables["train"]})
    savemat(info / "tracks_test_info.mat", {"track_test_info": tables["test"]})
    savemat(info / "query_IDX.mat", {"query_IDX": np.array([[1, 4, 8]], dtype=np.float64)})
    return root


def make_lsvid(root: Path) -> Path:
    """LS-VID tree with a MATLAB v7.3 (HDF5 + 512-byte MATLAB header) info_test.mat."""
    import h5py

    lists = root / "info" / "list_sequence"
    lists.mkdir(parents=True)
    train = [("tracklet_train/0010/0010_000_03_", 10, 100), ("tracklet_train/0010/0010_001_05_", 10, 30),
             ("tracklet_train/0020/0020_000_01_", 20, 50)]
    test = [("tracklet_test/0030/0030_000_02_", 30, 9), ("tracklet_test/0030/0030_001_04_", 30, 9),
            ("tracklet_test/0040/0040_000_02_", 40, 9), ("tracklet_test/0050/0050_000_15_", -1, 9)]
    for fname, rows in (("list_seq_train.txt", train), ("list_seq_test.txt", test)):
        lines = []
        for prefix, pid, n in rows:
            for f in range(n):
                _img(root / f"{prefix}{f:04d}.jpg", _colour(pid))
            lines.append(f"{prefix} {pid}")
        (lists / fname).write_text("\n".join(lines) + "\n")
    mat = root / "info" / "data" / "info_test.mat"
    mat.parent.mkdir(parents=True)
    with h5py.File(mat, "w", userblock_size=512) as f:
        f.create_dataset("query", data=np.array([[1.0, 3.0]]))  # MATLAB column (2x1) as stored
    header = (b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 "
              b"HDF5 schema 1.00 .")
    with open(mat, "r+b") as fh:
        fh.write(header.ljust(116) + b"\x00" * 8 + b"\x00\x02IM")
    return root


def make_ilids(root: Path, persons: int = 8, with_mat: bool = True) -> Path:
    """iLIDS-VID tree (person001.. with a gap in the numbering) and optionally the ls_set .mat."""
    ids = [i for i in range(1, persons + 2) if i != 3][:persons]
    for cam in (1, 2):
        for pid in ids:
            for f in range(5 + pid):
                _img(root / "i-LIDS-VID" / "sequences" / f"cam{cam}" / f"person{pid:03d}" /
                     f"cam{cam}_person{pid:03d}_{f:05d}.png", _colour(pid))
    if with_mat:
        rng = np.random.default_rng(0)
        ls_set = np.stack([rng.permutation(persons) + 1 for _ in range(10)]).astype(np.float64)
        split_dir = root / "train-test people splits"
        split_dir.mkdir(parents=True)
        savemat(split_dir / "train_test_splits_ilidsvid.mat", {"ls_set": ls_set})
    return root


def make_prid(root: Path) -> Path:
    """PRID-2011 multi_shot tree: persons 1-6 in both cameras (person 6 short in cam_b), 7-8 only
    in cam_b."""
    base = root / "prid_2011" / "multi_shot"
    for cam, pids in (("cam_a", range(1, 7)), ("cam_b", range(1, 9))):
        for pid in pids:
            n = 5 if (cam == "cam_b" and pid == 6) else 12
            for f in range(1, n + 1):
                _img(base / cam / f"person_{pid:04d}" / f"{f:04d}.png", _colour(pid))
    return root
