"""The demo's ground truth on synthetic boxes: the camera split, which labelled person a tracklet
is, where the true match ranks and what the demo says about it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.commands._demo_truth import footage_labels, rank_lines, rank_summary, true_match_rank
from app.commands.demo import split_spans
from tracking.labels import (
    assign_identity,
    identity_from_votes,
    identity_votes,
    labelled_frames,
    labels_from_dict,
)

# Two people walking side by side, labelled every 3rd frame of full-video frames 300-330.
P1 = np.array([100.0, 50.0, 140.0, 150.0])
P2 = np.array([300.0, 60.0, 340.0, 160.0])
FRAMES = list(range(300, 331, 3))


def _label_dict(frames: int = 795, size: tuple[int, int] = (768, 576)) -> dict:
    def rows(box: np.ndarray) -> list[list[float]]:
        return [[f, *(box + [k, 0, k, 0]).tolist()] for k, f in enumerate(FRAMES)]

    return {"frames": frames, "size": list(size), "identities": [
        {"id": 1, "tracklets": [{"track_id": 7, "boxes": rows(P1)}]},
        {"id": 2, "tracklets": [{"track_id": 8, "boxes": rows(P2)}]}]}


def _gt():
    return labelled_frames(labels_from_dict(_label_dict()))


def _walk(box: np.ndarray, frames: list[int], first_frame: int = 0, jitter: float = 2.0):
    """A tracklet following ``box`` (moving as the labels do), in camera frame numbers."""
    local = np.array(frames) - first_frame
    boxes = np.stack([box + [k + jitter, jitter, k + jitter, jitter] for k, _ in enumerate(frames)])
    return local, boxes


def test_split_spans_without_overlap_are_disjoint_and_cover_every_frame():
    for n in (795, 794, 21):
        (a_lo, a_hi), (b_lo, b_hi) = split_spans(n, 0.0)
        assert (a_lo, b_hi) == (0, n) and a_hi == b_lo  # b starts where a ends: no frame twice
        assert abs((a_hi - a_lo) - (b_hi - b_lo)) <= 1
    assert split_spans(795, 0.0) == ((0, 398), (398, 795))


def test_split_spans_with_overlap_share_that_fraction():
    (a_lo, a_hi), (b_lo, b_hi) = split_spans(795, 0.15)
    assert a_hi - b_lo == round(795 * 0.15) and (a_lo, b_hi) == (0, 795)
    with pytest.raises(ValueError):
        split_spans(795, 1.0)
    with pytest.raises(ValueError):
        split_spans(795, -0.1)


def test_a_tracklet_takes_the_person_whose_boxes_it_covers():
    gt = _gt()
    assert assign_identity(*_walk(P1, FRAMES), gt) == 1
    assert assign_identity(*_walk(P2, FRAMES), gt) == 2


def test_camera_frames_are_shifted_by_the_cameras_first_frame():
    gt = _gt()
    # cam-b starts at full-video frame 280: its frame 20 is frame 300.
    frames, boxes = _walk(P2, FRAMES, first_frame=280)
    assert frames[0] == 20
    assert assign_identity(frames, boxes, gt, first_frame=280) == 2
    assert assign_identity(frames, boxes, gt, first_frame=0) is None  # unshifted: no labelled frame


def test_a_tracklet_away_from_every_labelled_box_is_nobody():
    gt = _gt()
    far = np.array([500.0, 300.0, 540.0, 400.0])
    assert assign_identity(*_walk(far, FRAMES), gt) is None
    # Half overlapping P1 (IoU 1/3 < 0.5) is not enough.
    shifted = P1 + [20.0, 0.0, 20.0, 0.0]
    assert assign_identity(*_walk(shifted, FRAMES, jitter=0.0), gt) is None


def test_a_tracklet_needs_most_of_its_labelled_boxes_on_one_person():
    gt = _gt()
    f1, b1 = _walk(P1, FRAMES[:8])
    f2, b2 = _walk(P2, FRAMES)
    # 8 boxes on person 1 then 3 on person 2 (an id switch late): person 1.
    frames = np.concatenate([f1, f2[8:]])
    boxes = np.concatenate([b1, b2[8:]])
    assert assign_identity(frames, boxes, gt) == 1
    # 5 on person 1, 6 on person 2: person 2 has the majority.
    frames = np.concatenate([f1[:5], f2[5:]])
    boxes = np.concatenate([b1[:5], b2[5:]])
    assert assign_identity(frames, boxes, gt) == 2
    # 4 on person 1, 7 far from anyone: no majority, nobody.
    far = np.array([500.0, 300.0, 540.0, 400.0])
    ff, bf = _walk(far, FRAMES)
    assert assign_identity(np.concatenate([f1[:4], ff[4:]]), np.concatenate([b1[:4], bf[4:]]), gt) is None


def test_frames_where_only_someone_else_is_labelled_do_not_count_against_a_person():
    # Person 2 is labelled one frame after person 1 (301, 304, ...) and person 3 two frames after
    # (302, ...), as each labelled tracklet is sampled at its own phase: a tracklet following person 1
    # on every frame 300-330 is on person 1's labelled frames only a third of the time, and is person 1.
    data = _label_dict()
    for row in data["identities"][1]["tracklets"][0]["boxes"]:
        row[0] += 1
    far = [[f + 2, 500.0, 300.0, 540.0, 400.0] for f in FRAMES]
    data["identities"].append({"id": 3, "tracklets": [{"track_id": 9, "boxes": far}]})
    gt = labelled_frames(labels_from_dict(data))
    frames = np.arange(300, 331)
    boxes = np.stack([P1 + [(f - 300) / 3, 0, (f - 300) / 3, 0] for f in frames])
    assert assign_identity(frames, boxes, gt) == 1
    # The same tracklet shifted onto person 2's path is person 2.
    boxes2 = np.stack([P2 + [(f - 301) / 3, 0, (f - 301) / 3, 0] for f in frames])
    assert assign_identity(frames, boxes2, gt) == 2


def test_votes_show_a_tracklet_that_switched_people():
    gt = _gt()
    f1, b1 = _walk(P1, FRAMES)
    _, b2 = _walk(P2, FRAMES)
    boxes = np.concatenate([b1[:8], b2[8:]])
    assert identity_votes(f1, boxes, gt) == {1: (8, 11), 2: (3, 11)}
    assert identity_votes(*_walk(P2, FRAMES), gt) == {2: (11, 11)}
    assert identity_votes(f1 + 1, b1, gt) == {}  # frames 301, 304, ...: nobody labelled there


def test_identity_from_votes_takes_the_best_share_above_half():
    assert identity_from_votes({}) is None
    assert identity_from_votes({1: (3, 10), 2: (6, 10)}) == 2
    assert identity_from_votes({1: (5, 10)}) is None  # half is not most
    assert identity_from_votes({1: (2, 2), 2: (9, 10)}) == 1  # share, not count
    assert identity_from_votes({1: (4, 4), 2: (8, 8)}) == 2  # equal shares: more boxes


def test_a_tracklet_passing_a_labelled_person_briefly_is_not_that_person():
    gt = _gt()
    frames, boxes = _walk(P1, FRAMES)
    far = np.array([500.0, 300.0, 540.0, 400.0])
    boxes[3:] = far  # on P1 for 3 of the 11 frames where P1 is labelled, elsewhere after
    assert assign_identity(frames, boxes, gt) is None


def test_boxes_on_unlabelled_frames_do_not_vote():
    gt = _gt()
    labelled_f, labelled_b = _walk(P1, FRAMES[:2])
    # Many boxes elsewhere in frames nobody labelled (e.g. 301, 302): only the labelled ones count.
    other_f = np.arange(500, 540)
    other_b = np.tile(np.array([[500.0, 300.0, 540.0, 400.0]]), (len(other_f), 1))
    frames = np.concatenate([labelled_f, other_f])
    boxes = np.concatenate([labelled_b, other_b])
    assert assign_identity(frames, boxes, gt) == 1
    assert assign_identity(other_f, other_b, gt) is None
    with pytest.raises(ValueError):
        assign_identity(frames, boxes[:-1], gt)


def test_true_match_rank_is_the_first_result_of_that_person():
    assert true_match_rank([None, 3, 2, 2], 2) == 3
    assert true_match_rank([2, None], 2) == 1
    assert true_match_rank([None, 3], 2) is None
    assert true_match_rank([], 2) is None


def test_rank_lines_say_plainly_when_the_true_match_is_not_first():
    first = rank_lines(3, 1, 40, "cam-b")
    assert first == ["true match (person 3 on cam-b) ranks 1 of 40"]
    later = rank_lines(3, 4, 40, "cam-b")
    assert later[0] == "true match (person 3 on cam-b) ranks 4 of 40"
    assert later[1].startswith("the true match is not first") and "3 other tracklets" in later[1]
    assert "1 other tracklet of" in rank_lines(3, 2, 40, "cam-b")[1]
    assert rank_lines(3, None, 40, "cam-b") == ["true match (person 3 on cam-b) not found in the top 40"]


def test_rank_summary_counts_rank1_and_top5_over_every_query():
    line = rank_summary([1, 2, None, 1, 6, 5])
    assert "true match first for 2 of 6 (Rank-1 0.33)" in line
    assert "in the top 5 for 4 of 6" in line and "chance" not in line
    assert "(Rank-1 0.50, 0.25 by chance)" in rank_summary([1, 3], chance=[0.1, 0.4])
    assert "none" in rank_summary([])


def test_labels_are_used_only_on_footage_of_their_frame_count_and_size(tmp_path):
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(_label_dict()))
    labels, reason = footage_labels(path, 795, (768, 576))
    assert reason == "" and {t.identity for t in labels} == {1, 2}
    labels, reason = footage_labels(path, 700, (768, 576))
    assert labels is None and "795 frames" in reason and "700 frames" in reason
    labels, reason = footage_labels(path, 795, (640, 480))
    assert labels is None and "640x480" in reason
    labels, reason = footage_labels(tmp_path / "missing.json", 795, (768, 576))
    assert labels is None and "no label file" in reason
    path.write_text("{not json")
    labels, reason = footage_labels(path, 795, (768, 576))
    assert labels is None and "unreadable" in reason
