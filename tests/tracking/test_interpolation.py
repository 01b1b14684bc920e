"""Tracklets at ``--stride`` N: boxes filled on the frames between detections, widened matching boxes,
and each track's first detection recovered."""

import numpy as np
import pytest

from tests.support.metrics import evaluate_mot
from tests.support.synthetic import GroundTruthDetector, PersonPath, SyntheticScene
from tracking import load_tracking_config, track_video
from tracking.boxes import tracklets_to_frames
from tracking.pipeline import stride_buffer, widen_boxes
from tracking.records import Tracklet
from tracking.tracklets import fill_gaps, gap_fill_frames

from .conftest import gt_frames

OFF = {"tracker": {"stride_buffer_per_second": 0.0}, "tracklets": {"fill_gaps_seconds": 0.0}}


def _tracklet(frames, boxes, scores=None, fps=10.0):
    frames = np.asarray(frames)
    return Tracklet("v", "cam", 1, frames, frames / fps, np.asarray(boxes, np.float32),
                    np.full(len(frames), 0.8) if scores is None else scores)


def test_a_gap_of_k_frames_gets_k_linear_boxes_with_score_zero():
    t = _tracklet([10, 11, 15, 16], [[0, 0, 10, 20], [2, 0, 12, 20], [10, 4, 30, 44], [11, 4, 31, 44]],
                  scores=[0.7, 0.8, 0.9, 0.6])
    f = fill_gaps(t, max_gap_frames=4)
    np.testing.assert_array_equal(f.frame_indices, np.arange(10, 17))
    # Frames 12..14 lie 1/4, 2/4, 3/4 of the way from the box at 11 to the box at 15.
    for k, frame in enumerate((12, 13, 14), start=1):
        expected = np.array([2, 0, 12, 20]) + k / 4 * (np.array([10, 4, 30, 44]) - np.array([2, 0, 12, 20]))
        np.testing.assert_allclose(f.boxes_xyxy[frame - 10], expected, atol=1e-5)
    np.testing.assert_allclose(f.timestamps, np.arange(10, 17) / 10.0)
    np.testing.assert_allclose(f.scores, [0.7, 0.8, 0, 0, 0, 0.9, 0.6], atol=1e-6)
    # The real boxes are untouched.
    np.testing.assert_array_equal(f.boxes_xyxy[[0, 1, 5, 6]], t.boxes_xyxy)


def test_long_gaps_and_the_ends_stay_empty():
    boxes = [[0, 0, 10, 20]] * 4
    t = _tracklet([0, 3, 9, 11], boxes)
    f = fill_gaps(t, max_gap_frames=3)
    # 0->3 (distance 3) is filled, 3->9 (distance 6) is not, 9->11 (distance 2) is.
    np.testing.assert_array_equal(f.frame_indices, [0, 1, 2, 3, 9, 10, 11])
    assert int((f.scores > 0).sum()) == 4
    assert fill_gaps(t, max_gap_frames=0) is t
    assert fill_gaps(_tracklet([4, 5, 6], boxes[:3]), max_gap_frames=10) is not None
    assert len(fill_gaps(_tracklet([4, 5, 6], boxes[:3]), max_gap_frames=10)) == 3


def test_fill_keeps_crops_and_uneven_timestamps():
    t = _tracklet([0, 4], [[0, 0, 10, 20], [4, 0, 14, 20]])
    t.timestamps = np.array([0.0, 0.2])  # a container whose clock runs at 20 fps
    t.crops, t.crop_frame_indices = [np.zeros((4, 2, 3), np.uint8)], [0]
    f = fill_gaps(t, max_gap_frames=4)
    np.testing.assert_allclose(f.timestamps, [0.0, 0.05, 0.1, 0.15, 0.2])
    assert f.crops is t.crops and f.crop_frame_indices == [0]


def test_gap_length_in_frames_covers_at_least_the_stride():
    assert gap_fill_frames(1.0, fps=10.0) == 10
    assert gap_fill_frames(0.5, fps=30.0, stride=1) == 15
    assert gap_fill_frames(0.1, fps=10.0, stride=4) == 4
    assert gap_fill_frames(0.0, fps=10.0, stride=3) == 0


def test_widened_boxes_keep_their_centres():
    b = np.array([[10, 20, 30, 60]], np.float32)
    np.testing.assert_allclose(widen_boxes(b, 0.5), [[0, 0, 40, 80]])
    np.testing.assert_allclose(widen_boxes(b, 0.0), b)
    cfg = {"stride_buffer_per_second": 4.0}
    assert stride_buffer(cfg, fps=10.0, stride=1) == 0.0
    assert stride_buffer(cfg, fps=10.0, stride=3) == pytest.approx(0.8)
    assert stride_buffer({}, fps=10.0, stride=3) == 0.0


def test_stride_2_tracklets_have_a_box_on_every_frame(simple_scene):
    scene, path = simple_scene
    tracklets, stats = track_video(path, GroundTruthDetector(scene), "bytetrack", stride=2,
                                   with_crops=False)
    assert len(tracklets) == len(scene.paths) and stats.filled_boxes > 0
    for t in tracklets:
        np.testing.assert_array_equal(np.diff(t.frame_indices), 1)
        real = t.frame_indices % 2 == 0
        assert np.all(t.scores[real] > 0) and np.all(t.scores[~real] == 0)
    r = evaluate_mot(gt_frames(scene, 0.4), tracklets_to_frames(tracklets))
    assert r.idf1 > 0.95 and r.mota > 0.9, r
    off, _ = track_video(path, GroundTruthDetector(scene), load_tracking_config("bytetrack", OFF),
                         stride=2, with_crops=False)
    assert all(np.all(t.frame_indices % 2 == 0) for t in off)
    assert evaluate_mot(gt_frames(scene, 0.4), tracklets_to_frames(off)).mota < 0.6


def test_min_boxes_counts_detections_not_filled_boxes(simple_scene):
    scene, path = simple_scene
    tracklets, _ = track_video(path, GroundTruthDetector(scene), "bytetrack", stride=3,
                               with_crops=False)
    most = max(int((t.scores > 0).sum()) for t in tracklets)
    assert max(len(t) for t in tracklets) > most + 1
    cfg = load_tracking_config("bytetrack", {"tracklets": {"min_boxes": most + 1}})
    assert track_video(path, GroundTruthDetector(scene), cfg, stride=3, with_crops=False)[0] == []


def _fast_scene() -> SyntheticScene:
    """Four people in lanes of their own walking 12 px a frame (0.3 of their width), two starting late."""
    paths = [PersonPath(k, start, 79, (x0, 100 + 100 * k), (12.0 if k % 2 == 0 else -12.0, 0.0), (40, 90))
             for k, (start, x0) in enumerate([(0, 20), (0, 620), (30, 20), (30, 620)])]
    return SyntheticScene("fast", (640, 420), 10.0, 80, paths)


def test_fast_walkers_stay_one_track_each_at_stride_3(tmp_path):
    scene = _fast_scene()
    path = scene.write_video(tmp_path / "fast.avi")
    gt = gt_frames(scene, 0.4)
    tracklets, _ = track_video(path, GroundTruthDetector(scene), "bytetrack", stride=3, with_crops=False)
    assert len(tracklets) == 4
    on = evaluate_mot(gt, tracklets_to_frames(tracklets))
    assert on.idf1 > 0.9, on
    off_cfg = load_tracking_config("bytetrack", {"tracker": {"stride_buffer_per_second": 0.0}})
    off, _ = track_video(path, GroundTruthDetector(scene), off_cfg, stride=3, with_crops=False)
    assert evaluate_mot(gt, tracklets_to_frames(off)).idf1 < on.idf1 - 0.2


@pytest.mark.parametrize("stride", [1, 3])
def test_each_track_starts_at_its_first_detection(tmp_path, stride):
    scene = _fast_scene()
    path = scene.write_video(tmp_path / "fast.avi")
    tracklets, stats = track_video(path, GroundTruthDetector(scene, score=0.9), "bytetrack",
                                   stride=stride, with_crops=False)
    assert stats.backfilled_boxes == 2  # the two people who enter after the first frame
    starts = sorted(int(t.frame_indices[0]) for t in tracklets)
    assert starts == [0, 0, 30, 30]
    late = [t for t in tracklets if t.frame_indices[0] == 30]
    assert all(t.scores[0] == pytest.approx(0.9) for t in late)
