"""Splitting a finished tracklet where its person changes (``tracklets.split_min_similarity``)."""

import numpy as np
import pytest

from tests.support.synthetic import GroundTruthDetector, PersonPath, SyntheticScene
from tracking import load_tracking_config, track_video
from tracking.config import TrackletConfig
from tracking.pipeline import VideoTracker
from tracking.split import SIGNATURE_SIZE, _segment, appearance_signature, best_cut, change_points
from tracking.tracklets import SIGNATURES_PER_CROP, TrackletBuilder

SIZE = (320, 240)
BOX = np.array([140, 60, 180, 180], np.float32)
RED, BLUE, GREY = (30, 30, 200), (200, 60, 30), (110, 110, 110)  # BGR


def _frame(colour, rng=None, box=BOX):
    """Grey frame with a filled ``colour`` person box; optional per-pixel noise."""
    img = np.full((SIZE[1], SIZE[0], 3), GREY, np.uint8)
    x1, y1, x2, y2 = (int(v) for v in box)
    img[y1:y2, x1:x2] = colour
    if rng is not None:
        img = np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)
    return img


def _hist(colour):
    img = np.zeros((4, 4, 3), np.uint8)
    img[:] = colour
    return appearance_signature(img, np.array([0, 0, 4, 4], np.float32))


def _builder(**cfg):
    return TrackletBuilder("v", "cam", SIZE, TrackletConfig(**cfg))


def _feed(builder, colours, track_id=1, start=0, fps=10.0):
    for k, colour in enumerate(colours):
        f = start + k
        builder.add(f, f / fps, _frame(colour), [track_id], BOX[None], np.array([0.9]), np.zeros(1))


def _brute_best_cut(sig, min_side):
    best = None
    for k in range(min_side, len(sig) - min_side + 1):
        a, b = sig[:k].mean(axis=0), sig[k:].mean(axis=0)
        s = float(np.sum(np.sqrt(a * b)))
        if best is None or s < best[1]:
            best = (k, s)
    return best


# --- signatures and change points ---------------------------------------------------------------

def test_signature_is_a_histogram_weighted_away_from_the_background():
    img = _frame(RED)
    sig = appearance_signature(img, BOX)
    assert sig.shape == (SIGNATURE_SIZE,) and sig.dtype == np.float32
    assert sig.sum() == pytest.approx(1.0, abs=1e-5)
    # The left half of the box shows the grey background. With the bands beside the box as
    # background, grey bins count core^2 / (core + background): red 0.5, grey 0.5^2 / 1.5.
    half = img.copy()
    half[60:180, 140:160] = GREY
    weighted = appearance_signature(half, BOX)
    red_bins = _hist(RED) > 0.5
    assert weighted[red_bins].sum() == pytest.approx(0.75, abs=0.02)
    # Without background beside it (the box spans the frame) the grey half counts fully.
    wide = np.ascontiguousarray(half[:, 140:180])
    plain = appearance_signature(wide, np.array([0, 60, 40, 180], np.float32))
    assert plain[red_bins].sum() == pytest.approx(0.5, abs=0.02)
    assert appearance_signature(img, np.array([10, 10, 10.5, 10.5], np.float32)) is None


def test_dark_pixels_are_counted_by_brightness_not_by_their_noisy_hue():
    greenish, reddish = _hist((10, 30, 12)), _hist((12, 10, 30))  # two black coats, tinted
    assert float(np.sum(np.sqrt(greenish * reddish))) == pytest.approx(1.0)
    assert float(np.sum(np.sqrt(_hist(RED) * _hist(BLUE)))) < 0.1


def test_best_cut_matches_brute_force():
    rng = np.random.default_rng(0)
    for n, side in ((12, 3), (20, 5), (9, 4)):
        sig = rng.dirichlet(np.ones(SIGNATURE_SIZE), size=n)
        k, s = best_cut(sig, side)
        bk, bs = _brute_best_cut(sig, side)
        assert k == bk and s == pytest.approx(bs)
    assert best_cut(rng.dirichlet(np.ones(SIGNATURE_SIZE), size=7), 4) is None


def _noisy(colour_sig, n, rng, noise=0.3):
    out = colour_sig[None] + noise * rng.dirichlet(np.ones(SIGNATURE_SIZE), size=n)
    return out / out.sum(axis=1, keepdims=True)


def test_change_points_cut_where_the_colour_changes_and_nowhere_else():
    rng = np.random.default_rng(1)
    red, blue, green = _hist(RED), _hist(BLUE), _hist((40, 180, 40))
    two = np.concatenate([_noisy(red, 11, rng), _noisy(blue, 9, rng)])
    assert change_points(two, 0.8, 5) == [11]
    three = np.concatenate([_noisy(red, 8, rng), _noisy(blue, 10, rng), _noisy(green, 7, rng)])
    assert change_points(three, 0.8, 5) == [8, 18]
    # Someone passing in front for a while is no change for good: the person before and after is
    # the same, and no cut parts the two sides' means enough.
    passing = np.concatenate([_noisy(red, 12, rng), _noisy(blue, 6, rng), _noisy(red, 12, rng)])
    assert best_cut(passing, 5)[1] > 0.8 and change_points(passing, 0.8, 5) == []
    one = _noisy(red, 24, rng, noise=0.6)
    assert best_cut(one, 5)[1] > 0.9 and change_points(one, 0.8, 5) == []
    # Off, too few crops on a side, too short a time on a side.
    assert change_points(two, 0.0, 5) == []
    short = np.concatenate([_noisy(red, 4, rng), _noisy(blue, 4, rng)])
    assert change_points(short, 0.8, 5) == [] and change_points(short, 0.8, 4) == [4]
    times = np.arange(len(two)) * 0.1  # the 9 blue crops span 0.8 s
    assert change_points(two, 0.8, 5, times, min_seconds=1.0) == []
    assert change_points(two, 0.8, 5, times, min_seconds=0.75) == [11]


def test_a_gradual_change_is_cut_once_not_into_a_fragment_of_the_blend():
    """Two people overlapping as they cross: the box drifts from one to the other over 7 frames.
    Binary segmentation alone cuts at the start of the blend and again inside it; the first part and
    the start of the blend are alike, so that cut is dropped."""
    red, blue = (h + 0.002 for h in (_hist(RED), _hist(BLUE)))  # with a little shared noise
    red, blue = red / red.sum(), blue / blue.sum()
    blend = [(1 - a) * red + a * blue for a in np.linspace(0, 1, 9)[1:-1]]
    sig = np.array([red] * 6 + blend + [blue] * 12)
    assert _segment(sig, 0.8, 5, None, 0.0) == [6, 11]
    assert change_points(sig, 0.8, 5) == [11]


# --- the builder --------------------------------------------------------------------------------

def test_a_track_that_changes_colour_is_cut_there_into_consistent_parts():
    b = _builder(max_crops=8)
    _feed(b, [RED] * 40 + [BLUE] * 20)
    parts = b.finish_all()
    assert [p.track_id for p in parts] == [1, 2] and b.splits == 1
    first, second = parts
    np.testing.assert_array_equal(np.concatenate([first.frame_indices, second.frame_indices]), np.arange(60))
    np.testing.assert_array_equal(np.concatenate([first.boxes_xyxy, second.boxes_xyxy]),
                                  np.repeat(BOX[None], 60, axis=0))
    # Signatures of all 60 frames put the cut at frame 40. The crop buffer kept every 4th frame
    # (15 crops): the first part's 10 are thinned to max_crops.
    assert first.frame_indices[-1] == 39 and second.frame_indices[0] == 40
    assert len(first.crops) == 8 and len(second.crops) == 5
    for part, colour in ((first, RED), (second, BLUE)):
        assert len(part.boxes_xyxy) == len(part.scores) == len(part.timestamps) == len(part)
        assert len(part.crops) == len(part.crop_frame_indices)
        span = (part.frame_indices[0], part.frame_indices[-1])
        assert all(span[0] <= f <= span[1] for f in part.crop_frame_indices)
        assert span[0] <= part.thumbnail_frame_index <= span[1]
        rgb = np.array(colour[::-1])
        for crop in [*part.crops, part.thumbnail]:
            assert np.abs(crop.reshape(-1, 3).mean(axis=0) - rgb).max() < 5


def test_one_person_with_noise_and_short_tracks_are_not_cut():
    rng = np.random.default_rng(2)
    b = _builder()
    for f in range(80):
        # Noise, brightness changes and a width that changes as the person turns.
        box = BOX + np.array([0, 0, 12 * np.sin(f / 7), 0], np.float32)
        img = _frame(tuple(int(c * (0.8 + 0.2 * (f % 5) / 4)) for c in RED), rng, box)
        b.add(f, f / 10, img, [3], box[None], np.array([0.9]), np.zeros(1))
    # Short: fewer crops than two sides need.
    _feed(b, [RED] * 5 + [BLUE] * 4, track_id=4, start=90)
    parts = b.finish_all()
    assert [(p.track_id, len(p)) for p in parts] == [(3, 80), (4, 9)] and b.splits == 0


def test_splitting_off_keeps_no_signatures():
    b = _builder(split_min_similarity=0.0)
    _feed(b, [RED] * 30 + [BLUE] * 30)
    assert b.active[1].crops and not b.active[1].signatures
    assert len(b.finish_all()) == 1


def test_signature_memory_is_bounded_and_spread_over_the_track():
    b = _builder(max_crops=4)
    _feed(b, [RED] * 300 + [BLUE] * 200)
    t = b.active[1]
    assert len(t.signatures) <= 2 * SIGNATURES_PER_CROP * 4 and len(t.crops) <= 2 * 4
    obs = [o for o, _ in t.signatures]
    assert obs[0] == 0 and obs[-1] >= 500 - t.signature_step and len(set(np.diff(obs))) == 1
    parts = b.finish_all()
    # The cut falls half-way between the last red and the first blue signature kept.
    assert len(parts) == 2 and sum(len(p) for p in parts) == 500
    assert abs(len(parts[0]) - 300) <= t.signature_step // 2
    for p in parts:
        span = (p.frame_indices[0], p.frame_indices[-1])
        assert len(p.crops) <= 4 and all(span[0] <= f <= span[1] for f in p.crop_frame_indices)


def test_ids_after_a_split_stay_unique_and_in_order_of_appearance():
    b = _builder()
    _feed(b, [RED] * 30 + [BLUE] * 30, track_id=1)
    _feed(b, [RED] * 10, track_id=2, start=5)  # a second track, running during the split
    split = b.finish_stale(current_frame=100, max_gap_frames=20)
    assert sorted(p.track_id for p in split) == [1, 2, 3]
    assert next(p for p in split if p.frame_indices[0] == 5).track_id == 2
    # The tracker's next track (its id 3) comes after the new part: it becomes 4.
    assert b.track_id(3) == 4
    _feed(b, [BLUE] * 10, track_id=3, start=110)
    assert b.track_id(3) == 4 and [p.track_id for p in b.finish_all()] == [4]


# --- the pipeline -------------------------------------------------------------------------------

def _handover_scene():
    """Person 0 walks to the middle and leaves the view there as person 3 steps in on the same spot
    and walks on (one box for the tracker, two people); person 1 comes on another lane after that
    track has finished."""
    h = 0.4 * 360
    paths = [PersonPath(0, 0, 34, (60, 200), (6, 0), (0.38 * h, h)),
             PersonPath(3, 35, 79, (270, 200), (6, 0), (0.38 * h, h)),
             PersonPath(1, 105, 139, (640, 330), (-6, 0), (0.38 * h, h))]
    return SyntheticScene("cam0", (640, 360), 10.0, 140, paths, seed=4)


@pytest.fixture(scope="module")
def handover(tmp_path_factory):
    scene = _handover_scene()
    path = tmp_path_factory.mktemp("split") / "handover.avi"
    scene.write_video(path)
    return scene, path


def test_pipeline_cuts_a_track_at_the_person_change_and_renumbers_later_tracks(handover):
    scene, path = handover
    off = load_tracking_config("bytetrack", {"tracklets": {"split_min_similarity": 0.0}})
    whole, _ = track_video(path, GroundTruthDetector(scene), off, with_crops=False)
    assert len(whole) == 2  # the tracker follows the box from person 0 to person 3

    seen: dict[int, set[int]] = {}
    vt = VideoTracker(path, GroundTruthDetector(scene), "bytetrack", with_crops=False,
                      on_frame=lambda f, tracked: [seen.setdefault(t.track_id, set()).add(f.index)
                                                   for t in tracked])
    parts = list(vt.run())
    assert vt.stats.split_tracks == 1 and len(parts) == 3
    assert all(not p.crops and p.thumbnail is None for p in parts)  # crops were only for the split
    ids = sorted(p.track_id for p in parts)
    assert ids == [1, 2, 3]
    by_start = sorted(parts, key=lambda p: p.start_seconds)
    for part, person in zip(by_start, (0, 3, 1), strict=True):
        truth = scene.paths[[p.identity for p in scene.paths].index(person)]
        assert abs(int(part.frame_indices[0]) - max(truth.start_frame, 0)) <= 4
        assert abs(int(part.frame_indices[-1]) - truth.end_frame) <= 4
    # Person 1's track is the tracker's second but starts after the split: it takes id 3, and the
    # annotation shows the ids the tracklets carry (it reports a track from its second frame).
    late = by_start[2]
    assert late.track_id == 3 and set(late.frame_indices.tolist()[1:]) <= seen[3]


def test_configs_carry_the_split_keys():
    for name in ("bytetrack", "botsort"):
        cfg = load_tracking_config(name).tracklets
        assert 0 < cfg.split_min_similarity < 1 and cfg.split_min_signatures >= 3
        assert cfg.split_min_seconds > 0
    off = load_tracking_config("bytetrack", {"tracklets": {"split_min_similarity": 0}})
    assert off.tracklets.split_min_similarity == 0


@pytest.mark.parametrize("colour", [RED, BLUE])
def test_signature_ignores_where_the_box_is(colour):
    a = appearance_signature(_frame(colour), BOX)
    shifted = BOX + np.array([60, 20, 60, 20], np.float32)
    b = appearance_signature(_frame(colour, box=shifted), shifted)
    assert float(np.sum(np.sqrt(a * b))) == pytest.approx(1.0, abs=1e-3)
