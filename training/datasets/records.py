"""Typed records shared by every dataset loader."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatasetTracklet:
    """One person tracklet: its frame files in temporal order, identity and camera.

    ``pid`` is 0-based and contiguous for training splits (relabelled); test splits keep the
    dataset's own ids (MARS distractors keep pid 0). ``camid`` is 0-based.
    """

    frame_paths: tuple[str, ...]
    pid: int
    camid: int

    def __len__(self) -> int:
        return len(self.frame_paths)


@dataclass(frozen=True)
class DatasetSplits:
    """Train / query / gallery tracklets of one dataset (one split for iLIDS-VID and PRID-2011).

    ``num_train_pids`` is the number of classes (train pids are 0..num_train_pids-1);
    ``num_cams`` is the size of the camera table the model needs (max camid over all splits + 1).
    """

    name: str
    train: tuple[DatasetTracklet, ...]
    query: tuple[DatasetTracklet, ...]
    gallery: tuple[DatasetTracklet, ...]
    num_train_pids: int
    num_cams: int
    info: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        """A short human-readable table of ids / tracklets / frames per split."""
        lines = [f"{self.name}: split | ids | tracklets | frames"]
        for split in ("train", "query", "gallery"):
            recs = getattr(self, split)
            lines.append(
                f"  {split:8s}| {len({r.pid for r in recs}):5d} | {len(recs):8d} | "
                f"{sum(len(r) for r in recs):9d}"
            )
        return "\n".join(lines)


def relabel(records: Iterable[DatasetTracklet]) -> tuple[tuple[DatasetTracklet, ...], int]:
    """Map pids to 0..Y-1 in sorted pid order; returns (records, Y)."""
    records = tuple(records)
    pid2label = {pid: i for i, pid in enumerate(sorted({r.pid for r in records}))}
    out = tuple(DatasetTracklet(r.frame_paths, pid2label[r.pid], r.camid) for r in records)
    return out, len(pid2label)


def num_cams_of(*splits: Sequence[DatasetTracklet]) -> int:
    """Camera-table size covering every split (max camid + 1)."""
    cams = [r.camid for split in splits for r in split]
    return max(cams) + 1 if cams else 0


def require_file(path: Path, layout: str) -> Path:
    """Return ``path`` if it exists, else raise FileNotFoundError naming it and the layout."""
    if not path.exists():
        raise FileNotFoundError(f"missing {path}. Expected dataset layout:\n{layout}")
    return path


def split_long_tracklets(
    records: Iterable[DatasetTracklet], length: int = 48, keep_short: bool = True
) -> tuple[DatasetTracklet, ...]:
    """Cut tracklets into consecutive pieces of ``length`` frames (LS-VID training, spec 3.3).

    The last piece takes the remainder (``length`` to ``2*length-1`` frames). The official code drops
    tracklets shorter than ``length`` (spec 12.9, which can remove whole identities); here they are
    kept whole unless ``keep_short=False``.
    """
    out: list[DatasetTracklet] = []
    for r in records:
        n_pieces = len(r) // length
        if n_pieces == 0:
            if keep_short:
                out.append(r)
            continue
        for i in range(n_pieces):
            end = (i + 1) * length if i < n_pieces - 1 else len(r)
            out.append(DatasetTracklet(r.frame_paths[i * length:end], r.pid, r.camid))
    return tuple(out)
