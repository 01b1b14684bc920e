"""The gallery's own tracklets as a training set without labels: one pseudo-identity per tracklet.

Each stored tracklet becomes one identity; its crops are the frames (positives of each other).
Tracklets seen at the same time on the same camera are certainly different people: those pairs are
listed as hard negatives. Nothing else is assumed: two tracklets that never co-occur may well be the
same person (a track broken by an occlusion, the same person on another camera), so a learner should
not treat every other pseudo-identity as a certain negative.

The set is written in the MARS layout (``training.datasets.mars``), so ``reid train`` / the training
package read it unchanged, plus ``info/pseudo_identities.json``: which gallery tracklet each
pseudo-identity is, and the hard-negative pairs. The test split is empty (no labels to test with).
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reid.store import TrackletInfo

logger = logging.getLogger(__name__)

MAX_PSEUDO_IDS = 9999
"""MARS file names hold the identity in 4 digits; larger galleries keep their longest tracklets."""
SIDECAR = "pseudo_identities.json"


@dataclass(frozen=True)
class PseudoIdentities:
    """An exported pseudo-identity set.

    Attributes:
        root: the dataset folder (MARS layout).
        tracklet_ids: gallery tracklet id of each pseudo-identity, in pid order (pid = index + 1).
        crop_paths: per pseudo-identity, its frame files in the dataset, in time order.
        cameras: per pseudo-identity, the 0-based camera index used in the dataset.
        hard_negatives: ``(M, 2)`` int64 pairs of 0-based pseudo-identity indices that co-occur.
    """

    root: Path
    tracklet_ids: tuple[int, ...]
    crop_paths: tuple[tuple[Path, ...], ...]
    cameras: tuple[int, ...]
    hard_negatives: np.ndarray

    def __len__(self) -> int:
        return len(self.tracklet_ids)


def _absolute_span(t: TrackletInfo) -> tuple[str, float, float]:
    """A clock the tracklet's times are on, and its span on that clock: absolute seconds when the
    video's start time is known, else seconds within its own video."""
    if t.video_start_time is not None:
        base = t.video_start_time.timestamp()
        return "utc", base + t.start_s, base + t.end_s
    return f"video:{t.video_id}", t.start_s, t.end_s


def co_occurring_pairs(tracklets: Sequence[TrackletInfo]) -> np.ndarray:
    """Index pairs ``(i, j)``, ``i < j``, of tracklets on the same camera whose time spans overlap
    (on one clock: both absolute, or both in one video without a start time) -> ``(M, 2)`` int64."""
    by_camera: dict[tuple[int, str], list[tuple[float, float, int]]] = {}
    for i, t in enumerate(tracklets):
        clock, start, end = _absolute_span(t)
        by_camera.setdefault((t.camera_id, clock), []).append((start, end, i))
    pairs = []
    for spans in by_camera.values():
        spans.sort()
        for a, (_, end_a, i) in enumerate(spans):
            for start_b, _, j in spans[a + 1:]:
                if start_b > end_a:
                    break
                pairs.append((min(i, j), max(i, j)))
    return np.asarray(sorted(pairs), dtype=np.int64).reshape(-1, 2)


def select_tracklets(tracklets: Sequence[TrackletInfo], min_crops: int,
                     limit: int = MAX_PSEUDO_IDS) -> list[TrackletInfo]:
    """Tracklets with at least ``min_crops`` crop files, the ``limit`` longest, in id order."""
    usable = [t for t in tracklets if sum(p.is_file() for p in t.crop_paths) >= min_crops]
    if len(usable) > limit:
        logger.info("%d usable tracklets: keeping the %d longest", len(usable), limit)
        usable = sorted(usable, key=lambda t: (-(t.last_frame - t.first_frame), t.id))[:limit]
    return sorted(usable, key=lambda t: t.id)


def export_pseudo_identities(tracklets: Sequence[TrackletInfo], root: str | Path, *,
                             min_crops: int = 4) -> PseudoIdentities:
    """Write the tracklets' crops as a MARS-layout training set in ``root`` (replaced if present).

    Args:
        tracklets: stored tracklets (``Store.list_tracklets``); those with fewer than ``min_crops``
            readable crop files are left out.
        root: the dataset folder to write: new, empty, or an earlier export (replaced).
        min_crops: the fewest crops a pseudo-identity needs.

    Raises:
        ValueError: fewer than two tracklets qualify (nothing to learn from), or ``root`` holds
            anything else than an earlier export (it is left untouched).
    """
    from scipy.io import savemat

    chosen = select_tracklets(tracklets, min_crops)
    if len(chosen) < 2:
        raise ValueError(f"only {len(chosen)} tracklets have {min_crops} or more crops: index more "
                         "footage before adapting")
    root = Path(root)
    if root.exists():
        if not (root / "info" / SIDECAR).is_file() and (not root.is_dir() or any(root.iterdir())):
            raise ValueError(f"{root} exists and is not an earlier pseudo-identity export: "
                             "give a new or empty folder (nothing in it was changed)")
        shutil.rmtree(root)
    (root / "info").mkdir(parents=True)
    (root / "bbox_test").mkdir()
    camera_index = {cam: k for k, cam in enumerate(sorted({t.camera_id for t in chosen}))}
    names: list[str] = []
    rows: list[list[int]] = []
    crop_paths: list[tuple[Path, ...]] = []
    for pid, t in enumerate(chosen, start=1):
        folder = root / "bbox_train" / f"{pid:04d}"
        folder.mkdir(parents=True)
        cam = camera_index[t.camera_id] + 1
        start = len(names) + 1
        written = []
        for f, src in enumerate(p for p in t.crop_paths if p.is_file()):
            name = f"{pid:04d}C{cam}T{pid:04d}F{f + 1:03d}{src.suffix or '.jpg'}"
            shutil.copyfile(src, folder / name)
            names.append(name)
            written.append(folder / name)
        rows.append([start, len(names), pid, cam])
        crop_paths.append(tuple(written))
    (root / "info" / "train_name.txt").write_text("\n".join(names) + "\n")
    (root / "info" / "test_name.txt").write_text("")
    savemat(str(root / "info" / "tracks_train_info.mat"),
            {"track_train_info": np.asarray(rows, dtype=np.float64)})
    savemat(str(root / "info" / "tracks_test_info.mat"),
            {"track_test_info": np.zeros((0, 4), dtype=np.float64)})
    savemat(str(root / "info" / "query_IDX.mat"), {"query_IDX": np.zeros((0, 1), dtype=np.float64)})
    negatives = co_occurring_pairs(chosen)
    (root / "info" / SIDECAR).write_text(json.dumps({
        "tracklet_ids": [t.id for t in chosen],
        "cameras": [camera_index[t.camera_id] for t in chosen],
        "hard_negatives": negatives.tolist(),
        "note": "pid k (1-based) is gallery tracklet tracklet_ids[k-1]; hard_negatives are 0-based "
                "index pairs of tracklets seen at the same time on the same camera",
    }, indent=1) + "\n")
    logger.info("exported %d pseudo-identities (%d crops, %d hard-negative pairs) to %s",
                len(chosen), len(names), len(negatives), root)
    return PseudoIdentities(root, tuple(t.id for t in chosen), tuple(crop_paths),
                            tuple(camera_index[t.camera_id] for t in chosen), negatives)
