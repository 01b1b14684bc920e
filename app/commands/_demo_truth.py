"""Ground truth for ``reid demo``: the hand labels when they fit the footage, and where the true
match ranks in a search.

The labels (``assets/labels/vtest_identities.json``, read with ``tracking.labels``) give each labelled
person's boxes ``[frame, x1, y1, x2, y2]`` in full-video frame numbers (every 3rd frame of a labelled
span). A demo camera is one time window of that video, so its frame ``f`` is full-video frame
``first_frame + f``; which person a tracklet shows is ``tracking.labels.assign_identity``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tracking.labels import LabelledTracklet, labels_from_dict

logger = logging.getLogger(__name__)

LABELS = Path(__file__).resolve().parents[2] / "assets" / "labels" / "vtest_identities.json"



def footage_labels(path: str | Path, frame_count: int,
                   frame_size: tuple[int, int]) -> tuple[list[LabelledTracklet] | None, str]:
    """The labelled tracklets of the label file ``path`` when they fit this footage, else why not.

    The labels fit when the file's ``frames`` equals ``frame_count`` and its ``size`` equals
    ``frame_size`` (width, height in pixels): boxes of another video would match nothing or, worse,
    the wrong people.

    Returns:
        ``(labels, "")``, or ``(None, reason)`` when the file is missing, unreadable or made on
        other footage.
    """
    path = Path(path)
    if not path.is_file():
        return None, f"no label file at {path}"
    try:
        data = json.loads(path.read_text())
        frames, size = int(data["frames"]), tuple(int(v) for v in data["size"])
        labels = labels_from_dict(data)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.warning("cannot read the labels %s: %s", path, exc)
        return None, f"{path.name} is unreadable ({type(exc).__name__}: {exc})"
    if frames != frame_count or size != tuple(frame_size):
        return None, (f"{path.name} labels {frames} frames of {size[0]}x{size[1]}, this footage has "
                      f"{frame_count} frames of {frame_size[0]}x{frame_size[1]}")
    return labels, ""


def true_match_rank(ranked_identities: Sequence[int | None], identity: int) -> int | None:
    """1-based rank of the first result showing ``identity`` (results best first), None if absent."""
    for rank, found in enumerate(ranked_identities, start=1):
        if found == identity:
            return rank
    return None


def rank_lines(identity: int, rank: int | None, ranked: int, camera: str) -> list[str]:
    """What the demo says about one query's true match: its rank among ``ranked`` results on
    ``camera``, and plainly when it is not first or not there at all."""
    who = f"true match (person {identity} on {camera})"
    if rank is None:
        return [f"{who} not found in the top {ranked}"]
    lines = [f"{who} ranks {rank} of {ranked}"]
    if rank > 1:
        lines.append(f"the true match is not first: {rank - 1} other tracklet"
                     f"{'s' if rank > 2 else ''} of {camera} scored higher")
    return lines


def rank_summary(ranks: Sequence[int | None], chance: Sequence[float] = (), top: int = 5) -> str:
    """One line over every labelled cross-camera query: how often the true match is first and in
    the top ``top``.

    Args:
        ranks: the rank of each query's true match, None when not found.
        chance: per query, the Rank-1 a random order would get (true matches / tracklets ranked);
            their mean is printed beside the Rank-1 when given.
    """
    n = len(ranks)
    if n == 0:
        return "all labelled cross-camera queries: none (no labelled person was tracked on both cameras)"
    first = sum(r == 1 for r in ranks)
    in_top = sum(r is not None and r <= top for r in ranks)
    by_chance = f", {float(np.mean(chance)):.2f} by chance" if len(chance) else ""
    return (f"all labelled cross-camera queries: true match first for {first} of {n} "
            f"(Rank-1 {first / n:.2f}{by_chance}), in the top {top} for {in_top} of {n}")
