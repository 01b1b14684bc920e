"""Two-camera sequence datasets: iLIDS-VID and PRID-2011, with their 10 random train/test splits.

Both use the identity-level protocol of spec 9.4: for a split, half the persons train (both
cameras' sequences, relabelled), the other half test with camera-1 sequences as queries and
camera-2 sequences as the gallery. Splits are either read (the official iLIDS-VID ``ls_set`` .mat,
or a JSON written by :func:`save_splits`) or generated reproducibly from a seed. Nothing is written
into the dataset folder; :func:`save_splits` writes only to the path the caller names.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from training.datasets.records import DatasetSplits, DatasetTracklet, relabel, require_file

logger = logging.getLogger(__name__)

ILIDS_LAYOUT = """\
  <root>/i-LIDS-VID/sequences/cam1/person001/cam1_person001_00317.png  (frames, any image type)
  <root>/i-LIDS-VID/sequences/cam2/person001/...
  <root>/train-test people splits/train_test_splits_ilidsvid.mat  (optional, variable ls_set)
(the extracted iLIDS-VID.tar; without the .mat, 10 splits are generated from a seed.)"""

PRID_LAYOUT = """\
  <root>/multi_shot/cam_a/person_0001/0001.png   (or <root>/prid_2011/multi_shot/...)
  <root>/multi_shot/cam_b/person_0001/0001.png
(the extracted prid_2011.zip; persons present in both cameras are used.)"""

_IMG_EXT = {".png", ".jpg", ".jpeg", ".bmp"}
NUM_SPLITS = 10


def _frames(folder: Path) -> tuple[str, ...]:
    return tuple(sorted(str(p) for p in folder.iterdir() if p.suffix.lower() in _IMG_EXT))


def _person_dirs(cam_dir: Path, layout: str) -> dict[int, Path]:
    require_file(cam_dir, layout)
    out = {}
    for d in cam_dir.iterdir():
        m = re.search(r"(\d+)$", d.name)
        if d.is_dir() and m:
            out[int(m.group(1))] = d
    return out


def generate_splits(
    person_ids: list[int], num_splits: int = NUM_SPLITS, seed: int = 0
) -> list[dict[str, list[int]]]:
    """``num_splits`` random half/half partitions of ``person_ids`` (reproducible for a seed).

    Returns a list of ``{"train": [...], "test": [...]}`` with sorted person ids; the train half
    gets the extra person when the count is odd.
    """
    ids = sorted(person_ids)
    rng = np.random.default_rng(seed)
    splits = []
    for _ in range(num_splits):
        perm = [ids[i] for i in rng.permutation(len(ids))]
        half = (len(ids) + 1) // 2
        splits.append({"train": sorted(perm[:half]), "test": sorted(perm[half:])})
    return splits


def save_splits(splits: list[dict[str, list[int]]], path: str | Path) -> Path:
    """Write splits as JSON to ``path`` (the only place this module writes)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(splits, indent=1))
    return path


def read_splits(path: str | Path) -> list[dict[str, list[int]]]:
    """Read splits written by :func:`save_splits`."""
    path = Path(path)
    splits = json.loads(require_file(path, "a JSON list of {'train': [ids], 'test': [ids]}")
                        .read_text())
    if not isinstance(splits, list) or not all({"train", "test"} <= set(s) for s in splits):
        raise ValueError(f"{path}: expected a JSON list of {{'train': [...], 'test': [...]}}")
    return splits


def _ilids_mat_splits(mat_path: Path, cam1_ids: list[int]) -> list[dict[str, list[int]]]:
    """Official ``ls_set`` (10 x 300, 1-based indices into the sorted cam1 person folders)."""
    from scipy.io import loadmat

    ls_set = np.asarray(loadmat(str(mat_path))["ls_set"], dtype=np.int64)
    half = ls_set.shape[1] // 2
    ordered = sorted(cam1_ids)
    # Spec 9.4: in each permutation the first half is trainval, the second half test.
    return [{"train": sorted(ordered[i - 1] for i in row[:half]),
             "test": sorted(ordered[i - 1] for i in row[half:])} for row in ls_set]


def _build(
    name: str,
    cams: tuple[dict[int, Path], dict[int, Path]],
    split: dict[str, list[int]],
    info: dict[str, Any],
) -> DatasetSplits:
    train = [DatasetTracklet(_frames(cams[c][pid]), pid, c) for pid in split["train"] for c in (0, 1)]
    train_r, num_pids = relabel(train)
    query = tuple(DatasetTracklet(_frames(cams[0][pid]), pid, 0) for pid in split["test"])
    gallery = tuple(DatasetTracklet(_frames(cams[1][pid]), pid, 1) for pid in split["test"])
    splits = DatasetSplits(name, train_r, query, gallery, num_pids, 2, info)
    logger.info("%s", splits.summary())
    return splits


def _pick_split(
    splits: list[dict[str, list[int]]], split_index: int, known: set[int]
) -> dict[str, list[int]]:
    if not 0 <= split_index < len(splits):
        raise ValueError(f"split_index {split_index} out of range 0..{len(splits) - 1}")
    split = splits[split_index]
    unknown = (set(split["train"]) | set(split["test"])) - known
    if unknown:
        raise ValueError(f"split refers to persons not found in both cameras: {sorted(unknown)[:5]}")
    return split


def load_ilidsvid(
    root: str | Path, split_index: int = 0, split_file: str | Path | None = None, seed: int = 0
) -> DatasetSplits:
    """iLIDS-VID (300 persons, 2 cameras, 23-192 frames per sequence), one of 10 splits.

    Splits come from ``split_file`` if given, else the official ``ls_set`` .mat if present, else
    :func:`generate_splits` with ``seed``. 150 train ids (300 tracklets), 150 query / 150 gallery.
    """
    root = Path(root)
    seq = root / "i-LIDS-VID" / "sequences"
    if not seq.exists() and (root / "sequences").exists():
        seq = root / "sequences"
    cams = (_person_dirs(seq / "cam1", ILIDS_LAYOUT), _person_dirs(seq / "cam2", ILIDS_LAYOUT))
    both = set(cams[0]) & set(cams[1])
    mat = root / "train-test people splits" / "train_test_splits_ilidsvid.mat"
    if split_file is not None:
        splits, source = read_splits(split_file), str(split_file)
    elif mat.exists():
        splits, source = _ilids_mat_splits(mat, list(cams[0])), str(mat)
    else:
        splits, source = generate_splits(sorted(both), seed=seed), f"generated(seed={seed})"
    split = _pick_split(splits, split_index, both)
    return _build("ilidsvid", cams, split, {"split_index": split_index, "split_source": source})


def prid_person_ids(root: str | Path, min_seq_len: int = 21) -> list[int]:
    """Persons of PRID-2011 seen by both cameras with at least ``min_seq_len`` frames in each."""
    cams = _prid_cams(Path(root))
    return sorted(p for p in set(cams[0]) & set(cams[1])
                  if min(len(_frames(cams[0][p])), len(_frames(cams[1][p]))) >= min_seq_len)


def _prid_cams(root: Path) -> tuple[dict[int, Path], dict[int, Path]]:
    base = root / "multi_shot"
    if not base.exists() and (root / "prid_2011" / "multi_shot").exists():
        base = root / "prid_2011" / "multi_shot"
    return _person_dirs(base / "cam_a", PRID_LAYOUT), _person_dirs(base / "cam_b", PRID_LAYOUT)


def load_prid2011(
    root: str | Path,
    split_index: int = 0,
    split_file: str | Path | None = None,
    seed: int = 0,
    min_seq_len: int = 21,
) -> DatasetSplits:
    """PRID-2011 multi-shot (cam_a 385 / cam_b 749 persons; 200 in both), one of 10 splits.

    Persons in both cameras with ``>= min_seq_len`` frames each (178 with the usual 21) are split
    half/half; splits come from ``split_file`` or are generated from ``seed``.
    """
    root = Path(root)
    cams = _prid_cams(root)
    ids = prid_person_ids(root, min_seq_len)
    if split_file is not None:
        splits, source = read_splits(split_file), str(split_file)
    else:
        splits, source = generate_splits(ids, seed=seed), f"generated(seed={seed})"
    split = _pick_split(splits, split_index, set(ids))
    return _build("prid2011", cams, split, {"split_index": split_index, "split_source": source})
