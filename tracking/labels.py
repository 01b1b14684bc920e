"""Hand-labelled identities on real footage, and the scores computed from them.

A label file (``assets/labels/*.json``, written with ``benchmarks/label_tool.py``) lists identities;
each holds labelled tracklets, each a frame span of one person with sampled boxes
``[frame, x1, y1, x2, y2]`` (pixels of the full frame). Boxes, not tracker ids, are the key, so any
detector or tracker output can be scored against them by IoU matching:

- :func:`coverage_idf1`: the fraction of labelled boxes some hypothesis box covers at IoU >= 0.5, and
  IDF1 on the matched boxes (identities vs hypothesis track ids, each matched once).
- :func:`reid_rank_scores`: mAP and Rank-1 of per-tracklet descriptors, every labelled tracklet whose
  identity has another labelled tracklet is a query; the gallery is every other labelled tracklet that
  does not overlap the query in time (one camera: a time overlap would be the same moment).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from tracking.boxes import iou_matrix


@dataclass(frozen=True)
class LabelledTracklet:
    """One labelled span of one person.

    Attributes:
        identity: the person's label id.
        source_track_id: the tracker id it was labelled from (reference only).
        frames: ``(T,)`` int64 frame indices of the sampled boxes, increasing.
        boxes_xyxy: ``(T, 4)`` float32 pixel boxes.
    """

    identity: int
    source_track_id: int
    frames: np.ndarray
    boxes_xyxy: np.ndarray

    @property
    def span(self) -> tuple[int, int]:
        """First and last labelled frame (inclusive)."""
        return int(self.frames[0]), int(self.frames[-1])


def load_labels(path: str | Path) -> list[LabelledTracklet]:
    """The labelled tracklets of a label file, identity by identity.

    Raises:
        ValueError: a tracklet has no boxes or a malformed box row.
    """
    data = json.loads(Path(path).read_text())
    return labels_from_dict(data)


def labels_from_dict(data: Mapping[str, Any]) -> list[LabelledTracklet]:
    """:func:`load_labels` on already parsed JSON.

    Entries of one identity with the same source ``track_id`` (one tracker tracklet split round a few
    frames where its box held someone else) are merged into one labelled tracklet.
    """
    out = []
    for ident in data["identities"]:
        merged: dict[int, list[np.ndarray]] = {}
        for t in ident["tracklets"]:
            rows = np.asarray(t.get("boxes", []), np.float64).reshape(-1, 5) if t.get("boxes") else None
            if rows is None or not len(rows):
                raise ValueError(f"identity {ident['id']} tracklet {t.get('track_id')} has no boxes")
            merged.setdefault(int(t.get("track_id", -1)), []).append(rows)
        for track_id, parts in merged.items():
            rows = np.concatenate(parts)
            rows = rows[np.argsort(rows[:, 0], kind="stable")]
            out.append(LabelledTracklet(int(ident["id"]), track_id,
                                        rows[:, 0].astype(np.int64), rows[:, 1:].astype(np.float32)))
    return out


def labelled_frames(labels: Iterable[LabelledTracklet]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per frame the identities ``(N,)`` int64 and boxes ``(N, 4)`` float32 labelled in it."""
    acc: dict[int, tuple[list[int], list[np.ndarray]]] = {}
    for t in labels:
        for f, box in zip(t.frames, t.boxes_xyxy, strict=True):
            ids, boxes = acc.setdefault(int(f), ([], []))
            ids.append(t.identity)
            boxes.append(box)
    return {f: (np.array(i, np.int64), np.stack(b).astype(np.float32)) for f, (i, b) in acc.items()}


@dataclass(frozen=True)
class CoverageResult:
    """Tracker output against labelled boxes.

    Attributes:
        coverage: matched labelled boxes / labelled boxes (IoU >= threshold, one-to-one per frame).
        idf1: IDF1 on the matched boxes, ``2 * IDTP / (matched labelled + matched hypothesis boxes)``;
            identities and track ids paired one-to-one to maximise IDTP. Unlabelled people do not
            count against it, nor do missed boxes.
        idf1_labelled: ``2 * IDTP / (labelled + matched hypothesis boxes)``: missed boxes count too.
        num_labelled: labelled boxes in the frames scored.
        num_matched: labelled boxes matched.
        num_hyp_tracks: distinct track ids among the matched hypothesis boxes.
    """

    coverage: float
    idf1: float
    idf1_labelled: float
    num_labelled: int
    num_matched: int
    num_hyp_tracks: int


def coverage_idf1(labels: Iterable[LabelledTracklet], hyp: Mapping[int, tuple[np.ndarray, np.ndarray]],
                  iou_threshold: float = 0.5, frames: Iterable[int] | None = None) -> CoverageResult:
    """Score hypotheses ``hyp`` (frame -> (track ids ``(M,)``, boxes ``(M, 4)``), e.g.
    :func:`tracking.boxes.tracklets_to_frames`) against the labelled boxes.

    Args:
        frames: only labelled boxes in these frames count (e.g. the frames a short run processed).
    """
    gt = labelled_frames(labels)
    keep = set(gt) if frames is None else set(gt) & {int(f) for f in frames}
    num_labelled = matched = 0
    co: dict[tuple[int, int], int] = {}
    for f in sorted(keep):
        g_ids, g_boxes = gt[f]
        num_labelled += len(g_ids)
        h_ids, h_boxes = hyp.get(f, (np.zeros(0, np.int64), np.zeros((0, 4), np.float32)))
        if not len(h_ids):
            continue
        iou = iou_matrix(g_boxes, h_boxes)
        rows, cols = linear_sum_assignment(-iou)
        for r, c in zip(rows, cols, strict=True):
            if iou[r, c] >= iou_threshold:
                matched += 1
                key = (int(g_ids[r]), int(h_ids[c]))
                co[key] = co.get(key, 0) + 1
    idtp = 0
    if co:
        gi = {g: k for k, g in enumerate(sorted({g for g, _ in co}))}
        hi = {h: k for k, h in enumerate(sorted({h for _, h in co}))}
        m = np.zeros((len(gi), len(hi)))
        for (g, h), n in co.items():
            m[gi[g], hi[h]] = n
        r, c = linear_sum_assignment(-m)
        idtp = int(m[r, c].sum())
    num_tracks = len({h for _, h in co})
    return CoverageResult(
        coverage=matched / num_labelled if num_labelled else 0.0,
        idf1=2.0 * idtp / (2 * matched) if matched else 0.0,
        idf1_labelled=2.0 * idtp / (num_labelled + matched) if num_labelled else 0.0,
        num_labelled=num_labelled, num_matched=matched, num_hyp_tracks=num_tracks,
    )


@dataclass(frozen=True)
class RankResult:
    """ReID ranking on labelled tracklets.

    Attributes:
        mean_ap: mean over queries of the average precision of the true matches in the ranked gallery.
        rank1: fraction of queries whose nearest gallery tracklet is the same person.
        num_queries: queries with at least one true match in their gallery.
    """

    mean_ap: float
    rank1: float
    num_queries: int


GalleryScorer = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``scorer(query (D,), gallery (G, D)) -> (G,)`` scores, higher is more alike (e.g. re-ranking)."""


def reid_rank_scores(features: np.ndarray, identities: np.ndarray, spans: np.ndarray,
                     min_gap_frames: int = 1, scorer: GalleryScorer | None = None) -> RankResult:
    """mAP / Rank-1 of cross-tracklet queries by cosine similarity.

    Every tracklet is a query; its gallery is every other tracklet that does not overlap it in time
    (same camera: an overlap would be the same moment, or the same person boxed twice), and, with
    ``min_gap_frames`` > 1, that lies at least that many frames before or after it (leaves out the
    fragments of the same walk: the person must have left and come back). Queries with no true match
    in their gallery are skipped. Ties keep gallery order (stable sort).

    Args:
        features: ``(N, D)`` float descriptors (any scale; rows are L2-normalised here).
        identities: ``(N,)`` int identity of each tracklet.
        spans: ``(N, 2)`` int first and last frame (inclusive) of each tracklet.
        min_gap_frames: least ``later start - earlier end`` for a gallery tracklet (1: no overlap).
        scorer: scores of each query against its gallery instead of the cosine similarity.

    Raises:
        ValueError: shapes disagree, or no tracklet has a true match.
    """
    x = np.asarray(features, np.float64)
    ids = np.asarray(identities).reshape(-1)
    sp = np.asarray(spans, np.int64).reshape(-1, 2)
    if x.ndim != 2 or len(x) != len(ids) or len(sp) != len(ids):
        raise ValueError(f"features {x.shape}, identities {ids.shape}, spans {sp.shape} disagree")
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    sim = x @ x.T
    gap = np.maximum(sp[None, :, 0] - sp[:, None, 1], sp[:, None, 0] - sp[None, :, 1])
    overlap = gap < max(1, int(min_gap_frames))
    aps, hits = [], []
    for q in range(len(ids)):
        gallery = np.flatnonzero(~overlap[q])
        positives = ids[gallery] == ids[q]
        if not positives.any():
            continue
        scores = sim[q, gallery] if scorer is None else np.asarray(scorer(x[q], x[gallery]))
        order = np.argsort(-scores, kind="stable")
        good = positives[order]
        ranks = np.flatnonzero(good) + 1
        aps.append(float(np.mean(np.arange(1, len(ranks) + 1) / ranks)))
        hits.append(bool(good[0]))
    if not aps:
        raise ValueError("no labelled tracklet has another tracklet of its identity to find")
    return RankResult(float(np.mean(aps)), float(np.mean(hits)), len(aps))


def label_crops(video: str | Path, labels: list[LabelledTracklet]) -> list[list[np.ndarray]]:
    """Per labelled tracklet the RGB uint8 ``(h, w, 3)`` crops of its labelled boxes, read from
    ``video`` in one pass (boxes clipped to the frame; empty boxes skipped).

    Raises:
        tracking.video.VideoError: the video cannot be opened.
    """
    from tracking.video import VideoReader

    wanted: dict[int, list[tuple[int, np.ndarray]]] = {}
    for k, t in enumerate(labels):
        for f, box in zip(t.frames, t.boxes_xyxy, strict=True):
            wanted.setdefault(int(f), []).append((k, box))
    out: list[list[np.ndarray]] = [[] for _ in labels]
    last = max(wanted) if wanted else -1
    for frame in VideoReader(video, max_frames=last + 1):
        for k, box in wanted.get(frame.index, []):
            h, w = frame.image.shape[:2]
            x1, y1 = max(0, int(box[0])), max(0, int(box[1]))
            x2, y2 = min(w, int(np.ceil(box[2]))), min(h, int(np.ceil(box[3])))
            if x2 > x1 and y2 > y1:
                out[k].append(np.ascontiguousarray(frame.image[y1:y2, x1:x2, ::-1]))
    return out


def hsv_histograms(crops: list[list[np.ndarray]], bins: tuple[int, int, int] = (16, 4, 4)) -> np.ndarray:
    """The colour-histogram baseline: per tracklet the mean over its crops of the L1-normalised joint
    HSV histogram of each RGB crop, ``(N, prod(bins))`` float32, rows L2-normalised."""
    import cv2

    out = np.zeros((len(crops), int(np.prod(bins))), np.float32)
    for k, tracklet in enumerate(crops):
        for crop in tracklet:
            hsv = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV)
            hist = cv2.calcHist([hsv], [0, 1, 2], None, list(bins), [0, 180, 0, 256, 0, 256]).ravel()
            out[k] += hist / max(float(hist.sum()), 1.0)
    norm: npt.NDArray[np.float32] = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.maximum(norm, 1e-12)


@dataclass(frozen=True)
class FrameLabels:
    """Every person in a few frames (``assets/labels/vtest_all_people.json``).

    Attributes:
        boxes: frame -> ``(N, 4)`` float32 pixel boxes, one per person a box could be drawn for.
        unboxed: frame -> people seen in that frame that no box fitted (count as missed).
    """

    boxes: dict[int, np.ndarray]
    unboxed: dict[int, int]

    @property
    def num_people(self) -> int:
        """All people of all frames, boxed or not."""
        return sum(len(b) for b in self.boxes.values()) + sum(self.unboxed.values())


def load_frame_labels(path: str | Path) -> FrameLabels:
    """Read a frame-complete label file: ``{"frames": {"40": {"boxes": [[x1, y1, x2, y2], ...],
    "unboxed": 0}, ...}}``."""
    data = json.loads(Path(path).read_text())
    boxes, unboxed = {}, {}
    for f, entry in data["frames"].items():
        boxes[int(f)] = np.asarray(entry["boxes"], np.float32).reshape(-1, 4)
        unboxed[int(f)] = int(entry.get("unboxed", 0))
    return FrameLabels(boxes, unboxed)


def frame_coverage(labels: FrameLabels, hyp: Mapping[int, tuple[np.ndarray, np.ndarray]],
                   iou_threshold: float = 0.5) -> float:
    """Share of all labelled people (unboxed ones count as missed) that a hypothesis box covers at
    IoU >= ``iou_threshold``, one-to-one per frame; ``hyp`` as in :func:`coverage_idf1`."""
    hit = 0
    for f, truth in labels.boxes.items():
        boxes = hyp.get(f, (None, np.zeros((0, 4), np.float32)))[1]
        if len(truth) and len(boxes):
            iou = iou_matrix(truth, np.asarray(boxes, np.float32).reshape(-1, 4))
            r, c = linear_sum_assignment(-iou)
            hit += int((iou[r, c] >= iou_threshold).sum())
    return hit / labels.num_people if labels.num_people else 0.0


LabelledFrames = Mapping[int, tuple[np.ndarray, np.ndarray]]
"""frame -> (identities ``(N,)`` int64, boxes ``(N, 4)`` float32 pixels), as :func:`labelled_frames`."""


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
