"""Ground truth for ``reid demo``: which hand-labelled person an indexed tracklet is, and where the
true match ranks in a search.

The labels (``assets/labels/vtest_identities.json``, read with ``tracking.labels``) give each labelled
person's boxes ``[frame, x1, y1, x2, y2]`` in full-video frame numbers (every 3rd frame of a labelled
span). A demo camera is one time window of that video, so its frame ``f`` is full-video frame
``first_frame + f``. A tracklet is a labelled person when most of its boxes on the frames where that
person is labelled cover the person's box at IoU >= 0.5.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from tracking.labels import LabelledTracklet, labels_from_dict
from tracking.metrics import iou_matrix

logger = logging.getLogger(__name__)

LABELS = Path(__file__).resolve().parents[2] / "assets" / "labels" / "vtest_identities.json"

# frame -> (identities (N,) int64, boxes_xyxy (N, 4) float32 pixels), as tracking.labels.labelled_frames
LabelledFrames = Mapping[int, tuple[np.ndarray, np.ndarray]]


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


def identity_votes(frames: np.ndarray, boxes_xyxy: np.ndarray, labelled: LabelledFrames,
                   first_frame: int = 0, iou_threshold: float = 0.5) -> dict[int, tuple[int, int]]:
    """How one tracklet's boxes meet the labelled people: per person it covers, ``(matched,
    present)``.

    Each tracklet box on a labelled frame goes to the labelled box it overlaps most, when that IoU
    is at least ``iou_threshold``; ``matched`` counts the boxes that went to the person, ``present``
    the tracklet's boxes on frames where the person is labelled. Only people with a matched box are
    listed; more than one means the tracker switched people within the tracklet.

    Args:
        frames: ``(T,)`` int frame indices of the tracklet, in its own camera video's numbering.
        boxes_xyxy: ``(T, 4)`` pixel boxes of the tracklet.
        labelled: full-video frame -> (identities, boxes), see ``tracking.labels.labelled_frames``.
        first_frame: the full-video frame of the camera video's frame 0.
    """
    f = np.asarray(frames, np.int64).reshape(-1) + int(first_frame)
    b = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
    if len(f) != len(b):
        raise ValueError(f"{len(f)} frames but {len(b)} boxes")
    matched: Counter[int] = Counter()
    present: Counter[int] = Counter()
    for frame, box in zip(f.tolist(), b, strict=True):
        entry = labelled.get(frame)
        if entry is None:
            continue
        ids, boxes = entry
        present.update({int(i) for i in ids})
        iou = iou_matrix(box[None, :], boxes)[0]
        best = int(np.argmax(iou))
        if iou[best] >= iou_threshold:
            matched[int(ids[best])] += 1
    return {i: (n, present[i]) for i, n in matched.items()}


def identity_from_votes(votes: Mapping[int, tuple[int, int]]) -> int | None:
    """The person of :func:`identity_votes`: the one with the best ``matched / present`` when that
    share is more than half, else None; ties go to the person with more matched boxes.

    The share is taken over the frames where that person is labelled: labels are sampled (every 3rd
    frame, each person at its own phase) and cover only some people, so a frame where someone else
    is labelled says nothing about this one. A tracklet that follows an unlabelled person past a
    labelled one, or loses the person half-way, gets none.
    """
    if not votes:
        return None
    share, _, identity = max((n / p, n, i) for i, (n, p) in votes.items())
    return identity if share > 0.5 else None


def assign_identity(frames: np.ndarray, boxes_xyxy: np.ndarray, labelled: LabelledFrames,
                    first_frame: int = 0, iou_threshold: float = 0.5) -> int | None:
    """The labelled person one tracklet shows, or None (:func:`identity_votes` then
    :func:`identity_from_votes`; arguments as there)."""
    return identity_from_votes(identity_votes(frames, boxes_xyxy, labelled, first_frame, iou_threshold))


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
