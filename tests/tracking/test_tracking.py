import numpy as np
import pytest

from tests.support.metrics import evaluate_mot
from tests.support.synthetic import GroundTruthDetector
from tracking import load_tracking_config, track_video
from tracking.boxes import tracklets_to_frames
from tracking.pipeline import VideoTracker
from tracking.records import Detection, Tracklet
from tracking.track import OnlineTracker, build_ultralytics_tracker

from .conftest import gt_frames


@pytest.mark.parametrize("tracker", ["bytetrack", "botsort"])
def test_ground_truth_detector_gives_high_identity_metrics(simple_scene, tracker):
    scene, path = simple_scene
    det = GroundTruthDetector(scene, min_visibility=0.4, jitter_px=1.0, seed=0)
    tracklets, stats = track_video(path, det, tracker)
    r = evaluate_mot(gt_frames(scene, 0.4), tracklets_to_frames(tracklets))
    assert r.idf1 > 0.95 and r.mota > 0.95, r
    assert len(tracklets) == len(scene.paths)
    assert stats.frames_processed == scene.num_frames


def test_track_ids_are_per_video(simple_scene):
    scene, path = simple_scene
    first, _ = track_video(path, GroundTruthDetector(scene), "bytetrack", video_id="a")
    second, _ = track_video(path, GroundTruthDetector(scene), "bytetrack", video_id="b")
    assert sorted(t.track_id for t in first) == list(range(1, len(first) + 1))
    assert [t.track_id for t in first] == [t.track_id for t in second]
    assert {t.video_id for t in second} == {"b"}


def test_tracker_buffer_uses_real_fps_and_stride():
    cfg = load_tracking_config("bytetrack", {"tracker": {"lost_track_seconds": 2.0}}).tracker
    assert build_ultralytics_tracker(cfg, fps=10, stride=1).max_frames_lost == 20
    assert build_ultralytics_tracker(cfg, fps=30, stride=1).max_frames_lost == 60
    assert build_ultralytics_tracker(cfg, fps=30, stride=3).max_frames_lost == 20


def test_online_tracker_returns_detector_boxes():
    cfg = load_tracking_config("bytetrack").tracker
    tracker = OnlineTracker(cfg, fps=10)
    out = []
    for f in range(5):
        boxes = np.array([[10 + 2 * f, 10, 40 + 2 * f, 90], [200, 50, 240, 150]], np.float32)
        out = tracker.update(Detection(f, boxes, [0.9, 0.8]))
    assert sorted(t.track_id for t in out) == [1, 2]
    by_det = {t.det_index: t for t in out}
    np.testing.assert_allclose(by_det[0].box_xyxy, [18, 10, 48, 90])
    assert by_det[1].score == pytest.approx(0.8)


def test_crops_are_bounded_even_rgb_and_thumbnail_present(simple_scene):
    scene, path = simple_scene
    cfg = load_tracking_config("bytetrack", {"tracklets": {"max_crops": 6, "crop_max_height": 64}})
    tracklets, _ = track_video(path, GroundTruthDetector(scene), cfg)
    for t in tracklets:
        assert 0 < len(t.crops) <= 6 and len(t.crops) == len(t.crop_frame_indices)
        assert all(c.dtype == np.uint8 and c.ndim == 3 and c.shape[2] == 3 for c in t.crops)
        assert all(c.shape[0] <= 64 for c in t.crops)
        frames = np.array(t.crop_frame_indices)
        assert np.all(np.diff(frames) > 0)
        # Evenly spread: crops cover most of the life, no gap much larger than an even step.
        life = t.frame_indices[-1] - t.frame_indices[0]
        assert frames[-1] - frames[0] >= 0.6 * life
        assert np.diff(frames).max() <= 2.5 * life / (len(frames) - 1)
        assert t.thumbnail is not None and t.thumbnail_frame_index in set(t.frame_indices.tolist())


def test_crop_rgb_converts_pads_clips_and_resizes():
    from tracking.tracklets import crop_rgb

    img = np.zeros((100, 200, 3), np.uint8)
    img[20:80, 50:90] = (255, 0, 0)  # pure blue in BGR
    crop = crop_rgb(img, np.array([50, 20, 90, 80]))
    assert crop.shape == (60, 40, 3) and tuple(crop[30, 20]) == (0, 0, 255)
    padded = crop_rgb(img, np.array([50, 20, 90, 80]), padding=0.5)
    assert padded.shape == (100, 80, 3)  # clipped to the frame vertically
    small = crop_rgb(img, np.array([50, 20, 90, 80]), max_height=30)
    assert small.shape == (30, 20, 3)
    assert crop_rgb(img, np.array([300, 20, 340, 80])) is None


def test_tracklets_stream_before_the_video_ends(simple_scene):
    scene, path = simple_scene
    seen = []
    vt = VideoTracker(path, GroundTruthDetector(scene), "bytetrack",
                      progress=lambda done, total: seen.append(done))
    first_yield_at = None
    count = 0
    for _ in vt.run():
        count += 1
        if first_yield_at is None:
            first_yield_at = seen[-1]
    assert count == len(scene.paths)
    # The first person leaves long before the end of the video; their tracklet comes out then.
    assert first_yield_at < scene.num_frames - 10


def test_short_tiny_and_outside_tracklets_are_filtered(simple_scene):
    scene, path = simple_scene
    cfg = load_tracking_config("bytetrack", {"tracklets": {"min_box_height": 10_000}})
    tracklets, stats = track_video(path, GroundTruthDetector(scene), cfg)
    assert tracklets == [] and stats.raw_tracks == len(scene.paths)
    cfg = load_tracking_config("bytetrack", {"tracklets": {"min_boxes": 1_000}})
    assert track_video(path, GroundTruthDetector(scene), cfg)[0] == []


def test_no_crops_mode_keeps_no_pixels(simple_scene):
    scene, path = simple_scene
    tracklets, _ = track_video(path, GroundTruthDetector(scene), "bytetrack", with_crops=False)
    assert tracklets and all(not t.crops and t.thumbnail is None for t in tracklets)


def test_wall_clock_and_json_round_trip(simple_scene):
    scene, path = simple_scene
    tracklets, _ = track_video(path, GroundTruthDetector(scene), "bytetrack",
                               start_time=1_700_000_000.0, with_crops=False)
    t = tracklets[0]
    assert t.wall_clock_start == pytest.approx(1_700_000_000.0 + t.start_seconds)
    back = Tracklet.from_dict(t.to_dict())
    np.testing.assert_allclose(back.boxes_xyxy, t.boxes_xyxy, atol=0.05)
    assert back.track_id == t.track_id and back.wall_clock_start == pytest.approx(t.wall_clock_start)


def test_config_errors_name_the_choices(tmp_path):
    with pytest.raises(FileNotFoundError, match="bytetrack"):
        load_tracking_config("deepsort")
    with pytest.raises(ValueError, match="valid keys"):
        load_tracking_config("bytetrack", {"tracklets": {"max_crop": 3}})
