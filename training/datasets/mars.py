"""MARS (Zheng et al., ECCV 2016) read as distributed: ``info/*.mat`` + ``bbox_train|bbox_test``.

Published statistics (spec 9.4): train 8,298 tracklets / 625 ids (~509,914 frames); query 1,980
tracklets / 626 ids; gallery 9,330 tracklets / 622 ids after junk removal; 6 cameras.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from scipy.io import loadmat

from training.datasets.records import (
    DatasetSplits,
    DatasetTracklet,
    num_cams_of,
    relabel,
    require_file,
)

logger = logging.getLogger(__name__)

MARS_LAYOUT = """\
  <root>/info/train_name.txt          one frame file name per line (e.g. 0001C1T0001F001.jpg)
  <root>/info/test_name.txt
  <root>/info/tracks_train_info.mat   variable track_train_info: rows [start, end, pid, cam], 1-based
  <root>/info/tracks_test_info.mat    variable track_test_info
  <root>/info/query_IDX.mat           variable query_IDX: 1-based rows of track_test_info
  <root>/bbox_train/<pid4>/<name>     frames (e.g. bbox_train/0001/0001C1T0001F001.jpg)
  <root>/bbox_test/<pid4>/<name>      (includes 0000 distractors and 00-1 junk)
(MARS-v160809 from the dataset site; `info/` is the MARS-evaluation repository's info folder.)"""


def _read_names(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def _read_mat(path: Path, key: str) -> np.ndarray:
    data = loadmat(str(path))
    if key not in data:
        raise ValueError(f"{path} has no variable {key!r} (found {sorted(data)}); see layout:\n"
                         f"{MARS_LAYOUT}")
    return np.asarray(data[key])


def _tracks(
    table: np.ndarray, names: list[str], img_dir: Path, check_frames: bool
) -> list[DatasetTracklet]:
    records = []
    for start, end, pid, cam in table.astype(np.int64).reshape(-1, 4):
        if pid == -1:  # junk
            continue
        if not 1 <= start <= end <= len(names):
            raise ValueError(f"MARS track [{start}, {end}] is outside the {len(names)} frame names")
        frame_names = names[start - 1:end]
        paths = tuple(str(img_dir / n[:4] / n) for n in frame_names)
        if check_frames and not Path(paths[0]).exists():
            raise FileNotFoundError(f"missing frame {paths[0]}. Expected layout:\n{MARS_LAYOUT}")
        records.append(DatasetTracklet(paths, int(pid), int(cam) - 1))
    return records


def load_mars(root: str | Path, check_frames: bool = True) -> DatasetSplits:
    """Parse MARS into train (relabelled 0..624) / query / gallery records.

    Junk tracklets (pid -1) are dropped from every split; distractors (pid 0) stay in the gallery.
    Camera ids become 0-based. Nothing is written into ``root``.

    Args:
        root: folder holding ``info/``, ``bbox_train/`` and ``bbox_test/``.
        check_frames: check that the first frame of every tracklet exists (one stat per tracklet).
    """
    root = Path(root)
    info = root / "info"
    train_names = _read_names(require_file(info / "train_name.txt", MARS_LAYOUT))
    test_names = _read_names(require_file(info / "test_name.txt", MARS_LAYOUT))
    train_tab = _read_mat(require_file(info / "tracks_train_info.mat", MARS_LAYOUT),
                          "track_train_info")
    test_tab = _read_mat(require_file(info / "tracks_test_info.mat", MARS_LAYOUT),
                         "track_test_info")
    query_idx = _read_mat(require_file(info / "query_IDX.mat", MARS_LAYOUT), "query_IDX")
    require_file(root / "bbox_train", MARS_LAYOUT)
    require_file(root / "bbox_test", MARS_LAYOUT)

    query_idx = query_idx.astype(np.int64).ravel() - 1
    if query_idx.size and (query_idx.min() < 0 or query_idx.max() >= len(test_tab)):
        raise ValueError(f"query_IDX refers to rows outside the {len(test_tab)} test tracks")
    is_query = np.zeros(len(test_tab), dtype=bool)
    is_query[query_idx] = True

    train, num_pids = relabel(_tracks(train_tab, train_names, root / "bbox_train", check_frames))
    query = _tracks(test_tab[is_query], test_names, root / "bbox_test", check_frames)
    gallery = _tracks(test_tab[~is_query], test_names, root / "bbox_test", check_frames)
    splits = DatasetSplits("mars", train, tuple(query), tuple(gallery), num_pids,
                           num_cams_of(train, query, gallery))
    logger.info("%s", splits.summary())
    return splits
