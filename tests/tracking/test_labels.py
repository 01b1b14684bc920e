"""Scoring against hand-labelled identities (tracking.labels) on tiny hand-made cases."""

import numpy as np
import pytest

from tracking.labels import (
    coverage_idf1,
    hsv_histograms,
    labels_from_dict,
    reid_rank_scores,
)


def _labels():
    # Person 1 in frames 0 and 1, person 2 in frame 1 only.
    return labels_from_dict({"identities": [
        {"id": 1, "tracklets": [{"track_id": 7, "boxes": [[1, 0, 0, 10, 20], [0, 0, 0, 10, 20]]}]},
        {"id": 2, "tracklets": [{"track_id": 8, "boxes": [[1, 50, 0, 60, 20]]}]},
    ]})


def test_labels_sorted_by_frame_split_entries_merged_and_empty_tracklet_refused():
    a, b = _labels()
    assert a.identity == 1 and a.frames.tolist() == [0, 1] and a.span == (0, 1)
    assert b.boxes_xyxy.dtype == np.float32 and b.boxes_xyxy.shape == (1, 4)
    split = labels_from_dict({"identities": [{"id": 1, "tracklets": [
        {"track_id": 4, "boxes": [[30, 0, 0, 1, 2]]}, {"track_id": 4, "boxes": [[10, 0, 0, 1, 2]]},
        {"track_id": 5, "boxes": [[20, 0, 0, 1, 2]]}]}]})
    assert [(t.source_track_id, t.span) for t in split] == [(4, (10, 30)), (5, (20, 20))]
    with pytest.raises(ValueError, match="no boxes"):
        labels_from_dict({"identities": [{"id": 3, "tracklets": [{"track_id": 1, "boxes": []}]}]})


def test_coverage_counts_iou_matches_and_idf1_one_id_per_person():
    labels = _labels()
    hyp = {
        0: (np.array([5]), np.array([[0, 0, 10, 20]], np.float32)),           # exact: person 1
        1: (np.array([6, 9]), np.array([[0, 0, 10, 14], [51, 0, 61, 20]], np.float32)),
    }
    # frame 1: box of track 6 has IoU 0.7 with person 1, track 9 IoU 9/11 with person 2.
    r = coverage_idf1(labels, hyp)
    assert (r.num_labelled, r.num_matched, r.num_hyp_tracks) == (3, 3, 3)
    assert r.coverage == 1.0
    # person 1 spread over tracks 5 and 6: best one-to-one pairing keeps 2 of 3 matches.
    assert r.idf1 == pytest.approx(2 / 3) and r.idf1_labelled == pytest.approx(2 / 3)
    # A stricter threshold drops the loose box; only the frames asked for are scored.
    strict = coverage_idf1(labels, hyp, iou_threshold=0.75)
    assert strict.num_matched == 2 and strict.coverage == pytest.approx(2 / 3)
    # tracks 5 and 9 each hold one matched box: IDTP 2 of 2 matched, of 3 labelled.
    assert strict.idf1 == 1.0 and strict.idf1_labelled == pytest.approx(2 * 2 / (3 + 2))
    only0 = coverage_idf1(labels, hyp, frames=[0])
    assert (only0.num_labelled, only0.coverage, only0.idf1) == (1, 1.0, 1.0)
    assert coverage_idf1(labels, {}).coverage == 0.0


def test_rank_scores_exclude_time_overlaps_and_skip_lonely_queries():
    ids = np.array([1, 1, 2, 2, 3])
    spans = np.array([[0, 10], [20, 30], [0, 10], [20, 30], [40, 50]])
    feats = np.array([[1, 0], [1, 0.1], [0, 1], [0.1, 1], [1, 1]], np.float64)
    r = reid_rank_scores(feats, ids, spans)
    assert r.num_queries == 4 and r.mean_ap == 1.0 and r.rank1 == 1.0
    # Swap: each query's nearest non-overlapping tracklet is now the other person (rank 2 of 3).
    swapped = np.array([[1, 0], [0, 1], [0, 1.1], [1, 0.1], [-1, -1]], np.float64)
    r = reid_rank_scores(swapped, ids, spans)
    assert r.rank1 == 0.0 and r.mean_ap == pytest.approx(0.5)
    # Overlapping tracklets are not in each other's gallery: no query has a match left.
    with pytest.raises(ValueError, match="no labelled tracklet"):
        reid_rank_scores(feats, ids, np.array([[0, 30]] * 5))
    # A minimum gap leaves out the next fragment of the same walk: 10 frames apart is not enough.
    assert reid_rank_scores(feats, ids, spans, min_gap_frames=5).num_queries == 4
    with pytest.raises(ValueError, match="no labelled tracklet"):
        reid_rank_scores(feats, ids, spans, min_gap_frames=11)
    with pytest.raises(ValueError, match="disagree"):
        reid_rank_scores(feats[:3], ids, spans)


def test_hsv_histograms_tell_colours_apart():
    red = np.zeros((20, 10, 3), np.uint8)
    red[..., 0] = 200
    blue = np.zeros((20, 10, 3), np.uint8)
    blue[..., 2] = 200
    h = hsv_histograms([[red, red], [red], [blue]])
    assert h.shape == (3, 256)
    np.testing.assert_allclose(np.linalg.norm(h, axis=1), 1.0, atol=1e-6)
    assert h[0] @ h[1] == pytest.approx(1.0) and h[0] @ h[2] == pytest.approx(0.0)


def test_frame_coverage_counts_unboxed_people_as_missed(tmp_path):
    import json

    from tracking.labels import frame_coverage, load_frame_labels

    path = tmp_path / "all.json"
    path.write_text(json.dumps({"frames": {
        "3": {"boxes": [[0, 0, 10, 30], [50, 0, 60, 30]], "unboxed": 1},
        "7": {"boxes": [[0, 0, 10, 30]], "unboxed": 0}}}))
    labels = load_frame_labels(path)
    assert labels.num_people == 4
    hyp = {3: (np.array([1, 2]), np.array([[0, 0, 10, 31], [52, 0, 70, 30]], np.float32)),
           9: (np.array([1]), np.array([[0, 0, 10, 30]], np.float32))}
    # frame 3: one box matched (IoU 0.97), one not (IoU 0.4); frame 7: nothing tracked
    assert frame_coverage(labels, hyp) == 0.25
    assert frame_coverage(labels, {}) == 0.0
