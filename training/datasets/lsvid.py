"""LS-VID (Li et al., ICCV 2019) read as distributed: list files + MATLAB v7.3 ``info_test.mat``.

Published statistics (spec 9.4): train 842 ids / 2,831 tracklets (10,106 after the 48-frame
re-cut); query 3,504; gallery 7,829; 15 cameras.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from training.datasets.records import (
    DatasetSplits,
    DatasetTracklet,
    num_cams_of,
    relabel,
    require_file,
    split_long_tracklets,
)

logger = logging.getLogger(__name__)

LSVID_LAYOUT = """\
  <root>/info/list_sequence/list_seq_train.txt  lines "<relative frame-path prefix> <pid>"
  <root>/info/list_sequence/list_seq_test.txt
  <root>/info/data/info_test.mat                MATLAB v7.3 (HDF5), dataset `query`: 1-based test rows
  <root>/<prefix>*                              frames; camera = 3rd '_' field of the file name
(the public zip has list_sequence/ and test/data/ at top level: those are found too.)"""


def _first_existing(*paths: Path) -> Path:
    for p in paths:
        if p.exists():
            return p
    return require_file(paths[0], LSVID_LAYOUT)


def _read_list(path: Path) -> list[tuple[str, int]]:
    rows = []
    for i, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ValueError(f"{path}:{i}: expected '<prefix> <pid>', got {line!r}")
        rows.append((parts[0], int(parts[1])))
    return rows


def _read_query_idx(path: Path) -> np.ndarray:
    import h5py  # type: ignore[import-untyped]  # h5py ships neither inline types nor stubs

    try:
        with h5py.File(path, "r") as f:
            if "query" not in f:
                raise ValueError(f"{path} has no dataset 'query' (found {list(f)})")
            return np.asarray(f["query"][()], dtype=np.int64).ravel() - 1
    except OSError as exc:
        raise ValueError(f"{path} is not a MATLAB v7.3 (HDF5) file: {exc}") from exc


def _records(root: Path, rows: list[tuple[str, int]]) -> list[DatasetTracklet]:
    records = []
    for prefix, pid in rows:
        if pid == -1:
            continue
        pattern = root / prefix
        paths = sorted(str(p) for p in pattern.parent.glob(pattern.name + "*") if p.is_file())
        if not paths:
            raise FileNotFoundError(f"no frames match {pattern}*. Expected layout:\n{LSVID_LAYOUT}")
        fields = Path(paths[0]).name.split("_")
        try:
            cam = int(fields[2])
        except (IndexError, ValueError) as exc:
            raise ValueError(f"cannot read the camera (3rd '_' field) from {paths[0]}") from exc
        records.append(DatasetTracklet(tuple(paths), pid, cam - 1))
    return records


def load_lsvid(root: str | Path, train_piece_len: int = 48) -> DatasetSplits:
    """Parse LS-VID into train (relabelled) / query / gallery records.

    Training tracklets are cut into ``train_piece_len``-frame pieces (spec 3.3; 0 disables); pieces
    shorter than that are kept whole (the official code drops them, spec 12.9). pid -1 rows are
    skipped. Nothing is written into ``root``.
    """
    root = Path(root)
    lists = [root / "info" / "list_sequence", root / "list_sequence"]
    train_list = _first_existing(*(d / "list_seq_train.txt" for d in lists))
    test_list = _first_existing(*(d / "list_seq_test.txt" for d in lists))
    mat = _first_existing(root / "info" / "data" / "info_test.mat",
                          root / "test" / "data" / "info_test.mat")
    test_rows = _read_list(test_list)
    query_idx = _read_query_idx(mat)
    if query_idx.size and (query_idx.min() < 0 or query_idx.max() >= len(test_rows)):
        raise ValueError(f"{mat}: query indices outside the {len(test_rows)} test rows")
    is_query = np.zeros(len(test_rows), dtype=bool)
    is_query[query_idx] = True

    train, num_pids = relabel(_records(root, _read_list(train_list)))
    if train_piece_len:
        train = split_long_tracklets(train, train_piece_len)
    query = _records(root, [r for r, q in zip(test_rows, is_query, strict=True) if q])
    gallery = _records(root, [r for r, q in zip(test_rows, is_query, strict=True) if not q])
    splits = DatasetSplits("lsvid", train, tuple(query), tuple(gallery), num_pids,
                           num_cams_of(train, query, gallery))
    logger.info("%s", splits.summary())
    return splits
